"""The four services in this process, on the real Kafka broker and MongoDB-protocol server."""

import base64
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from hotline.contracts import DeadLetter, QueueAssignment, ticket_id_for, topics
from hotline.devkit import raw_record
from hotline.metrics.domain import period_of
from hotline.metrics.figures import unit_month_figures
from tests.integration.conftest import client_for
from tests.support import drained, eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack


async def test_every_service_reports_healthy(services):
    for name, app in services.items():
        async with client_for(app) as client:
            response = await client.get("/healthz")
        assert response.status_code == 200, (name, response.text)
        assert response.json()["checks"] == {"kafka": True, "mongodb": True}


async def test_a_ticket_flows_from_raw_record_to_unit_queue_and_metrics(services, namespace, db):
    kafka, prefix = namespace.kafka, namespace.prefix
    liangxiang = raw_record(f"it-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期")
    haidian = raw_record(f"it-{uuid.uuid4().hex}", "八里庄街道甘家口小区", district="海淀区")
    await publish(kafka, prefix + topics.RAW, liangxiang, haidian)

    ours = {ticket_id_for("phone", liangxiang["source_id"]), ticket_id_for("phone", haidian["source_id"])}

    def assignments_in(records) -> list[QueueAssignment]:
        found = [QueueAssignment.model_validate_json(r.value) for r in records]
        return [a for a in found if a.ticket_id in ours]

    queue = await read_topic(
        kafka, prefix + topics.queue_topic("110111008"), until=lambda rs: assignments_in(rs)
    )
    # Liangxiang's queue holds Liangxiang's ticket and not the Haidian one.
    assignments = assignments_in(queue)
    assert [a.ticket_id for a in assignments] == [ticket_id_for("phone", liangxiang["source_id"])]
    assignment = assignments[0]
    # Whatever else this session put there, the queue holds Liangxiang's assignments only.
    assert {QueueAssignment.model_validate_json(r.value).unit_code for r in queue} == {"110111008"}
    assert assignment.caller_phone == "13800001234"
    assert assignment.caller_phone_masked == "138****1234"
    haidian_queue = await read_topic(
        kafka, prefix + topics.queue_topic("110108005"), until=lambda rs: assignments_in(rs)
    )
    assert [a.ticket_id for a in assignments_in(haidian_queue)] == [
        ticket_id_for("phone", haidian["source_id"])
    ]

    period = period_of(assignment.dispatched_at)
    month_id = f"110111008:{period}"
    ticket_id = assignment.ticket_id

    projection = services["metrics"].state.projection

    async def settled_month():
        """The ticket's summary in its unit-month (held in metrics' memory), and the month's
        figures in the store once they are the ones recomputed from it."""
        month = projection.months.get(month_id)
        figures = await db["metrics_unit_figures"].find_one({"_id": month_id})
        if not (month and ticket_id in month["tickets"] and figures):
            return None
        if figures["figures"] != unit_month_figures(month["tickets"], month["returned"]):
            return None
        return month["tickets"][ticket_id], figures["figures"]

    summary, doc = await eventually(settled_month)
    assert summary["first_contact_at"] is None
    before = {k: doc[k] for k in ("dispatched", "contacted", "face_to_face")}

    contact = {
        "unit_code": "110111008", "kind": "face_to_face", "staff_id": "LX-017",
        "contacted_at": datetime.now(UTC).isoformat(), "notes": "到现场与居民面对面沟通",
    }
    liangxiang = await issue_token(namespace, "110111008")
    haidian = await issue_token(namespace, "110108005")
    async with client_for(services["followup"]) as client:
        await eventually(lambda: _ticket_known(client, ticket_id, liangxiang))
        first = await client.post(f"/v1/tickets/{ticket_id}/contacts", json=contact, headers=liangxiang)
        again = await client.post(f"/v1/tickets/{ticket_id}/contacts", json=contact, headers=liangxiang)
        # Another unit: neither for itself (not its ticket) nor in Liangxiang's name.
        foreign = await client.post(
            f"/v1/tickets/{ticket_id}/contacts", json={**contact, "unit_code": "110108005"}, headers=haidian
        )
        impersonating = await client.post(f"/v1/tickets/{ticket_id}/contacts", json=contact, headers=haidian)
        anonymous = await client.post(f"/v1/tickets/{ticket_id}/contacts", json=contact)
        forged = await client.post(f"/v1/tickets/{ticket_id}/contacts", json=contact,
                                   headers={"Authorization": "Bearer 110111008.not-the-secret"})
        reading = await client.get(f"/v1/tickets/{ticket_id}", headers=haidian)
        centre = await client.get(f"/v1/tickets/{ticket_id}", headers=await issue_token(namespace, "centre"))
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert foreign.status_code == 403 and foreign.json()["detail"][0]["loc"] == ["unit_code"]
    assert impersonating.status_code == 403 and impersonating.json()["detail"][0]["loc"] == ["unit_code"]
    assert (anonymous.status_code, forged.status_code) == (401, 401)
    assert (reading.status_code, centre.status_code) == (403, 200)

    async def contacted():
        found = await settled_month()
        return found if found and found[0]["first_contact_at"] is not None else None

    summary, doc = await eventually(contacted)
    assert summary["face_to_face"] is True
    # The contact was posted twice; it counts once. (Other tickets of this test session may
    # still be reaching Liangxiang's dispatch count meanwhile; none of them has a contact.)
    assert (doc["contacted"], doc["face_to_face"]) == (before["contacted"] + 1, before["face_to_face"] + 1)
    assert doc["dispatched"] >= before["dispatched"]

    async with client_for(services["metrics"]) as client:
        response = await client.get(f"/v1/units/110111008/months/{period}")
    assert response.status_code == 200
    assert response.json()["face_to_face"] == doc["face_to_face"]
    assert "tickets" not in response.json()

    # No personal data reaches metrics' memory or store.
    assert "13800001234" not in json.dumps(projection.facts, default=str)
    for name in await db.list_collection_names():
        if name.startswith("metrics_"):
            async for stored in db[name].find({}):
                assert "13800001234" not in json.dumps(stored, default=str)


