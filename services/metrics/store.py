"""Metrics' store: per-ticket facts, unit-months, rankings and hotspots, every read by `_id`.

No transactions and no counters: each level is recomputed from the one below and written with a
guard, so two instances, redeliveries and crashes between writes all settle on the same figures.
- a fact's entries are only added, the first event to set one standing (`facts`), and its
  version `fv` grows with every write;
- a unit-month's tickets are spread over `PARTS` part documents (`<unit>:<month>#<n>`); a part
  takes a ticket's summary only from a newer fact version (`seen.<ticket>`); its partial figures
  are recomputed from the tickets it holds, and the whole change is one update that applies only
  over the version read (`v`), so they always describe what the part holds. A writer that lost a
  race reads the part again and retries;
- each part's partial figures are copied to a small document with its version, written only over
  an older one; the month's figures are combined from all its parts' copies and written only over
  a smaller sum of their versions. Versions only grow, so whichever writer reads last reads every
  part's latest copy, and has the largest sum;
- a month's rankings and hotspots are recomputed from the unit-months' figures after a counter
  (`seq`) is taken, and written only over an older `seq`: the highest one read everything before it.

Round trips and document rewrites, not documents read, are what the store charges for, so a batch
costs about eleven commands whatever its size: facts (write, read), parts (read, write), partial
figures (write, read), figures, then per month the counter (which also indexes the month's units),
the figures read, rankings and hotspots; and one update per document. A guarded write that must also create its
document is an upsert, which an existing newer document refuses as a duplicate `_id`. The unit ->
months index and the latest month are written once per process (idempotent).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from hotline.metrics.domain import (
    FIGURE_NAMES,
    combine,
    contributions,
    key,
    month_of_part,
    month_part_id,
    month_part_ids,
    month_parts,
    partial_figures,
    unit_month_id,
)
from hotline.metrics.facts import add_entries
from hotline.runtime.mongo import duplicates_only

# (period, [{unit_code, figures}]) -> (rankings by _id, hotspots)
Views = Callable[[str, list[dict[str, Any]]], tuple[dict[str, dict[str, Any]], dict[str, Any]]]
COLLECTIONS = (
    "metrics_ticket_facts", "metrics_unit_month_parts", "metrics_unit_month_partials", "metrics_unit_figures",
    "metrics_periods", "metrics_units", "metrics_rankings", "metrics_hotspots", "metrics_meta",
)
# Releases before the parts kept each unit-month in one document here.
SINGLE_DOCUMENT_MONTHS = "metrics_unit_months"
# Writers of one part retry after a lost race; one of them always wins, so a few suffice.
_PART_ATTEMPTS = 10


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


class MetricsStore:
    """Projections rebuilt from the topics; they hold ids, codes and times, never personal data."""

    def __init__(self, db: AsyncDatabase, views: Views, *, refresh_spacing_s: float = 0.0) -> None:
        self._db = db
        self._views = views
        self._facts = db["metrics_ticket_facts"]
        self._parts = db["metrics_unit_month_parts"]
        self._partials = db["metrics_unit_month_partials"]
        # The figures alone, small enough to read a whole month's worth for every ranking.
        self._figures = db["metrics_unit_figures"]
        self._periods = db["metrics_periods"]
        self._units = db["metrics_units"]
        self._rankings = db["metrics_rankings"]
        self._hotspots = db["metrics_hotspots"]
        self._meta = db["metrics_meta"]
        # What this process has indexed: (unit, period) pairs, and the latest month.
        self._indexed: set[tuple[str, str]] = set()
        self._latest: str | None = None
        # A refresh rewrites the month's every ranking whatever changed: under a trickle of
        # single-event batches it would run back to back and cost more than the batches.
        self._refresh_shared = CoalescedRefresh(self.refresh, spacing_s=refresh_spacing_s)
        self._handle_shared = Coalesced(self._handle_now, merge=list.extend, fresh=list)
        # Told the kind of entry (`contacts`, `dispatches`...) of each conflicting event.
        self.on_conflict: Callable[[str], None] = lambda entry: None

    async def prepare(self) -> None:
        """Refuse a store an older release wrote with one document per unit-month: its figures'
        versions do not compare with the parts'. Reads are by `_id` only, so no index is made."""
        if await self._db[SINGLE_DOCUMENT_MONTHS].find_one({}, {"_id": 1}) is not None:
            raise RuntimeError(
                f"the metrics store holds unit-months in the old one-document layout ({SINGLE_DOCUMENT_MONTHS}): "
                "stop metrics and run `hotline metrics rebuild` to recompute it from the topics")

    async def handle(self, updates: list[tuple[str, dict[str, Any]]]) -> None:
        """Apply a batch's fact entries and bring every projection they touch up to date.

        The five topics' batches that arrive while one is written share the next write: the store
        charges by round trip and by document rewritten, whatever a write holds, and one month's
        tickets then go in together. A month is also written by one batch at a time this way.
        The rankings are refreshed in a coalesced stage of their own, so the next batches' facts
        and figures are written while this one's rankings are: each caller still returns only
        after a refresh that read its figures."""
        units = await self._handle_shared(updates)
        await self._refresh_shared(units or {})

    async def _handle_now(self, updates: list[tuple[str, dict[str, Any]]]) -> dict[str, set[str]]:
        touched = await self.apply(updates)
        units = await self.project(ticket_ids=touched)
        await self._index(units)
        return units

    async def apply(self, updates: list[tuple[str, dict[str, Any]]]) -> set[str]:
        """Set the facts' entries they do not hold yet (one write per ticket; see `facts`); return
        the tickets touched."""
        return await add_entries(self._facts, updates, on_conflict=self.on_conflict)

    async def project(self, *, ticket_ids: set[str]) -> dict[str, set[str]]:
        """Put the tickets' summaries in their unit-months' parts and settle those months' figures;
        return the units touched in each period."""
        if not ticket_ids:
            return {}
        wanted: dict[str, dict[str, Any]] = {}
        async for fact in self._facts.find({"_id": {"$in": sorted(ticket_ids)}}):
            ticket = key(fact["_id"])
            for month_id, (section, summary, meta) in contributions(fact).items():
                part = wanted.setdefault(month_part_id(month_id, ticket), {"meta": meta, "tickets": {}})
                part["tickets"][ticket] = (section, summary, fact.get("fv", 0))
        if not wanted:
            return {}
        settled: dict[str, tuple[dict[str, Any], int, dict[str, Any]]] = {}
        pending = sorted(wanted)
        current = {d["_id"]: d async for d in self._parts.find({"_id": {"$in": pending}})}
        for _ in range(_PART_ATTEMPTS):
            writes = {p: _part_write(p, wanted[p], current.get(p)) for p in pending}
            ops = [w.op for w in writes.values() if w.op is not None]
            if ops and not await _all_applied(self._parts, ops):
                # Another instance wrote one of these parts since it was read: what it holds now
                # says which writes went in; the others are recomputed from it and tried again.
                current = {d["_id"]: d async for d in self._parts.find({"_id": {"$in": pending}})}
                done = [p for p, w in writes.items() if w.went_in(current.get(p))]
            else:
                done = pending
            for p in done:
                settled[p] = (wanted[p]["meta"], writes[p].v, writes[p].partial)
            pending = [p for p in pending if p not in settled]
            if not pending:
                break
        else:
            raise RuntimeError(f"unit-month parts kept changing under this batch: {pending}")
        await _write_if_newer(self._partials, [
            (part_id, {**_meta(meta), "partial": partial}, v)
            for part_id, (meta, v, partial) in settled.items()], version="v")
        months = {month_of_part(p): meta for p, (meta, _, _) in settled.items()}
        await self._combine(months)
        return _by_period(months.values())

    async def _combine(self, months: dict[str, dict[str, Any]]) -> None:
        """Write each month's figures combined from its parts' copies, read after this batch
        wrote its own, guarded by the sum of their versions."""
        ids = [part for m in sorted(months) for part in month_part_ids(m)]
        found: dict[str, list[dict[str, Any]]] = {m: [] for m in months}
        async for d in self._partials.find({"_id": {"$in": ids}}):
            found[month_of_part(d["_id"])].append(d)
        await _write_if_newer(self._figures, [
            (month_id, {**_meta(months[month_id]), "figures": combine(d["partial"] for d in parts)},
             sum(d["v"] for d in parts))
            for month_id, parts in found.items()], version="v")

    async def _index(self, units: dict[str, set[str]]) -> None:
        """Which months each unit has figures in, and the latest month: `$set` and `$max` are
        idempotent, so what this process has written once is skipped (a restart writes it again).
        A month's units are indexed with its counter (`refresh`)."""
        pairs = {(u, p) for p, us in units.items() for u in us} - self._indexed
        by_unit: dict[str, set[str]] = {}
        for unit, period in pairs:
            by_unit.setdefault(unit, set()).add(period)
        if by_unit:
            await self._units.bulk_write([
                UpdateOne({"_id": u}, {"$set": {f"periods.{p}": True for p in periods}}, upsert=True)
                for u, periods in by_unit.items()
            ], ordered=False)
            self._indexed |= pairs
        latest = max(units, default=None)
        if latest is not None and (self._latest is None or latest > self._latest):
            await self._meta.update_one({"_id": "latest"}, {"$max": {"period": latest}}, upsert=True)
            self._latest = latest

    async def refresh(self, *, periods: dict[str, set[str]]) -> None:
        """Recompute each month's rankings and hotspots from its units' figures; `periods` maps
        each month to units to add to its index."""
        if not periods:
            return
        seqs, ids = {}, []
        for period, new_units in sorted(periods.items()):
            # The units are indexed in the same command: the month's unit list after it is the one
            # before (returned) and these.
            update: dict[str, Any] = {"$inc": {"seq": 1}}
            if new_units:
                update["$set"] = {f"units.{u}": True for u in new_units}
            before = await self._periods.find_one_and_update(
                {"_id": period}, update, upsert=True, return_document=ReturnDocument.BEFORE,
            )
            seqs[period] = (before or {}).get("seq", 0) + 1
            ids += [unit_month_id(u, period) for u in sorted({*(before or {}).get("units", {}), *new_units})]
        # One read and one write per collection for every month of the batch, each after its counter.
        found: dict[str, list[dict[str, Any]]] = {p: [] for p in seqs}
        async for d in self._figures.find({"_id": {"$in": ids}}):
            found[d["period"]].append({"unit_code": d["unit_code"], "figures": d["figures"]})
        rankings, hotspots = [], []
        for period, units in found.items():
            by_id, spots = self._views(period, units)
            rankings += [(doc_id, doc, seqs[period]) for doc_id, doc in by_id.items()]
            hotspots.append((period, spots, seqs[period]))
        # Independent documents: both writes in flight at once, one round trip's wait.
        await asyncio.gather(_write_if_newer(self._rankings, rankings), _write_if_newer(self._hotspots, hotspots))

    # Rebuild

    async def drop_all(self) -> None:
        """Drop every metrics collection (rebuild starts from nothing)."""
        for name in (*COLLECTIONS, SINGLE_DOCUMENT_MONTHS):
            await self._db.drop_collection(name)
        self._indexed, self._latest = set(), None

    async def load(self, *, facts: dict[str, dict[str, Any]], months: dict[str, dict[str, Any]],
                   progress: Callable[[int], None] | None = None) -> None:
        """Write facts and unit-months computed in memory into empty collections, then the
        rankings and hotspots of every month."""
        await self.load_facts(facts, progress=progress)
        await self.load_months(months)

    async def load_facts(self, facts: dict[str, dict[str, Any]], *, chunk: int = 5_000,
                         progress: Callable[[int], None] | None = None) -> None:
        """Insert whole facts into the emptied collection."""
        docs = [{"_id": t, **f, "fv": 1} for t, f in facts.items()]
        for start in range(0, len(docs), chunk):
            part = docs[start:start + chunk]
            await self._facts.insert_many(part, ordered=False)
            if progress:
                progress(len(part))

    async def load_months(self, months: dict[str, dict[str, Any]]) -> None:
        """Insert unit-months computed in memory into the emptied collections (their parts, the
        parts' figures and the months' figures), then index them and write every month's
        rankings and hotspots."""
        months = dict(sorted(months.items()))  # `_id` order is the store's cheapest (see rebuild)
        part_docs, partial_docs, figure_docs = [], [], []
        for month_id, month in months.items():
            meta = _meta(month)
            parts = dict(sorted(month_parts(month).items()))
            for part_id, sections in parts.items():
                seen = dict.fromkeys((*sections["tickets"], *sections["returned"]), 1)
                part_docs.append({"_id": part_id, **meta, **sections, "seen": seen, "v": 1})
                partial = partial_figures(sections["tickets"], sections["returned"])
                partial_docs.append({"_id": part_id, **meta, "partial": partial, "v": 1})
            figure_docs.append({"_id": month_id, **meta, "figures": {n: month[n] for n in FIGURE_NAMES},
                                "v": len(parts)})
        # Three collections at once: the store inserts into each on a connection of its own.
        await asyncio.gather(*(collection.insert_many(docs, ordered=False) for collection, docs in (
            (self._parts, part_docs), (self._partials, partial_docs), (self._figures, figure_docs)) if docs))
        units = _by_period(months.values())
        await self._index(units)
        # The rankings are the batch's costliest writes (every unit of the month): batches of the
        # five topics that arrive while one refresh runs share the next.
        await self._refresh_shared(units)

    # Reads

    async def unit_month(self, *, unit_code: str, period: str) -> dict[str, Any] | None:
        """One unit's figures for one month (without the per-ticket detail)."""
        doc = await self._figures.find_one({"_id": unit_month_id(unit_code, period)})
        return {**_meta(doc), **doc["figures"]} if doc else None

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


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    return {"unit_code": doc["unit_code"], "period": doc["period"]}


