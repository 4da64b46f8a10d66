"""The desk's HTTP side over an in-memory store: its use cases (`hotline.followup.desk.app.Desk`)
behind the `DeskRecords` protocol; who is calling; the search's scope (a unit's own, 403 for
another's code), its queries checked (422 naming the parameter) and its three paths (by id, by
unit from the unit's listings, a find with the limit); the waiting lists, stale entries dropped."""

from datetime import UTC, datetime, timedelta

import httpx

from hotline.followup.desk.app import Desk
from hotline.followup.desk.http import desk_router
from hotline.followup.settings import FollowupSettings
from hotline.runtime.auth import Principal, Role
from hotline.runtime.kafka import build_broker
from hotline.runtime.service import ServiceRuntime, build_http_app

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
TOWN, OTHER = "110111008", "110111009"


def ticket(ticket_id: str, unit: str, days_ago: int, **more) -> dict:
    at = NOW - timedelta(days=days_ago)
    return {"_id": ticket_id, "unit_code": unit, "state": "open", "attempt": 1, "dispatched_at": at,
            "report_back_due_at": at + timedelta(days=7),
            "facts": {"category": "streetlight", "urgency": "general", "received_at": at},
            "timeline": [{"type": "TicketDispatched", "data": {"unit_code": unit}}], **more}


class Store:
    """Five tickets: T1, T2, T5 the town's (T2 closed, off its worklist, listed under its month only;
    T5 on its worklist only), T3 the other's after the town held it, T4 the other's; one exemption
    and one extension waiting, and one stale entry each."""

    def __init__(self) -> None:
        moved = ticket("T3", OTHER, 1)
        moved["timeline"].insert(0, {"type": "TicketDispatched", "data": {"unit_code": TOWN}})
        asked = {"unit_code": TOWN, "reason_code": "duplicate", "note": "重复诉求", "requested_at": NOW,
                 "state": "requested"}
        self.docs = {d["_id"]: d for d in (
            ticket("T1", TOWN, 0, exemptions={TOWN: asked},
                   extension={"state": "requested", "requested_at": NOW, "requested_due_at": NOW + timedelta(days=9),
                              "current_due_at": NOW + timedelta(days=7)}),
            ticket("T2", TOWN, 40, state="closed", exemptions={TOWN: {**asked, "state": "approved"}}),
            moved, ticket("T4", OTHER, 2, facts={"category": "noise", "urgency": "general",
                                                 "received_at": NOW - timedelta(days=2)}),
            # Dispatched before the month listings were kept: on the town's worklist only.
            ticket("T5", TOWN, 3))}
        self.exemptions = [{"_id": f"{t}|{TOWN}", "ticket_id": t, "unit_code": TOWN, "requested_at": NOW}
                           for t in ("T1", "T2")]
        self.extensions = [{"_id": t, "ticket_id": t, "unit_code": TOWN, "requested_at": NOW, "reason": "需协调"}
                           for t in ("T1", "T2")]
        self.dropped: list[str] = []
        self.finds: list[tuple[dict, int]] = []

    async def ticket(self, *, ticket_id):
        return self.docs.get(ticket_id)

    async def unit_listings(self, *, unit_code, months):
        worklist = {TOWN: ["T1", "T5"], OTHER: ["T3", "T4"]}[unit_code]
        month_of = {"T1": "2026-11", "T2": "2026-10", "T3": "2026-11", "T4": "2026-11"}
        by_month: dict[str, list[str]] = {}
        for ticket_id, doc in self.docs.items():
            listed = unit_code in {e["data"]["unit_code"] for e in doc["timeline"]} and ticket_id in month_of
            if listed and month_of[ticket_id] in months:
                by_month.setdefault(month_of[ticket_id], []).append(ticket_id)
        return worklist, by_month

    async def tickets(self, *, ticket_ids):
        return [self.docs[t] for t in ticket_ids if t in self.docs]

    async def find(self, *, query, limit):
        self.finds.append((query, limit))
        # The find's filter as the store would run it: tested against the in-memory filter in the unit tests.
        return list(self.docs.values())[:limit]

    async def waiting_exemptions(self):
        return self.exemptions, self.docs

    async def waiting_extensions(self):
        return self.extensions, self.docs

    async def drop_stale(self, *, exemptions=(), extensions=()):
        self.dropped += [e["_id"] for e in (*exemptions, *extensions)]


class Tokens:
    """Bearer tokens `<unit code>`; `centre` is the hotline centre."""

    async def verify(self, *, token: str) -> Principal:
        return Principal(token, Role.CENTRE if token == "centre" else Role.UNIT)


def build(store: Store):
    settings = FollowupSettings()
    runtime = ServiceRuntime("followup", settings, build_broker(settings, "followup"), mongo=None)  # type: ignore[arg-type]
    app = build_http_app(runtime, title="desk under test")
    app.include_router(desk_router(Desk(store, clock=lambda: NOW), Tokens()))  # type: ignore[arg-type]
    return app


