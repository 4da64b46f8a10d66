"""TicketDispatched version 2 carries the received ticket: followup starts a ticket's document
from its dispatch alone, in one write (it no longer reads tickets.received), and the document is
the same whatever order the events come in, redelivered or not, with or without a record the
older version wrote from tickets.received."""

import itertools
import uuid

import pytest

from hotline.followup.casework.store import received_facts
from hotline.followup.tickets.domain import masked_for_timeline
from hotline.followup.tickets.store import FollowupStore
from tests.integration.test_followup_store import (  # noqa: F401 - `tickets_db` is a fixture
    AT, dispatched, received, summoned, tickets_db,
)

pytestmark = pytest.mark.stack


def dispatched_v2(ticket_id: str, attempt: int, unit: str):
    return dispatched(ticket_id, attempt, unit).model_copy(update={"received": received(ticket_id)})


async def test_a_first_dispatch_carrying_its_received_ticket_writes_one_document_once(tickets_db):
    db, listener = tickets_db
    store = FollowupStore(db)
    tickets = [f"v2-{uuid.uuid4().hex}" for _ in range(20)]
    listener.written.clear()
    await store.apply_dispatches(events=[dispatched_v2(t, 1, "110111008") for t in tickets])
    assert listener.written == [len(tickets), 1, 1]  # each ticket once; the unit's worklist and month
    listener.written.clear()
    await store.apply_dispatches(events=[dispatched_v2(t, 1, "110111008") for t in tickets])
    assert listener.written == [0, 0, 0]  # redelivered: nothing
    doc = await db["followup_tickets"].find_one({"_id": tickets[0]})
    assert [e["type"] for e in doc["timeline"]] == ["TicketReceived", "TicketDispatched"]
    caller = doc["timeline"][0]["data"]["caller"]
    assert caller["phone"] == "138****0000" and caller.get("name") is None  # as the timeline keeps it
    assert doc["facts"]["category"] == "other" and doc["facts"]["received_at"] == AT
    assert doc["unit_code"] == "110111008" and doc["state"] == "open" and doc["first_dispatched_at"]


async def test_the_document_is_the_same_in_any_order_with_or_without_an_older_versions_received_record(tickets_db):
    db, _ = tickets_db
    store = FollowupStore(db)
    run = uuid.uuid4().hex[:8]

    async def deliver(ticket_id: str, step: str) -> None:
        match step:
            case "received":  # what the older version's tickets.received handler wrote
                event = masked_for_timeline(received(ticket_id))
                await store.record_timeline(events=[event], sets={ticket_id: received_facts(event)})
            case "summons":
                event = summoned(ticket_id)
                await store.apply_summons(events=[event])
                await store.record_timeline(events=[event])
            case "first dispatch":
                await store.apply_dispatches(events=[dispatched_v2(ticket_id, 1, "110111008")])
            case "re-dispatch":
                await store.apply_dispatches(events=[dispatched_v2(ticket_id, 2, "110111009")])

    documents = {}
    for steps in [("first dispatch", "re-dispatch", "summons"), ("received", "first dispatch", "re-dispatch", "summons")]:
        for order in itertools.permutations(steps):
            ticket_id = f"{run}-{len(steps)}-{'-'.join(s[:2] for s in order)}"
            for step in (*order, *order):  # every event, then every event again
                await deliver(ticket_id, step)
            doc = await db["followup_tickets"].find_one({"_id": ticket_id})
            doc["timeline"] = sorted(entry["event_id"].removesuffix(ticket_id) for entry in doc["timeline"])
            for entry in doc["summons"]:
                entry["summons_event_id"] = entry["summons_event_id"].removesuffix(ticket_id)
            documents[order] = {k: v for k, v in doc.items() if k not in ("_id", "traceparent")}

    reference = documents[("first dispatch", "re-dispatch", "summons")]
    assert reference["unit_code"] == "110111009" and reference["attempt"] == 2
    assert reference["timeline"] == ["d1-", "d2-", "r-", "s-"]
    assert reference["facts"]["category"] == "other"
    assert {order: doc for order, doc in documents.items() if doc != reference} == {}


async def test_a_version_1_dispatch_without_the_received_ticket_keeps_what_followup_has(tickets_db):
    db, listener = tickets_db
    store = FollowupStore(db)
    ticket_id = f"v1-{uuid.uuid4().hex}"
    listener.written.clear()
    await store.apply_dispatches(events=[dispatched(ticket_id, 1, "110111008")])
    assert listener.written == [1, 1, 1]  # still one write: the document made whole in its insert
    doc = await db["followup_tickets"].find_one({"_id": ticket_id})
    assert [e["type"] for e in doc["timeline"]] == ["TicketDispatched"] and "facts" not in doc
    assert doc["unit_code"] == "110111008" and doc["attempt"] == 1
