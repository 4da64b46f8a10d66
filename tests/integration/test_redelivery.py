"""A failed batch is redelivered by the real broker, not lost: offsets are committed after the work."""

import uuid

import pytest

from hotline.contracts import TicketReceived, topics
from hotline.devkit import raw_record
from hotline.ingest.admission import IntakePolicy
from hotline.intake.handlers import register
from hotline.intake.main import build_intake
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.kafka import Publisher, build_broker
from hotline.runtime.mongo import make_client
from hotline.runtime.service import ServiceRuntime
from tests.support import drained, publish, read_topic

pytestmark = pytest.mark.stack


class StoreThatFailsOnce(IntakeStore):
    """The real store, except that its first read fails as if the server had gone away."""

    def __init__(self, db) -> None:
        super().__init__(db)
        self.failures = 0

    async def outbox(self, *, ticket_ids):
        if ticket_ids and self.failures == 0:
            self.failures += 1
            raise ConnectionError("store unavailable")
        return await super().outbox(ticket_ids=ticket_ids)


async def test_a_batch_that_fails_is_redelivered_and_processed_once(namespace):
    # A private prefix: this intake must be the only consumer of its raw topic.
    prefix = f"{namespace.prefix}redeliver-{uuid.uuid4().hex[:6]}-"
    settings = IntakeSettings(
        kafka_bootstrap_servers=namespace.kafka, mongodb_url=namespace.mongodb_url,
        mongodb_database=namespace.database, topic_prefix=prefix,
    )
    from hotline.contracts.topics import core_topics
    from hotline.runtime.kafka import ensure_topics

    await ensure_topics(namespace.kafka, [topics.TopicSpec(prefix + s.name, s.partitions) for s in core_topics()])
    broker = build_broker(settings, "intake")
    runtime = ServiceRuntime("intake", settings, broker, make_client(settings))
    store = StoreThatFailsOnce(runtime.db)
    publisher = Publisher(broker, settings, "intake")
    register(runtime, build_intake(runtime, store, publisher, IntakePolicy()), publisher)
    record = raw_record(f"redeliver-{uuid.uuid4().hex}", "良乡")
    await runtime.start()
    try:
        await publish(namespace.kafka, prefix + topics.RAW, record)
        await drained(namespace.kafka, prefix + topics.RAW, f"{prefix}hotline-intake.{topics.RAW}")
        received = await read_topic(namespace.kafka, prefix + topics.TICKETS_RECEIVED,
                                    until=lambda rs: False, timeout_s=1)
    finally:
        await runtime.stop()
    assert store.failures == 1
    tickets = [TicketReceived.model_validate_json(r.value) for r in received]
    assert [t.source_id for t in tickets] == [record["source_id"]]
