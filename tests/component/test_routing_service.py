"""Routing's handlers and HTTP API on FastStream's in-memory broker, with an in-memory store: the
use cases behind the store protocol, and the HTTP refusals answered by the runtime's one mapping."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from faststream.kafka import TestKafkaBroker

from hotline.catalogue import default_catalogue
from hotline.contracts import (
    Caller,
    Channel,
    Location,
    QueueAssignment,
    TicketDispatched,
    TicketReceived,
    deterministic_event_id,
    topics,
)
from hotline.contracts.routing import TicketReturned
from hotline.deadlines import default_policy
from hotline.gazetteer import beijing
from hotline.routing.app import Reference, Routing
from hotline.routing.domain import (
    Applied,
    CommandOutcome,
    Dispatch,
    DispatchHistory,
    Routed,
    RoutingState,
    command_key,
)
from hotline.routing.handlers import KafkaCommands, register
from hotline.routing.http import http_router
from hotline.routing.settings import RoutingSettings
from hotline.runtime.auth import Principal, Role
from hotline.runtime.kafka import build_broker
from hotline.runtime.service import ServiceRuntime, build_http_app

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


class InMemoryRoutingStore:
    """`app.RoutingStore` in a dict: one entry per ticket, as the MongoDB store keeps a document."""

    def __init__(self) -> None:
        self.tickets: dict[str, dict] = {}
        self.pending: dict[str, dict] = {}

    async def keep_first(self, *, decisions, origins=None):
        kept = {}
        for tid, (ticket, dispatch) in decisions.items():
            if tid in self.tickets:
                kept[tid] = (self.tickets[tid]["state"].dispatch, self.tickets[tid]["published"])
                continue
            self.tickets[tid] = {"state": RoutingState(ticket, dispatch, 1, ticket.received_at), "published": False,
                                 "applied": {}, "history": [self._entry(dispatch, 1, ticket.received_at)],
                                 "requests": {}}
        return kept

    async def mark_published(self, *, ticket_ids, records=None):
        for tid in ticket_ids:
            self.tickets[tid]["published"] = True

    async def get_states(self, *, ticket_ids):
        return {t: Routed(self.tickets[t]["state"], dict(self.tickets[t]["applied"]))
                for t in ticket_ids if t in self.tickets}

    async def save_outcomes(self, *, outcomes: list[CommandOutcome]):
        for o in outcomes:
            doc = self.tickets[o.ticket_id]
            doc["applied"][command_key(o.command_id)] = Applied(o.request_hash, o.events)
            if o.state is not None:
                # Closed is followup's word, kept apart from a command's state (as the MongoDB store does).
                doc["state"] = replace(o.state, closed=doc["state"].closed)
                if o.redispatched:
                    doc["history"].append(self._entry(o.state.dispatch, o.state.attempt, o.state.dispatched_at))
                if o.state.pending_return is None:
                    self.pending.pop(o.ticket_id, None)
                else:
                    p = o.state.pending_return
                    self.pending[o.ticket_id] = {"ticket_id": o.ticket_id, "unit_code": p.unit_code,
                                                 "attempt": o.state.attempt, "reason_code": p.reason_code.value,
                                                 "suggested_unit": p.suggested_unit, "note": p.note,
                                                 "returned_at": p.returned_at}

    async def mark_closed(self, *, changes):
        for tid, closed, _ in changes:
            if tid in self.tickets:
                self.tickets[tid]["state"] = replace(self.tickets[tid]["state"], closed=closed)

    async def pending_returns(self):
        return list(self.pending.values())

    async def history(self, *, ticket_id):
        doc = self.tickets.get(ticket_id)
        if doc is None:
            return None
        units = {h["unit_code"] for h in doc["history"]} | {c for h in doc["history"] for c in h["co_handlers"]}
        state = doc["state"]
        return DispatchHistory(frozenset(units), {"ticket_id": ticket_id, "history": doc["history"],
                                                  "pending_return": self.pending.get(ticket_id),
                                                  "closed": state.closed})

    async def command_events(self, *, ticket_id, command_id):
        applied = self.tickets.get(ticket_id, {}).get("applied", {}).get(command_key(command_id))
        return None if applied is None else list(applied.events)

    async def keep_request(self, *, command, request_hash):
        doc = self.tickets.get(command.ticket_id)
        if doc is None:
            return None
        return doc["requests"].setdefault(command.command_id, (request_hash, command))

    @staticmethod
    def _entry(dispatch: Dispatch, attempt: int, at: datetime) -> dict:
        return {"attempt": attempt, "unit_code": dispatch.lead.unit_code,
                "co_handlers": [a.unit_code for a in dispatch.co_handlers], "dispatched_at": at.isoformat()}


class Tokens:
    """Bearer tokens `<unit code>`; `centre` is the hotline centre."""

    async def verify(self, *, token: str) -> Principal:
        return Principal(token, Role.CENTRE if token == "centre" else Role.UNIT)


def build(*, review: bool = False, units: tuple[str, ...] = ("110111008",)):
    settings = RoutingSettings()
    broker = build_broker(settings, "routing")
    runtime = ServiceRuntime("routing", settings, broker, mongo=None)  # type: ignore[arg-type]
    store = InMemoryRoutingStore()
    ref = Reference(beijing(), default_catalogue(), default_policy())
    routing = Routing(store, runtime.publisher, KafkaCommands(broker, settings), ref,
                      return_window=timedelta(hours=2), return_review=review)
    register(runtime, routing, runtime.publisher)
    app = build_http_app(runtime, title="routing under test")
    app.include_router(http_router(routing, Tokens()))  # type: ignore[arg-type]
    seen = {}
    for topic in (topics.TICKETS_DISPATCHED, topics.TICKETS_ROUTING, *map(topics.queue_topic, units), topics.DLQ):
        @broker.subscriber(topic)
        async def seen_on(body: dict) -> None: ...
        seen[topic] = seen_on
    return broker, store, app, seen


def received(source_id: str = "s1", **changes) -> dict:
    return TicketReceived(
        event_id=deterministic_event_id("TicketReceived", source_id), ticket_id=f"TK-{source_id}", occurred_at=T0,
        channel=Channel.PHONE, source_id=source_id, received_at=T0, content="垃圾没人清运",
        caller=Caller(phone="13800000000"), location=Location(address="良乡", district_code="110111",
                                                             unit_code="110111008"),
        category="sanitation", urgency="general", report_back_due_at=T0 + timedelta(days=7),
    ).model_copy(update=changes).model_dump(mode="json")


def bodies(subscriber, model):
    return [model.model_validate(c.args[0]) for c in subscriber.mock.call_args_list]


async def test_a_ticket_is_dispatched_once_with_its_deadlines_and_a_return_redispatches_it():
    broker, store, app, seen = build()
    async with TestKafkaBroker(broker) as br:
        await br.publish(received(), topics.TICKETS_RECEIVED)
        await br.publish(received(), topics.TICKETS_RECEIVED)  # redelivered: not published again
        [dispatched] = bodies(seen[topics.TICKETS_DISPATCHED], TicketDispatched)
        assert (dispatched.unit_code, dispatched.attempt) == ("110111008", 1)
        assert dispatched.response_due_at == T0 + timedelta(hours=24)
        assert [d.clock for d in dispatched.deadlines] == ["response", "report_back"]
        assert bodies(seen[topics.queue_topic("110111008")], QueueAssignment)[0].role == "lead"

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://routing") as client:
            ask = {"unit_code": "110111008", "reason_code": "not_our_jurisdiction",
                   "returned_at": (T0 + timedelta(minutes=20)).isoformat()}
            town = {"authorization": "Bearer 110111008", "idempotency-key": "r1"}
            accepted = await client.post("/v1/tickets/TK-s1/returns", json=ask, headers=town)
            assert accepted.status_code == 202 and accepted.json() == {"command_id": "r1", "status": "accepted"}
            again = await client.post("/v1/tickets/TK-s1/returns", json=ask, headers=town)  # a retry: the same
            assert again.status_code == 202
            reused = await client.post("/v1/tickets/TK-s1/returns", json={**ask, "note": "another"}, headers=town)
            history = await client.get("/v1/tickets/TK-s1/dispatch", headers={"authorization": "Bearer centre"})
        returned = bodies(seen[topics.TICKETS_ROUTING], TicketReturned)
        redispatched = bodies(seen[topics.TICKETS_DISPATCHED], TicketDispatched)[1:]
    assert reused.status_code == 409
    assert reused.json() == {"detail": [{"loc": ["header", "Idempotency-Key"],
                                         "msg": "the idempotency key was already used for a different request"}]}
    assert [r.attempt for r in returned] == [1, 1]  # the retried command gives the same event again
    assert {d.event_id for d in redispatched} == {deterministic_event_id("TicketDispatched", "TK-s1", "2")}
    assert redispatched[0].response_due_at == T0 + timedelta(minutes=20, hours=24)
    assert [h["unit_code"] for h in history.json()["history"]] == ["110111008", redispatched[0].unit_code]
    assert store.tickets["TK-s1"]["state"].attempt == 2


async def test_requests_are_refused_at_once_with_the_field_and_the_reason():
    broker, _, app, seen = build()
    async with TestKafkaBroker(broker) as br:
        await br.publish(received(), topics.TICKETS_RECEIVED)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://routing") as client:
            def post(path: str, body: dict, unit: str = "110111008"):
                return client.post(f"/v1/tickets/{path}", json=body, headers={"authorization": f"Bearer {unit}"})

            ret = {"unit_code": "110111008", "reason_code": "wrong_address"}
            answers = {
                "unknown ticket": await post("TK-none/returns", ret),
                "unknown unit": await post("TK-s1/returns", {**ret, "unit_code": "999"}),
                "unknown suggestion": await post("TK-s1/returns", {**ret, "suggested_unit": "nowhere"}),
                "in another's name": await post("TK-s1/returns", ret, unit="110111001"),
                "never assigned": await post("TK-s1/returns", {**ret, "unit_code": "110111001"}, unit="centre"),
                "not a department": await post("TK-s1/summons", {"unit_code": "110111008",
                                                                 "departments": ["m-nowhere"]}),
                "history, outsider": await client.get("/v1/tickets/TK-s1/dispatch",
                                                      headers={"authorization": "Bearer 110108005"}),
                "history, unseen": await client.get("/v1/tickets/TK-none/dispatch",
                                                    headers={"authorization": "Bearer centre"}),
            }
        sent = seen[topics.TICKETS_ROUTING].mock.call_count
    found = {what: (r.status_code, r.json()["detail"]) for what, r in answers.items()}
    assert found == {
        "unknown ticket": (404, [{"loc": ["path", "ticket_id"],
                                  "msg": "routing holds no dispatch for ticket TK-none"}]),
        "unknown unit": (422, [{"loc": ["body", "unit_code"], "msg": "unknown unit code '999'"}]),
        "unknown suggestion": (422, [{"loc": ["body", "suggested_unit"], "msg": "unknown unit code 'nowhere'"}]),
        "in another's name": (403, [{"loc": ["body", "unit_code"], "msg": "a unit acts in its own name only"}]),
        "never assigned": (403, [{"loc": ["path", "ticket_id"], "msg": "the ticket was never assigned to this unit"}]),
        "not a department": (422, [{"loc": ["body", "departments"], "msg": "unknown unit code 'm-nowhere'"}]),
        "history, outsider": (403, [{"loc": ["path", "ticket_id"],
                                     "msg": "the ticket was never assigned to this unit"}]),
        "history, unseen": (404, [{"loc": ["path", "ticket_id"], "msg": "routing has not seen this ticket"}]),
    }
    assert sent == 0  # nothing was sent for any of them, so nothing refused later either
