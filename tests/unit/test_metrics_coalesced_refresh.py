"""Batches that arrive while a ranking refresh (or a whole write) runs share the next one, and none
returns before a run that started after it asked."""

import asyncio

import pytest

from hotline.metrics.coalesce import Coalesced, CoalescedRefresh


class Refreshes:
    def __init__(self, fail_on: int | None = None) -> None:
        self.runs: list[dict[str, set[str]]] = []
        self.release = asyncio.Event()
        self.fail_on = fail_on

    async def __call__(self, *, periods: dict[str, set[str]]) -> None:
        self.runs.append(periods)
        await self.release.wait()
        if len(self.runs) == self.fail_on:
            raise RuntimeError("store down")


async def test_callers_during_a_run_share_the_next_run_with_their_months_merged():
    refreshes = Refreshes()
    shared = CoalescedRefresh(refreshes)
    first = asyncio.create_task(shared({"2026-05": {"a"}}))
    await asyncio.sleep(0)
    later = [asyncio.create_task(shared({"2026-05": {u}})) for u in ("b", "c")]
    later.append(asyncio.create_task(shared({"2026-06": {"d"}})))
    await asyncio.sleep(0.01)
    assert refreshes.runs == [{"2026-05": {"a"}}]  # the others wait: the run in progress may have read before them
    assert not any(t.done() for t in [first, *later])
    refreshes.release.set()
    await asyncio.gather(first, *later)
    assert refreshes.runs == [{"2026-05": {"a"}}, {"2026-05": {"b", "c"}, "2026-06": {"d"}}]


async def test_a_failed_refresh_fails_the_callers_it_served_and_not_the_next():
    refreshes = Refreshes(fail_on=2)
    shared = CoalescedRefresh(refreshes)
    first = asyncio.create_task(shared({"2026-05": {"a"}}))
    await asyncio.sleep(0)
    second = asyncio.create_task(shared({"2026-05": {"b"}}))
    refreshes.release.set()
    await first
    with pytest.raises(RuntimeError):
        await second
    await shared({"2026-05": {"c"}})
    assert [set(r["2026-05"]) for r in refreshes.runs] == [{"a"}, {"b"}, {"c"}]


async def test_nothing_to_refresh_runs_nothing():
    refreshes = Refreshes()
    await CoalescedRefresh(refreshes)({})
    assert refreshes.runs == []


async def test_batches_that_arrive_during_a_write_share_the_next_in_arrival_order():
    writes: list[list[str]] = []
    release = asyncio.Event()

    async def write(updates: list[str]) -> None:
        writes.append(list(updates))
        await release.wait()

    shared = Coalesced(write, merge=list.extend, fresh=list)
    first = asyncio.create_task(shared(["t1"]))
    await asyncio.sleep(0)
    later = [asyncio.create_task(shared(batch)) for batch in (["t2", "t3"], [], ["t4"])]
    await asyncio.sleep(0.01)
    assert writes == [["t1"]]
    release.set()
    await asyncio.gather(first, *later)
    assert writes == [["t1"], ["t2", "t3", "t4"]]


async def test_each_caller_gets_the_result_of_the_run_that_took_its_argument():
    release = asyncio.Event()

    async def write(updates: list[str]) -> list[str]:
        await release.wait()
        return sorted(updates)

    shared = Coalesced(write, merge=list.extend, fresh=list)
    first = asyncio.create_task(shared(["t1"]))
    await asyncio.sleep(0)
    later = [asyncio.create_task(shared(batch)) for batch in (["t3"], ["t2"])]
    release.set()
    assert await asyncio.gather(first, *later) == [["t1"], ["t2", "t3"], ["t2", "t3"]]
    assert await shared([]) is None


async def test_spaced_runs_start_that_far_apart_and_the_callers_meanwhile_share_one():
    starts: list[float] = []
    runs: list[list[str]] = []

    async def write(updates: list[str]) -> None:
        starts.append(asyncio.get_running_loop().time())
        runs.append(sorted(updates))

    shared = Coalesced(write, merge=list.extend, fresh=list, spacing_s=0.3)
    asked = asyncio.get_running_loop().time()
    await shared(["t1"])  # the first run starts at once
    second = asyncio.create_task(shared(["t2"]))
    await asyncio.sleep(0.1)  # unspaced, the second run would have started without t3
    third = asyncio.create_task(shared(["t3"]))
    await asyncio.gather(second, third)
    assert runs == [["t1"], ["t2", "t3"]]
    assert starts[0] - asked < 0.1 and starts[1] - starts[0] >= 0.3 - 0.01
