"""One deadline policy on the real stack (#27): the report-back deadline intake answers at receipt
is the one routing's dispatch carries and the one in the unit's worklist at followup, the
policy's 7 and 15 calendar days across Spring Festival 2026 (holiday 15-23 February)."""

import uuid
from datetime import datetime, timedelta

import pytest

from hotline.contracts import TicketDispatched, ticket_id_for, topics
from hotline.deadlines import report_back_due
from hotline.devkit import encoded, raw_record
from tests.integration.conftest import client_for
from tests.support import eventually, issue_token, read_topic

pytestmark = pytest.mark.stack

RECEIVED = "2026-02-13T10:00:00+08:00"  # the Friday before Spring Festival
CASES = [  # content, urgency, the policy's deadline written out
    ("良乡镇西街小区门口垃圾堆了三天没人清运", "general", "2026-02-20T10:00:00+08:00"),
    ("良乡镇西街小区的产权纠纷多年未解决，涉及多个部门", "complex", "2026-02-28T10:00:00+08:00"),
]


async def test_the_worklist_shows_the_report_back_deadline_intake_answered_by_the_policy(services, namespace):
    platform = await issue_token(namespace, "platform")
    records = [raw_record(f"dl-{uuid.uuid4().hex}", "房山区良乡镇西街小区", content=content, received_at=RECEIVED)
               for content, _, _ in CASES]
    answers = {}
    async with client_for(services["intake"]) as intake:
        for record in records:
            response = await intake.post("/v1/tickets", content=encoded(record),
                                         headers={**platform, "Content-Type": "application/json"})
            assert response.status_code == 202, response.text
            answers[response.json()["ticket_id"]] = response.json()
    expected = {ticket_id_for("phone", r["source_id"]): (urgency, datetime.fromisoformat(due))
                for r, (_, urgency, due) in zip(records, CASES, strict=True)}
    for ticket_id, (urgency, due) in expected.items():
        assert report_back_due(urgency, datetime.fromisoformat(RECEIVED)) == due  # the policy
        assert answers[ticket_id]["urgency"] == urgency
        assert datetime.fromisoformat(answers[ticket_id]["report_back_due_at"]) == due  # intake's answer

    def ours(records) -> dict[str, TicketDispatched]:
        found = (TicketDispatched.model_validate_json(r.value) for r in records)
        return {e.ticket_id: e for e in found if e.ticket_id in expected}

    dispatches = ours(await read_topic(namespace.kafka, namespace.prefix + topics.TICKETS_DISPATCHED,
                                       until=lambda rs: len(ours(rs)) == len(expected)))
    for ticket_id, (_, due) in expected.items():
        event = dispatches[ticket_id]
        assert event.report_back_due_at == due  # routing's dispatch
        assert {d.clock: d.due_at for d in event.deadlines}["report_back"] == due

    async with client_for(services["followup"]) as followup:
        for ticket_id, (_, due) in expected.items():
            unit_code = dispatches[ticket_id].unit_code  # the complex matter goes to a department
            headers = await issue_token(namespace, unit_code)

            async def listed() -> str | None:
                response = await followup.get(f"/v1/units/{unit_code}/tickets", headers=headers)
                assert response.status_code == 200, response.text
                return {t["ticket_id"]: t["report_back_due_at"] for t in response.json()["tickets"]}.get(ticket_id)

            assert datetime.fromisoformat(await eventually(listed)) == due  # followup's clock


async def test_a_redispatch_gives_the_new_holder_the_policys_period_from_then(services, namespace):
    platform = await issue_token(namespace, "platform")
    record = raw_record(f"dl-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期", content=CASES[0][0],
                        received_at=RECEIVED)
    ticket_id = ticket_id_for("phone", record["source_id"])
    async with client_for(services["intake"]) as intake:
        answer = await intake.post("/v1/tickets", content=encoded(record),
                                   headers={**platform, "Content-Type": "application/json"})
    assert answer.status_code == 202, answer.text
    returned_at = datetime.fromisoformat(RECEIVED) + timedelta(minutes=40)
    town, chengguan = await issue_token(namespace, "110111008"), await issue_token(namespace, "110111001")
    async with client_for(services["followup"]) as followup, client_for(services["routing"]) as routing:
        async def listed_by(unit_code: str, headers: dict) -> str | None:
            response = await followup.get(f"/v1/units/{unit_code}/tickets", headers=headers)
            assert response.status_code == 200, response.text
            return {t["ticket_id"]: t["report_back_due_at"] for t in response.json()["tickets"]}.get(ticket_id)

        first = await eventually(lambda: listed_by("110111008", town))
        returned = await routing.post(f"/v1/tickets/{ticket_id}/returns", headers={"Idempotency-Key": "dl1", **town},
                                      json={"unit_code": "110111008", "reason_code": "belongs_to_unit",
                                            "suggested_unit": "110111001", "returned_at": returned_at.isoformat()})
        assert returned.status_code == 202, returned.text
        second = await eventually(lambda: listed_by("110111001", chengguan))
    assert datetime.fromisoformat(answer.json()["report_back_due_at"]) == datetime.fromisoformat(first) \
        == report_back_due("general", datetime.fromisoformat(RECEIVED))
    # The new holder's clock runs from the re-dispatch (until #27 it kept the deadline from receipt).
    assert datetime.fromisoformat(second) == report_back_due("general", returned_at) == returned_at + timedelta(days=7)
