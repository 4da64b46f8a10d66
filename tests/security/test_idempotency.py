"""An idempotency key names one request: the same request again gets the same answer, another
request under a used key is refused (409 over HTTP, a refusal event on the command topics) and
changes nothing, in followup's ticket or in metrics' facts. Metrics keeps the first of two
different events under one id. Routing refuses commands for tickets it holds no dispatch for."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import ContactKind, QueueAssignment, ticket_id_for, topics
from hotline.contracts.routing import CommandRefused, DepartmentsSummoned
from hotline.devkit import raw_record
from hotline.metrics.domain import key
from tests.integration.conftest import client_for
from tests.integration.test_metrics_live import all_drained, publish_events
from tests.integration.test_routing import routing_events
from tests.support import eventually, issue_token, publish, read_topic
from tests.unit.test_metrics_scenario import Script

pytestmark = pytest.mark.stack

TOWN = "110111008"  # 良乡地区, where the tickets below are dispatched
KEY_LOC = ["header", "Idempotency-Key"]


async def dispatched_ticket(namespace, *, hours_ago: float = 1) -> tuple[str, datetime]:
    """A ticket received a while ago and dispatched to the town; its id and dispatch time."""
    received = datetime.now(UTC) - timedelta(hours=hours_ago)
    record = raw_record(f"idem-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期", received_at=received.isoformat())
    await publish(namespace.kafka, namespace.prefix + topics.RAW, record)
    ticket_id = ticket_id_for("phone", record["source_id"])

    def ours(records):
        return [a for a in (QueueAssignment.model_validate_json(r.value) for r in records) if a.ticket_id == ticket_id]
    queue = await read_topic(namespace.kafka, namespace.prefix + topics.queue_topic(TOWN),
                             until=lambda rs: bool(ours(rs)))
    return ticket_id, ours(queue)[0].dispatched_at


async def followup_knows(followup, ticket_id: str, headers: dict) -> dict:
    async def known():
        response = await followup.get(f"/v1/tickets/{ticket_id}", headers=headers)
        return response.status_code == 200 and response.json()
    return await eventually(known)


async def followup_events(namespace, ticket_id: str, until) -> list[dict]:
    def ours(records):
        return [{**json.loads(r.value), "type": dict(r.headers or ()).get("event_type", b"").decode()}
                for r in records if json.loads(r.value).get("ticket_id") == ticket_id]
    return ours(await read_topic(namespace.kafka, namespace.prefix + topics.TICKETS_FOLLOWUP,
                                 until=lambda rs: until(ours(rs))))


async def metrics_contacts(metrics, ticket_id: str, until) -> dict:
    """The contacts of a ticket's fact, which metrics holds in memory, once `until` holds of them."""
    async def fact():
        contacts = (metrics.state.projection.facts.get(ticket_id) or {}).get("contacts", {})
        return until(contacts) and contacts
    return await eventually(fact)


