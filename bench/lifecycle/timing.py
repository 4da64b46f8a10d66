"""The bench's clocks (epoch ms, as Kafka's record timestamps) and its waits."""

import asyncio
import time
from datetime import UTC, datetime


def now_ms() -> float:
    return time.time() * 1000


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


async def wait_for(condition, timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s:.0f} s")
        await asyncio.sleep(interval_s)


async def settled(missing, timeout_s: float, stable_s: float = 5) -> int:
    """Wait until nothing is missing, or the count stopped moving for `stable_s` (a ticket whose
    unit is in no ranking never shows); return what is still missing."""
    deadline, last, since = time.monotonic() + timeout_s, None, time.monotonic()
    while (left := missing()) > 0 and time.monotonic() < deadline:
        if left != last:
            last, since = left, time.monotonic()
        elif time.monotonic() - since > stable_s:
            break
        await asyncio.sleep(0.05)
    return max(0, left)
