"""Repeat linking through the real broker and store, across batches and redelivery."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import TicketReceived, ticket_id_for, topics
from hotline.devkit import raw_record
from hotline.intake.main import build_app
from hotline.intake.settings import IntakeSettings
from tests.support import drained, publish, read_topic

pytestmark = pytest.mark.stack


async def test_same_caller_place_and_matter_within_30_days_is_linked(namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    run = uuid.uuid4().hex[:8]
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    now = datetime.now(UTC)

    def record(n: int, days_ago: float, content: str = "小区停水了") -> dict:
        return raw_record(f"rep-{run}-{n}", "房山区良乡镇云景台小区二期", content=content,
                          received_at=(now - timedelta(days=days_ago)).isoformat(),
                          caller={"phone": phone})

    first, second, third = record(1, 60), record(2, 20), record(3, 1)
    other_matter = record(4, 1, content="夜间施工噪音扰民")
    app = build_app(IntakeSettings(
        kafka_bootstrap_servers=kafka, mongodb_url=namespace.mongodb_url,
        mongodb_database=namespace.database, topic_prefix=prefix,
    ))
    async with app.router.lifespan_context(app):
        await publish(kafka, prefix + topics.RAW, first)  # its own batch
        await drained(kafka, prefix + topics.RAW, f"{prefix}hotline-intake.{topics.RAW}")
        await publish(kafka, prefix + topics.RAW, second, third, other_matter, third)
        await drained(kafka, prefix + topics.RAW, f"{prefix}hotline-intake.{topics.RAW}")
    ids = {n: ticket_id_for("phone", r["source_id"]) for n, r in enumerate((first, second, third, other_matter), 1)}
    received = await read_topic(kafka, prefix + topics.TICKETS_RECEIVED, until=lambda rs: False, timeout_s=1)
    tickets = {t.ticket_id: t for t in (TicketReceived.model_validate_json(r.value) for r in received)
               if t.ticket_id in ids.values()}
    # The first is 40 days before the second: outside the window, so the second starts afresh.
    assert tickets[ids[1]].repeat_of is None
    assert (tickets[ids[2]].repeat_of, tickets[ids[2]].repeat_count) == (None, 0)
    assert (tickets[ids[3]].repeat_of, tickets[ids[3]].repeat_count) == (ids[2], 1)
    assert tickets[ids[4]].repeat_of is None

    client = AsyncMongoClient(namespace.mongodb_url)
    try:
        async for doc in client[namespace.database]["intake_repeats"].find({}):
            assert phone not in str(doc)  # the key is a salted hash, never the number
    finally:
        await client.close()
