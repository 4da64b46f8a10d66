"""The centre's desk on the real broker and store, routing alone (its return review on): a triage
ticket the centre dispatches reaches the street's queue and `tickets.dispatched` as attempt 2; a
rejected review leaves the ticket with the unit; a ticket followup closed (TicketClosed on
`tickets.followup`) refuses re-dispatch, over HTTP and on `routing.commands`; a correction is kept
as a labelled example."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import (
    Caller,
    Channel,
    Location,
    QueueAssignment,
    TicketDispatched,
    TicketReceived,
    deterministic_event_id,
    topics,
)
from hotline.contracts.followup import TicketClosed
from hotline.contracts.routing import CategoryCorrected, CommandRefused, DispatchTicket, ReturnRequested, ReturnReviewed
from hotline.runtime.kafka import encode, event_headers
from tests.integration.conftest import client_for
from tests.support import eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
ROUTING_EVENTS = {c.__name__: c for c in (ReturnRequested, ReturnReviewed, CommandRefused, CategoryCorrected)}


@pytest.fixture(scope="module")
async def routing(namespace):
    from hotline.routing.main import build_app
    from hotline.routing.settings import RoutingSettings

    app = build_app(RoutingSettings(**namespace.service_settings(), return_review=True))
    async with app.router.lifespan_context(app):
        yield app


async def received(namespace, *, needs_triage: bool = False) -> str:
    ticket_id = f"TK-desk-{uuid.uuid4().hex[:12]}"
    ticket = TicketReceived(
        event_id=deterministic_event_id("TicketReceived", ticket_id), ticket_id=ticket_id, occurred_at=T0,
        channel=Channel.PHONE, source_id=ticket_id, received_at=T0, content="小区垃圾三天没人清运",
        caller=Caller(phone="13800000000"),
        location=Location(address="房山区良乡镇云景台小区二期", district_code="110111", unit_code="110111008"),
        category="sanitation", urgency="general", needs_triage=needs_triage,
    )
    await publish(namespace.kafka, namespace.prefix + topics.TICKETS_RECEIVED, encode(ticket),
                  key=ticket_id.encode(), headers=[(k, v.encode()) for k, v in event_headers(ticket).items()])
    return ticket_id


async def ours(namespace, topic: str, ticket_id: str, parse, until) -> list:
    def found(records):
        return [parse(r) for r in records if json.loads(r.value).get("ticket_id") == ticket_id]

    return found(await read_topic(namespace.kafka, namespace.prefix + topic, until=lambda rs: until(found(rs))))


def of(model):
    return lambda record: model.model_validate_json(record.value)


def routing_event(record):
    return ROUTING_EVENTS[dict(record.headers)["event_type"].decode()].model_validate_json(record.value)


async def test_the_centre_sends_a_triage_ticket_to_the_street(routing, namespace):
    ticket_id = await received(namespace, needs_triage=True)
    await ours(namespace, topics.queue_topic(topics.TRIAGE_QUEUE_CODE), ticket_id,
               of(QueueAssignment), bool)
    centre = await issue_token(namespace, "centre")
    async with client_for(routing) as client:
        response = await client.post(f"/v1/tickets/{ticket_id}/dispatches", headers=centre, json={
            "lead_unit": "110111008", "reason_code": "triage_sorted", "note": "属地问题"})
        assert response.status_code == 202, response.text
        [lead] = await ours(namespace, topics.queue_topic("110111008"), ticket_id,
                            of(QueueAssignment), bool)
        dispatched = await ours(namespace, topics.TICKETS_DISPATCHED, ticket_id,
                                of(TicketDispatched), lambda ds: len(ds) >= 2)
        view = (await client.get(f"/v1/tickets/{ticket_id}/dispatch", headers=centre)).json()
    assert (lead.attempt, lead.role) == (2, "lead")
    assert [(d.attempt, d.unit_code, d.reason) for d in dispatched] == [
        (1, "triage", "triage"), (2, "110111008", "centre")]
    assert dispatched[1].rule_id == "centre:triage_sorted"
    assert view["lead"]["unit_code"] == "110111008" and view["attempt"] == 2


async def test_a_rejected_return_leaves_the_ticket_with_the_unit(routing, namespace):
    ticket_id = await received(namespace)
    await ours(namespace, topics.queue_topic("110111008"), ticket_id, of(QueueAssignment), bool)
    town, centre = await issue_token(namespace, "110111008"), await issue_token(namespace, "centre")
    async with client_for(routing) as client:
        response = await client.post(f"/v1/tickets/{ticket_id}/returns", headers=town, json={
            "unit_code": "110111008", "reason_code": "not_our_jurisdiction", "note": "不归我们管"})
        assert response.status_code == 202, response.text
        await ours(namespace, topics.TICKETS_ROUTING, ticket_id, routing_event, bool)

        async def listed():
            answer = (await client.get("/v1/returns/pending", headers=centre)).json()
            return [r for r in answer["returns"] if r["ticket_id"] == ticket_id]
        [waiting] = await eventually(listed)
        assert (waiting["unit_code"], waiting["attempt"], waiting["reason_code"]) == (
            "110111008", 1, "not_our_jurisdiction")

        response = await client.post(f"/v1/tickets/{ticket_id}/returns/decision", headers=centre,
                                     json={"approved": False, "note": "属地管辖"})
        assert response.status_code == 202, response.text
        events = await ours(namespace, topics.TICKETS_ROUTING, ticket_id, routing_event, lambda es: len(es) >= 2)
        view = (await client.get(f"/v1/tickets/{ticket_id}/dispatch", headers=centre)).json()
        assert await listed() == []
        again = await client.post(f"/v1/tickets/{ticket_id}/returns/decision", headers=centre, json={"approved": True})
    assert [type(e) for e in events] == [ReturnRequested, ReturnReviewed] and not events[1].approved
    assert (view["lead"]["unit_code"], view["attempt"], view["pending_return"]) == ("110111008", 1, None)
    assert again.status_code == 409  # nothing waits any more


async def test_a_closed_ticket_refuses_redispatch_and_keeps_its_correction(routing, namespace, db):
    ticket_id = await received(namespace)
    await ours(namespace, topics.queue_topic("110111008"), ticket_id, of(QueueAssignment), bool)
    closed = TicketClosed(event_id=deterministic_event_id("TicketClosed", ticket_id), ticket_id=ticket_id,
                          occurred_at=T0 + timedelta(minutes=20), unit_code="110111008",
                          closed_at=T0 + timedelta(minutes=20), satisfaction="satisfied")
    await publish(namespace.kafka, namespace.prefix + topics.TICKETS_FOLLOWUP, encode(closed), key=ticket_id.encode(),
                  headers=[(k, v.encode()) for k, v in event_headers(closed).items()])
    centre = await issue_token(namespace, "centre")
    async with client_for(routing) as client:
        async def is_closed():
            return (await client.get(f"/v1/tickets/{ticket_id}/dispatch", headers=centre)).json()["closed"]
        await eventually(is_closed)
        refused = await client.post(f"/v1/tickets/{ticket_id}/dispatches", headers=centre, json={
            "lead_unit": "110111001", "reason_code": "wrong_unit"})
        corrected = await client.post(f"/v1/tickets/{ticket_id}/category", headers=centre,
                                      json={"category": "education", "note": "其实是学校收费"})
        assert corrected.status_code == 202, corrected.text
    # The same dispatch straight on routing.commands is refused there.
    command = DispatchTicket(command_id=f"k-{ticket_id}", ticket_id=ticket_id, unit_code="centre",
                             lead_unit="110111001", reason_code="wrong_unit", dispatched_at=T0 + timedelta(minutes=25))
    await publish(namespace.kafka, namespace.prefix + topics.ROUTING_COMMANDS, encode(command), key=ticket_id.encode())
    events = await ours(namespace, topics.TICKETS_ROUTING, ticket_id, routing_event,
                        lambda es: any(isinstance(e, CommandRefused) for e in es) and len(es) >= 2)
    async with client_for(routing) as client:
        # What became of each command, from the store: the refused one with its reason, the correction applied.
        status = (await client.get(f"/v1/tickets/{ticket_id}/commands/{command.command_id}", headers=centre)).json()
        correction_id = corrected.json()["command_id"]
        applied = (await client.get(f"/v1/tickets/{ticket_id}/commands/{correction_id}", headers=centre)).json()
    assert (status["status"], status["code"]) == ("refused", "closed")
    assert (applied["status"], applied["events"]) == ("applied", ["CategoryCorrected"])
    assert (refused.status_code, refused.json()["detail"][0]["loc"]) == (409, ["path", "ticket_id"])
    assert [e.code for e in events if isinstance(e, CommandRefused)] == ["closed"]
    [correction] = [e for e in events if isinstance(e, CategoryCorrected)]
    assert correction.category == "education" and not correction.redispatched
    example = await db["routing_corrections"].find_one({"_id": ticket_id})
    assert (example["text"], example["category"], example["first_level"]) == (
        "小区垃圾三天没人清运", "education", "教育文体")
    dispatched = await ours(namespace, topics.TICKETS_DISPATCHED, ticket_id, of(TicketDispatched), bool)
    assert [d.attempt for d in dispatched] == [1]