async def _ticket_known(client: httpx.AsyncClient, ticket_id: str, headers: dict) -> bool:
    return (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).status_code == 200


async def test_a_resent_record_makes_one_ticket_and_one_dispatch(services, namespace, db):
    kafka, prefix = namespace.kafka, namespace.prefix
    record = raw_record(f"it-{uuid.uuid4().hex}", "良乡地区拱辰大街")
    ticket_id = ticket_id_for("phone", record["source_id"])
    await publish(kafka, prefix + topics.RAW, record)
    await publish(kafka, prefix + topics.RAW, record, record)
    await drained(kafka, prefix + topics.RAW, f"{prefix}hotline-intake.{topics.RAW}")
    received = await read_topic(kafka, prefix + topics.TICKETS_RECEIVED, until=lambda rs: False, timeout_s=1)
    events = [r.value for r in received if json.loads(r.value)["ticket_id"] == ticket_id]
    assert len(events) == 1

    # Redeliver the ticket event itself: routing dispatches it once.
    await publish(kafka, prefix + topics.TICKETS_RECEIVED, events[0], key=ticket_id.encode())
    await drained(kafka, prefix + topics.TICKETS_RECEIVED, f"{prefix}hotline-routing.{topics.TICKETS_RECEIVED}")
    queue = await read_topic(kafka, prefix + topics.queue_topic("110111008"), until=lambda rs: False, timeout_s=1)
    ids = [QueueAssignment.model_validate_json(r.value).ticket_id for r in queue]
    assert ids.count(ticket_id) == 1


async def test_bad_records_reach_the_dead_letter_topic_and_intake_carries_on(services, namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    marker = f"dlq-{uuid.uuid4().hex}"
    not_json = f"not json {marker}".encode()
    no_content = raw_record(f"{marker}-missing", "良乡")
    del no_content["content"]
    good = raw_record(f"{marker}-good", "良乡")
    await publish(kafka, prefix + topics.RAW, not_json, no_content, good)

    def ours(records):
        return [
            DeadLetter.model_validate_json(r.value)
            for r in records
            if marker.encode() in base64.b64decode(DeadLetter.model_validate_json(r.value).value_b64)
        ]

    letters = ours(await read_topic(kafka, prefix + topics.DLQ, until=lambda rs: len(ours(rs)) >= 2))
    by_original = {base64.b64decode(l.value_b64): l for l in letters}
    assert not_json in by_original and "JSON" in by_original[not_json].reason
    missing = next(l for l in letters if l.field == "content")
    assert missing.reason == "Field required" and missing.channel == "phone"
    assert json.loads(base64.b64decode(missing.value_b64)) == no_content
    assert all(l.source_topic == prefix + topics.RAW and l.service == "intake" for l in letters)

    good_id = ticket_id_for("phone", good["source_id"])
    queue = await read_topic(
        kafka, prefix + topics.queue_topic("110111008"),
        until=lambda rs: any(QueueAssignment.model_validate_json(r.value).ticket_id == good_id for r in rs),
    )
    assert any(QueueAssignment.model_validate_json(r.value).ticket_id == good_id for r in queue)
