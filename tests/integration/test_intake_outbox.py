"""Intake stores a ticket before it publishes it (issue #23): an outbox flag on `intake_tickets`.

On the real broker and store, with one step made to fail once: a store write that fails lets no
TicketReceived out; a publish that fails leaves the ticket stored, unflagged, and the redelivered
record publishes it; a crash between the publish and the flag publishes it again with the same
event id (consumers drop it), and once flagged a record publishes nothing.
"""

import uuid

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import TicketReceived, ticket_id_for, topics
from hotline.contracts.topics import core_topics
from hotline.devkit import raw_record
from hotline.ingest.admission import IntakePolicy
from hotline.intake.handlers import register
from hotline.intake.main import build_intake
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.kafka import Publisher, build_broker, ensure_topics
from hotline.runtime.mongo import make_client
from hotline.runtime.service import ServiceRuntime
from hotline.runtime.service_metrics import ServiceMetrics
from tests.support import drained, publish, read_topic

pytestmark = pytest.mark.stack


class Plan:
    """Which step fails, once, and what the store held when it did."""

    def __init__(self) -> None:
        self.fail: str | None = None
        self.failed: list[str] = []
        self.seen_at_failure: dict | None = None
        self.published_at_failure: bool | None = None
        self.published_before_store: list[str] = []
        self.stored = False

    def take(self, step: str) -> bool:
        if self.fail == step:
            self.fail = None
            self.failed.append(step)
            return True
        return False


class FlakyStore(IntakeStore):
    def __init__(self, db, plan: Plan) -> None:
        super().__init__(db)
        self.plan = plan
        self.db = db

    async def record_received(self, **kwargs):
        if kwargs.get("tickets") and self.plan.take("store"):
            raise ConnectionError("store unavailable")
        result = await super().record_received(**kwargs)
        self.plan.stored = bool(kwargs.get("tickets")) or self.plan.stored
        return result

    async def mark_published(self, **kwargs):
        if kwargs.get("ticket_ids") and self.plan.take("flag"):
            raise ConnectionError("store gone right after the publish")
        return await super().mark_published(**kwargs)


class FlakyPublisher(Publisher):
    def __init__(self, *args, plan: Plan, store: FlakyStore, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.plan, self.store = plan, store

    async def publish_all(self, items):
        items = list(items)
        ids = [m.ticket_id for _, m, _ in items if isinstance(m, TicketReceived)]
        if ids and not self.plan.stored:
            self.plan.published_before_store += ids
        if ids and self.plan.take("publish"):
            self.plan.seen_at_failure = await self.store.db["intake_tickets"].find_one({"_id": ids[0]})
            self.plan.published_at_failure = (await self.store.outbox(ticket_ids=ids[:1]))[ids[0]].published
            raise ConnectionError("broker unavailable")
        return await super().publish_all(items)


@pytest.fixture(scope="module")
async def intake(namespace):
    """An intake consumer of its own raw topic, whose steps a test can make fail once."""
    prefix = f"{namespace.prefix}outbox-{uuid.uuid4().hex[:6]}-"
    settings = IntakeSettings(
        kafka_bootstrap_servers=namespace.kafka, mongodb_url=namespace.mongodb_url,
        mongodb_database=namespace.database, topic_prefix=prefix,
    )
    await ensure_topics(namespace.kafka, [topics.TopicSpec(prefix + s.name, s.partitions) for s in core_topics()])
    broker = build_broker(settings, "intake")
    metrics = ServiceMetrics("intake", settings)
    runtime = ServiceRuntime("intake", settings, broker, make_client(settings, [metrics.store_listener()]))
    plan = Plan()
    store = FlakyStore(runtime.db, plan)
    publisher = FlakyPublisher(broker, settings, "intake", plan=plan, store=store)
    register(runtime, build_intake(runtime, store, publisher, IntakePolicy()), publisher)
    await runtime.start()
    try:
        yield {"prefix": prefix, "plan": plan, "kafka": namespace.kafka, "store": store, "metrics": metrics}
    finally:
        await runtime.stop()


@pytest.fixture
async def tickets(namespace):
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True)
    yield client[namespace.database]["intake_tickets"]
    await client.close()


