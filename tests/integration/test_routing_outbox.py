"""Routing's outbox records publication per batch (issue #25): each dispatch is stored in one
document write, and a ticket received again after its dispatch went out is not dispatched again."""

import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from hotline.catalogue import default_catalogue, queue_codes
from hotline.contracts import TicketDispatched, TicketReceived, topics
from hotline.gazetteer import beijing
from hotline.ingest.admission import normalize
from hotline.routing.main import build_app
from hotline.routing.settings import RoutingSettings
from hotline.runtime.kafka import ensure_topics
from tests.integration.conftest import client_for
from tests.support import drained, read_topic

pytestmark = pytest.mark.stack


async def written(app) -> dict[str, float]:
    async with client_for(app) as client:
        text = (await client.get("/metrics")).text
    return {s.labels["collection"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "hotline_store_documents_written" for s in f.samples if s.name.endswith("_total")}


async def test_each_dispatch_is_one_document_write_and_a_resent_ticket_is_not_dispatched_again(namespace):
    kafka, prefix = namespace.kafka, f"{namespace.prefix}routbox{uuid.uuid4().hex[:4]}-"
    await ensure_topics(kafka, [*(topics.TopicSpec(prefix + s.name, s.partitions) for s in topics.core_topics()),
                                *(topics.TopicSpec(prefix + topics.queue_topic(c), 1)
                                  for c in queue_codes(default_catalogue(), beijing()))])
    now = datetime.now(UTC)
    tickets = []
    for i in range(60):
        record = (f'{{"channel": "app", "source_id": "routbox-{i}", "received_at": "{now.isoformat()}", '
                  f'"content": "路面坑洼", "address": "朝阳区望京街道", "caller": {{"phone": "13800000000"}}}}')
        ticket = normalize(record.encode(), now=now, gazetteer=beijing())
        assert isinstance(ticket, TicketReceived)
        tickets.append(ticket)

    async def send_all() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
        await producer.start()
        try:
            for t in tickets:
                await producer.send(prefix + topics.TICKETS_RECEIVED, t.model_dump_json().encode(),
                                    key=t.ticket_id.encode())
            await producer.flush()
        finally:
            await producer.stop()

    settings = RoutingSettings(kafka_bootstrap_servers=kafka, mongodb_url=namespace.mongodb_url,
                               mongodb_database=namespace.database, topic_prefix=prefix, batch_max_records=20)
    app = build_app(settings)
    group = f"{prefix}hotline-routing.{topics.TICKETS_RECEIVED}"
    async with app.router.lifespan_context(app):
        await send_all()
        await drained(kafka, prefix + topics.TICKETS_RECEIVED, group)
        first = await written(app)
        # Intake republishes a ticket whose outbox record it missed: the same event again.
        await send_all()
        await drained(kafka, prefix + topics.TICKETS_RECEIVED, group)
    records = await read_topic(kafka, prefix + topics.TICKETS_DISPATCHED, until=lambda rs: False, timeout_s=1)
    events = [TicketDispatched.model_validate_json(r.value) for r in records]
    assert sorted(e.ticket_id for e in events) == sorted(t.ticket_id for t in tickets)  # once each
    assert first["routing_dispatches"] == len(tickets)  # stored once, never rewritten to flag it
    assert first.get("routing_outbox", 0) < len(tickets) / 2
