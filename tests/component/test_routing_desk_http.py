"""The centre's desk over HTTP and Kafka (in memory): dispatch, return review and category
correction are the centre's alone, checked at once (403, 422 naming the field, 404, 409), idempotent,
and answered on the topics; the closed flag comes from tickets.followup; CORS for the workbench."""

from datetime import timedelta

import httpx
from faststream.kafka import TestKafkaBroker

from hotline.contracts import TicketDispatched, topics
from hotline.contracts.followup import ContactRecorded, TicketClosed, TicketReopened
from hotline.contracts.routing import (
    CategoryCorrected,
    CommandRefused,
    DispatchTicket,
    ReturnRequested,
    ReturnReviewed,
    TicketRedispatched,
)
from hotline.runtime.kafka import event_headers
from tests.component.test_routing_service import T0, bodies, build, received

CENTRE = {"authorization": "Bearer centre"}
TOWN = {"authorization": "Bearer 110111008"}


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://routing")


async def test_the_centre_sends_a_triage_ticket_to_the_street_once_per_key():
    broker, store, app, seen = build(units=("110111008", "triage"))
    async with TestKafkaBroker(broker) as br:
        await br.publish(received(needs_triage=True), topics.TICKETS_RECEIVED)
        async with client(app) as c:
            ask = {"lead_unit": "110111008", "reason_code": "triage_sorted", "note": "分拨",
                   "dispatched_at": (T0 + timedelta(minutes=5)).isoformat()}
            headers = {**CENTRE, "idempotency-key": "d1"}
            first = await c.post("/v1/tickets/TK-s1/dispatches", json=ask, headers=headers)
            retry = await c.post("/v1/tickets/TK-s1/dispatches", json=ask, headers=headers)
            reused = await c.post("/v1/tickets/TK-s1/dispatches", json={**ask, "note": "x"}, headers=headers)
            # The same command redelivered on Kafka, and its id reused for another command there.
            command = DispatchTicket(command_id="d1", ticket_id="TK-s1", unit_code="centre", lead_unit="110111008",
                                     reason_code="triage_sorted", note="分拨", dispatched_at=T0 + timedelta(minutes=5))
            await br.publish(command.model_dump(mode="json"), topics.ROUTING_COMMANDS)
            await br.publish({**command.model_dump(mode="json"), "lead_unit": "110111001"}, topics.ROUTING_COMMANDS)
            view = (await c.get("/v1/tickets/TK-s1/dispatch", headers=CENTRE)).json()
        dispatched = bodies(seen[topics.TICKETS_DISPATCHED], TicketDispatched)
        routed = [m.args[0] for m in seen[topics.TICKETS_ROUTING].mock.call_args_list]
    assert first.status_code == retry.status_code == 202 and first.json()["command_id"] == "d1"
    assert reused.status_code == 409
    assert [(d.unit_code, d.attempt, d.reason) for d in dispatched] == [
        ("triage", 1, "triage"), *[("110111008", 2, "centre")] * 3]  # HTTP, its retry, the redelivery
    assert {d.event_id for d in dispatched[1:]} == {dispatched[1].event_id}
    redispatched = [TicketRedispatched.model_validate(r) for r in routed if "from_unit_code" in r]
    assert {r.event_id for r in redispatched} == {redispatched[0].event_id} and len(redispatched) == 3
    refused = [CommandRefused.model_validate(r) for r in routed if r.get("code")]
    assert [r.code for r in refused] == ["key_reused"]
    assert view["history"][-1]["unit_code"] == "110111008" and view["closed"] is False
    assert store.tickets["TK-s1"]["state"].attempt == 2


