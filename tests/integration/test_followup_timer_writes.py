"""What firing a ticket's deadlines costs the store (issue #25: documents written per ticket), and
the store steps that keep it small, on the real broker and store."""

import uuid
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from hotline.contracts import DeadlineBreached, deterministic_event_id, topics
from hotline.followup.deadlines.store import MarkClaims, TimerBuckets
from hotline.followup.tickets.store import FollowupStore
from tests.integration.conftest import client_for
from tests.integration.test_followup_deadlines import (  # noqa: F401 - `space` is a fixture
    T0,
    dispatch,
    followup,
    marks_on_topic,
    space,
    tick,
)
from tests.support import eventually, publish

pytestmark = pytest.mark.stack


async def _written(app) -> dict[str, float]:
    async with client_for(app) as client:
        text = (await client.get("/metrics")).text
    return {s.labels["collection"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "hotline_store_documents_written" for s in f.samples if s.name.endswith("_total")}


async def test_a_ticket_firing_five_marks_writes_its_document_twice_and_one_bucket_entry(space):
    ticket = f"TK-COST-{uuid.uuid4().hex[:8]}"
    async with followup(space) as app:
        await publish(space.kafka, space.prefix + topics.TICKETS_DISPATCHED, dispatch(ticket))
        await eventually(lambda: _has(_written(app), "followup_timer_buckets"), timeout_s=30)
        before = await _written(app)
        # One entry for the ticket, its earliest mark (the response clock's 50% warning).
        assert before["followup_timer_buckets"] == 1
        await tick(space, T0 + timedelta(hours=49))
        await marks_on_topic(space, lambda es: len(es) >= 5)
        await eventually(lambda: _grown(_written(app), "followup_timer_buckets", before, 2), timeout_s=30)
        after = await _written(app)
    # Five marks: one claim and one confirmation (with their timeline entries), not three writes a mark.
    assert after["followup_tickets"] - before["followup_tickets"] == 2
    # Its bucket deleted in one write, and the ticket's next mark (report-back at 50 h) filed.
    assert after["followup_timer_buckets"] - before["followup_timer_buckets"] == 2


async def _has(written, collection: str) -> bool:
    return collection in await written


async def _grown(written, collection: str, before: dict, by: float) -> bool:
    return (await written).get(collection, 0) - before.get(collection, 0) >= by


async def test_a_confirmation_whose_entry_is_on_the_timeline_already_sets_sent_and_keeps_one_entry(space):
    client = AsyncMongoClient(space.mongodb_url, tz_aware=True)
    try:
        store, ticket = FollowupStore(client[space.database]), f"TK-REDO-{uuid.uuid4().hex[:8]}"
        claims = MarkClaims(client[space.database])
        breach = DeadlineBreached(
            event_id=deterministic_event_id("DeadlineMarked", "m1"), ticket_id=ticket, occurred_at=T0,
            unit_code="110111008", clock="response", mark="breach", started_at=T0, due_at=T0, round=0)
        await client[space.database]["followup_tickets"].insert_one({"_id": ticket, "timeline": []})
        assert await claims.claim_marks(ticket_id=ticket, mark_ids=["m1", "m2"], by="a", now=T0,
                                        stale_before=T0) == [True, True]
        await store.record_timeline(events=[breach])  # an older version wrote the entry apart
        await claims.confirm_sent(marks=[(ticket, "m1"), (ticket, "m2")], events=[breach])
        doc = await client[space.database]["followup_tickets"].find_one({"_id": ticket})
        assert sorted(f["sent"] for f in doc["fired"].values()) == [True, True]
        assert [e["event_id"] for e in doc["timeline"]] == [breach.event_id]
        # Claimed already: each mark is held (None), whether asked alone or with a new one.
        assert await claims.claim_marks(ticket_id=ticket, mark_ids=["m1", "m3"], by="b", now=T0,
                                        stale_before=T0) == [None, True]
    finally:
        await client.close()


async def test_a_bucket_given_an_entry_since_it_was_read_keeps_that_entry(space):
    client = AsyncMongoClient(space.mongodb_url, tz_aware=True)
    try:
        buckets = TimerBuckets(client[space.database])
        await buckets.schedule([(T0, "TK-A", "c1"), (T0, "TK-B", "c1")])
        read = {b["_id"]: b["entries"] for b in await buckets.due(T0 + timedelta(minutes=1), limit=10)}
        key = next(k for k, entries in read.items() if any(e["ticket_id"] == "TK-A" for e in entries))
        entries = read[key]
        later = [(T0 + timedelta(seconds=30), e["ticket_id"], "c2") for e in entries]
        await buckets.schedule(later)  # another pass filed these meanwhile
        await buckets.remove(key, entries, whole=entries)
        left = await client[space.database]["followup_timer_buckets"].find_one({"_id": key})
        assert [e["clock_id"] for e in left["entries"]] == ["c2"] * len(entries)
        await buckets.remove(key, left["entries"], whole=left["entries"])
        assert await buckets.pending_count() == sum(len(v) for k, v in read.items() if k != key)
    finally:
        await client.close()
