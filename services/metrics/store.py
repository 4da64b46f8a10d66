"""Metrics' store (MongoDB, behind `hotline.metrics.app.FigureStore`): what queries and restarts
need, every read by `_id`; no per-ticket state.

The facts and unit-months live in memory (`hotline.metrics.projection`), rebuilt from the topics on
start. The store holds each unit-month's figures (`metrics_unit_figures`, `<unit>:<YYYY-MM>`), each
month's rankings (`metrics_rankings`, `<YYYY-MM>:<kind>`) and hotspots (`metrics_hotspots`), which
months a unit has (`metrics_units`) and the latest month (`metrics_meta`).

Several instances may write the same documents, each from the log prefix it has read. Each
document carries that prefix as a version vector (`o`: partition -> next offset) and is replaced
only by a writer whose vector is at least as far on every partition: a writer that is behind on
any partition cannot put older figures over newer ones; it is refused and writes again once it
has read further (see `hotline.metrics.app.Writer`). Versions do not need a transaction or a
counter document. The vector, and the `seq` of rankings and hotspots (the sum of the vector: the
answers' `version`), are added here on write and taken off on read.
"""

from collections.abc import Mapping
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from hotline.metrics.app import FIGURES, HOTSPOTS, RANKINGS, Held
from hotline.metrics.domain import unit_month_id
from hotline.runtime.mongo import duplicates_only

COLLECTIONS = (FIGURES, "metrics_units", RANKINGS, HOTSPOTS, "metrics_meta")
# What releases that kept per-ticket state in the store wrote: derived from the log, read by
# nothing now, dropped on start so the store does not carry them.
LEGACY = ("metrics_ticket_facts", "metrics_unit_month_parts", "metrics_unit_month_partials",
          "metrics_periods", "metrics_unit_months")
# Documents whose answers carry a version (`seq`).
_SEQUENCED = (RANKINGS, HOTSPOTS)
_BOOKKEEPING = ("_id", "o", "seq")


def _content(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in _BOOKKEEPING}


class MetricsStore:
    """Projections rebuilt from the topics; they hold codes and counts, never personal data."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self._figures = db["metrics_unit_figures"]
        self._units = db["metrics_units"]
        self._rankings = db["metrics_rankings"]
        self._hotspots = db["metrics_hotspots"]
        self._meta = db["metrics_meta"]

    async def prepare(self) -> None:
        """Drop what older releases kept per ticket (see `LEGACY`); reads are by `_id` only, so no
        index is made."""
        for name in LEGACY:
            await self._db.drop_collection(name)

    async def drop_all(self) -> None:
        """Drop every metrics collection (rebuild starts from nothing)."""
        for name in (*COLLECTIONS, *LEGACY):
            await self._db.drop_collection(name)

    async def held(self) -> Held:
        """Every document the store holds now, by collection and `_id`, without its bookkeeping (a
        start writes only what differs from them)."""
        found: Held = {}
        for name in COLLECTIONS:
            found[name] = {d["_id"]: _content(d) async for d in self._db[name].find({})}
        return found

    async def write_versioned(self, collection: str, docs: Mapping[str, Mapping[str, Any]],
                              vector: dict[str, int]) -> set[str]:
        """Replace each document's content unless it was written from further along some
        partition than `vector`; return the `_id`s refused so. A missing entry counts as behind, so
        a document of an older release is replaced. One guarded upsert each: a document the guard
        keeps out is refused as a duplicate `_id`."""
        ids = list(docs)
        guard = {f"o.{k}": {"$not": {"$gt": v}} for k, v in vector.items()}
        extra = {"seq": sum(vector.values())} if collection in _SEQUENCED else {}
        ops = [UpdateOne({"_id": i, **guard}, {"$set": {**docs[i], **extra, "o": vector}}, upsert=True) for i in ids]
        if not ops:
            return set()
        try:
            await self._db[collection].bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            return {ids[e["index"]] for e in duplicates_only(exc)}
        return set()

    async def index(self, units: dict[str, set[str]], latest: str | None, settled: str | None = None) -> None:
        """Which months each unit has figures in (unit -> periods), the latest month and the latest
        settled one: `$set` and `$max` are idempotent, whoever writes them and however often."""
        if units:
            await self._units.bulk_write([
                UpdateOne({"_id": u}, {"$set": {f"periods.{p}": True for p in sorted(periods)}}, upsert=True)
                for u, periods in sorted(units.items())
            ], ordered=False)
        if latest is not None:
            await self._meta.update_one({"_id": "latest"}, {"$max": {"period": latest}}, upsert=True)
        if settled is not None:
            await self._meta.update_one({"_id": "settled"}, {"$max": {"period": settled}}, upsert=True)

    # Reads

    async def unit_month(self, *, unit_code: str, period: str) -> dict[str, Any] | None:
        """One unit's figures for one month (without the per-ticket detail)."""
        doc = await self._figures.find_one({"_id": unit_month_id(unit_code, period)})
        return {**_meta(doc), **doc["figures"], **doc.get("settle", {})} if doc else None

    async def unit_months(self, *, unit_code: str) -> list[dict[str, Any]]:
        """A unit's figures for every month it has any, oldest first."""
        unit = await self._units.find_one({"_id": unit_code})
        periods = sorted((unit or {}).get("periods", {}))
        ids = [unit_month_id(unit_code, p) for p in periods]
        found = {d["_id"]: d async for d in self._figures.find({"_id": {"$in": ids}})}
        return [{"period": p, **found[i]["figures"], **found[i].get("settle", {})}
                for p, i in zip(periods, ids, strict=True) if i in found]

    async def ranking(self, *, ranking_id: str) -> dict[str, Any] | None:
        """A kind's ranking for a month."""
        return await self._rankings.find_one({"_id": ranking_id})

    async def rankings(self, *, ranking_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Several rankings by `_id`."""
        return {d["_id"]: d async for d in self._rankings.find({"_id": {"$in": ranking_ids}})}

    async def hotspots(self, *, period: str) -> dict[str, Any] | None:
        """A month's hotspots with their `seq`, without `_id` and the vector."""
        doc = await self._hotspots.find_one({"_id": period})
        if doc is None:
            return None
        doc.pop("_id", None)
        doc.pop("o", None)
        return doc

    async def latest_period(self) -> str | None:
        """The latest month any ticket was dispatched in."""
        doc = await self._meta.find_one({"_id": "latest"})
        return doc["period"] if doc else None

    async def settled_period(self) -> str | None:
        """The latest month that has settled."""
        doc = await self._meta.find_one({"_id": "settled"})
        return doc["period"] if doc else None


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    return {"unit_code": doc["unit_code"], "period": doc["period"]}