async def test_the_desk_refuses_at_once_with_the_field_and_the_reason():
    broker, _, app, seen = build()
    async with TestKafkaBroker(broker) as br:
        await br.publish(received(), topics.TICKETS_RECEIVED)
        async with client(app) as c:
            send = {"lead_unit": "110111001", "reason_code": "wrong_unit"}
            answers = {
                "unit token": await c.post("/v1/tickets/TK-s1/dispatches", json=send, headers=TOWN),
                "unit reviews": await c.post("/v1/tickets/TK-s1/returns/decision", json={"approved": True},
                                             headers=TOWN),
                "unit corrects": await c.post("/v1/tickets/TK-s1/category", json={"category": "education"},
                                              headers=TOWN),
                "unit lists": await c.get("/v1/returns/pending", headers=TOWN),
                "unknown lead": await c.post("/v1/tickets/TK-s1/dispatches", json={**send, "lead_unit": "nowhere"},
                                             headers=CENTRE),
                "triage lead": await c.post("/v1/tickets/TK-s1/dispatches", json={**send, "lead_unit": "triage"},
                                            headers=CENTRE),
                "unknown co": await c.post("/v1/tickets/TK-s1/dispatches", json={**send, "co_handlers": ["x"]},
                                           headers=CENTRE),
                "unknown ticket": await c.post("/v1/tickets/TK-none/dispatches", json=send, headers=CENTRE),
                "no waiting return": await c.post("/v1/tickets/TK-s1/returns/decision", json={"approved": False},
                                                  headers=CENTRE),
                "unknown category": await c.post("/v1/tickets/TK-s1/category", json={"category": "nope"},
                                                 headers=CENTRE),
                "unknown urgency": await c.post("/v1/tickets/TK-s1/category",
                                                json={"category": "education", "urgency": "soon"}, headers=CENTRE),
            }
        sent = seen[topics.TICKETS_ROUTING].mock.call_count
    found = {what: (r.status_code, r.json()["detail"][0]["loc"]) for what, r in answers.items()}
    centre_only = (403, ["header", "authorization"])
    assert found == {
        "unit token": centre_only, "unit reviews": centre_only, "unit corrects": centre_only,
        "unit lists": centre_only,
        "unknown lead": (422, ["body", "lead_unit"]), "triage lead": (422, ["body", "lead_unit"]),
        "unknown co": (422, ["body", "co_handlers"]), "unknown ticket": (404, ["path", "ticket_id"]),
        "no waiting return": (409, ["path", "ticket_id"]),
        "unknown category": (422, ["body", "category"]), "unknown urgency": (422, ["body", "urgency"]),
    }
    assert answers["unknown category"].json()["detail"][0]["msg"] == "unknown category 'nope'"
    assert sent == 0


async def test_a_reviewed_return_waits_in_the_list_and_a_rejection_leaves_the_unit():
    broker, _, app, seen = build(review=True)
    async with TestKafkaBroker(broker) as br:
        await br.publish(received(), topics.TICKETS_RECEIVED)
        async with client(app) as c:
            ask = {"unit_code": "110111008", "reason_code": "not_our_jurisdiction",
                   "returned_at": (T0 + timedelta(minutes=20)).isoformat()}
            await c.post("/v1/tickets/TK-s1/returns", json=ask, headers=TOWN)
            pending = (await c.get("/v1/returns/pending", headers=CENTRE)).json()
            view = (await c.get("/v1/tickets/TK-s1/dispatch", headers=TOWN)).json()
            rejected = await c.post("/v1/tickets/TK-s1/returns/decision", json={"approved": False, "note": "属地"},
                                    headers=CENTRE)
            after = (await c.get("/v1/returns/pending", headers=CENTRE)).json()
            reference = (await c.get("/v1/reference", headers=TOWN)).json()
        dispatched = bodies(seen[topics.TICKETS_DISPATCHED], TicketDispatched)
        routed = [m.args[0] for m in seen[topics.TICKETS_ROUTING].mock.call_args_list]
    assert pending["count"] == 1
    assert {k: pending["returns"][0][k] for k in ("ticket_id", "unit_code", "attempt", "reason_code")} == {
        "ticket_id": "TK-s1", "unit_code": "110111008", "attempt": 1, "reason_code": "not_our_jurisdiction"}
    assert view["pending_return"]["unit_code"] == "110111008"
    assert rejected.status_code == 202 and after == {"count": 0, "returns": []}
    assert [d.attempt for d in dispatched] == [1]  # nothing re-dispatched
    assert ReturnRequested.model_validate(routed[0]).attempt == 1
    assert ReturnReviewed.model_validate(routed[1]).approved is False
    assert reference["return_review"] is True and "triage_sorted" in reference["dispatch_reasons"]
    assert {"110111008", "110111", "m-education"} <= {u["code"] for u in reference["units"]}
    assert {"code": "general", "zh": "一般", "en": "general"} in reference["urgency"]
    assert any(c["code"] == "education" and c["first_level"] for c in reference["categories"])


async def test_a_correction_redispatches_when_the_catalogue_names_another_unit():
    broker, store, app, seen = build()
    async with TestKafkaBroker(broker) as br:
        await br.publish(received(), topics.TICKETS_RECEIVED)
        async with client(app) as c:
            answer = await c.post("/v1/tickets/TK-s1/category", json={"category": "education", "urgency": "complex"},
                                  headers=CENTRE)
        dispatched = bodies(seen[topics.TICKETS_DISPATCHED], TicketDispatched)
        corrected = bodies(seen[topics.TICKETS_ROUTING], CategoryCorrected)
    assert answer.status_code == 202
    assert corrected[0].redispatched and (dispatched[-1].unit_code, dispatched[-1].attempt) == ("m-education", 2)
    assert store.tickets["TK-s1"]["state"].ticket.category == "education"


def followup_event(event) -> dict:
    return {"message": event.model_dump(mode="json"), "headers": event_headers(event)}


