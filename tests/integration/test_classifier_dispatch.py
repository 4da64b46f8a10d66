"""Intake's classifier on the real stack: the four services in this process, the real broker and
store. A clear message goes by the catalogue with its class, confidence and model version on
`tickets.received`; one the model is unsure of reaches the triage desk with the candidates, and
the desk hands it on to the street without that counting as a return."""

import json
import uuid
from datetime import timedelta

import pytest

from hotline.classifier import load_model
from hotline.contracts import (
    ClassifiedBy,
    QueueAssignment,
    TicketDispatched,
    TicketReceived,
    ticket_id_for,
    topics,
)
from hotline.contracts.routing import TicketReturned
from hotline.devkit import raw_record
from hotline.intake.settings import IntakeSettings
from hotline.routing.domain import UNSURE_RULE
from tests.integration.conftest import client_for
from tests.support import eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack

LIANGXIANG = "房山区良乡镇云景台小区二期"
MIN_CONFIDENCE = IntakeSettings().classifier_min_confidence


async def events_of(namespace, topic: str, model, ticket_id: str, until=lambda found: bool(found)) -> list:
    def ours(records):
        return [e for e in (model.model_validate_json(r.value) for r in records if json.loads(r.value).get(
            "ticket_id") == ticket_id)]

    records = await read_topic(namespace.kafka, namespace.prefix + topic, until=lambda rs: until(ours(rs)))
    return ours(records)


async def send(namespace, content: str) -> str:
    record = raw_record(f"cls-{uuid.uuid4().hex}", LIANGXIANG, content=content)
    await publish(namespace.kafka, namespace.prefix + topics.RAW, record)
    return ticket_id_for("phone", record["source_id"])


@pytest.mark.parametrize(("content", "first_level", "category", "unit"), [
    ("孩子学校乱收费，每学期额外收取补课费三千元", "教育文体", "education", "m-education"),
    ("小区路灯不亮已经一周了，晚上出行不安全", "城乡建设", "roads_traffic", "110111008"),
])
async def test_a_clear_message_goes_by_the_catalogue_with_its_class(services, namespace, content, first_level,
                                                                    category, unit):
    prediction = load_model().predict(content)
    assert prediction.label == first_level and prediction.confidence >= MIN_CONFIDENCE  # the model is sure
    ticket_id = await send(namespace, content)
    [received] = await events_of(namespace, topics.TICKETS_RECEIVED, TicketReceived, ticket_id)
    assert (received.first_level, received.category, received.classified_by) == (
        first_level, category, ClassifiedBy.MODEL)
    assert received.confidence == pytest.approx(prediction.confidence) and not received.needs_triage
    assert received.model_version == load_model().version and received.schema_version == 2
    [assignment] = await events_of(namespace, topics.queue_topic(unit), QueueAssignment, ticket_id)
    assert assignment.role == "lead" and assignment.category == category
    assert assignment.first_level == first_level and assignment.candidates[0].first_level == first_level


async def test_a_message_the_model_is_unsure_of_reaches_triage_and_is_handed_on(services, namespace, db):
    content = "我要投诉良乡地区不作为"  # says who, not what: none of the seven classes stands out
    prediction = load_model().predict(content)
    assert prediction.confidence < MIN_CONFIDENCE, prediction
    ticket_id = await send(namespace, content)

    [received] = await events_of(namespace, topics.TICKETS_RECEIVED, TicketReceived, ticket_id)
    assert received.needs_triage and received.classified_by is ClassifiedBy.MODEL
    assert received.location.unit_code == "110111008"  # the place is known; the matter is not
    [assignment] = await events_of(namespace, topics.queue_topic(topics.TRIAGE_QUEUE_CODE), QueueAssignment,
                                   ticket_id)
    # The model's very figures: a float survives JSON exactly.
    assert [(c.first_level, c.confidence) for c in assignment.candidates] == prediction.candidates
    assert assignment.confidence == prediction.confidence and assignment.caller_phone
    [dispatched] = await events_of(namespace, topics.TICKETS_DISPATCHED, TicketDispatched, ticket_id)
    assert (dispatched.unit_code, dispatched.reason, dispatched.rule_id, dispatched.district_code) == (
        topics.TRIAGE_QUEUE_CODE, "triage", UNSURE_RULE, "110111")

    # Followup holds it for the triage desk; metrics counts it there (an unranked unit).
    centre = await issue_token(namespace, "centre")
    async with client_for(services["followup"]) as followup:
        async def held_by(unit):
            response = await followup.get(f"/v1/tickets/{ticket_id}", headers=centre)
            return response.status_code == 200 and response.json()["unit_code"] == unit
        await eventually(lambda: held_by(topics.TRIAGE_QUEUE_CODE))

        # The desk reads the candidates and hands the ticket to the town, hours later.
        triage = await issue_token(namespace, topics.TRIAGE_QUEUE_CODE)
        async with client_for(services["routing"]) as routing:
            response = await routing.post(f"/v1/tickets/{ticket_id}/returns", headers=triage, json={
                "unit_code": topics.TRIAGE_QUEUE_CODE, "reason_code": "belongs_to_unit",
                "suggested_unit": "110111008", "note": "属地问题",
                "returned_at": (received.received_at + timedelta(hours=3)).isoformat()})
            assert response.status_code == 202, response.text
        handed = await events_of(namespace, topics.queue_topic("110111008"), QueueAssignment, ticket_id)
        assert [(a.attempt, a.role) for a in handed] == [(2, "lead")]
        [returned] = await events_of(namespace, topics.TICKETS_ROUTING, TicketReturned, ticket_id)
        assert returned.unit_code == topics.TRIAGE_QUEUE_CODE and returned.returns == 0  # not a return that counts
        await eventually(lambda: held_by("110111008"))

    async def metrics_moved():
        fact = services["metrics"].state.projection.facts.get(ticket_id)
        units = {a: d["unit_code"] for a, d in (fact or {}).get("dispatches", {}).items()}
        return units == {"1": topics.TRIAGE_QUEUE_CODE, "2": "110111008"}
    await eventually(metrics_moved)
