"""Followup's ticket gauges read every ticket: a slow read waits longer before the next one, so the
store spends at most a tenth of its time on them."""

import asyncio
import time

import pytest

from hotline.followup import observe
from hotline.followup.observe import FollowupGauges, pause_after


def test_a_quick_sample_waits_the_interval_and_a_slow_one_nine_times_its_own_length():
    assert pause_after(0.2, 15) == 15
    assert pause_after(1.5, 15) == 15
    assert pause_after(5.0, 15) == pytest.approx(45)


async def test_the_sampler_waits_after_each_sample_as_long_as_that_sample_asks(monkeypatch):
    pauses: list[float] = []

    class SlowScan(FollowupGauges):
        def __init__(self) -> None:  # no registry or store: only the loop is under test
            pass

        async def sample(self) -> None:
            time.sleep(0.05)  # noqa: ASYNC251 - a slow scan; asyncio.sleep is replaced below

    async def recorded(seconds: float) -> None:
        pauses.append(seconds)
        raise asyncio.CancelledError

    monkeypatch.setattr(observe.asyncio, "sleep", recorded)
    with pytest.raises(asyncio.CancelledError):
        await SlowScan().sample_forever(interval_s=0.01)
    assert pauses and pauses[0] >= 0.05 * 9 - 0.01
