"""The 63-record table through the real broker: raw records in, the expected tickets out."""

import uuid

import pytest

from hotline.contracts import TicketReceived, ticket_id_for, topics
from hotline.intake.main import build_app
from hotline.intake.settings import IntakeSettings
from tests.support import publish, read_topic
from tests.unit.test_intake_records import RECEIVED, TABLE, check

pytestmark = pytest.mark.stack


async def test_every_table_record_becomes_the_expected_ticket(namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    run = uuid.uuid4().hex[:8]
    rows = [{**row, "record": {**row["record"], "source_id": f"{run}-{row['record']['source_id']}",
                                "received_at": RECEIVED}} for row in TABLE]
    expected = {ticket_id_for(r["record"]["channel"], r["record"]["source_id"]): r["expect"] for r in rows}
    app = build_app(IntakeSettings(
        kafka_bootstrap_servers=kafka, mongodb_url=namespace.mongodb_url,
        mongodb_database=namespace.database, topic_prefix=prefix,
    ))
    async with app.router.lifespan_context(app):
        await publish(kafka, prefix + topics.RAW, *[r["record"] for r in rows])

        def ours(records) -> dict[str, TicketReceived]:
            tickets = (TicketReceived.model_validate_json(r.value) for r in records)
            return {t.ticket_id: t for t in tickets if t.ticket_id in expected}

        received = ours(await read_topic(
            kafka, prefix + topics.TICKETS_RECEIVED, until=lambda rs: len(ours(rs)) == len(expected)
        ))
    assert received.keys() == expected.keys()
    for ticket_id, expect in expected.items():
        check(received[ticket_id], expect)
