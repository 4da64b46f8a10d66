"""Metrics' store: per-ticket facts, unit-months, rankings and hotspots, every read by `_id`.

No transactions and no counters: each level is recomputed from the one below and written with a
guard, so two instances, redeliveries and crashes between writes all settle on the same figures.
- a fact's entries are set idempotently, and its version `fv` grows with every write;
- a unit-month takes a ticket's summary only from a newer fact version (`seen.<ticket>`), then its
  figures are recomputed from the tickets it holds and written only if no one wrote meanwhile (`v`);
- a month's rankings and hotspots are recomputed from the unit-months' figures after a counter
  (`seq`) is taken, and written only over an older `seq`: the highest one read everything before it.
"""

from collections.abc import Callable
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from hotline.metrics.domain import FIGURE_NAMES, contributions, key, unit_month_figures, unit_month_id

# (period, [{unit_code, figures}]) -> (rankings by _id, hotspots)
Views = Callable[[str, list[dict[str, Any]]], tuple[dict[str, dict[str, Any]], dict[str, Any]]]
COLLECTIONS = (
    "metrics_ticket_facts", "metrics_unit_months", "metrics_unit_figures", "metrics_periods",
    "metrics_units", "metrics_rankings", "metrics_hotspots", "metrics_meta",
)
_HIDDEN = {"tickets": 0, "returned": 0, "seen": 0, "v": 0}


def _newer(field: str, version: int) -> dict[str, Any]:
    return {"$or": [{field: {"$lt": version}}, {field: {"$exists": False}}]}


