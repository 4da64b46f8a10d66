"""Exemptions (核减) on the real broker and store: followup takes a unit's request (over HTTP and as
a Kafka command) and the centre's decision; metrics takes an approved ticket out of the unit's
figures of its month and leaves a rejected one in; a metrics started on an empty store from the
log (a rebuild) has the same figures; the note is on no topic."""

import json
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import (
    BUSINESS_TZ,
    CallbackResult,
    RequestExemption,
    Satisfaction,
    TicketDispatched,
    deterministic_event_id,
    topics,
)
from hotline.contracts.followup import RequestExemptionCommand
from hotline.devkit import Namespace
from hotline.followup.main import build_app as build_followup
from hotline.followup.settings import FollowupSettings
from hotline.metrics.main import build_app as build_metrics
from hotline.metrics.settings import MetricsSettings
from hotline.runtime.mongo import drop_database
from tests.integration.conftest import client_for
from tests.support import eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack

TOWN, DISTRICT = "110111008", "110111"
NOTE = "诉求人电话13800001234三次无人接听"


@pytest.fixture
async def space(namespace):
    """A private prefix and database: only this test's followup and metrics read them."""
    own = namespace.child("ex")
    await own.create([*topics.core_topics(), *topics.queue_topics([TOWN, DISTRICT, topics.TRIAGE_QUEUE_CODE])])
    yield own
    client = AsyncMongoClient(own.mongodb_url)
    await drop_database(client, own.database)
    await client.close()


def dispatch(ticket_id: str, at: datetime) -> dict:
    return TicketDispatched(
        event_id=deterministic_event_id("TicketDispatched", ticket_id, "1"), ticket_id=ticket_id, occurred_at=at,
        unit_code=TOWN, unit_name="良乡镇", district_code=DISTRICT, reason="street_town", dispatched_at=at,
        urgency="general", attempt=1, response_due_at=at + timedelta(hours=24),
        report_back_due_at=at + timedelta(days=7),
    ).model_dump(mode="json")


async def month_figures(metrics, period: str, expect: dict) -> dict:
    """The unit's figures once they show `expect`."""
    async def shown():
        response = await metrics.get(f"/v1/units/{TOWN}/months/{period}")
        body = response.json() if response.status_code == 200 else {}
        return body if all(body.get(k) == v for k, v in expect.items()) else None
    return await eventually(shown, timeout_s=60)