def _by_period(docs: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """period -> unit codes, from documents carrying both."""
    units: dict[str, set[str]] = {}
    for d in docs:
        units.setdefault(d["period"], set()).add(d["unit_code"])
    return units


@dataclass(frozen=True)
class _PartWrite:
    """A unit-month part with a batch's fresh tickets in: the write (None when nothing is fresh),
    the version it leaves and the partial figures it holds then."""

    op: UpdateOne | None
    v: int
    partial: dict[str, Any]
    fresh: dict[str, int]  # ticket key -> fact version

    def went_in(self, doc: dict[str, Any] | None) -> bool:
        """Whether the part as read now holds this write (or an identical one)."""
        if doc is None or doc.get("v") != self.v:
            return False
        seen = doc.get("seen", {})
        return all(seen.get(t) == fv for t, fv in self.fresh.items())


def _part_write(part_id: str, wanted: dict[str, Any], doc: dict[str, Any] | None) -> _PartWrite:
    """The part as read plus the batch's tickets newer than what it holds, written in one update
    that applies only over the version read (`v`). One update, not one per ticket: the store
    rewrites the whole document on each."""
    doc = doc or {}
    sections = {"tickets": dict(doc.get("tickets", {})), "returned": dict(doc.get("returned", {}))}
    seen = doc.get("seen", {})
    fresh = {t: entry for t, entry in wanted["tickets"].items() if seen.get(t, -1) < entry[2]}
    changes: dict[str, Any] = {}
    removals: dict[str, str] = {}
    for ticket, (section, summary, fv) in fresh.items():
        other = "returned" if section == "tickets" else "tickets"
        sections[section][ticket] = summary
        sections[other].pop(ticket, None)
        changes[f"seen.{ticket}"] = fv
        changes[f"{section}.{ticket}"] = summary
        if ticket in doc.get(other, {}):
            removals[f"{other}.{ticket}"] = ""
    partial = partial_figures(sections["tickets"], sections["returned"])
    v_read = doc.get("v", 0)
    v = v_read + len(fresh)
    versions = {t: entry[2] for t, entry in fresh.items()}
    if not fresh:
        return _PartWrite(None, v_read, partial, versions)
    if not doc:
        # A new part: a second writer creating it too collides on `_id` and tries again.
        whole = {**_meta(wanted["meta"]), **sections, "seen": versions, "v": v}
        return _PartWrite(UpdateOne({"_id": part_id, "v": 0}, {"$set": whole}, upsert=True), v, partial, versions)
    update: dict[str, Any] = {"$set": {**changes, "v": v}}
    if removals:
        update["$unset"] = removals
    return _PartWrite(UpdateOne({"_id": part_id, "v": v_read}, update), v, partial, versions)


async def _all_applied(collection: AsyncCollection, ops: list[UpdateOne]) -> bool:
    """Run guarded writes, each naming one `_id`, in any order; whether every one took effect.
    A guarded upsert that misses an existing document is refused as a duplicate `_id`."""
    try:
        result = await collection.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        duplicates_only(exc)
        return False
    return result.matched_count + result.upserted_count == len(ops)


async def _write_if_newer(collection: AsyncCollection, docs: list[tuple[str, dict[str, Any], int]],
                          *, version: str = "seq") -> None:
    """Replace each document's content unless a later computation (a higher `version`) already
    did: one guarded upsert each, which a newer document refuses as a duplicate `_id`."""
    ops = [UpdateOne({"_id": doc_id, version: {"$lt": number}}, {"$set": {**doc, version: number}}, upsert=True)
           for doc_id, doc, number in docs]
    if not ops:
        return
    try:
        await collection.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        duplicates_only(exc)
