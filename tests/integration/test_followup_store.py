"""Followup's ticket documents: one write per dispatch and per callback (the store rewrites a
whole document on each update), and the same document whatever order a ticket's events arrive in
and however often they are redelivered."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient, monitoring

from hotline.contracts import TicketDispatched, TicketReceived
from hotline.contracts.raw import CallbackResult, Channel, Satisfaction
from hotline.contracts.routing import DepartmentsSummoned
from hotline.contracts.tickets import Caller, Location
from hotline.followup.tickets.domain import apply_callback, masked_for_timeline
from hotline.followup.tickets.store import FollowupStore

pytestmark = pytest.mark.stack

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class WrittenDocuments(monitoring.CommandListener):
    """Documents each `update` command changed or created, from the server's replies."""

    def __init__(self) -> None:
        self.written: list[int] = []

    def started(self, event) -> None: ...

    def succeeded(self, event) -> None:
        if event.command_name == "update":
            self.written.append(event.reply.get("nModified", 0) + len(event.reply.get("upserted", [])))

    def failed(self, event) -> None: ...


@pytest.fixture
async def tickets_db(namespace):
    listener = WrittenDocuments()
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True, event_listeners=[listener])
    yield client[namespace.database], listener
    await client.close()


def received(ticket_id: str) -> TicketReceived:
    return TicketReceived(event_id=f"r-{ticket_id}", ticket_id=ticket_id, occurred_at=AT, channel=Channel.PHONE,
                          source_id=ticket_id, received_at=AT, content="路灯不亮", caller=Caller(phone="13800000000"),
                          location=Location(district_code="110111", unit_code="110111008"), category="other")


def dispatched(ticket_id: str, attempt: int, unit: str) -> TicketDispatched:
    at = AT + timedelta(minutes=10 * attempt)
    return TicketDispatched(event_id=f"d{attempt}-{ticket_id}", ticket_id=ticket_id, occurred_at=at, unit_code=unit,
                            unit_name=unit, reason="street_town", district_code="110111", dispatched_at=at,
                            attempt=attempt, category="other", report_back_due_at=at + timedelta(days=7),
                            urgency="normal")


def summoned(ticket_id: str) -> DepartmentsSummoned:
    return DepartmentsSummoned(event_id=f"s-{ticket_id}", ticket_id=ticket_id, occurred_at=AT + timedelta(minutes=30),
                               unit_code="110111008", departments=["d-water"],
                               report_on_site_due_at=AT + timedelta(minutes=60))


async def test_a_dispatch_after_the_received_event_writes_its_ticket_once(tickets_db):
    """The store rewrites a whole document per update: a dispatch's holder, first dispatch time and
    timeline entry go in one update, the other operations only guard."""
    db, listener = tickets_db
    store = FollowupStore(db)
    tickets = [f"once-{uuid.uuid4().hex}" for _ in range(20)]
    await store.record_timeline(events=[masked_for_timeline(received(t)) for t in tickets])
    listener.written.clear()
    await store.apply_dispatches(events=[dispatched(t, 1, "110111008") for t in tickets])
    assert listener.written == [len(tickets), 1, 1]  # the tickets, then the unit's worklist and month (once a batch)
    listener.written.clear()
    await store.apply_dispatches(events=[dispatched(t, 1, "110111008") for t in tickets])
    assert listener.written == [0, 0, 0]  # redelivered: nothing


async def test_a_tickets_document_is_the_same_in_any_order_and_after_redelivery(tickets_db):
    db, _ = tickets_db
    store = FollowupStore(db)
    run = uuid.uuid4().hex[:8]

    async def deliver(ticket_id: str, step: str) -> None:
        match step:
            case "received":
                await store.record_timeline(events=[masked_for_timeline(received(ticket_id))])
            case "summons":
                event = summoned(ticket_id)
                await store.apply_summons(events=[event])
                await store.record_timeline(events=[event])
            case "first dispatch":
                await store.apply_dispatches(events=[dispatched(ticket_id, 1, "110111008")])
            case "re-dispatch":
                await store.apply_dispatches(events=[dispatched(ticket_id, 2, "110111009")])

    steps = ("received", "first dispatch", "re-dispatch", "summons")
    documents = {}
    for order in itertools.permutations(steps):
        ticket_id = f"{run}-{'-'.join(s[:2] for s in order)}"
        for step in (*order, *order):  # every event, then every event again
            await deliver(ticket_id, step)
        doc = await db["followup_tickets"].find_one({"_id": ticket_id})
        doc["timeline"] = sorted(entry["event_id"].removesuffix(ticket_id) for entry in doc["timeline"])
        for entry in doc["summons"]:
            entry["summons_event_id"] = entry["summons_event_id"].removesuffix(ticket_id)
        documents[order] = {k: v for k, v in doc.items() if k not in ("_id", "traceparent")}

    reference = documents[steps]
    assert reference["unit_code"] == "110111009" and reference["attempt"] == 2
    assert reference["first_dispatched_at"] == AT + timedelta(minutes=10)
    assert reference["timeline"] == ["d1-", "d2-", "r-", "s-"]
    assert reference["state"] == "open" and reference["contacts"] == [] and reference["round"] == 0
    assert {order: doc for order, doc in documents.items() if doc != reference} == {}


async def test_a_callback_writes_its_ticket_once_with_its_timeline_and_a_redelivery_writes_nothing(tickets_db):
    db, listener = tickets_db
    store = FollowupStore(db)
    tickets = [f"callback-{uuid.uuid4().hex}" for _ in range(10)]
    await store.apply_dispatches(events=[dispatched(t, 1, "110111008") for t in tickets])
    results = [CallbackResult(ticket_id=t, resolved=True, satisfaction=Satisfaction.SATISFIED,
                              surveyed_at=AT + timedelta(days=1)) for t in tickets]

    async def deliver() -> None:
        found = await store.get_many(ticket_ids=tickets)
        changes = [(*apply_callback(found[r.ticket_id], r, reopen_period=timedelta(days=1)), r) for r in results]
        await store.save_callbacks(changes=changes)

    listener.written.clear()
    await deliver()
    assert listener.written == [len(tickets), 1]  # each ticket once; the unit's worklist
    listener.written.clear()
    await deliver()
    assert listener.written == [0, 0]  # nothing is written again
    doc = await db["followup_tickets"].find_one({"_id": tickets[0]})
    assert doc["state"] == "closed"
    assert [e["type"] for e in doc["timeline"]] == ["TicketDispatched", "CallbackResult", "TicketClosed"]
    assert [e["type"] for e in doc["events"]] == ["TicketClosed"]
    assert tickets[0] not in ((await db["followup_worklists"].find_one({"_id": "110111008"})) or {}).get("tickets", [])
