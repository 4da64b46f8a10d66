"""The centre's desk at followup on the real broker and store: routing's desk events (a return
waiting for review and its rejection, the centre's re-dispatch, a category correction) land on the
timeline and a correction sets the ticket's facts; the search finds by unit (a closed ticket and
one dispatched on included), category, state and received date, and keeps a unit to its own; the
waiting exemption and extension lists fill with a request, over HTTP or as a Kafka command (once,
however often it is sent), and empty with the decision."""

import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import (
    BUSINESS_TZ,
    CallbackResult,
    Channel,
    Satisfaction,
    TicketDispatched,
    TicketReceived,
    deterministic_event_id,
    topics,
)
from hotline.contracts.common import Event
from hotline.contracts.followup import RequestExtension, RequestExtensionCommand
from hotline.contracts.routing import (
    CategoryCorrected,
    CentreDispatchReason,
    ReturnReason,
    ReturnRequested,
    ReturnReviewed,
    TicketRedispatched,
)
from hotline.contracts.tickets import Caller, Location
from hotline.devkit import Namespace
from hotline.followup.main import build_app as build_followup
from hotline.followup.settings import FollowupSettings
from hotline.runtime.mongo import drop_database
from tests.integration.conftest import client_for
from tests.support import eventually, issue_token, publish

pytestmark = pytest.mark.stack

TOWN, OTHER, DISTRICT = "110111008", "110111009", "110111"


@pytest.fixture
async def space(namespace):
    """A private prefix and database: only this test's followup reads them."""
    own = namespace.child("desk")
    await own.create([*topics.core_topics(), *topics.queue_topics([TOWN, OTHER, DISTRICT, topics.TRIAGE_QUEUE_CODE])])
    yield own
    client = AsyncMongoClient(own.mongodb_url)
    await drop_database(client, own.database)
    await client.close()


def dispatch(ticket_id: str, unit: str, received_at: datetime, *, attempt: int = 1, category: str = "streetlight",
             at: datetime | None = None) -> TicketDispatched:
    at = at or received_at + timedelta(minutes=5)
    received = TicketReceived(
        event_id=deterministic_event_id("TicketReceived", ticket_id), ticket_id=ticket_id, occurred_at=received_at,
        channel=Channel.PHONE, source_id=ticket_id, received_at=received_at, content="路灯不亮",
        caller=Caller(phone="13800001234"), location=Location(district_code=DISTRICT, unit_code=unit),
        category=category)
    return TicketDispatched(
        event_id=deterministic_event_id("TicketDispatched", ticket_id, str(attempt)), ticket_id=ticket_id,
        occurred_at=at, unit_code=unit, unit_name=unit, district_code=DISTRICT, reason="street_town",
        dispatched_at=at, urgency="general", attempt=attempt, category=category,
        response_due_at=at + timedelta(hours=24), report_back_due_at=at + timedelta(days=7), received=received)


async def send(space: Namespace, topic: str, *events: Event | CallbackResult) -> None:
    for event in events:
        headers = [("event_type", type(event).__name__.encode())]
        await publish(space.kafka, space.prefix + topic, event.model_dump(mode="json"), key=event.ticket_id.encode(),
                      headers=headers)


def routing_event(kind: type, ticket_id: str, at: datetime, **fields) -> Event:
    return kind(event_id=deterministic_event_id(kind.__name__, ticket_id, at.isoformat()), ticket_id=ticket_id,
                occurred_at=at, **fields)


