"""Metrics' store on the real MongoDB-protocol server: batches in any order, duplicated, and two
instances at once give the projection computed in memory; the rebuild's bulk load gives it too."""

import asyncio
import itertools
import random

import bson
import pytest

from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import (
    FIGURE_NAMES,
    combine,
    fact_update,
    fold,
    month_of_part,
    month_part_id,
    period_of,
    project_facts,
)
from hotline.metrics.main import make_directory, make_store
from hotline.metrics.settings import MetricsSettings
from tests.unit.test_metrics_scenario import JINGSHAN, JINGSHAN_MARCH, pure_projection, scripted_month

pytestmark = pytest.mark.stack


def new_store(db):
    settings = MetricsSettings()
    return make_store(db, settings, make_directory(settings))


async def snapshot(db) -> dict:
    """What readers see: every unit-month's figures (as written, and as its parts' figures
    combine), every ranking and hotspot document."""
    parts: dict[str, list] = {}
    async for d in db["metrics_unit_month_partials"].find({}):
        parts.setdefault(month_of_part(d["_id"]), []).append(d["partial"])
    months = {m: combine(partials) for m, partials in parts.items()}
    lights = {d["_id"]: d["figures"] async for d in db["metrics_unit_figures"].find({})}
    rankings = {d["_id"]: {k: v for k, v in d.items() if k != "seq"} async for d in db["metrics_rankings"].find({})}
    hotspots = {d["_id"]: {k: v for k, v in d.items() if k not in ("seq", "_id")}
                async for d in db["metrics_hotspots"].find({})}
    return {"months": months, "figures": lights, "rankings": rankings, "hotspots": hotspots}


def expected_snapshot(events) -> dict:
    months, rankings, hotspots = pure_projection(events)
    figures = {m: {n: doc[n] for n in FIGURE_NAMES} for m, doc in months.items()}
    return {"months": figures, "figures": figures,
            "rankings": {i: {"_id": i, **doc} for i, doc in rankings.items()}, "hotspots": hotspots}


