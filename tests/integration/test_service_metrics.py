"""Every service's `GET /metrics` on the real broker and store: FastStream's Kafka metrics, events
processed, dead letters, consumer lag, and the business figures of followup and metrics."""

import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient, InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from hotline.contracts import TicketDispatched, deterministic_event_id, topics
from hotline.devkit import Namespace, raw_record
from hotline.followup.main import build_app as build_followup
from hotline.followup.settings import FollowupSettings
from hotline.runtime.service_metrics import ServiceMetrics
from hotline.runtime.settings import ServiceSettings
from tests.integration.conftest import client_for
from tests.support import eventually, publish

pytestmark = pytest.mark.stack


async def scrape(app) -> dict[str, list[tuple[dict[str, str], float]]]:
    """`/metrics` as {sample name: [(labels, value)]}."""
    async with client_for(app) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def total(metrics: dict, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    return sum(value for found, value in metrics.get(name, []) if labels.items() <= found.items())


async def test_each_service_shows_kafka_metrics_events_and_dead_letters(services, namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    record = raw_record(f"sm-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期")
    poison = b'{"channel": "phone", "content": "13800001234 not json'
    await publish(kafka, prefix + topics.RAW, record, poison)

    # The record flows intake -> routing -> followup and metrics; each consumer's figures show it.
    expected = {
        "intake": topics.RAW, "routing": topics.TICKETS_RECEIVED,
        "followup": topics.TICKETS_DISPATCHED, "metrics": topics.TICKETS_DISPATCHED,
    }

    async def all_counted():
        scraped = {name: await scrape(app) for name, app in services.items()}
        for name, topic in expected.items():
            m = scraped[name]
            if total(m, "faststream_received_messages_total", app_name=name, handler=prefix + topic) < 1:
                return None
            if total(m, "hotline_events_processed_total", service=name, topic=topic) < 1:
                return None
            if len(_lag_partitions(m, name, topic)) < topics.TICKET_PARTITIONS:  # sampled every 5 s
                return None
        if total(scraped["intake"], "hotline_dead_letters_total", service="intake") < 1:
            return None
        return scraped

    scraped = await eventually(all_counted, timeout_s=90)
    intake = scraped["intake"]
    assert total(intake, "hotline_events_processed_total", service="intake", topic=topics.RAW) >= 2
    # FastStream's publish side: intake published the ticket and the dead letter.
    assert total(intake, "faststream_published_messages_total", app_name="intake",
                 destination=prefix + topics.TICKETS_RECEIVED) >= 1
    assert total(intake, "faststream_received_processed_messages_duration_seconds_count", app_name="intake") >= 1
    # The dead letter is counted by a bounded reason that quotes nothing the sender wrote.
    letters = {labels["reason"]: value for labels, value in intake["hotline_dead_letters_total"]}
    assert letters.get("not json", 0) >= 1, letters
    assert not any("13800001234" in reason for reason in letters)
    # Metrics' own figures share the same endpoint: its counters, business gauges and freshness.
    m = scraped["metrics"]
    assert total(m, "hotline_metrics_events_total", topic=topics.TICKETS_DISPATCHED) >= 1
    assert total(m, "hotline_metrics_period") == 1
    assert total(m, "hotline_ranking_freshness_seconds_count", service="metrics") >= 1
    assert total(m, "hotline_unit_dispatched") >= 1
    # Lag is sampled for each subscription of each service, per partition (4 for ticket topics).
    for name, topic in expected.items():
        assert _lag_partitions(scraped[name], name, topic) == {"0", "1", "2", "3"}, name


def _lag_partitions(metrics: dict, service: str, topic: str) -> set[str]:
    return {labels["partition"] for labels, _ in metrics.get("hotline_consumer_lag", [])
            if labels["service"] == service and labels["topic"] == topic}


async def test_lag_grows_while_a_consumer_is_stopped_and_returns_to_zero(services, namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    intake = services["intake"]
    subscriber = next(s for s in intake.state.runtime.broker.subscribers if prefix + topics.RAW in s.topic_names)

    async def lag() -> float:
        return total(await scrape(intake), "hotline_consumer_lag", service="intake", topic=topics.RAW)

    await eventually(lambda: _is(lag, 0), timeout_s=30)
    await subscriber.stop()
    try:
        records = [raw_record(f"lag-{uuid.uuid4().hex}", "房山区良乡镇拱辰大街") for _ in range(5)]
        await publish(kafka, prefix + topics.RAW, *records)
        assert await eventually(lambda: _at_least(lag, 5), timeout_s=30)
    finally:
        await subscriber.start()
    await eventually(lambda: _is(lag, 0), timeout_s=60)


async def _is(sample, value: float) -> bool:
    return await sample() == value


async def _at_least(sample, value: float) -> bool:
    return await sample() >= value


TOWN, DISTRICT = "110111008", "110111"


@pytest.fixture
async def space(namespace):
    """Followup alone with a private prefix and database, so its business time is its own."""
    own = namespace.child("sm")
    await own.create([*topics.core_topics(), *topics.queue_topics([TOWN, DISTRICT])])
    yield own
    client = AsyncMongoClient(own.mongodb_url)
    await client.drop_database(own.database)
    await client.close()


@asynccontextmanager
async def followup(space: Namespace):
    app = build_followup(FollowupSettings(**space.service_settings(), business_clock="log", scheduler_interval_s=0.2))
    async with app.router.lifespan_context(app):
        yield app


async def test_followup_counts_open_and_overdue_tickets_and_the_breaches_it_fires(space):
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    late, fresh = f"TK-LATE-{uuid.uuid4().hex[:8]}", f"TK-FRESH-{uuid.uuid4().hex[:8]}"

    def dispatch(ticket_id: str, report_back_hours: float) -> dict:
        return TicketDispatched(
            event_id=deterministic_event_id("TicketDispatched", ticket_id, "1"), ticket_id=ticket_id,
            occurred_at=t0, unit_code=TOWN, unit_name="良乡镇", district_code=DISTRICT, reason="street_town",
            dispatched_at=t0, urgency="general", attempt=1, report_back_due_at=t0 + timedelta(hours=report_back_hours),
        ).model_dump(mode="json")

    async with followup(space) as app:
        await publish(space.kafka, space.prefix + topics.TICKETS_DISPATCHED, dispatch(late, 10),
                      dispatch(fresh, 1000))
        # Business time passes the late ticket's report-back deadline and both response deadlines (24 h).
        await publish(space.kafka, space.prefix + topics.CLOCK,
                      {"now": (t0 + timedelta(hours=30)).isoformat(), "source": "test"})

        async def figures():
            m = await scrape(app)
            if total(m, "hotline_open_tickets", service="followup") != 2:
                return None
            if total(m, "hotline_deadline_breaches_total", clock="response") < 2:
                return None
            return m

        m = await eventually(figures, timeout_s=60)
    assert total(m, "hotline_overdue_tickets", service="followup") == 1
    assert total(m, "hotline_deadline_breaches_total", service="followup", clock="report_back") == 1
    assert total(m, "hotline_deadline_breaches_total", service="followup", clock="response") == 2


async def test_every_service_serves_the_asyncapi_contract(services):
    from hotline.runtime import asyncapi

    for name, app in services.items():
        async with client_for(app) as client:
            document = await client.get("/asyncapi.json")
            page = await client.get("/asyncapi")
        assert document.status_code == 200 and document.json() == asyncapi.document(), name
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), name
        assert 'id="topic-tickets.dispatched"' in page.text and 'id="schema-TicketDispatched"' in page.text, name


async def test_the_store_listener_counts_the_documents_each_write_changed(namespace):
    """`hotline_store_documents_written_total`: what the store wrote, not what was asked (an
    update that changes nothing, a guard that matches nothing, a duplicate insert)."""
    metrics = ServiceMetrics("probe", ServiceSettings(mongodb_url=namespace.mongodb_url))
    client = AsyncMongoClient(namespace.mongodb_url, event_listeners=[metrics.store_listener()])
    coll = client[namespace.database][f"written_{uuid.uuid4().hex[:8]}"]
    try:
        await coll.insert_many([{"_id": i, "n": 0} for i in range(5)])  # 5
        await coll.update_many({"_id": {"$lt": 3}}, {"$set": {"n": 1}})  # 3
        await coll.update_many({"_id": {"$lt": 3}}, {"$set": {"n": 1}})  # 0: nothing changes
        await coll.update_one({"_id": 9, "n": 5}, {"$set": {"n": 9}}, upsert=True)  # 1 upserted
        await coll.update_one({"_id": 4, "n": 5}, {"$set": {"n": 9}})  # 0: the guard fails
        with pytest.raises(BulkWriteError):
            await coll.bulk_write([InsertOne({"_id": 0}), UpdateOne({"_id": 1}, {"$set": {"n": 2}})], ordered=False)  # 1
        await coll.delete_many({"_id": {"$gte": 3}})  # 3: 3, 4 and 9
        text = generate_latest(metrics.registry).decode()
        written = {s.labels["collection"]: s.value for f in text_string_to_metric_families(text)
                   if f.name == "hotline_store_documents_written" for s in f.samples if s.name.endswith("_total")}
        assert written == {coll.name: 5 + 3 + 1 + 1 + 3}
    finally:
        await coll.drop()
        await client.close()