async def test_whoami_and_the_search_scope_paths_and_refusals():
    store = Store()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build(store)), base_url="http://f") as client:
        async def get(path: str, who: str | None, **params):
            headers = {"authorization": f"Bearer {who}"} if who else {}
            answer = await client.get(path, params=params, headers=headers)
            if answer.status_code != 200:
                return answer.status_code, answer.json()["detail"][0]["loc"][-1]
            body = answer.json()
            return [t["ticket_id"] for t in body["tickets"]] if "tickets" in body else body

        found = {
            "whoami, no token": await get("/v1/whoami", None),
            "whoami, the town": await get("/v1/whoami", TOWN),
            "whoami, the centre": await get("/v1/whoami", "centre"),
            "search, no token": await get("/v1/tickets", None),
            "the town's own": await get("/v1/tickets", TOWN),
            "the town's, closed": await get("/v1/tickets", TOWN, state="closed"),
            "the town, another's code": await get("/v1/tickets", TOWN, unit_code=OTHER),
            "the town, a ticket it held": await get("/v1/tickets", TOWN, ticket_id="T3"),
            "the town, a ticket never its": await get("/v1/tickets", TOWN, ticket_id="T4"),
            "the centre, the other's": await get("/v1/tickets", "centre", unit_code=OTHER),
            "the centre, by id and category": await get("/v1/tickets", "centre", ticket_id="T4", category="noise"),
            "the town, this month": await get("/v1/tickets", TOWN, received_from="2026-11-01"),
            "the town, one day": await get("/v1/tickets", TOWN, received_from="2026-11-17", received_to="2026-11-17"),
            "the centre, any": await get("/v1/tickets", "centre", limit=3),
            "bad state": await get("/v1/tickets", "centre", state="lost"),
            "bad date": await get("/v1/tickets", "centre", received_to="20-11-2026"),
            "reversed dates": await get("/v1/tickets", "centre", received_from="2026-11-02", received_to="2026-11-01"),
            "limit too large": await get("/v1/tickets", "centre", limit=201),
        }
    assert found == {
        "whoami, no token": (401, "authorization"),
        "whoami, the town": {"unit_code": TOWN, "role": "unit"},
        "whoami, the centre": {"unit_code": "centre", "role": "centre"},
        "search, no token": (401, "authorization"),
        "the town's own": ["T1", "T3", "T5", "T2"],
        "the town's, closed": ["T2"],
        "the town, another's code": (403, "unit_code"),
        "the town, a ticket it held": ["T3"],
        "the town, a ticket never its": [],
        "the centre, the other's": ["T3", "T4"],
        "the centre, by id and category": ["T4"],
        "the town, this month": ["T1", "T3", "T5"],
        "the town, one day": ["T5"],
        "the centre, any": ["T1", "T3", "T2"],  # what the find gave, newest first
        "bad state": (422, "state"),
        "bad date": (422, "received_to"),
        "reversed dates": (422, "received_to"),
        "limit too large": (422, "limit"),
    }
    # Only the centre's search without a unit or an id is a find, with its limit.
    assert store.finds == [({"unit_code": {"$exists": True}}, 3)]


async def test_the_waiting_lists_the_centres_whole_a_units_own_stale_entries_dropped():
    store = Store()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build(store)), base_url="http://f") as client:
        def get(path: str, who: str, **params):
            return client.get(path, params=params, headers={"authorization": f"Bearer {who}"})
        kinds = ("exemptions", "extensions")
        centre = [(await get(f"/v1/{kind}", "centre", state="requested")).json() for kind in kinds]
        town = [(await get(f"/v1/{kind}", TOWN)).json()["count"] for kind in ("exemptions", "extensions")]
        other = [(await get(f"/v1/{kind}", OTHER)).json()["count"] for kind in ("exemptions", "extensions")]
        refused = [(await get(f"/v1/{kind}", "centre", state="approved")).status_code
                   for kind in ("exemptions", "extensions")]
        nobody = (await client.get("/v1/exemptions")).status_code
    exemptions, extensions = centre
    assert datetime.fromisoformat(exemptions["requests"][0].pop("requested_at")) == NOW
    assert exemptions == {"count": 1, "requests": [{"ticket_id": "T1", "unit_code": TOWN, "reason_code": "duplicate",
                                                    "note": "重复诉求"}]}
    assert extensions["count"] == 1 and extensions["requests"][0]["ticket_id"] == "T1"
    assert extensions["requests"][0]["reason"] == "需协调"
    assert town == [1, 1] and other == [0, 0] and refused == [422, 422] and nobody == 401
    assert set(store.dropped) == {f"T2|{TOWN}", "T2"}  # decided, or the ticket closed

