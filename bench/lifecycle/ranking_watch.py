"""The month's rankings as the bench polls them: when each unit's counts changed."""

import asyncio
from datetime import UTC, datetime

from pymongo import AsyncMongoClient

from hotline.devkit import Namespace
from hotline.metrics.directory import RankingKind
from hotline.metrics.domain import period_of
from hotline.metrics.ranking import ranking_id
from lifecycle.timing import now_ms


class RankingWatch:
    """Polls the month's rankings (the documents the ranking API serves) and keeps, per unit, when
    its `dispatched` and `callbacks` counts changed."""

    def __init__(self, ns: Namespace, interval_s: float) -> None:
        self.interval_s = interval_s
        self._client = AsyncMongoClient(ns.mongodb_url)
        self._rankings = self._client[ns.database]["metrics_rankings"]
        self.history: dict[str, dict[str, list[tuple[int, float]]]] = {"dispatched": {}, "callbacks": {}}
        self.latest: dict[str, dict[str, int]] = {"dispatched": {}, "callbacks": {}}
        # The month's counts before the run's own tickets (a history's): totals count from there.
        self.baseline: dict[str, int] | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.close()

    async def poll(self) -> None:
        period = period_of(datetime.now(UTC))
        ids = [ranking_id(period, kind) for kind in RankingKind]
        at = now_ms()
        async for doc in self._rankings.find({"_id": {"$in": ids}}):
            for row in [*doc.get("rows", []), *doc.get("unranked", [])]:
                for figure in ("dispatched", "callbacks"):
                    count = row.get(figure, 0)
                    if count != self.latest[figure].get(row["unit_code"]):
                        self.latest[figure][row["unit_code"]] = count
                        self.history[figure].setdefault(row["unit_code"], []).append((count, at))

    def total(self, figure: str) -> int:
        return sum(self.latest[figure].values()) - (self.baseline or {}).get(figure, 0)

    async def _run(self) -> None:
        while True:
            await self.poll()
            if self.baseline is None:
                self.baseline = {figure: sum(counts.values()) for figure, counts in self.latest.items()}
            await asyncio.sleep(self.interval_s)

    def count_at(self, figure: str, unit: str, at_ms: float) -> int:
        """The unit's count as last seen at or before a moment."""
        count = 0
        for value, seen in self.history[figure].get(unit, []):
            if seen > at_ms:
                break
            count = value
        return count

    def reflected_at(self, figure: str, unit: str, count: int) -> float | None:
        """When the ranking first showed at least `count` for the unit."""
        return next((seen for value, seen in self.history[figure].get(unit, []) if value >= count), None)