async def test_shuffled_duplicated_batches_from_two_instances_give_the_pure_projection(fresh_db):
    events = scripted_month("store-").events
    rnd = random.Random(6)
    again = events + rnd.sample(events, len(events) // 3)
    rnd.shuffle(again)
    batches = []
    while again:
        size = rnd.randint(1, 7)
        batches.append(again[:size])
        again = again[size:]
    first, second = new_store(fresh_db), new_store(fresh_db)
    # A redelivery is the same event again, never a conflict (times read back from the store included).
    conflicts: list[str] = []
    first.on_conflict = second.on_conflict = conflicts.append

    async def run(store, mine):
        for batch in mine:
            await store.handle([fact_update(e, response_due=response_due) for e in batch])

    # Two instances at once, interleaving their writes on the same tickets and months.
    await asyncio.gather(run(first, batches[0::2]), run(second, batches[1::2]))
    got = await snapshot(fresh_db)
    assert got == expected_snapshot(events)
    assert {k: got["months"][f"{JINGSHAN}:2026-03"][k] for k in JINGSHAN_MARCH} == JINGSHAN_MARCH

    # Redelivering everything changes nothing.
    await run(first, [events])
    assert await snapshot(fresh_db) == got
    assert conflicts == []


async def test_the_bulk_load_of_a_rebuild_gives_the_same_projection(fresh_db):
    events = scripted_month("load-").events
    store = new_store(fresh_db)
    facts = fold(events, response_due=response_due)
    await store.load(facts=facts, months=project_facts(facts))
    assert await snapshot(fresh_db) == expected_snapshot(events)
    # Live events after a rebuild land on the rebuilt documents.
    await store.handle([fact_update(e, response_due=response_due) for e in events[:10]])
    assert await snapshot(fresh_db) == expected_snapshot(events)


class _Meanwhile:
    """A collection whose next read lets another writer go first before it answers; it counts
    the reads."""

    def __init__(self, collection, meanwhile) -> None:
        self._collection, self._meanwhile = collection, meanwhile
        self.reads: list = []

    def find(self, *args, **kwargs):
        self.reads.append(args[0] if args else kwargs.get("filter"))

        async def docs():
            found = [d async for d in self._collection.find(*args, **kwargs)]
            if self._meanwhile:
                meanwhile, self._meanwhile = self._meanwhile, None
                await meanwhile()
            for d in found:
                yield d
        return docs()

    def __getattr__(self, name):
        return getattr(self._collection, name)


async def test_a_part_written_between_read_and_write_is_read_again_and_written_over_what_it_holds(fresh_db):
    events = scripted_month("race-").events
    month = f"{JINGSHAN}:2026-03"
    mine = next(e for e in events if type(e).__name__ == "ContactRecorded" and e.ticket_id == "TK-race-J2")
    part = month_part_id(month, mine.ticket_id)
    # Another Jingshan March ticket kept in the same part of the month.
    other = next(t for n in itertools.count() if month_part_id(month, t := f"TK-race-N{n}") == part)
    dispatch = next(e for e in events if type(e).__name__ == "TicketDispatched" and e.ticket_id == "TK-race-J2")
    theirs = dispatch.model_copy(update={"ticket_id": other, "event_id": f"{dispatch.event_id}-other"})
    first, second = new_store(fresh_db), new_store(fresh_db)
    await first.handle([fact_update(e, response_due=response_due) for e in events if e is not mine])
    # The second instance puts its ticket in the part after the first read it: the first's
    # write, guarded by the version it read, misses; it reads the part again and writes its
    # ticket over what the part holds now.
    parts = _Meanwhile(first._parts, lambda: second.handle([fact_update(theirs, response_due=response_due)]))
    first._parts = parts
    await first.handle([fact_update(mine, response_due=response_due)])
    assert parts.reads == [{"_id": {"$in": [part]}}] * 2  # read, then read again after the miss
    assert await snapshot(fresh_db) == expected_snapshot([*events, theirs])


async def test_a_month_past_the_document_limit_is_kept_in_parts(fresh_db):
    # 72,000 tickets in one unit-month (a big agency's month in a replayed history) would make
    # an 18 MB single document, past MongoDB's 16 MB limit; kept in parts, each stays small.
    events = scripted_month("huge-").events
    dispatch = next(e for e in events if type(e).__name__ == "TicketDispatched" and e.unit_code == JINGSHAN)
    many = [dispatch.model_copy(update={"ticket_id": f"TK-huge-{n:05d}", "event_id": f"huge-{n}"})
            for n in range(72_000)]
    store = new_store(fresh_db)
    facts = fold(many[:36_000], response_due=response_due)
    await store.load(facts=facts, months=project_facts(facts))
    for start in range(36_000, 72_000, 12_000):  # the live path on the loaded parts
        await store.handle([fact_update(e, response_due=response_due) for e in many[start:start + 12_000]])
    figures = await fresh_db["metrics_unit_figures"].find_one(
        {"_id": f"{JINGSHAN}:{period_of(dispatch.dispatched_at)}"})
    assert figures["figures"]["dispatched"] == 72_000
    sizes = [len(bson.encode(d)) async for d in fresh_db["metrics_unit_month_parts"].find({})]
    assert len(sizes) == 16 and sum(sizes) > 16 * 1024 * 1024 and max(sizes) < 2 * 1024 * 1024


async def test_a_store_in_the_one_document_layout_is_refused_until_rebuilt(fresh_db):
    store = new_store(fresh_db)
    await store.prepare()
    await fresh_db["metrics_unit_months"].insert_one({"_id": f"{JINGSHAN}:2026-03", "tickets": {}, "v": 3})
    with pytest.raises(RuntimeError, match="hotline metrics rebuild"):
        await store.prepare()
    await store.drop_all()  # what a rebuild starts with
    await store.prepare()
