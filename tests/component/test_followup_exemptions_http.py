"""Exemptions' HTTP side over an in-memory store: the use cases (`hotline.followup.exemptions.app`)
behind their store protocol, every refusal answered by the runtime's one mapping (401, 403, 404,
409, 422 naming the field), retries answered with the recorded event, and what is published."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx

from hotline.exemptions import default_exemption_policy
from hotline.followup.exemptions.app import Exemptions
from hotline.followup.exemptions.domain import Exemption, ExemptionTicket
from hotline.followup.exemptions.http import exemptions_router
from hotline.followup.settings import FollowupSettings
from hotline.runtime.auth import Principal, Role
from hotline.runtime.kafka import build_broker
from hotline.runtime.service import ServiceRuntime, build_http_app

NOW = datetime.now(UTC)
TOWN, OTHER = "110111008", "110111001"


class Store:
    """The exemptions of three tickets: TK1 open, TK2 closed, TK3 open (all TOWN's)."""

    def __init__(self) -> None:
        start = NOW - timedelta(days=1)
        self.tickets = {t: ExemptionTicket(t, TOWN, state, start)
                        for t, state in (("TK1", "open"), ("TK2", "closed"), ("TK3", "open"))}

    async def get(self, *, ticket_id):
        return self.tickets.get(ticket_id)

    async def save_request(self, *, event, note, request_hash):
        ticket = self.tickets[event.ticket_id]
        if event.unit_code in ticket.exemptions:
            return False
        asked = Exemption(event.unit_code, event.reason_code, note, event.requested_at, request_hash=request_hash)
        self.tickets[event.ticket_id] = replace(ticket, exemptions={**ticket.exemptions, event.unit_code: asked})
        return True

    async def save_decision(self, *, event, note, request_hash):
        ticket = self.tickets[event.ticket_id]
        asked = ticket.exemptions.get(event.unit_code)
        if asked is None or asked.state != "requested":
            return False
        decided = replace(asked, state="approved" if event.approved else "rejected", decided_at=event.decided_at,
                          decision_note=note, decision_hash=request_hash)
        self.tickets[event.ticket_id] = replace(ticket, exemptions={**ticket.exemptions, event.unit_code: decided})
        return True


class Publisher:
    def __init__(self) -> None:
        self.sent: list = []

    async def publish_all(self, items):
        self.sent += list(items)


class Tokens:
    """Bearer tokens `<unit code>`; `centre` is the hotline centre."""

    async def verify(self, *, token: str) -> Principal:
        return Principal(token, Role.CENTRE if token == "centre" else Role.UNIT)


def build(publisher: Publisher):
    settings = FollowupSettings()
    runtime = ServiceRuntime("followup", settings, build_broker(settings, "followup"), mongo=None)  # type: ignore[arg-type]
    exemptions = Exemptions(Store(), publisher, default_exemption_policy())
    app = build_http_app(runtime, title="exemptions under test")
    app.include_router(exemptions_router(exemptions, Tokens()))  # type: ignore[arg-type]
    return app


def at(delta: timedelta = timedelta()) -> str:
    return (NOW + delta).isoformat()


async def test_exemption_refusals_and_retries():
    publisher = Publisher()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build(publisher)), base_url="http://f") as client:
        def post(path: str, body: dict, unit: str | None = TOWN, key: str | None = None):
            headers = {"authorization": f"Bearer {unit}"} if unit else {}
            return client.post(f"/v1/tickets/{path}", json=body, headers={**headers, **({"idempotency-key": key}
                                                                                         if key else {})})

        ask = {"unit_code": TOWN, "reason_code": "citizen_unreachable", "note": "三次致电均无人接听",
               "requested_at": at(-timedelta(minutes=5))}
        approve = {"approved": True, "note": "核实属实", "decided_at": at()}
        answers = {
            "no token": await post("TK1/exemptions", ask, unit=None),
            "for another": await post("TK1/exemptions", ask, unit=OTHER),
            "another's ticket": await post("TK1/exemptions", {**ask, "unit_code": OTHER}, unit=OTHER),
            "unknown ticket": await post("TK9/exemptions", ask),
            "closed": await post("TK2/exemptions", ask),
            "unknown reason": await post("TK1/exemptions", {**ask, "reason_code": "too_busy"}),
            "blank note": await post("TK1/exemptions", {**ask, "note": "  "}),
            "no note": await post("TK1/exemptions", {k: v for k, v in ask.items() if k != "note"}),
            "in the future": await post("TK1/exemptions", {**ask, "requested_at": at(timedelta(hours=1))}),
            "nothing to decide": await post("TK1/exemptions/decision", approve, unit="centre"),
            "asked": await post("TK1/exemptions", ask, key="k1"),
            "asked again": await post("TK1/exemptions", ask, key="k1"),
            "key reused": await post("TK1/exemptions", {**ask, "note": "另一个理由"}, key="k1"),
            "asked otherwise": await post("TK1/exemptions", {**ask, "reason_code": "duplicate"}),
            "decided by the unit": await post("TK1/exemptions/decision", approve),
            "decided": await post("TK1/exemptions/decision", approve, unit="centre"),
            "decided again": await post("TK1/exemptions/decision", approve, unit="centre"),
            "decided otherwise": await post("TK1/exemptions/decision", {**approve, "approved": False}, unit="centre"),
            "asked after the decision": await post("TK1/exemptions", {**ask, "note": "补充"}),
        }
        reasons = await client.get("/v1/exemption-reasons", headers={"authorization": f"Bearer {TOWN}"})
    found = {what: (r.status_code, r.json()["detail"][0]["loc"][-1] if r.status_code >= 400 else None)
             for what, r in answers.items()}
    assert found == {
        "no token": (401, "authorization"),
        "for another": (403, "unit_code"),
        "another's ticket": (403, "unit_code"),
        "unknown ticket": (404, "ticket_id"),
        "closed": (409, "ticket_id"),
        "unknown reason": (422, "reason_code"),
        "blank note": (422, "note"),
        "no note": (422, "note"),
        "in the future": (422, "requested_at"),
        "nothing to decide": (409, "ticket_id"),
        "asked": (201, None),
        "asked again": (200, None),
        "key reused": (409, "Idempotency-Key"),
        "asked otherwise": (409, "ticket_id"),
        "decided by the unit": (403, "authorization"),
        "decided": (201, None),
        "decided again": (200, None),
        "decided otherwise": (409, "ticket_id"),
        "asked after the decision": (409, "ticket_id"),
    }
    assert answers["asked again"].json()["event_id"] == answers["asked"].json()["event_id"]
    assert answers["decided"].json()["approved"] is True
    assert "无人接听" not in answers["asked"].text and "核实" not in answers["decided"].text
    assert "unknown reason code 'too_busy'" in answers["unknown reason"].json()["detail"][0]["msg"]
    # Each new step and each retry published (the same event again heals a lost publish); no note on the topic.
    published = [(topic, type(event).__name__) for topic, event, _ in publisher.sent]
    assert published == [*[("tickets.followup", "ExemptionRequested")] * 2,
                         *[("tickets.followup", "ExemptionDecided")] * 2]
    assert all("无人接听" not in event.model_dump_json() for _, event, _ in publisher.sent)
    assert {r["code"] for r in reasons.json()["reasons"]} >= {"unreasonable_demand", "outside_duties"}
