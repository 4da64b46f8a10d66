"""A ticket's events arriving out of order across topics end in the same state as in order."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import ContactKind, ContactRecorded, TicketDispatched, deterministic_event_id, topics
from hotline.contracts.routing import DepartmentsSummoned
from hotline.metrics.domain import period_of
from tests.integration.conftest import client_for
from tests.support import eventually, issue_token, publish

pytestmark = pytest.mark.stack


async def test_contact_and_summons_before_the_dispatch(services, namespace, db):
    kafka, prefix = namespace.kafka, namespace.prefix
    ticket_id = f"TK-OOO-{uuid.uuid4().hex[:10]}"
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    dispatched = TicketDispatched(
        event_id=deterministic_event_id("TicketDispatched", ticket_id, "1"), ticket_id=ticket_id, occurred_at=t0,
        unit_code="110101002", unit_name="景山街道", district_code="110101", reason="street_town",
        dispatched_at=t0, unit_kind="street", report_back_due_at=t0 + timedelta(days=7))
    contact = ContactRecorded(
        event_id=deterministic_event_id("ContactRecorded", ticket_id), ticket_id=ticket_id,
        occurred_at=t0 + timedelta(minutes=1), contact_id=f"c-{ticket_id}", unit_code="110101002",
        kind=ContactKind.FACE_TO_FACE, contacted_at=t0 + timedelta(minutes=1), staff_id="JS-1")
    summons = DepartmentsSummoned(
        event_id=deterministic_event_id("DepartmentsSummoned", ticket_id), ticket_id=ticket_id,
        occurred_at=t0 + timedelta(minutes=2), unit_code="110101002", departments=["m-housing"],
        report_on_site_due_at=t0 + timedelta(minutes=32))
    key = ticket_id.encode()
    # Later facts first, on their own topics; the dispatch arrives last.
    await publish(kafka, prefix + topics.TICKETS_FOLLOWUP, contact.model_dump_json().encode(), key=key,
                  headers=[("event_type", b"ContactRecorded")])
    await publish(kafka, prefix + topics.TICKETS_ROUTING, summons.model_dump_json().encode(), key=key,
                  headers=[("event_type", b"DepartmentsSummoned")])

    projection = services["metrics"].state.projection

    async def fact_has_contact():
        return (projection.facts.get(ticket_id) or {}).get("contacts")

    async def summons_noted():
        return await db["followup_tickets"].find_one({"_id": ticket_id, "summons": {"$exists": True}})

    await eventually(fact_has_contact)
    await eventually(summons_noted)
    await publish(kafka, prefix + topics.TICKETS_DISPATCHED, dispatched.model_dump_json().encode(), key=key,
                  headers=[("event_type", b"TicketDispatched")])

    async def counted():
        month = projection.months.get(f"110101002:{period_of(t0)}")
        return month and month["tickets"].get(ticket_id)
    summary = await eventually(counted)
    assert summary["face_to_face"] is True and summary["first_contact_at"] is not None

    housing = await issue_token(namespace, "m-housing")
    async with client_for(services["followup"]) as followup:
        async def known():
            response = await followup.get(f"/v1/tickets/{ticket_id}", headers=housing)
            return response.status_code == 200 and response.json()
        doc = await eventually(known)
    assert doc["unit_code"] == "110101002" and doc["summons"][0]["unit_code"] == "m-housing"
