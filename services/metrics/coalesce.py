"""Work shared by the callers that arrive while it runs: metrics' flushes (`hotline.metrics.app.Writer`).

A consumer batch may commit its offsets only once the store holds what it covers, so each caller
waits for a run that started after it asked; runs spaced apart let the callers of a busy second
share one write.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any


class Coalesced:
    """Runs `work` one call at a time; callers that arrive while one runs share the next, their
    arguments merged. Each caller returns after a run that started after it asked, so what it
    brought is written before its offsets are committed; a failed run fails every caller it
    served (their batches are redelivered)."""

    def __init__(self, work: Callable[[Any], Awaitable[None]], *, merge: Callable[[Any, Any], None],
                 fresh: Callable[[], Any], spacing_s: float = 0.0) -> None:
        self._work, self._merge, self._fresh = work, merge, fresh
        # Runs start at least this far apart: callers arriving meanwhile join the next one.
        self._spacing_s = spacing_s
        self._last_start = -spacing_s
        self._running: asyncio.Task | None = None
        self._next: asyncio.Task | None = None
        self._next_argument = fresh()

    async def __call__(self, argument: Any) -> Any:
        """The result of the run that took `argument` (shared with the other callers it served)."""
        if not argument:
            return None
        self._merge(self._next_argument, argument)
        if self._next is None:
            self._next = asyncio.ensure_future(self._after(self._running))
        # Shielded: a caller cancelled at shutdown does not cancel the others' run.
        return await asyncio.shield(self._next)

    async def _after(self, previous: asyncio.Task | None) -> Any:
        if previous is not None:
            with contextlib.suppress(Exception):  # its failure was its own callers'
                await previous
        loop = asyncio.get_running_loop()
        if (wait := self._last_start + self._spacing_s - loop.time()) > 0:
            await asyncio.sleep(wait)
        self._last_start = loop.time()
        argument, self._next_argument = self._next_argument, self._fresh()
        self._running, self._next = self._next, None
        try:
            return await self._work(argument)
        finally:
            if self._running is asyncio.current_task():
                self._running = None


def _merge_periods(into: dict[str, set[str]], periods: dict[str, set[str]]) -> None:
    for period, units in periods.items():
        into.setdefault(period, set()).update(units)


class CoalescedRefresh(Coalesced):
    """Ranking refreshes shared by the callers that arrive while one runs, their months merged."""

    def __init__(self, refresh: Callable[..., Awaitable[None]], *, spacing_s: float = 0.0) -> None:
        super().__init__(lambda periods: refresh(periods=periods), merge=_merge_periods, fresh=dict,
                         spacing_s=spacing_s)
