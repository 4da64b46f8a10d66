"""Routing on the real broker and store: returns, re-dispatch, escalation, refusals, whistle, redelivery."""

import base64
import json
import uuid
from datetime import datetime, timedelta

import pytest

from hotline.contracts import DeadLetter, QueueAssignment, TicketDispatched, ticket_id_for, topics
from hotline.contracts.routing import CommandRefused, DepartmentsSummoned, TicketEscalated, TicketReturned
from hotline.devkit import raw_record
from hotline.metrics.domain import period_of
from tests.integration.conftest import client_for
from tests.support import drained, eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack

ROUTING_EVENTS = {c.__name__: c for c in (TicketReturned, TicketEscalated, DepartmentsSummoned, CommandRefused)}


async def routing_events(namespace, ticket_id: str, until) -> list:
    def ours(records):
        events = []
        for r in records:
            data = json.loads(r.value)
            if data.get("ticket_id") == ticket_id:
                events.append(ROUTING_EVENTS[dict(r.headers)["event_type"].decode()].model_validate(data))
        return events

    return ours(await read_topic(namespace.kafka, namespace.prefix + topics.TICKETS_ROUTING,
                                 until=lambda rs: until(ours(rs))))


async def assignment_on(namespace, unit_code: str, ticket_id: str, role: str = "lead", attempt: int | None = None):
    def ours(records):
        found = [QueueAssignment.model_validate_json(r.value) for r in records]
        return [a for a in found if a.ticket_id == ticket_id and a.role == role
                and (attempt is None or a.attempt == attempt)]

    records = await read_topic(namespace.kafka, namespace.prefix + topics.queue_topic(unit_code),
                               until=lambda rs: ours(rs))
    return ours(records)[0]


async def new_ticket(namespace, content: str) -> str:
    record = raw_record(f"rt-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期", content=content)
    await publish(namespace.kafka, namespace.prefix + topics.RAW, record)
    return ticket_id_for("phone", record["source_id"])


async def test_return_redispatch_late_refusal_escalation_and_redelivery(services, namespace):
    ticket_id = await new_ticket(namespace, "小区垃圾三天没人清运")
    first = await assignment_on(namespace, "110111008", ticket_id)
    assert first.office == "urban_management"
    t0 = first.dispatched_at
    town, chengguan, centre = [await issue_token(namespace, code) for code in ("110111008", "110111001", "centre")]
    async with client_for(services["routing"]) as routing:
        response = await routing.post(f"/v1/tickets/{ticket_id}/returns", headers={"Idempotency-Key": "r1", **town}, json={
            "unit_code": "110111008", "reason_code": "belongs_to_unit", "suggested_unit": "110111001",
            "note": "该小区属城关街道管辖", "returned_at": (t0 + timedelta(minutes=20)).isoformat()})
        assert response.status_code == 202, response.text
        second = await assignment_on(namespace, "110111001", ticket_id, attempt=2)
        assert second.dispatched_at == t0 + timedelta(minutes=20)

        late = await routing.post(f"/v1/tickets/{ticket_id}/returns", headers=chengguan, json={
            "unit_code": "110111001", "reason_code": "wrong_address",
            "returned_at": (t0 + timedelta(hours=3)).isoformat()})
        assert late.status_code == 202
        events = await routing_events(namespace, ticket_id, lambda es: any(isinstance(e, CommandRefused) for e in es))
        refused = next(e for e in events if isinstance(e, CommandRefused))
        assert (refused.code, refused.unit_code) == ("window_passed", "110111001")

        await routing.post(f"/v1/tickets/{ticket_id}/returns", headers={"Idempotency-Key": "r2", **chengguan}, json={
            "unit_code": "110111001", "reason_code": "not_our_jurisdiction",
            "returned_at": (t0 + timedelta(minutes=50)).isoformat()})
        third = await assignment_on(namespace, "110111", ticket_id, attempt=3)
        assert third.role == "lead"
        events = await routing_events(namespace, ticket_id, lambda es: any(isinstance(e, TicketEscalated) for e in es))
        assert [e.returns for e in events if isinstance(e, TicketReturned)] == [1, 2]

        history = (await routing.get(f"/v1/tickets/{ticket_id}/dispatch", headers=chengguan)).json()
        outsider = await routing.get(f"/v1/tickets/{ticket_id}/dispatch", headers=await issue_token(namespace, "110108005"))
        assert outsider.status_code == 403
        assert [h["unit_code"] for h in history["history"]] == ["110111008", "110111001", "110111"]
        assert history["escalated"] is True and "ticket" not in history

        # Redeliver the first return command as it was: nothing new happens.
        await routing.post(f"/v1/tickets/{ticket_id}/returns", headers={"Idempotency-Key": "r1", **town}, json={
            "unit_code": "110111008", "reason_code": "belongs_to_unit", "suggested_unit": "110111001",
            "note": "该小区属城关街道管辖", "returned_at": (t0 + timedelta(minutes=20)).isoformat()})
    prefix = namespace.prefix
    await drained(namespace.kafka, prefix + topics.ROUTING_COMMANDS, f"{prefix}hotline-routing.{topics.ROUTING_COMMANDS}")
    dispatched = [TicketDispatched.model_validate_json(r.value) for r in
                  await read_topic(namespace.kafka, prefix + topics.TICKETS_DISPATCHED, until=lambda rs: False, timeout_s=1)]
    ours = [d for d in dispatched if d.ticket_id == ticket_id]
    assert sorted({d.attempt for d in ours}) == [1, 2, 3]
    assert len({d.event_id for d in ours}) == 3  # a redelivered command republishes the same events at most

    # Followup and metrics follow the ticket to its new holder.
    async with client_for(services["followup"]) as followup:
        async def held_by_district():
            doc = (await followup.get(f"/v1/tickets/{ticket_id}", headers=centre)).json()
            return doc.get("unit_code") == "110111" and doc
        await eventually(held_by_district)
    async with client_for(services["metrics"]) as metrics:
        period = period_of(third.dispatched_at)

        async def moved():
            new = await metrics.get(f"/v1/units/110111/months/{period}")
            old = await metrics.get(f"/v1/units/110111008/months/{period}")
            return new.status_code == 200 and new.json()["dispatched"] >= 1 and (old, new)
        await eventually(moved)