async def test_a_contact_key_reused_for_another_contact_is_409_and_only_the_first_counts(services, namespace, db):
    ticket_id, dispatched_at = await dispatched_ticket(namespace)
    town = await issue_token(namespace, TOWN)
    phone_now = {"unit_code": TOWN, "kind": "phone", "staff_id": "LX-1",
                 "contacted_at": (dispatched_at + timedelta(minutes=1)).isoformat()}
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}", **town}
    async with client_for(services["followup"]) as followup:
        await followup_knows(followup, ticket_id, town)
        first = await followup.post(f"/v1/tickets/{ticket_id}/contacts", headers=headers, json=phone_now)
        assert first.status_code == 201, first.text
        # The same request again, its keys in another order and spaced otherwise: the same answer.
        again = await followup.post(
            f"/v1/tickets/{ticket_id}/contacts", content=json.dumps(dict(reversed(phone_now.items())), indent=2),
            headers={**headers, "Content-Type": "application/json"})
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        # The same key for a face-to-face visit five minutes after the dispatch: refused.
        visit = {**phone_now, "kind": "face_to_face", "place": "小区门口",
                 "contacted_at": (dispatched_at + timedelta(minutes=5)).isoformat()}
        reused = await followup.post(f"/v1/tickets/{ticket_id}/contacts", headers=headers, json=visit)
        assert reused.status_code == 409, reused.text
        assert reused.json()["detail"][0]["loc"] == KEY_LOC
        assert "different request" in reused.json()["detail"][0]["msg"]
        # A later contact under a key of its own: what metrics has seen once it has this one.
        later = await followup.post(f"/v1/tickets/{ticket_id}/contacts", json={
            **phone_now, "contacted_at": (dispatched_at + timedelta(minutes=10)).isoformat()},
            headers={"Idempotency-Key": f"k-{uuid.uuid4().hex}", **town})
        assert later.status_code == 201, later.text
        doc = (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).json()
    assert [(c["kind"], c["contacted_at"][:16]) for c in doc["contacts"]] == [
        ("phone", phone_now["contacted_at"][:16]), ("phone", later.json()["contacted_at"][:16])]
    assert all("request_hash" not in c for c in doc["contacts"])

    first_id, later_id = first.json()["event_id"], later.json()["event_id"]
    events = await followup_events(namespace, ticket_id, lambda es: later_id in {e["event_id"] for e in es})
    assert {e["kind"] for e in events if e["event_id"] == first_id} == {"phone"}
    assert not [e for e in events if e["type"] == "ContactRecorded" and e["kind"] == "face_to_face"]
    contacts = await metrics_contacts(services["metrics"], ticket_id, lambda cs: key(later.json()["contact_id"]) in cs)
    assert contacts[key(first.json()["contact_id"])]["kind"] == "phone"
    assert {c["kind"] for c in contacts.values()} == {"phone"}


async def test_a_note_key_reused_for_another_note_is_409(services, namespace):
    ticket_id, dispatched_at = await dispatched_ticket(namespace)
    town = await issue_token(namespace, TOWN)
    note = {"unit_code": TOWN, "staff_id": "LX-1", "text": "已约好明早上门",
            "noted_at": (dispatched_at + timedelta(minutes=2)).isoformat()}
    headers = {"Idempotency-Key": f"n-{uuid.uuid4().hex}", **town}
    async with client_for(services["followup"]) as followup:
        await followup_knows(followup, ticket_id, town)
        first = await followup.post(f"/v1/tickets/{ticket_id}/notes", headers=headers, json=note)
        again = await followup.post(f"/v1/tickets/{ticket_id}/notes", headers=headers, json=note)
        reused = await followup.post(f"/v1/tickets/{ticket_id}/notes", headers=headers,
                                     json={**note, "text": "居民不在家，改约下周"})
        notes = (await followup.get(f"/v1/tickets/{ticket_id}/notes", headers=town)).json()
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert again.json() == first.json()
    assert reused.status_code == 409 and reused.json()["detail"][0]["loc"] == KEY_LOC, reused.text
    assert [n["text"] for n in notes["notes"]] == [note["text"]]
    assert all("request_hash" not in n for n in notes["notes"])