class MetricsStore:
    """Projections rebuilt from the topics; they hold ids, codes and times, never personal data."""

    def __init__(self, db: AsyncDatabase, views: Views) -> None:
        self._db = db
        self._views = views
        self._facts = db["metrics_ticket_facts"]
        self._months = db["metrics_unit_months"]
        # The figures alone, small enough to read a whole month's worth for every ranking.
        self._figures = db["metrics_unit_figures"]
        self._periods = db["metrics_periods"]
        self._units = db["metrics_units"]
        self._rankings = db["metrics_rankings"]
        self._hotspots = db["metrics_hotspots"]
        self._meta = db["metrics_meta"]

    async def ensure_indexes(self) -> None:
        """Reads are by `_id` only."""

    async def handle(self, updates: list[tuple[str, dict[str, Any]]]) -> None:
        """Apply a batch's fact entries and bring every projection they touch up to date."""
        touched = await self.apply(updates)
        periods = await self.project(ticket_ids=touched)
        await self.refresh(periods=periods)

    async def apply(self, updates: list[tuple[str, dict[str, Any]]]) -> set[str]:
        """Set the facts' entries (one write per ticket); return the tickets touched."""
        merged: dict[str, dict[str, Any]] = {}
        for ticket_id, entries in updates:
            merged.setdefault(ticket_id, {}).update(entries)
        if merged:
            await self._facts.bulk_write(
                [UpdateOne({"_id": t}, {"$set": e, "$inc": {"fv": 1}}, upsert=True) for t, e in merged.items()],
                ordered=False,
            )
        return set(merged)

    async def project(self, *, ticket_ids: set[str]) -> set[str]:
        """Put the tickets' summaries in their unit-months and settle those months' figures;
        return the periods touched."""
        if not ticket_ids:
            return set()
        wanted: dict[str, dict[str, Any]] = {}
        async for fact in self._facts.find({"_id": {"$in": sorted(ticket_ids)}}):
            for month_id, (section, summary, meta) in contributions(fact).items():
                month = wanted.setdefault(month_id, {"meta": meta, "tickets": {}})
                month["tickets"][key(fact["_id"])] = (section, summary, fact.get("fv", 0))
        if not wanted:
            return set()
        ids = sorted(wanted)
        current = {d["_id"]: d async for d in self._months.find({"_id": {"$in": ids}}, {"tickets": 1, "returned": 1, "seen": 1})}
        ops = []
        for month_id in ids:
            month, doc = wanted[month_id], current.get(month_id, {})
            sections = {"tickets": dict(doc.get("tickets", {})), "returned": dict(doc.get("returned", {}))}
            seen = doc.get("seen", {})
            for ticket, (section, summary, fv) in month["tickets"].items():
                if seen.get(ticket, -1) < fv:
                    sections[section][ticket] = summary
                    sections["returned" if section == "tickets" else "tickets"].pop(ticket, None)
            # Written with the tickets, so a reader never sees tickets without their figures.
            figures = unit_month_figures(sections["tickets"], sections["returned"])
            ops.append(UpdateOne(
                {"_id": month_id},
                {"$setOnInsert": {**month["meta"], "tickets": {}, "returned": {}, "seen": {}, "v": 0}},
                upsert=True,
            ))
            for ticket, (section, summary, fv) in month["tickets"].items():
                other = "returned" if section == "tickets" else "tickets"
                ops.append(UpdateOne(
                    {"_id": month_id, **_newer(f"seen.{ticket}", fv)},
                    {"$set": {f"seen.{ticket}": fv, f"{section}.{ticket}": summary, **figures},
                     "$unset": {f"{other}.{ticket}": ""}, "$inc": {"v": 1}},
                ))
        await self._months.bulk_write(ops, ordered=True)
        return await self._settle(ids)

    async def _settle(self, month_ids: list[str]) -> set[str]:
        """Recompute figures from what the months hold now (another instance may have written)."""
        docs = [d async for d in self._months.find({"_id": {"$in": month_ids}}, {"seen": 0})]
        month_ops, figure_ops = [], []
        for doc in docs:
            figures = unit_month_figures(doc.get("tickets", {}), doc.get("returned", {}))
            if any(doc.get(name) != value for name, value in figures.items()):
                month_ops.append(UpdateOne({"_id": doc["_id"], "v": doc["v"]}, {"$set": figures}))
            light = {"unit_code": doc["unit_code"], "period": doc["period"]}
            figure_ops.append(UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": {**light, "v": -1}}, upsert=True))
            figure_ops.append(UpdateOne({"_id": doc["_id"], **_newer("v", doc["v"])},
                                        {"$set": {"figures": figures, "v": doc["v"]}}))
        if month_ops:
            await self._months.bulk_write(month_ops, ordered=False)
        if figure_ops:
            await self._figures.bulk_write(figure_ops, ordered=True)
        await self._index([(d["unit_code"], d["period"]) for d in docs])
        return {d["period"] for d in docs}

    async def _index(self, pairs: list[tuple[str, str]]) -> None:
        """Which units have figures in which months: a month's units, a unit's months."""
        if not pairs:
            return
        by_period: dict[str, set[str]] = {}
        by_unit: dict[str, set[str]] = {}
        for unit, period in pairs:
            by_period.setdefault(period, set()).add(unit)
            by_unit.setdefault(unit, set()).add(period)
        await self._periods.bulk_write([
            UpdateOne({"_id": p}, {"$set": {f"units.{u}": True for u in units}}, upsert=True)
            for p, units in by_period.items()
        ], ordered=False)
        await self._units.bulk_write([
            UpdateOne({"_id": u}, {"$set": {f"periods.{p}": True for p in periods}}, upsert=True)
            for u, periods in by_unit.items()
        ], ordered=False)
        await self._meta.update_one({"_id": "latest"}, {"$max": {"period": max(by_period)}}, upsert=True)

    async def refresh(self, *, periods: set[str]) -> None:
        """Recompute each month's rankings and hotspots from its units' figures."""
        for period in sorted(periods):
            before = await self._periods.find_one_and_update(
                {"_id": period}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.BEFORE,
            )
            seq = (before or {}).get("seq", 0) + 1
            units = sorted((before or {}).get("units", {}))
            found = [d async for d in self._figures.find({"_id": {"$in": [unit_month_id(u, period) for u in units]}})]
            rankings, hotspots = self._views(period, [{"unit_code": d["unit_code"], "figures": d["figures"]} for d in found])
            await _write_if_newer(self._rankings, rankings, seq)
            await _write_if_newer(self._hotspots, {period: hotspots}, seq)

    # Rebuild

    async def drop_all(self) -> None:
        """Drop every metrics collection (rebuild starts from nothing)."""
        for name in COLLECTIONS:
            await self._db.drop_collection(name)

    async def load(self, *, facts: dict[str, dict[str, Any]], months: dict[str, dict[str, Any]],
                   chunk: int = 2_000, progress: Callable[[int], None] | None = None) -> None:
        """Write facts and unit-months computed in memory into empty collections, then the
        rankings and hotspots of every month."""
        fact_docs = [{"_id": t, **f, "fv": 1} for t, f in facts.items()]
        month_docs = [{"_id": m, **doc, "seen": {t: 1 for t in (*doc["tickets"], *doc["returned"])}, "v": 1}
                      for m, doc in months.items()]
        light_docs = [{"_id": m, "unit_code": d["unit_code"], "period": d["period"],
                       "figures": {n: d[n] for n in FIGURE_NAMES}, "v": 1} for m, d in months.items()]
        for collection, docs in ((self._facts, fact_docs), (self._months, month_docs), (self._figures, light_docs)):
            for start in range(0, len(docs), chunk):
                part = docs[start:start + chunk]
                await collection.insert_many(part, ordered=False)
                if progress and collection is self._facts:
                    progress(len(part))
        await self._index([(d["unit_code"], d["period"]) for d in months.values()])
        await self.refresh(periods={d["period"] for d in months.values()})

    # Reads

    async def unit_month(self, *, unit_code: str, period: str) -> dict[str, Any] | None:
        """One unit's figures for one month (without the per-ticket detail)."""
        return await self._months.find_one({"_id": unit_month_id(unit_code, period)}, _HIDDEN)

    async def unit_months(self, *, unit_code: str) -> list[dict[str, Any]]:
        """A unit's figures for every month it has any, oldest first."""
        unit = await self._units.find_one({"_id": unit_code})
        periods = sorted((unit or {}).get("periods", {}))
        ids = [unit_month_id(unit_code, p) for p in periods]
        found = {d["_id"]: d async for d in self._figures.find({"_id": {"$in": ids}})}
        return [{"period": p, **found[i]["figures"]} for p, i in zip(periods, ids, strict=True) if i in found]

    async def ranking(self, *, ranking_id: str) -> dict[str, Any] | None:
        """A kind's ranking for a month."""
        return await self._rankings.find_one({"_id": ranking_id})

    async def rankings(self, *, ranking_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Several rankings by `_id`."""
        return {d["_id"]: d async for d in self._rankings.find({"_id": {"$in": ranking_ids}})}

    async def hotspots(self, *, period: str) -> dict[str, Any] | None:
        """A month's hotspots."""
        return await self._hotspots.find_one({"_id": period})

    async def latest_period(self) -> str | None:
        """The latest month any ticket was dispatched in."""
        doc = await self._meta.find_one({"_id": "latest"})
        return doc["period"] if doc else None


async def _write_if_newer(collection: AsyncCollection, docs: dict[str, dict[str, Any]], seq: int) -> None:
    """Replace each document's content unless a later computation already did."""
    ops = []
    for doc_id, doc in docs.items():
        ops.append(UpdateOne({"_id": doc_id}, {"$setOnInsert": {"seq": 0}}, upsert=True))
        ops.append(UpdateOne({"_id": doc_id, "seq": {"$lt": seq}}, {"$set": {**doc, "seq": seq}}))
    if ops:
        await collection.bulk_write(ops, ordered=True)
