"""Casework's HTTP side over fakes: its use cases (`hotline.followup.casework.app.Casework`) behind
the store protocols, and every refusal answered by the runtime's one mapping with the status and
body followup's own `Refusal` answered before casework moved to domain errors."""

from datetime import UTC, datetime, timedelta

import httpx

from hotline.followup.casework.app import Casework
from hotline.followup.casework.domain import casework_ticket, note_id_for, note_progress, sign
from hotline.followup.casework.http import casework_router
from hotline.followup.settings import FollowupSettings
from hotline.gazetteer import beijing
from hotline.runtime.auth import Principal, Role
from hotline.runtime.kafka import build_broker
from hotline.runtime.service import ServiceRuntime, build_http_app

NOW = datetime.now(UTC)
TOWN, OTHER = "110111008", "110111001"
OPEN = {"_id": "TK1", "unit_code": TOWN, "first_dispatched_at": NOW - timedelta(hours=2), "state": "open",
        "contacts": [{"contact_id": "C2", "kind": "phone", "unit_code": TOWN, "staff_id": "LX-017",
                      "contacted_at": NOW - timedelta(hours=1)}]}
CLOSED = {**OPEN, "_id": "TK2", "state": "closed"}


class Tickets:
    """Followup's tickets (TicketRecords)."""

    async def timeline(self, *, ticket_id):
        return {"TK1": OPEN, "TK2": CLOSED}.get(ticket_id)

    async def worklist(self, *, unit_code):
        return []

    async def record_timeline(self, *, events):
        raise AssertionError("a refused request records nothing")


class Records:
    """Casework's store (CaseworkRecords): empty."""

    async def facts_for(self, *, ticket_ids):
        return {}

    async def notes(self, *, ticket_id):
        return []

    async def get_case(self, *, ticket_id):
        return None


class Actions:
    """Followup's signing and notes (TicketActions), deciding as followup does."""

    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    async def sign(self, ticket_id, command, *, now):
        return sign(casework_ticket(await self._tickets.timeline(ticket_id=ticket_id)), command,
                    ticket_id=ticket_id, now=now), True

    async def note(self, ticket_id, command, *, idempotency_key, now):
        return note_progress(casework_ticket(await self._tickets.timeline(ticket_id=ticket_id)), command,
                             ticket_id=ticket_id, note_id=note_id_for(ticket_id, command, idempotency_key),
                             now=now), True


class Publisher:
    async def publish_all(self, items):
        raise AssertionError("a refused request publishes nothing")


class Tokens:
    """Bearer tokens `<unit code>`; `centre` is the hotline centre."""

    async def verify(self, *, token: str) -> Principal:
        return Principal(token, Role.CENTRE if token == "centre" else Role.UNIT)


def build():
    settings = FollowupSettings()
    runtime = ServiceRuntime("followup", settings, build_broker(settings, "followup"), mongo=None)  # type: ignore[arg-type]
    tickets = Tickets()
    casework = Casework(tickets, Records(), Actions(tickets), Publisher(), beijing())  # type: ignore[arg-type]
    app = build_http_app(runtime, title="casework under test")
    app.include_router(casework_router(casework, Tokens()))  # type: ignore[arg-type]
    return app


def at(delta: timedelta = timedelta()) -> str:
    return (NOW + delta).isoformat()


async def test_casework_refusals_keep_their_status_field_and_reason():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build()), base_url="http://followup") as client:
        def post(path: str, body: dict, unit: str = TOWN):
            return client.post(f"/v1/{path}", json=body, headers={"authorization": f"Bearer {unit}"})

        def get(path: str, unit: str = TOWN):
            return client.get(f"/v1/{path}", headers={"authorization": f"Bearer {unit}"})

        signing = {"unit_code": TOWN, "staff_id": "LX-017", "signed_at": at()}
        note = {"unit_code": TOWN, "staff_id": "LX-017", "text": "已联系", "noted_at": at()}
        demands = {"unit_code": TOWN, "demands": [{"description": "希望开设老年餐桌", "place": "良乡"}]}
        case = {"tags": ["见面办"], "lesson": "当天上门", "title": "油烟"}
        answers = {
            "sign for another": await post("tickets/TK1/sign", signing, unit=OTHER),
            "sign unknown": await post("tickets/TK9/sign", signing),
            "sign closed": await post("tickets/TK2/sign", signing),
            "sign in the future": await post("tickets/TK1/sign", {**signing, "signed_at": at(timedelta(hours=1))}),
            "sign before dispatch": await post("tickets/TK1/sign", {**signing, "signed_at": at(-timedelta(days=1))}),
            "note for another": await post("tickets/TK1/notes", note, unit=OTHER),
            "note blank": await post("tickets/TK1/notes", {**note, "text": "  "}),
            "notes unknown": await get("tickets/TK9/notes"),
            "notes outsider": await get("tickets/TK1/notes", unit=OTHER),
            "demands for another": await post("tickets/TK1/contacts/C2/demands", demands, unit=OTHER),
            "demands no contact": await post("tickets/TK1/contacts/C9/demands", demands),
            "demands on a call": await post("tickets/TK1/contacts/C2/demands", demands),
            "case by an outsider": await post("tickets/TK1/case", case, unit=OTHER),
            "case still open": await post("tickets/TK1/case", case),
            "case unknown": await post("tickets/TK9/case", case),
            "no such case": await get("cases/TK1"),
            "another's brief": await get(f"units/{TOWN}/brief", unit=OTHER),
        }
    found = {what: (r.status_code, r.json()["detail"]) for what, r in answers.items()}

    def refusal(status: int, field: str, msg: str):
        return status, [{"loc": [field], "msg": msg}]

    assert found == {
        "sign for another": refusal(403, "unit_code", "a unit signs for itself only"),
        "sign unknown": refusal(404, "ticket_id", "ticket TK9 is unknown or not dispatched yet"),
        "sign closed": refusal(409, "ticket_id", "the ticket is closed"),
        "sign in the future": refusal(422, "signed_at", "signed_at is in the future"),
        "sign before dispatch": refusal(422, "signed_at", "signing time is before the ticket was dispatched"),
        "note for another": refusal(403, "unit_code", "a unit writes its own notes only"),
        "note blank": refusal(422, "text", "the note is empty"),
        "notes unknown": refusal(404, "ticket_id", "ticket TK9 is unknown"),
        "notes outsider": refusal(403, "ticket_id", "the ticket is not assigned to this unit"),
        "demands for another": refusal(403, "unit_code", "a unit records its own visits' demands only"),
        "demands no contact": refusal(404, "contact_id", "no contact C9 on ticket TK1"),
        "demands on a call": refusal(422, "contact_id", "demands are collected in person (face_to_face or on_site)"),
        "case by an outsider": refusal(403, "authorization",
                                       "only the hotline centre or the resolving unit marks a case"),
        "case still open": refusal(409, "ticket_id", "only a resolved or closed ticket can be a case"),
        "case unknown": refusal(404, "ticket_id", "ticket TK9 is unknown or not dispatched yet"),
        "no such case": refusal(404, "ticket_id", "ticket TK1 is not a case"),
        "another's brief": refusal(403, "unit_code", "a unit reads its own brief only"),
    }