async def test_whistle_summons_departments_and_co_handlers_cannot_return(services, namespace):
    ticket_id = await new_ticket(namespace, "小区停水两天了")  # the water company leads
    lead = await assignment_on(namespace, "e-water", ticket_id)
    co = await assignment_on(namespace, "110111008", ticket_id, role="co_handler")
    assert (lead.role, co.office) == ("lead", "urban_management")
    town = await issue_token(namespace, "110111008")
    async with client_for(services["routing"]) as routing:
        impersonated = await routing.post(f"/v1/tickets/{ticket_id}/summons", headers=await issue_token(namespace, "110111001"),
                                          json={"unit_code": "110111008", "departments": ["m-housing"]})
        assert impersonated.status_code == 403
        summon = await routing.post(f"/v1/tickets/{ticket_id}/summons", headers=town, json={
            "unit_code": "110111008", "departments": ["m-housing", "e-drainage"], "note": "管线改造需现场协调",
            "summoned_at": (co.dispatched_at + timedelta(hours=1)).isoformat()})
        assert summon.status_code == 202, summon.text
        summoned = await assignment_on(namespace, "m-housing", ticket_id, role="summoned")
        assert summoned.on_site_due_at == co.dispatched_at + timedelta(hours=1, minutes=30)
        assert summoned.caller_phone is None
        await assignment_on(namespace, "e-drainage", ticket_id, role="summoned")

        bad = await routing.post(f"/v1/tickets/{ticket_id}/summons", headers=town, json={
            "unit_code": "110111008", "departments": ["m-nowhere"]})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "departments"]

        await routing.post(f"/v1/tickets/{ticket_id}/returns", headers=town, json={
            "unit_code": "110111008", "reason_code": "not_our_jurisdiction",
            "returned_at": (co.dispatched_at + timedelta(minutes=5)).isoformat()})
    events = await routing_events(namespace, ticket_id, lambda es: any(isinstance(e, CommandRefused) for e in es))
    assert any(isinstance(e, DepartmentsSummoned) for e in events)
    assert next(e for e in events if isinstance(e, CommandRefused)).code == "co_handler"