async def test_an_approved_exemption_leaves_the_units_figures_and_a_rejected_one_does_not(space: Namespace):
    now = datetime.now(UTC)
    t0 = now - timedelta(hours=1)
    period = t0.astimezone(BUSINESS_TZ).strftime("%Y-%m")
    run = uuid.uuid4().hex[:8]
    approved_id, rejected_id, plain_id = (f"TK-EX-{run}-{n}" for n in ("A", "R", "P"))
    town, centre = await issue_token(space, TOWN), await issue_token(space, "centre")
    settings = space.service_settings()
    async with AsyncExitStack() as stack:
        followup_app = build_followup(FollowupSettings(**settings, business_clock="log"))
        metrics_app = build_metrics(MetricsSettings(**settings))
        for app in (followup_app, metrics_app):
            await stack.enter_async_context(app.router.lifespan_context(app))
        followup = await stack.enter_async_context(client_for(followup_app))
        metrics = await stack.enter_async_context(client_for(metrics_app))

        for ticket_id in (approved_id, rejected_id, plain_id):
            await publish(space.kafka, space.prefix + topics.TICKETS_DISPATCHED, dispatch(ticket_id, t0),
                          key=ticket_id.encode())
            # Each citizen dissatisfied: every ticket costs the town points until exempted.
            await publish(space.kafka, space.prefix + topics.CALLBACKS, CallbackResult(
                ticket_id=ticket_id, resolved=False, satisfaction=Satisfaction.DISSATISFIED,
                surveyed_at=t0 + timedelta(minutes=30)).model_dump(mode="json"), key=ticket_id.encode())
        await month_figures(metrics, period, {"dispatched": 3, "dissatisfied": 3})

        async def dispatched(ticket_id):
            return (await followup.get(f"/v1/tickets/{ticket_id}", headers=town)).status_code == 200
        for ticket_id in (approved_id, rejected_id):
            await eventually(lambda: dispatched(ticket_id))
        ask = {"unit_code": TOWN, "reason_code": "citizen_unreachable", "note": NOTE,
               "requested_at": (now - timedelta(minutes=5)).isoformat()}
        asked = await followup.post(f"/v1/tickets/{approved_id}/exemptions", json=ask,
                                    headers={**town, "Idempotency-Key": f"ex-{run}"})
        asked_again = await followup.post(f"/v1/tickets/{approved_id}/exemptions", json=ask,
                                          headers={**town, "Idempotency-Key": f"ex-{run}"})
        # The other request comes as a unit system's Kafka command.
        command = RequestExemptionCommand(command_id=f"cmd-{run}", ticket_id=rejected_id, payload=RequestExemption(
            unit_code=TOWN, reason_code="unreasonable_demand", note="要求街道赔偿私人损失",
            requested_at=now - timedelta(minutes=4)))
        await publish(space.kafka, space.prefix + topics.FOLLOWUP_COMMANDS, command.model_dump(mode="json"),
                      key=rejected_id.encode())
        await month_figures(metrics, period, {"exemption_requested": 2, "dispatched": 3, "exempted": 0})

        decided_at = datetime.now(UTC).isoformat()
        by_unit = await followup.post(f"/v1/tickets/{approved_id}/exemptions/decision", headers=town,
                                      json={"approved": True, "decided_at": decided_at})
        approval = await followup.post(f"/v1/tickets/{approved_id}/exemptions/decision", headers=centre,
                                       json={"approved": True, "note": "核实属实", "decided_at": decided_at})
        rejection = await followup.post(f"/v1/tickets/{rejected_id}/exemptions/decision", headers=centre,
                                        json={"approved": False, "note": "属职责范围", "decided_at": decided_at})
        reversal = await followup.post(f"/v1/tickets/{approved_id}/exemptions/decision", headers=centre,
                                       json={"approved": False, "decided_at": decided_at})
        live = await month_figures(metrics, period, {"exempted": 1, "exemption_rejected": 1})
        ticket = (await followup.get(f"/v1/tickets/{approved_id}", headers=town)).json()

    assert (asked.status_code, asked_again.status_code, by_unit.status_code, approval.status_code,
            rejection.status_code, reversal.status_code) == (201, 200, 403, 201, 201, 409), (asked.text, rejection.text)
    # The approved ticket left every count of the town's month; the rejected one and the plain one stayed.
    assert (live["dispatched"], live["callbacks"], live["dissatisfied"], live["unresolved"]) == (2, 2, 2, 2)
    assert (live["exemption_requested"], live["exempted"], live["exemption_rejected"]) == (2, 1, 1)
    # Every step is on the ticket's timeline; the note is kept at followup, shown to the ticket's units.
    steps = [e["type"] for e in ticket["timeline"]]
    assert steps.count("ExemptionRequested") == 1 and steps.count("ExemptionDecided") == 1
    assert ticket["exemptions"] == [{
        "unit_code": TOWN, "reason_code": "citizen_unreachable", "note": NOTE, "state": "approved",
        "requested_at": ticket["exemptions"][0]["requested_at"], "decided_at": ticket["exemptions"][0]["decided_at"],
        "decision_note": "核实属实"}]
    # Neither note is on the topic.
    records = await read_topic(space.kafka, space.prefix + topics.TICKETS_FOLLOWUP, until=lambda rs: sum(
        dict(r.headers or ()).get("event_type") == b"ExemptionDecided" for r in rs) >= 2)
    exemption_events = [json.loads(r.value) for r in records
                        if dict(r.headers or ()).get("event_type", b"").startswith(b"Exemption")]
    assert {e["ticket_id"] for e in exemption_events} == {approved_id, rejected_id}
    assert not any(text in r.value.decode() for r in records for text in ("13800001234", "核实属实", "赔偿"))

    # A metrics started on an empty store folds the same log into the same figures (a rebuild).
    rebuilt_db = f"{space.database}_rebuilt"
    rebuilt_app = build_metrics(MetricsSettings(**{**settings, "mongodb_database": rebuilt_db}))
    try:
        async with rebuilt_app.router.lifespan_context(rebuilt_app), client_for(rebuilt_app) as rebuilt:
            again = await month_figures(rebuilt, period, {"exempted": 1})
    finally:
        client: AsyncMongoClient = AsyncMongoClient(space.mongodb_url)
        await drop_database(client, rebuilt_db)
        await client.close()
    assert again == live
