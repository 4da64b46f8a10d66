"""Metrics' store on the real MongoDB-protocol server: batches in any order, duplicated, and two
instances at once give the projection computed in memory; the rebuild's bulk load gives it too."""

import asyncio
import random

import pytest

from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import FIGURE_NAMES, fact_update, fold, project_facts
from hotline.metrics.main import make_directory, make_store
from hotline.metrics.settings import MetricsSettings
from tests.unit.test_metrics_scenario import JINGSHAN, JINGSHAN_MARCH, pure_projection, scripted_month

pytestmark = pytest.mark.stack


def new_store(db):
    settings = MetricsSettings()
    return make_store(db, settings, make_directory(settings))


async def snapshot(db) -> dict:
    """What readers see: every unit-month's figures, every ranking and hotspot document."""
    months = {d["_id"]: {n: d[n] for n in FIGURE_NAMES}
              async for d in db["metrics_unit_months"].find({})}
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


async def test_a_month_written_between_read_and_write_is_read_again_and_written_over_what_it_holds(fresh_db):
    events = scripted_month("race-").events
    mine, theirs = (next(e for e in events if type(e).__name__ == "ContactRecorded" and e.ticket_id == f"TK-race-{t}")
                    for t in ("J2", "J4"))
    first, second = new_store(fresh_db), new_store(fresh_db)
    await first.handle([fact_update(e, response_due=response_due) for e in events if e not in (mine, theirs)])
    # The second instance puts another of Jingshan's March tickets in after the first read the month:
    # the first's write, guarded by the version it read, misses; it reads the month again and
    # writes its ticket over what the month holds now.
    months = _Meanwhile(first._months, lambda: second.handle([fact_update(theirs, response_due=response_due)]))
    first._months = months
    await first.handle([fact_update(mine, response_due=response_due)])
    month = f"{JINGSHAN}:2026-03"
    assert months.reads == [{"_id": {"$in": [month]}}] * 2  # read, then read again after the miss
    assert await snapshot(fresh_db) == expected_snapshot(events)
