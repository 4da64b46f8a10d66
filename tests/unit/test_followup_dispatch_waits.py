"""Commands that overtook their ticket's dispatch wait for it, and only as long as they must."""

import asyncio

from hotline.followup.tickets.commands import DispatchWaits


async def test_a_wait_ends_when_every_awaited_dispatch_is_stored():
    waits = DispatchWaits()
    async with waits.expecting({"TK-1", "TK-2"}) as arrived:
        waiting = asyncio.create_task(arrived({"TK-1", "TK-2"}, 30))
        await asyncio.sleep(0)
        waits.stored(["TK-1", "TK-other"])
        await asyncio.sleep(0.01)
        assert not waiting.done()
        waits.stored(["TK-2"])
        await asyncio.wait_for(waiting, timeout=5)
    assert waits._waiting == {}


async def test_a_dispatch_stored_between_the_read_and_the_wait_is_not_missed():
    """The store was read after `expecting` began: a dispatch stored after that read and before
    the wait still ends the wait at once."""
    waits = DispatchWaits()
    async with waits.expecting({"TK-1"}) as arrived:
        waits.stored(["TK-1"])  # e.g. while the command handler awaited its store read
        await asyncio.wait_for(arrived({"TK-1"}, 30), timeout=5)


async def test_a_wait_for_a_dispatch_that_never_comes_times_out_and_leaves_nothing_behind():
    waits = DispatchWaits()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with waits.expecting({"TK-never", "TK-known"}) as arrived:
        await arrived({"TK-never"}, 0.05)  # TK-known was found in the store: not awaited
    assert loop.time() - started >= 0.05
    assert waits._waiting == {}
    waits.stored(["TK-never"])  # stored later: wakes nobody, fails nothing


async def test_two_batches_waiting_for_one_ticket_both_wake():
    waits = DispatchWaits()
    async with waits.expecting({"TK-1"}) as first, waits.expecting({"TK-1", "TK-3"}) as second:
        both = asyncio.gather(first({"TK-1"}, 30), second({"TK-1", "TK-3"}, 30))
        await asyncio.sleep(0)
        waits.stored(["TK-1", "TK-3"])
        await asyncio.wait_for(both, timeout=5)
