"""Routing stopped mid-stream and started again: every ticket dispatched, none twice."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from hotline.contracts import TicketDispatched, TicketReceived, topics
from hotline.gazetteer import beijing
from hotline.ingest.admission import normalize
from hotline.routing.main import build_app
from hotline.routing.settings import RoutingSettings
from hotline.runtime.kafka import ensure_topics
from tests.support import drained, read_topic

pytestmark = pytest.mark.stack
PLACES = ["房山区良乡镇云景台小区二期", "朝阳区望京街道", "海淀区中关村街道", "东城区景山街道"]
CONTENTS = ["垃圾没人清运", "停水两天了", "路面坑洼", "噪音扰民"]


async def test_a_restart_mid_stream_loses_nothing_and_duplicates_nothing(namespace):
    kafka, prefix = namespace.kafka, f"{namespace.prefix}restart{uuid.uuid4().hex[:4]}-"
    from hotline.catalogue import default_catalogue, queue_codes

    await ensure_topics(kafka, [*(topics.TopicSpec(prefix + s.name, s.partitions) for s in topics.core_topics()),
                                *(topics.TopicSpec(prefix + topics.queue_topic(c), 1)
                                  for c in queue_codes(default_catalogue(), beijing()))])
    now = datetime.now(UTC)
    tickets = []
    for i in range(400):
        record = {"channel": "app", "source_id": f"restart-{i}", "received_at": now.isoformat(),
                  "content": CONTENTS[i % 4], "address": PLACES[i % 4], "caller": {"phone": "13800000000"}}
        ticket = normalize(json.dumps(record, ensure_ascii=False).encode(), now=now, gazetteer=beijing())
        assert isinstance(ticket, TicketReceived)
        tickets.append(ticket)
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        for t in tickets:
            await producer.send(prefix + topics.TICKETS_RECEIVED, t.model_dump_json().encode(), key=t.ticket_id.encode())
        await producer.flush()
    finally:
        await producer.stop()

    settings = RoutingSettings(kafka_bootstrap_servers=kafka, mongodb_url=namespace.mongodb_url,
                               mongodb_database=namespace.database, topic_prefix=prefix, batch_max_records=50)

    async def dispatched() -> list[TicketDispatched]:
        records = await read_topic(kafka, prefix + topics.TICKETS_DISPATCHED, until=lambda rs: False, timeout_s=0.5)
        return [TicketDispatched.model_validate_json(r.value) for r in records]

    first = build_app(settings)
    async with first.router.lifespan_context(first):
        # Stop as soon as the first dispatches are out: mid-stream.
        await read_topic(kafka, prefix + topics.TICKETS_DISPATCHED, until=lambda rs: len(rs) >= 50)
    partial = len(await dispatched())
    assert partial < len(tickets), "stopped too late to be mid-stream"

    second = build_app(settings)
    async with second.router.lifespan_context(second):
        await drained(kafka, prefix + topics.TICKETS_RECEIVED, f"{prefix}hotline-routing.{topics.TICKETS_RECEIVED}")
    events = await dispatched()
    assert {e.ticket_id for e in events} == {t.ticket_id for t in tickets}
    # One dispatch per ticket: a batch cut short between publishing and recording it may
    # publish a record again on restart, but as the same event, which consumers drop.
    assert len({e.event_id for e in events}) == len(tickets)
    assert all(e.attempt == 1 for e in events)