async def test_a_command_id_reused_on_followup_commands_for_another_contact_is_refused(services, namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    ticket_id, dispatched_at = await dispatched_ticket(namespace)
    town = await issue_token(namespace, TOWN)
    command = {"action": "record_contact", "command_id": f"c-{uuid.uuid4().hex}", "ticket_id": ticket_id,
               "payload": {"unit_code": TOWN, "kind": "phone", "staff_id": "LX-1",
                           "contacted_at": (dispatched_at + timedelta(minutes=1)).isoformat()}}
    other = {**command, "payload": {**command["payload"], "kind": "face_to_face",
                                    "contacted_at": (dispatched_at + timedelta(minutes=5)).isoformat()}}
    async with client_for(services["followup"]) as followup:
        await followup_knows(followup, ticket_id, town)
        # A producer's retry (the same command), then the same id for another contact.
        await publish(kafka, prefix + topics.FOLLOWUP_COMMANDS, command, command, other, key=ticket_id.encode())
        events = await followup_events(namespace, ticket_id, lambda es: any(
            e["type"] == "FollowupCommandRefused" for e in es))
        doc = (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).json()
    refused = [e for e in events if e["type"] == "FollowupCommandRefused"]
    assert [(e["command_id"], e["status"], e["field"]) for e in refused] == [(command["command_id"], 409, "command_id")]
    assert "different request" in refused[0]["reason"]
    assert [c["kind"] for c in doc["contacts"]] == ["phone"]
    recorded = [e for e in events if e["type"] == "ContactRecorded"]
    assert recorded and {e["kind"] for e in recorded} == {"phone"} and len({e["event_id"] for e in recorded}) == 1


async def test_metrics_keeps_the_first_of_two_events_under_one_id(services, namespace, db):
    script = Script(f"idem-{uuid.uuid4().hex[:8]}-")
    now = datetime.now(UTC).replace(microsecond=0)
    script.dispatch("M1", TOWN, now - timedelta(hours=1))
    script.contact("M1", TOWN, now - timedelta(minutes=50))
    first = script.events[-1]
    # The same event id and contact id, other content: a face-to-face visit in time.
    second = first.model_copy(update={"kind": ContactKind.FACE_TO_FACE})
    script.contact("M1", TOWN, now - timedelta(minutes=40))
    await publish_events(namespace.kafka, namespace.prefix, [*script.events[:2], second, script.events[2]])
    await all_drained(namespace)
    ticket_id = first.ticket_id
    contacts = await metrics_contacts(services["metrics"], ticket_id, lambda cs: len(cs) == 2)
    assert contacts[key(first.contact_id)]["kind"] == "phone"
    async with client_for(services["metrics"]) as metrics:
        exposition = (await metrics.get("/metrics")).text
    assert 'hotline_metrics_event_conflicts_total{entry="contacts"}' in exposition


async def test_a_routing_key_reused_for_another_summons_is_409_over_http_and_refused_on_kafka(services, namespace):
    ticket_id, _ = await dispatched_ticket(namespace, hours_ago=0)
    town = await issue_token(namespace, TOWN)
    command_id = f"s-{uuid.uuid4().hex}"
    headers = {"Idempotency-Key": command_id, **town}
    summons = {"unit_code": TOWN, "departments": ["m-housing"], "note": "需现场协调"}
    async with client_for(services["routing"]) as routing:
        first = await routing.post(f"/v1/tickets/{ticket_id}/summons", headers=headers, json=summons)
        # The same request again (its time left to the server both times): the same answer.
        again = await routing.post(f"/v1/tickets/{ticket_id}/summons", headers=headers, json=summons)
        reused = await routing.post(f"/v1/tickets/{ticket_id}/summons", headers=headers,
                                    json={**summons, "departments": ["e-drainage"]})
    assert (first.status_code, again.status_code) == (202, 202), (first.text, again.text)
    assert first.json() == again.json() == {"command_id": command_id, "status": "accepted"}
    assert reused.status_code == 409 and reused.json()["detail"][0]["loc"] == KEY_LOC, reused.text

    # A unit system reuses the id on routing.commands for another summons: refused, nothing changes.
    await publish(namespace.kafka, namespace.prefix + topics.ROUTING_COMMANDS, {
        "command": "summon_departments", "command_id": command_id, "ticket_id": ticket_id, "unit_code": TOWN,
        "departments": ["e-drainage"], "summoned_at": datetime.now(UTC).isoformat()}, key=ticket_id.encode())
    events = await routing_events(namespace, ticket_id, lambda es: any(isinstance(e, CommandRefused) for e in es))
    refused = [e for e in events if isinstance(e, CommandRefused)]
    assert [(e.command_id, e.code) for e in refused] == [(command_id, "key_reused")]
    summoned = [e for e in events if isinstance(e, DepartmentsSummoned)]
    assert {e.event_id for e in summoned} == {summoned[0].event_id}
    assert summoned[0].departments == ["m-housing"]