async def test_a_closed_ticket_refuses_dispatch_until_it_is_reopened():
    broker, _, app, seen = build()
    closed = TicketClosed(event_id="c", ticket_id="TK-s1", occurred_at=T0 + timedelta(days=2), unit_code="110111008",
                          closed_at=T0 + timedelta(days=2), satisfaction="satisfied")
    reopened = TicketReopened(event_id="o", ticket_id="TK-s1", occurred_at=T0 + timedelta(days=3),
                              unit_code="110111008", reason="unresolved", reopened_at=T0 + timedelta(days=3),
                              report_back_due_at=T0 + timedelta(days=5), round=1)
    contact = ContactRecorded.model_construct(ticket_id="TK-s1")  # any other followup event: skipped unparsed
    async with TestKafkaBroker(broker) as br:
        await br.publish(received(), topics.TICKETS_RECEIVED)
        for event in (closed, contact):
            await br.publish(b"{not even json" if event is contact else event.model_dump(mode="json"),
                             topics.TICKETS_FOLLOWUP, headers=event_headers(closed) if event is closed
                             else {"event_type": "ContactRecorded"})
        async with client(app) as c:
            send = {"lead_unit": "110111001", "reason_code": "supervision"}
            refused = await c.post("/v1/tickets/TK-s1/dispatches", json=send, headers=CENTRE)
            view = (await c.get("/v1/tickets/TK-s1/dispatch", headers=CENTRE)).json()
            await br.publish(reopened.model_dump(mode="json"), topics.TICKETS_FOLLOWUP, headers=event_headers(reopened))
            accepted = await c.post("/v1/tickets/TK-s1/dispatches", json=send, headers=CENTRE)
        dead = seen[topics.DLQ].mock.call_count
    assert (refused.status_code, refused.json()["detail"][0]["loc"]) == (409, ["path", "ticket_id"])
    assert view["closed"] is True and accepted.status_code == 202
    assert dead == 0


async def test_cors_lets_the_workbench_origin_in_and_no_other():
    _, _, app, _ = build()
    async with client(app) as c:
        preflight = {"access-control-request-method": "POST",
                     "access-control-request-headers": "authorization,content-type,idempotency-key"}
        ours = await c.options("/v1/reference", headers={"origin": "http://127.0.0.1:8003", **preflight})
        foreign = await c.options("/v1/reference", headers={"origin": "http://evil.example", **preflight})
        simple = await c.get("/v1/reference", headers={"origin": "http://evil.example", **CENTRE})
    assert ours.status_code == 200 and ours.headers["access-control-allow-origin"] == "http://127.0.0.1:8003"
    assert "idempotency-key" in ours.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in ours.headers
    assert "access-control-allow-origin" not in foreign.headers
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


def test_the_cors_origins_are_read_comma_separated_or_as_json(monkeypatch):
    from hotline.runtime.settings import ServiceSettings

    assert ServiceSettings().cors_origins == ["http://127.0.0.1:8003", "http://localhost:8003"]
    monkeypatch.setenv("HOTLINE_CORS_ORIGINS", " http://a.example:1/, http://b.example ")
    assert ServiceSettings().cors_origins == ["http://a.example:1", "http://b.example"]
    monkeypatch.setenv("HOTLINE_CORS_ORIGINS", '["http://c.example"]')
    assert ServiceSettings().cors_origins == ["http://c.example"]
    monkeypatch.setenv("HOTLINE_CORS_ORIGINS", "")
    assert ServiceSettings().cors_origins == []


async def test_what_became_of_an_accepted_command_is_answered_refusal_and_reason_included():
    """A 202 is not the end: the workbench asks routing what became of the command, and shows a
    refusal (here a return after the window) instead of waiting for a change that will not come."""
    broker, _, app, _ = build(units=("110111008", "110111001"))
    async with TestKafkaBroker(broker) as br:
        await br.publish(received(), topics.TICKETS_RECEIVED)
        async with client(app) as c:
            late = {"unit_code": "110111008", "reason_code": "not_our_jurisdiction",
                    "returned_at": (T0 + timedelta(hours=3)).isoformat()}
            await c.post("/v1/tickets/TK-s1/returns", json=late, headers={**TOWN, "idempotency-key": "r-late"})
            refused = (await c.get("/v1/tickets/TK-s1/commands/r-late", headers=TOWN)).json()
            moved = {"lead_unit": "110111001", "reason_code": "wrong_unit"}
            await c.post("/v1/tickets/TK-s1/dispatches", json=moved, headers={**CENTRE, "idempotency-key": "d-1"})
            applied = (await c.get("/v1/tickets/TK-s1/commands/d-1", headers=CENTRE)).json()
            unknown = (await c.get("/v1/tickets/TK-s1/commands/never-sent", headers=CENTRE)).json()
            stranger = await c.get("/v1/tickets/TK-s1/commands/d-1", headers={"authorization": "Bearer 110111002"})
    assert refused == {"command_id": "r-late", "status": "refused", "code": "window_passed",
                       "reason": refused["reason"]} and "2:00:00" in refused["reason"]
    assert applied == {"command_id": "d-1", "status": "applied", "events": ["TicketRedispatched", "TicketDispatched"]}
    assert unknown == {"command_id": "never-sent", "status": "pending"}
    assert stranger.status_code == 403