async def test_returns_for_unknown_tickets_are_refused_and_malformed_commands_dead_lettered(services, namespace):
    prefix, marker = namespace.prefix, uuid.uuid4().hex
    unknown = f"TK-UNKNOWN-{marker}"
    centre = await issue_token(namespace, "centre")
    async with client_for(services["routing"]) as routing:
        unauthenticated = await routing.post(f"/v1/tickets/{unknown}/returns", json={
            "unit_code": "110111008", "reason_code": "wrong_address"})
        assert unauthenticated.status_code == 401
        # Over HTTP a ticket routing holds no dispatch for is refused at once (it used to be
        # accepted, 202, and refused later on tickets.routing), for a unit and for the centre.
        for headers, path in ((await issue_token(namespace, "110111008"), "returns"), (centre, "summons")):
            response = await routing.post(f"/v1/tickets/{unknown}/{path}", headers=headers, json={
                "unit_code": "110111008", "reason_code": "wrong_address", "departments": ["m-housing"]})
            assert response.status_code == 404, response.text
            assert response.json()["detail"][0]["loc"] == ["path", "ticket_id"]
            assert unknown in response.json()["detail"][0]["msg"]
        not_a_unit = await routing.post(f"/v1/tickets/{unknown}/returns", headers=centre, json={
            "unit_code": "999", "reason_code": "wrong_address"})
        assert not_a_unit.status_code == 422 and not_a_unit.json()["detail"][0]["loc"] == ["body", "unit_code"]
    # On routing.commands it is refused with a CommandRefused event.
    await publish(namespace.kafka, prefix + topics.ROUTING_COMMANDS, {
        "command": "return_ticket", "command_id": f"k-{marker}", "ticket_id": unknown, "unit_code": "110111008",
        "reason_code": "wrong_address", "returned_at": "2026-03-02T10:00:00+08:00"}, key=unknown.encode())
    events = await routing_events(namespace, unknown, lambda es: bool(es))
    assert [(e.code, e.command_id) for e in events] == [("unknown_ticket", f"k-{marker}")]

    await publish(namespace.kafka, prefix + topics.ROUTING_COMMANDS,
                  {"command": "return_ticket", "ticket_id": marker}, f"garbage {marker}".encode())

    def ours(records):
        letters = [DeadLetter.model_validate_json(r.value) for r in records]
        return [l for l in letters if l.source_topic == prefix + topics.ROUTING_COMMANDS
                and marker.encode() in base64.b64decode(l.value_b64)]

    letters = ours(await read_topic(namespace.kafka, prefix + topics.DLQ, until=lambda rs: len(ours(rs)) >= 2))
    assert {l.service for l in letters} == {"routing"}
    assert any(l.field == "return_ticket.command_id" for l in letters)


async def test_a_summoned_department_reports_on_site_once_against_its_deadline(services, namespace):
    ticket_id = await new_ticket(namespace, "小区垃圾三天没人清运")
    await assignment_on(namespace, "110111008", ticket_id)
    town, housing = await issue_token(namespace, "110111008"), await issue_token(namespace, "m-housing")
    async with client_for(services["routing"]) as routing:
        summoned = await routing.post(f"/v1/tickets/{ticket_id}/summons", headers=town,
                                      json={"unit_code": "110111008", "departments": ["m-housing"]})
        assert summoned.status_code == 202
    summons = await assignment_on(namespace, "m-housing", ticket_id, role="summoned")
    report = {"unit_code": "m-housing", "staff_id": "ZJW-3", "reported_at": summons.dispatched_at.isoformat()}
    async with client_for(services["followup"]) as followup:
        async def reported():
            response = await followup.post(f"/v1/tickets/{ticket_id}/on-site", json=report, headers=housing)
            return response.status_code == 201 and response
        first = (await eventually(reported)).json()
        again = await followup.post(f"/v1/tickets/{ticket_id}/on-site", json=report, headers=housing)
        stranger = await followup.post(f"/v1/tickets/{ticket_id}/on-site", headers=await issue_token(namespace, "m-market"),
                                       json={**report, "unit_code": "m-market"})
        readable = await followup.get(f"/v1/tickets/{ticket_id}", headers=housing)
    due = datetime.fromisoformat(first["due_at"].replace("Z", "+00:00"))
    assert first["in_time"] is True
    assert abs(due - summons.on_site_due_at) < timedelta(milliseconds=1)  # the store keeps milliseconds
    assert again.status_code == 403  # reported already: no open summons left
    assert stranger.status_code == 403
    assert readable.status_code == 200 and len(readable.json()["on_site_reports"]) == 1
