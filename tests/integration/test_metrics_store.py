"""Metrics' store on the real MongoDB-protocol server, written from the in-memory projection:
shuffled, duplicated events from two instances give the projection computed in memory; an instance
that is behind cannot write over one that is ahead; a start writes only what differs."""

import random
from datetime import UTC, datetime

import pytest

from hotline.contracts import BUSINESS_TZ
from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import fact_update
from hotline.metrics.figures import FIGURE_NAMES
from hotline.metrics.main import make_directory, make_writer
from hotline.metrics.projection import Projection
from hotline.metrics.settings import MetricsSettings
from hotline.metrics.settle import SettleState, default_settle_policy, settle_time
from hotline.metrics.store import LEGACY
from tests.unit.test_metrics_scenario import JINGSHAN, JINGSHAN_MARCH, pure_projection, scripted_month

pytestmark = pytest.mark.stack


def new_instance(db):
    settings = MetricsSettings(flush_interval_s=0)
    projection = Projection()
    store, writer = make_writer(db, settings, make_directory(settings), projection)
    return projection, store, writer


async def snapshot(db) -> dict:
    """What readers see: every unit-month's figures, every ranking and hotspot document."""
    figures = {d["_id"]: d["figures"] async for d in db["metrics_unit_figures"].find({})}
    rankings = {d["_id"]: {k: v for k, v in d.items() if k not in ("seq", "o")}
                async for d in db["metrics_rankings"].find({})}
    hotspots = {d["_id"]: {k: v for k, v in d.items() if k not in ("seq", "_id", "o")}
                async for d in db["metrics_hotspots"].find({})}
    return {"months": figures, "figures": figures, "rankings": rankings, "hotspots": hotspots}


def settle_fields(period: str, now: datetime | None = None) -> dict:
    """A month's settle state at business time `now`; by default the wall clock, on which these
    scripted months settled long ago (every partition's grace is over)."""
    policy = default_settle_policy()
    at = settle_time(period, policy, BUSINESS_TZ)
    return SettleState(at + policy.grace <= (now or datetime.now(UTC)), at, policy.rule, policy.version).as_fields()


def expected_snapshot(events, now: datetime | None = None) -> dict:
    """What metrics writes for these events, its months settled or not by business time `now`."""
    months, rankings, hotspots = pure_projection(events)
    figures = {m: {n: doc[n] for n in FIGURE_NAMES} for m, doc in months.items()}
    return {"months": figures, "figures": figures,
            "rankings": {i: {"_id": i, **doc, **settle_fields(doc["period"], now)} for i, doc in rankings.items()},
            "hotspots": hotspots}


async def feed(projection, writer, log, upto: int, *, start: int = 0) -> None:
    """Apply records [start, upto) of a one-partition log, as a consumer would, then flush."""
    projection.apply(fact_update(e, response_due=response_due) for e in log[start:upto])
    projection.covered("0_0", upto)
    await writer.flush()


async def test_two_instances_reading_a_shuffled_duplicated_log_at_their_own_pace_give_the_pure_projection(fresh_db):
    events = scripted_month("store-").events
    rnd = random.Random(6)
    log = events + rnd.sample(events, len(events) // 3)
    rnd.shuffle(log)
    (pa, _, first), (pb, _, second) = new_instance(fresh_db), new_instance(fresh_db)
    await first.start()
    await second.start()
    a = b = 0
    while a < len(log) or b < len(log):
        if a < len(log):
            step = min(len(log), a + rnd.randint(1, 9))
            await feed(pa, first, log, step, start=a)
            a = step
        if b < len(log):
            step = min(len(log), b + rnd.randint(1, 5))
            await feed(pb, second, log, step, start=b)
            b = step
    got = await snapshot(fresh_db)
    assert got == expected_snapshot(events)
    assert {k: got["months"][f"{JINGSHAN}:2026-03"][k] for k in JINGSHAN_MARCH} == JINGSHAN_MARCH


async def test_an_instance_behind_on_the_log_cannot_write_over_one_ahead(fresh_db):
    log = scripted_month("behind-").events
    (pa, _, ahead), (pb, _, behind) = new_instance(fresh_db), new_instance(fresh_db)
    await ahead.start()
    await behind.start()
    await feed(pa, ahead, log, len(log))
    full = await snapshot(fresh_db)
    await feed(pb, behind, log, len(log) // 2)  # its figures are older: refused
    assert await snapshot(fresh_db) == full == expected_snapshot(log)
    await feed(pb, behind, log, len(log), start=len(log) // 2)
    assert await snapshot(fresh_db) == full


async def test_a_start_writes_only_what_differs_from_the_store(fresh_db):
    log = scripted_month("restart-").events
    projection, store, writer = new_instance(fresh_db)
    await writer.start()
    await feed(projection, writer, log, len(log))
    before = await snapshot(fresh_db)
    # The same log folded again by a new process: nothing to write.
    projection, store, writer = new_instance(fresh_db)
    written = []
    real = store.write_versioned

    async def recording(collection, docs, vector):
        written.extend((collection, i) for i in docs)
        return await real(collection, docs, vector)
    store.write_versioned = recording
    await writer.start()
    await feed(projection, writer, log, len(log))
    assert written == []
    assert await snapshot(fresh_db) == before


async def test_what_older_releases_kept_per_ticket_is_dropped_on_start(fresh_db):
    _, store, _ = new_instance(fresh_db)
    for name in LEGACY:
        await fresh_db[name].insert_one({"_id": f"{JINGSHAN}:2026-03", "tickets": {}, "v": 3})
    await store.prepare()
    assert not set(LEGACY) & set(await fresh_db.list_collection_names())