async def send_and_settle(intake, *records) -> None:
    prefix = intake["prefix"]
    await publish(intake["kafka"], prefix + topics.RAW, *records)
    await drained(intake["kafka"], prefix + topics.RAW, f"{prefix}hotline-intake.{topics.RAW}")


async def events_of(intake, ticket_id: str) -> list[TicketReceived]:
    records = await read_topic(intake["kafka"], intake["prefix"] + topics.TICKETS_RECEIVED,
                               until=lambda rs: False, timeout_s=1.5)
    return [t for t in (TicketReceived.model_validate_json(r.value) for r in records) if t.ticket_id == ticket_id]


def fresh(plan: Plan, fail: str) -> None:
    plan.fail, plan.failed, plan.seen_at_failure, plan.published_before_store, plan.stored = fail, [], None, [], False
    plan.published_at_failure = None


async def published(intake, ticket_id: str) -> bool:
    """Whether intake's outbox counts the stored ticket's event as gone out."""
    return (await intake["store"].outbox(ticket_ids=[ticket_id]))[ticket_id].published


def written(intake, collection: str) -> float:
    return intake["metrics"].store_documents_written.labels("intake", collection)._value.get()


async def test_a_store_write_that_fails_publishes_nothing(intake, tickets):
    plan = intake["plan"]
    fresh(plan, "store")
    record = raw_record(f"outbox-store-{uuid.uuid4().hex}", "良乡")
    ticket_id = ticket_id_for("phone", record["source_id"])
    await send_and_settle(intake, record)
    assert plan.failed == ["store"]
    assert ticket_id not in plan.published_before_store  # nothing went out before the store held it
    assert len(await events_of(intake, ticket_id)) == 1  # and the redelivery published it once
    assert await published(intake, ticket_id)


async def test_a_publish_that_fails_leaves_the_ticket_stored_unflagged_and_the_redelivery_publishes_it(
        intake, tickets):
    plan = intake["plan"]
    fresh(plan, "publish")
    record = raw_record(f"outbox-publish-{uuid.uuid4().hex}", "良乡")
    ticket_id = ticket_id_for("phone", record["source_id"])
    await send_and_settle(intake, record)
    assert plan.failed == ["publish"]
    assert plan.seen_at_failure is not None and plan.published_at_failure is False
    assert "13800001234" not in repr(plan.seen_at_failure)  # stored without the caller
    [event] = await events_of(intake, ticket_id)
    assert await published(intake, ticket_id)
    assert event.content == record["content"]


async def test_a_crash_between_publish_and_flag_publishes_the_same_event_again_then_nothing(intake, tickets):
    plan = intake["plan"]
    fresh(plan, "flag")
    record = raw_record(f"outbox-flag-{uuid.uuid4().hex}", "良乡")
    ticket_id = ticket_id_for("phone", record["source_id"])
    await send_and_settle(intake, record)
    assert plan.failed == ["flag"]
    events = await events_of(intake, ticket_id)
    assert len(events) == 2 and len({e.event_id for e in events}) == 1  # one event id: consumers drop one
    assert await published(intake, ticket_id)
    # Flagged: the same record again publishes nothing.
    fresh(plan, "none")
    await send_and_settle(intake, record)
    assert len(await events_of(intake, ticket_id)) == 2


async def test_a_batch_says_it_was_published_in_one_document_per_partition_not_one_per_ticket(intake, tickets):
    """The store rewrites a whole document per update: flagging each ticket after its publish
    doubled intake's ticket writes (issue #25)."""
    fresh(intake["plan"], "none")
    before = {c: written(intake, c) for c in ("intake_tickets", "intake_outbox")}
    records = [raw_record(f"outbox-batch-{uuid.uuid4().hex}", "良乡") for _ in range(20)]
    await send_and_settle(intake, *records)
    ids = [ticket_id_for("phone", r["source_id"]) for r in records]
    assert all([await published(intake, t) for t in ids])
    assert written(intake, "intake_tickets") - before["intake_tickets"] == 20  # each stored once, no flag
    assert written(intake, "intake_outbox") - before["intake_outbox"] < 20
    # The same records again: all published already, nothing goes out.
    await send_and_settle(intake, *records)
    assert all([len(await events_of(intake, t)) == 1 for t in ids[:3]])
