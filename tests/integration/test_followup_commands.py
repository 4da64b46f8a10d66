"""Unit systems act through `followup.commands` as they would over HTTP, on the real broker."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import DeadLetter, QueueAssignment, ticket_id_for, topics
from hotline.devkit import raw_record
from tests.integration.conftest import client_for
from tests.support import eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack


async def followup_records(namespace, ticket_id: str, until) -> list[dict]:
    def ours(records):
        return [{**json.loads(r.value), "type": dict(r.headers or ()).get("event_type", b"").decode()}
                for r in records if json.loads(r.value).get("ticket_id") == ticket_id]
    return ours(await read_topic(namespace.kafka, namespace.prefix + topics.TICKETS_FOLLOWUP,
                                 until=lambda rs: until(ours(rs))))


async def test_a_contact_command_acts_a_retry_does_not_act_twice_and_a_refusal_is_an_event(services, namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    record = raw_record(f"cmd-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期")
    await publish(kafka, prefix + topics.RAW, record)
    ticket_id = ticket_id_for("phone", record["source_id"])
    queue = await read_topic(kafka, prefix + topics.queue_topic("110111008"), until=lambda rs: any(
        QueueAssignment.model_validate_json(r.value).ticket_id == ticket_id for r in rs))
    dispatched_at = next(a for a in (QueueAssignment.model_validate_json(r.value) for r in queue)
                         if a.ticket_id == ticket_id).dispatched_at
    town = await issue_token(namespace, "110111008")
    async with client_for(services["followup"]) as followup:
        await eventually(lambda: _known(followup, ticket_id, town))
        contact = {"action": "record_contact", "command_id": f"c-{uuid.uuid4().hex}", "ticket_id": ticket_id,
                   "payload": {"unit_code": "110111008", "kind": "face_to_face", "staff_id": "LX-9",
                               "contacted_at": (dispatched_at + timedelta(seconds=5)).isoformat()}}
        # Sent twice (a producer's retry): one contact.
        await publish(kafka, prefix + topics.FOLLOWUP_COMMANDS, contact, contact, key=ticket_id.encode())
        # Another unit acting on this ticket, and a resolution with a time before the dispatch.
        intruder = {**contact, "command_id": f"c-{uuid.uuid4().hex}",
                    "payload": {**contact["payload"], "unit_code": "110111009"}}
        early = {"action": "resolve", "command_id": f"c-{uuid.uuid4().hex}", "ticket_id": ticket_id,
                 "payload": {"unit_code": "110111008", "outcome": "resolved", "resolution_code": "X",
                             "resolved_at": (dispatched_at - timedelta(hours=1)).isoformat()}}
        await publish(kafka, prefix + topics.FOLLOWUP_COMMANDS, intruder, early, b"{not json", key=ticket_id.encode())

        events = await followup_records(namespace, ticket_id, lambda es: sum(
            e["type"] == "FollowupCommandRefused" for e in es) >= 2)
        refused = {e["command_id"]: (e["status"], e["field"]) for e in events if e["type"] == "FollowupCommandRefused"}
        assert refused == {intruder["command_id"]: (403, "unit_code"), early["command_id"]: (422, "resolved_at")}
        doc = (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).json()
        assert [(c["kind"], c["unit_code"]) for c in doc["contacts"]] == [("face_to_face", "110111008")]
        assert doc["state"] == "open"

        # Signing and progress notes go the same way.
        signed = {"action": "sign", "command_id": f"c-{uuid.uuid4().hex}", "ticket_id": ticket_id,
                  "payload": {"unit_code": "110111008", "staff_id": "LX-9",
                              "signed_at": (dispatched_at + timedelta(seconds=3)).isoformat()}}
        noted = {"action": "note_progress", "command_id": f"c-{uuid.uuid4().hex}", "ticket_id": ticket_id,
                 "payload": {"unit_code": "110111008", "staff_id": "LX-9", "text": "已约好明早再次上门",
                             "noted_at": (dispatched_at + timedelta(seconds=6)).isoformat()}}
        await publish(kafka, prefix + topics.FOLLOWUP_COMMANDS, signed, noted, noted, key=ticket_id.encode())
        events = await followup_records(namespace, ticket_id, lambda es: {"TicketSigned", "ProgressNoted"} <= {
            e["type"] for e in es})
        # The retried note is the same note (its event may be sent again, with the same id).
        assert len({e["event_id"] for e in events if e["type"] == "ProgressNoted"}) == 1

    def ours(records):
        letters = [DeadLetter.model_validate_json(r.value) for r in records]
        return [letter for letter in letters if letter.source_topic.endswith(topics.FOLLOWUP_COMMANDS)
                and base64.b64decode(letter.value_b64) == b"{not json"]
    assert ours(await read_topic(kafka, prefix + topics.DLQ, until=lambda rs: bool(ours(rs))))


async def _known(client, ticket_id: str, headers: dict) -> bool:
    return (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).status_code == 200


async def test_commands_for_several_tickets_in_one_batch_each_act_in_their_order(services, namespace):
    """A batch mixes tickets: they are carried out side by side, each ticket's commands in order
    (a resolution that overtook its ticket's contact would be refused)."""
    kafka, prefix = namespace.kafka, namespace.prefix
    records = [raw_record(f"cmd-many-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期") for _ in range(3)]
    await publish(kafka, prefix + topics.RAW, *records)
    ids = [ticket_id_for("phone", r["source_id"]) for r in records]

    def assignments(rs):
        return {a.ticket_id: a for a in (QueueAssignment.model_validate_json(r.value) for r in rs) if a.ticket_id in ids}
    queue = await read_topic(kafka, prefix + topics.queue_topic("110111008"), until=lambda rs: len(assignments(rs)) == 3)
    dispatched = {t: a.dispatched_at for t, a in assignments(queue).items()}
    town = await issue_token(namespace, "110111008")
    async with client_for(services["followup"]) as followup:
        for ticket_id in ids:
            await eventually(lambda: _known(followup, ticket_id, town))
        contacts = [{"action": "record_contact", "command_id": f"c-{uuid.uuid4().hex}", "ticket_id": t,
                     "payload": {"unit_code": "110111008", "kind": "phone", "staff_id": "LX-9",
                                 "contacted_at": (dispatched[t] + timedelta(seconds=5)).isoformat()}} for t in ids]
        resolutions = [{"action": "resolve", "command_id": f"r-{uuid.uuid4().hex}", "ticket_id": t,
                        "payload": {"unit_code": "110111008", "outcome": "resolved", "resolution_code": "FIXED",
                                    "resolved_at": (dispatched[t] + timedelta(seconds=9)).isoformat()}} for t in ids]
        # One key: one partition, so one batch holds every ticket's contact before any resolution.
        await publish(kafka, prefix + topics.FOLLOWUP_COMMANDS, *contacts, *resolutions, key=ids[0].encode())

        async def all_resolved():
            docs = [(await followup.get(f"/v1/tickets/{t}", headers=town)).json() for t in ids]
            return all(d["state"] == "resolved" for d in docs) and docs
        docs = await eventually(all_resolved)
        assert [[c["kind"] for c in d["contacts"]] for d in docs] == [["phone"]] * 3
    for ticket_id in ids:
        events = await followup_records(namespace, ticket_id, lambda es: any(e["type"] == "TicketResolved" for e in es))
        assert not [e for e in events if e["type"] == "FollowupCommandRefused"]


async def test_a_command_that_overtakes_its_dispatch_waits_for_it_and_one_for_no_ticket_is_refused(
        services, namespace):
    """Under load a unit's command can reach followup before the ticket's dispatch does: it is
    carried out once the dispatch is stored, not refused. A command for a ticket that is never
    dispatched is refused (404) once the wait is over."""
    kafka, prefix = namespace.kafka, namespace.prefix
    record = raw_record(f"cmd-early-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期")
    ticket_id = ticket_id_for("phone", record["source_id"])
    nowhere = f"TK-never-{uuid.uuid4().hex}"
    # Within the accepted clock skew, and after the dispatch that happens below.
    contacted_at = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()

    def contact(ticket: str) -> dict:
        return {"action": "record_contact", "command_id": f"c-{uuid.uuid4().hex}", "ticket_id": ticket,
                "payload": {"unit_code": "110111008", "kind": "phone", "staff_id": "LX-9",
                            "contacted_at": contacted_at}}
    early, lost = contact(ticket_id), contact(nowhere)
    await publish(kafka, prefix + topics.FOLLOWUP_COMMANDS, early, key=ticket_id.encode())
    await publish(kafka, prefix + topics.FOLLOWUP_COMMANDS, lost, key=nowhere.encode())
    await publish(kafka, prefix + topics.RAW, record)

    events = await followup_records(namespace, ticket_id, lambda es: any(e["type"] == "ContactRecorded" for e in es))
    assert [(e["type"], e.get("staff_id")) for e in events] == [
        ("ContactRecorded", "LX-9")], events
    refused = await followup_records(namespace, nowhere, lambda es: bool(es))
    assert [(e["type"], e["command_id"], e["status"], e["field"]) for e in refused] == [
        ("FollowupCommandRefused", lost["command_id"], 404, "ticket_id")]
