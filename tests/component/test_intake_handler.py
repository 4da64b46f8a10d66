"""Intake's handler on FastStream's in-memory broker, with an in-memory store."""

import base64
import json
from datetime import UTC, datetime

from faststream.kafka import TestKafkaBroker

from hotline.contracts import DeadLetter, TicketReceived, topics
from hotline.ingest.admission import IntakePolicy
from hotline.intake.handlers import register
from hotline.intake.main import build_intake
from hotline.intake.settings import IntakeSettings
from hotline.runtime.kafka import Publisher, build_broker
from hotline.runtime.service import ServiceRuntime


class InMemoryIntakeStore:
    def __init__(self) -> None:
        self.tickets: dict[str, bool] = {}  # ticket id -> published
        self.prints: dict[str, str | None] = {}
        self.repeats: dict[str, list] = {}

    async def histories(self, *, keys):
        return {k: list(self.repeats.get(k, [])) for k in keys}

    async def remember(self, *, entries):
        from hotline.intake.domain import PriorTicket

        for key, tickets in entries.items():
            known = self.repeats.setdefault(key, [])
            known.extend(p for t in tickets if (p := PriorTicket(t.ticket_id, t.received_at)) not in known)

    async def outbox(self, *, ticket_ids):
        from hotline.intake.domain import Stored

        return {t: Stored(self.tickets[t], self.prints.get(t)) for t in ticket_ids if t in self.tickets}

    async def record_received(self, *, tickets, fingerprints, origins=None):
        for t in tickets:
            if t.ticket_id not in self.tickets:
                self.tickets[t.ticket_id], self.prints[t.ticket_id] = False, fingerprints.get(t.ticket_id)
        return set()

    async def mark_published(self, *, ticket_ids, records=None):
        for t in ticket_ids:
            self.tickets[t] = True


def build():
    settings = IntakeSettings()
    broker = build_broker(settings, "intake")
    runtime = ServiceRuntime("intake", settings, broker, mongo=None)  # type: ignore[arg-type]
    store = InMemoryIntakeStore()
    publisher = Publisher(broker, settings, "intake")
    register(runtime, build_intake(runtime, store, publisher, IntakePolicy()), publisher)

    @broker.subscriber(topics.TICKETS_RECEIVED)
    async def received(body: dict) -> None: ...

    @broker.subscriber(topics.DLQ)
    async def dlq(body: dict) -> None: ...

    return broker, store, received, dlq


RECORD = {
    "channel": "wechat", "source_id": "wx-1", "received_at": "2026-11-26T08:00:00+08:00",
    "content": "暖气不热", "address": "良乡", "caller": {"phone": "13800001111"},
}


async def test_a_record_is_published_once_even_when_resent():
    broker, store, received, dlq = build()
    async with TestKafkaBroker(broker) as br:
        await br.publish(RECORD, topics.RAW)
        await br.publish(RECORD, topics.RAW)
        assert received.mock.call_count == 1
        ticket = TicketReceived.model_validate(received.mock.call_args.args[0])
        assert ticket.location.unit_code == "110111008"
        assert list(store.tickets.values()) == [True]
        dlq.mock.assert_not_called()


async def test_bad_records_go_to_the_dead_letter_topic_with_original_bytes():
    broker, _, received, dlq = build()
    async with TestKafkaBroker(broker) as br:
        await br.publish(b"{not json", topics.RAW)
        await br.publish({**RECORD, "channel": "fax"}, topics.RAW)
        await br.publish(RECORD, topics.RAW)
        letters = [DeadLetter.model_validate(c.args[0]) for c in dlq.mock.call_args_list]
        assert received.mock.call_count == 1
    assert base64.b64decode(letters[0].value_b64) == b"{not json"
    assert letters[1].field == "channel" and letters[1].channel == "fax"
    assert json.loads(base64.b64decode(letters[1].value_b64))["channel"] == "fax"
    assert all(l.service == "intake" and l.rejected_at <= datetime.now(UTC) for l in letters)


async def test_the_same_caller_on_the_same_place_and_matter_is_a_repeat():
    broker, _, received, _ = build()
    later = {**RECORD, "source_id": "wx-2", "received_at": "2026-11-26T20:00:00+08:00"}
    other_caller = {**RECORD, "source_id": "wx-3", "caller": {"phone": "13900002222"}}
    async with TestKafkaBroker(broker) as br:
        await br.publish(RECORD, topics.RAW)
        await br.publish(later, topics.RAW)
        await br.publish(other_caller, topics.RAW)
        tickets = {t.source_id: t for t in (TicketReceived.model_validate(c.args[0]) for c in received.mock.call_args_list)}
    assert tickets["wx-1"].repeat_of is None
    assert tickets["wx-2"].repeat_of == tickets["wx-1"].ticket_id and tickets["wx-2"].repeat_count == 1
    assert tickets["wx-3"].repeat_of is None