async def test_the_desk_events_the_search_and_the_waiting_lists(space: Namespace):
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    returned, moved, corrected, waiting = (f"TK-DESK-{run}-{n}" for n in ("R", "M", "C", "W"))
    days_ago = [now - timedelta(days=d) for d in (3, 2, 1, 0)]
    town, other, centre = [await issue_token(space, u) for u in (TOWN, OTHER, "centre")]
    async with AsyncExitStack() as stack:
        app = build_followup(FollowupSettings(**space.service_settings(), business_clock="log"))
        await stack.enter_async_context(app.router.lifespan_context(app))
        followup = await stack.enter_async_context(client_for(app))

        await send(space, topics.TICKETS_DISPATCHED, dispatch(returned, TOWN, days_ago[0]),
                   dispatch(moved, TOWN, days_ago[1]), dispatch(corrected, OTHER, days_ago[2]),
                   dispatch(waiting, TOWN, days_ago[3] - timedelta(minutes=30)))
        t = now - timedelta(minutes=10)
        await send(space, topics.TICKETS_ROUTING,
                   routing_event(ReturnRequested, returned, t, unit_code=TOWN, attempt=1,
                                 reason_code=ReturnReason.NOT_OUR_JURISDICTION, note="不属本镇", command_id=f"c-{run}"),
                   routing_event(ReturnReviewed, returned, t + timedelta(minutes=1), unit_code=TOWN, attempt=1,
                                 approved=False, note="属本镇", reviewed_by="centre"),
                   routing_event(TicketRedispatched, moved, t, from_unit_code=TOWN, unit_code=OTHER, co_handlers=[],
                                 reason_code=CentreDispatchReason.WRONG_UNIT, attempt=2, dispatched_by="centre"),
                   routing_event(CategoryCorrected, corrected, t, from_category="streetlight", category="water_supply",
                                 from_urgency="general", urgency="utilities", redispatched=False, attempt=1,
                                 corrected_by="centre"))
        await send(space, topics.TICKETS_DISPATCHED, dispatch(moved, OTHER, days_ago[1], attempt=2, at=t))
        # The citizen is satisfied with the returned-and-kept ticket: closed, off the town's worklist.
        await send(space, topics.CALLBACKS, CallbackResult(ticket_id=returned, resolved=True,
                                                           satisfaction=Satisfaction.SATISFIED,
                                                           surveyed_at=t + timedelta(minutes=5)))

        async def timeline(ticket_id: str, kind: str) -> dict | None:
            answer = await followup.get(f"/v1/tickets/{ticket_id}", headers=centre)
            body = answer.json() if answer.status_code == 200 else {}
            return body if kind in [e["type"] for e in body.get("timeline", [])] else None
        kept = await eventually(lambda: timeline(returned, "TicketClosed"))
        moved_doc = await eventually(lambda: timeline(moved, "TicketRedispatched"))
        corrected_doc = await eventually(lambda: timeline(corrected, "CategoryCorrected"))
        await eventually(lambda: timeline(waiting, "TicketDispatched"))

        async def search(headers: dict, **query) -> tuple[int, list[str]]:
            answer = await followup.get("/v1/tickets", params=query, headers=headers)
            body = answer.json()
            return answer.status_code, [t["ticket_id"] for t in body["tickets"]] if answer.status_code == 200 else body
        await eventually(lambda: _holder_is(followup, centre, moved, OTHER))
        day = days_ago[0].astimezone(BUSINESS_TZ).date().isoformat()
        rows = (await followup.get("/v1/tickets", params={"ticket_id": corrected}, headers=centre)).json()["tickets"]
        found = {
            "whoami": (await followup.get("/v1/whoami", headers=town)).json(),
            "centre, the town's": await search(centre, unit_code=TOWN),
            "the town, closed": await search(town, state="closed"),
            "the town, all": await search(town),
            "the town, another's": (await search(town, unit_code=OTHER))[0],
            "the town, another's ticket": await search(town, ticket_id=corrected),
            "the other, by id": await search(other, ticket_id=moved),
            "centre, corrected category": await search(centre, category="water_supply"),
            "centre, old category": await search(centre, category="streetlight"),
            "centre, by day": await search(centre, received_from=day, received_to=day),
            "centre, open": await search(centre, state="open", limit=2),
            "centre, bad date": (await search(centre, received_from="2026-13-01"))[0],
        }

        # The waiting lists: a request fills them (once however often sent), the decision empties them.
        ask_extension = {"unit_code": TOWN, "reason": "需协调供电公司", "requested_at": now.isoformat(),
                         "requested_due_at": (now + timedelta(days=10)).isoformat()}
        ask_exemption = {"unit_code": TOWN, "reason_code": "citizen_unreachable", "note": "三次致电无人接听",
                         "requested_at": now.isoformat()}
        asked = [(await followup.post(f"/v1/tickets/{waiting}/{path}", json=body, headers=town)).status_code
                 for path, body in (("extensions", ask_extension), ("exemptions", ask_exemption)) for _ in (1, 2)]
        # The other unit asks for its ticket by its system's Kafka command, delivered twice.
        command = RequestExtensionCommand(command_id=f"ext-{run}", ticket_id=moved, payload=RequestExtension(
            unit_code=OTHER, reason="待供水集团答复", requested_at=now - timedelta(minutes=1),
            requested_due_at=now + timedelta(days=12)))
        for _ in (1, 2):
            await publish(space.kafka, space.prefix + topics.FOLLOWUP_COMMANDS, command.model_dump(mode="json"),
                          key=moved.encode())

        async def both_listed() -> bool:
            return (await followup.get("/v1/extensions", headers=centre)).json()["count"] == 2
        await eventually(both_listed)
        lists = {who: [(await followup.get(f"/v1/{kind}", params={"state": "requested"}, headers=headers)).json()
                       for kind in ("exemptions", "extensions")]
                 for who, headers in (("centre", centre), ("town", town), ("other", other))}
        decided_at = datetime.now(UTC).isoformat()
        decisions = [(await followup.post(f"/v1/tickets/{ticket_id}/{path}", json=body, headers=centre)).status_code
                     for ticket_id, path, body in (
                         (waiting, "extensions/decision", {"approved": True, "decided_at": decided_at}),
                         (moved, "extensions/decision", {"approved": False, "decided_at": decided_at}),
                         (waiting, "exemptions/decision", {"approved": False, "decided_at": decided_at}))]
        after = [(await followup.get(f"/v1/{kind}", headers=centre)).json()["count"]
                 for kind in ("exemptions", "extensions")]
        bad_state = (await followup.get("/v1/exemptions", params={"state": "approved"}, headers=centre)).status_code

    steps = [e["type"] for e in kept["timeline"]]
    assert steps.index("ReturnRequested") < steps.index("ReturnReviewed") < steps.index("TicketClosed"), steps
    assert "TicketReturned" not in steps and kept["unit_code"] == TOWN
    assert [e["type"] for e in moved_doc["timeline"]].count("TicketRedispatched") == 1
    assert "CategoryCorrected" in [e["type"] for e in corrected_doc["timeline"]]
    assert [(r["category"], r["urgency"], r["unit_code"], r["state"], r["attempt"]) for r in rows] == [
        ("water_supply", "utilities", OTHER, "open", 1)]
    assert found == {
        "whoami": {"unit_code": TOWN, "role": "unit"},
        "centre, the town's": (200, [waiting, moved, returned]),  # held: the moved one, the closed one
        "the town, closed": (200, [returned]),
        "the town, all": (200, [waiting, moved, returned]),
        "the town, another's": 403,
        "the town, another's ticket": (200, []),
        "the other, by id": (200, [moved]),
        "centre, corrected category": (200, [corrected]),
        "centre, old category": (200, [waiting, moved, returned]),
        "centre, by day": (200, [returned]),
        "centre, open": (200, [waiting, corrected]),
        "centre, bad date": 422,
    }, found
    assert asked == [201, 200, 201, 200]
    (centre_exemptions, centre_extensions), (town_exemptions, _), (other_exemptions, other_extensions) = (
        lists["centre"], lists["town"], lists["other"])
    assert [(r["ticket_id"], r["unit_code"], r["reason_code"], r["note"]) for r in centre_exemptions["requests"]] == [
        (waiting, TOWN, "citizen_unreachable", "三次致电无人接听")]
    assert [(r["ticket_id"], r["unit_code"], r["reason"]) for r in centre_extensions["requests"]] == [
        (moved, OTHER, "待供水集团答复"), (waiting, TOWN, "需协调供电公司")]  # oldest first
    assert town_exemptions["count"] == 1 and other_exemptions["count"] == 0
    assert [r["ticket_id"] for r in other_extensions["requests"]] == [moved]
    assert decisions == [201, 201, 201] and after == [0, 0] and bad_state == 422


async def _holder_is(followup, headers: dict, ticket_id: str, unit: str) -> bool:
    answer = await followup.get(f"/v1/tickets/{ticket_id}", headers=headers)
    return answer.status_code == 200 and answer.json()["unit_code"] == unit
