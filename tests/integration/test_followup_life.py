"""A ticket's whole life on the real broker and store: dispatch, face-to-face visit, resolution,
an unhappy callback that reopens it, a second round, and a satisfied callback that closes it."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import (
    DeadLetter,
    QueueAssignment,
    TicketClosed,
    TicketReopened,
    TicketResolved,
    ticket_id_for,
    topics,
)
from hotline.devkit import raw_record
from tests.integration.conftest import client_for
from tests.support import drained, eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack
FOLLOWUP_EVENTS = {c.__name__: c for c in (TicketResolved, TicketReopened, TicketClosed)}


async def followup_events(namespace, ticket_id: str, until, timeout_s: float = 30) -> list:
    def ours(records):
        found = []
        for r in records:
            kind = dict(r.headers or ()).get("event_type", b"").decode()
            if kind in FOLLOWUP_EVENTS and json.loads(r.value)["ticket_id"] == ticket_id:
                found.append(FOLLOWUP_EVENTS[kind].model_validate_json(r.value))
        return found

    return ours(await read_topic(namespace.kafka, namespace.prefix + topics.TICKETS_FOLLOWUP,
                                 until=lambda rs: until(ours(rs)), timeout_s=timeout_s))


async def test_a_full_life_with_a_visit_a_reopen_and_a_close(services, namespace, db):
    kafka, prefix = namespace.kafka, namespace.prefix
    # Filed through Open311, so that the citizen's GeoReport client may follow it (below).
    record = raw_record(f"life-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期", content="楼下烧烤油烟扰民",
                        channel="open311")
    await publish(kafka, prefix + topics.RAW, record)
    ticket_id = ticket_id_for("open311", record["source_id"])
    queue = await read_topic(kafka, prefix + topics.queue_topic("110111008"), until=lambda rs: any(
        QueueAssignment.model_validate_json(r.value).ticket_id == ticket_id for r in rs))
    t0 = next(a for a in (QueueAssignment.model_validate_json(r.value) for r in queue) if a.ticket_id == ticket_id).dispatched_at
    town = await issue_token(namespace, "110111008")

    def at(step: int) -> str:
        # Steps of 10 s after the dispatch: all within the 2-minute clock-skew allowance.
        return (t0 + timedelta(seconds=10 * step)).isoformat()

    async with client_for(services["followup"]) as followup:
        async def known():
            return (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).status_code == 200
        await eventually(known)

        async def listed() -> bool:
            worklist = await db["followup_worklists"].find_one({"_id": "110111008"})
            return ticket_id in (worklist or {}).get("tickets", [])
        assert await listed()
        resolution = {"unit_code": "110111008", "outcome": "resolved", "resolution_code": "LX-OIL-01",
                      "note": "已协调商户加装油烟净化器", "resolved_at": at(2)}
        early = await followup.post(f"/v1/tickets/{ticket_id}/resolution", json=resolution, headers=town)
        assert early.status_code == 422 and early.json()["detail"][0]["loc"] == ["outcome"]  # no contact yet

        visit = {"unit_code": "110111008", "kind": "face_to_face", "staff_id": "LX-017",
                 "contacted_at": at(1), "notes": "上门与居民见面沟通", "place": "云景台小区二期3号楼",
                 "participants": ["LX-021"], "met_with": "来电人及楼门长", "attachments": ["photo:LX-2026-0001"]}
        assert (await followup.post(f"/v1/tickets/{ticket_id}/contacts", json=visit, headers=town)).status_code == 201
        first = await followup.post(f"/v1/tickets/{ticket_id}/resolution", json=resolution, headers=town)
        retried = await followup.post(f"/v1/tickets/{ticket_id}/resolution", json=resolution, headers=town)
        assert (first.status_code, retried.status_code) == (201, 200), first.text
        assert first.json()["event_id"] == retried.json()["event_id"]

        # The hotline calls back: not satisfied. The same survey arrives twice.
        survey = {"ticket_id": ticket_id, "resolved": True, "satisfaction": "dissatisfied", "surveyed_at": at(3)}
        await publish(kafka, prefix + topics.CALLBACKS, survey, survey, key=ticket_id.encode())
        events = await followup_events(namespace, ticket_id, lambda es: any(isinstance(e, TicketReopened) for e in es))
        reopened = [e for e in events if isinstance(e, TicketReopened)]
        assert [(e.round, e.unit_code, e.reason) for e in reopened][:1] == [(1, "110111008", "dissatisfied")]

        # Round 2: a contact after the reopen, a resolution, and a satisfied callback.
        second_visit = {**visit, "contacted_at": at(4)}
        assert (await followup.post(f"/v1/tickets/{ticket_id}/contacts", json=second_visit, headers=town)).status_code == 201
        again = await followup.post(f"/v1/tickets/{ticket_id}/resolution", headers=town,
                                    json={**resolution, "resolution_code": "LX-OIL-02", "resolved_at": at(5)})
        assert again.status_code == 201 and again.json()["round"] == 1, again.text
        await publish(kafka, prefix + topics.CALLBACKS, {**survey, "satisfaction": "basically_satisfied",
                                                         "surveyed_at": at(6)}, key=ticket_id.encode())
        events = await followup_events(namespace, ticket_id, lambda es: any(isinstance(e, TicketClosed) for e in es))
        closed = next(e for e in events if isinstance(e, TicketClosed))
        assert closed.satisfaction == "basically_satisfied"

        async def off_the_worklist() -> bool:  # without anyone reading the worklist
            return not await listed()
        await eventually(off_the_worklist)

        # The citizen's GeoReport client sees it closed too (intake reads followup's events).
        async with client_for(services["intake"]) as intake:
            async def closed_on_open311():
                shown = await intake.get(f"/open311/v2/requests/{ticket_id}.json")
                return shown.status_code == 200 and shown.json()[0]["status"] == "closed"
            await eventually(closed_on_open311)

        after = await followup.post(f"/v1/tickets/{ticket_id}/contacts", json={**visit, "contacted_at": at(7)}, headers=town)
        assert after.status_code == 409  # closed
        doc = (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).json()
        assert (doc["state"], doc["round"], len(doc["resolutions"])) == ("closed", 1, 2)
        first_visit = doc["contacts"][0]
        assert (first_visit["place"], first_visit["met_with"], first_visit["participants"], first_visit["attachments"]) == (
            "云景台小区二期3号楼", "来电人及楼门长", ["LX-021"], ["photo:LX-2026-0001"])

        # The whole life on one timeline, in time order; the caller's phone masked, the name gone.
        async def whole_timeline():
            body = (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).json()
            return body if body["timeline"][0]["type"] == "TicketReceived" else None
        doc = await eventually(whole_timeline)
        assert [e["type"] for e in doc["timeline"]] == [
            "TicketReceived", "TicketDispatched", "ContactRecorded", "TicketResolved", "CallbackResult",
            "TicketReopened", "ContactRecorded", "TicketResolved", "CallbackResult", "TicketClosed"]
        text = json.dumps(doc, ensure_ascii=False)
        assert "13800001234" not in text and "王先生" not in text and "138****1234" in text

    await drained(kafka, prefix + topics.CALLBACKS, f"{prefix}hotline-followup.{topics.CALLBACKS}")
    events = await followup_events(namespace, ticket_id, lambda es: False, timeout_s=1)
    assert len({e.event_id for e in events if isinstance(e, TicketReopened)}) == 1


async def test_a_callback_for_an_unknown_ticket_is_dead_lettered(services, namespace):
    kafka, prefix, marker = namespace.kafka, namespace.prefix, f"TK-NOPE-{uuid.uuid4().hex}"
    await publish(kafka, prefix + topics.CALLBACKS, {"ticket_id": marker, "resolved": True,
                                                     "satisfaction": "satisfied", "surveyed_at": "2026-11-26T10:00:00+08:00"})

    def ours(records):
        letters = [DeadLetter.model_validate_json(r.value) for r in records]
        return [l for l in letters if l.service == "followup" and marker.encode() in base64.b64decode(l.value_b64)]

    letters = ours(await read_topic(kafka, prefix + topics.DLQ, until=lambda rs: bool(ours(rs))))
    assert letters[0].reason == "no dispatched ticket with this id"


async def test_an_extension_is_asked_once_and_only_the_centre_decides(services, namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    record = raw_record(f"ext-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期",
                        content="小区历史遗留的违建问题，涉及多个部门，多年未解决")
    await publish(kafka, prefix + topics.RAW, record)
    ticket_id = ticket_id_for("phone", record["source_id"])
    town, centre = await issue_token(namespace, "110111008"), await issue_token(namespace, "centre")
    async with client_for(services["followup"]) as followup:
        async def known():
            response = await followup.get(f"/v1/tickets/{ticket_id}", headers=centre)
            return response.status_code == 200 and response.json()
        doc = await eventually(known)
        due = datetime.fromisoformat(doc["report_back_due_at"].replace("Z", "+00:00"))
        ask = {"unit_code": "110111008", "reason": "需区规划部门确认违建性质", "requested_at": datetime.now(UTC).isoformat(),
               "requested_due_at": (due + timedelta(days=10)).isoformat()}
        first = await followup.post(f"/v1/tickets/{ticket_id}/extensions", json=ask, headers=town)
        # A retried call (or a redelivered command) is answered with the recorded request; another
        # request in the same round is refused.
        retried = await followup.post(f"/v1/tickets/{ticket_id}/extensions", json=ask, headers=town)
        other = await followup.post(f"/v1/tickets/{ticket_id}/extensions", headers=town,
                                    json={**ask, "requested_due_at": (due + timedelta(days=5)).isoformat()})
        by_unit = await followup.post(f"/v1/tickets/{ticket_id}/extensions/decision", headers=town,
                                      json={"approved": True, "decided_at": datetime.now(UTC).isoformat()})
        decision = {"approved": True, "note": "同意", "decided_at": datetime.now(UTC).isoformat()}
        by_centre = await followup.post(f"/v1/tickets/{ticket_id}/extensions/decision", headers=centre, json=decision)
        decided_again = await followup.post(f"/v1/tickets/{ticket_id}/extensions/decision", headers=centre,
                                            json=decision)
        again = await followup.post(f"/v1/tickets/{ticket_id}/extensions/decision", headers=centre,
                                    json={"approved": False, "decided_at": datetime.now(UTC).isoformat()})
        after = (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).json()
    assert (first.status_code, retried.status_code, other.status_code, by_unit.status_code, by_centre.status_code,
            decided_again.status_code, again.status_code) == (201, 200, 409, 403, 201, 200, 409), (first.text, other.text)
    # The same events (times as the store keeps them, to the millisecond).
    assert [(r.json()["event_id"], r.json()["current_due_at"][:23]) for r in (first, retried)] == [
        (first.json()["event_id"], first.json()["current_due_at"][:23])] * 2
    assert decided_again.json()["event_id"] == by_centre.json()["event_id"]
    assert decided_again.json()["report_back_due_at"][:23] == by_centre.json()["report_back_due_at"][:23]
    assert datetime.fromisoformat(after["report_back_due_at"].replace("Z", "+00:00")) == due + timedelta(days=10)
    assert after["extension"]["state"] == "approved"


async def test_a_units_worklist_lists_its_open_tickets(services, namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    general = raw_record(f"wl-{uuid.uuid4().hex}", "东城区景山街道", content="小区垃圾没人清运")
    urgent = raw_record(f"wl-{uuid.uuid4().hex}", "东城区景山街道", content="楼道里有人被困，外墙坍塌")
    await publish(kafka, prefix + topics.RAW, general, urgent)
    wanted = {ticket_id_for("phone", r["source_id"]) for r in (general, urgent)}
    jingshan, centre = await issue_token(namespace, "110101002"), await issue_token(namespace, "centre")
    async with client_for(services["followup"]) as followup:
        async def listed():
            response = await followup.get("/v1/units/110101002/tickets", headers=jingshan)
            found = {t["ticket_id"] for t in response.json()["tickets"]} if response.status_code == 200 else set()
            return wanted <= found and response.json()
        await eventually(listed)
        due_soon = (await followup.get("/v1/units/110101002/tickets?state=due_soon", headers=jingshan)).json()
        overdue = (await followup.get("/v1/units/110101002/tickets?state=overdue", headers=centre)).json()
        other = await followup.get("/v1/units/110101002/tickets", headers=await issue_token(namespace, "110101001"))
        bad_view = await followup.get("/v1/units/110101002/tickets?state=someday", headers=jingshan)
    assert ticket_id_for("phone", urgent["source_id"]) in {t["ticket_id"] for t in due_soon["tickets"]}
    assert ticket_id_for("phone", general["source_id"]) not in {t["ticket_id"] for t in due_soon["tickets"]}
    assert not wanted & {t["ticket_id"] for t in overdue["tickets"]}
    assert other.status_code == 403 and bad_view.status_code == 422
