"""Intake's use cases over fakes, and `POST /v1/tickets` answering their refusals through the
runtime's one mapping: the status and the body each refusal always had."""

import json
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from hotline.contracts import TicketClosed
from hotline.domain_errors import Conflict, Invalid, NotFound, TooLarge
from hotline.gazetteer import beijing
from hotline.ingest.admission import IntakePolicy, admit
from hotline.intake.app import Intake
from hotline.intake.domain import Stored
from hotline.intake.http import http_router
from hotline.runtime.auth import Principal, Role
from hotline.runtime.errors import install_error_handlers

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
RECORD = {"channel": "app", "source_id": "app-1", "received_at": "2026-11-26T08:00:00+08:00",
          "content": "楼道灯坏了一周", "address": "良乡", "caller": {"phone": "13800001111"}}


class Fakes:
    """The store, the publisher and the raw sender at once, remembering what they were asked."""

    def __init__(self) -> None:
        self.stored: dict[str, Stored] = {}
        self.docs: dict[str, dict] = {}
        self.sent: list[tuple[bytes, str]] = []
        self.published: list = []
        self.changes: list = []

    async def outbox(self, *, ticket_ids):
        return {t: self.stored[t] for t in ticket_ids if t in self.stored}

    async def get_by_ticket_id(self, *, ticket_id):
        return self.docs.get(ticket_id)

    async def record_statuses(self, *, changes):
        self.changes += changes

    async def publish_all(self, items):
        self.published += list(items)

    async def send(self, record, *, key):
        self.sent.append((record, key))


def intake_over(fakes: Fakes) -> Intake:
    return Intake(fakes, fakes, fakes, IntakePolicy(max_record_bytes=2000),  # type: ignore[arg-type]
                  gazetteer=beijing(), repeat_salt="test", clock=lambda: NOW)


def body(**fields) -> bytes:
    return json.dumps({**RECORD, **fields}, ensure_ascii=False).encode()


async def test_a_record_is_checked_then_sent_keyed_by_its_ticket_id():
    fakes = Fakes()
    ticket = await intake_over(fakes).submit(body(), now=NOW)
    assert fakes.sent == [(body(), ticket.ticket_id)] and ticket.location.unit_code == "110111008"


@pytest.mark.parametrize(("sent_bytes", "refusal"), [(None, Invalid), (2000, Invalid), (2001, TooLarge)])
async def test_a_refused_record_names_the_field_and_nothing_is_sent(sent_bytes, refusal):
    fakes = Fakes()
    with pytest.raises(Invalid) as caught:
        await intake_over(fakes).submit(body(channel="fax"), now=NOW, sent_bytes=sent_bytes)
    assert type(caught.value) is refusal and caught.value.loc == ["body", "channel"]
    assert fakes.sent == []


async def test_a_platforms_source_id_under_another_body_is_a_conflict():
    fakes = Fakes()
    ticket, fingerprint = admit(body(), now=NOW, gazetteer=beijing(), policy=IntakePolicy())
    fakes.stored[ticket.ticket_id] = Stored(True, fingerprint)
    intake = intake_over(fakes)
    assert (await intake.submit(body(), now=NOW, check_source_id=True)).ticket_id == ticket.ticket_id
    with pytest.raises(Conflict, match="different body"):
        await intake.submit(body(content="另一件事"), now=NOW, check_source_id=True)
    await intake.submit(body(content="另一件事"), now=NOW)  # intake's own source ids are not checked
    assert len(fakes.sent) == 2


async def test_only_a_public_ticket_is_shown():
    fakes = Fakes()
    fakes.docs = {"TK1": {"_id": "TK1", "channel": "open311", "anonymous": False},
                  "TK2": {"_id": "TK2", "channel": "phone", "anonymous": False}}
    intake = intake_over(fakes)
    assert (await intake.public_request("TK1"))["_id"] == "TK1"
    for hidden in ("TK2", "TK3"):
        with pytest.raises(NotFound):
            await intake.public_request(hidden)


async def test_statuses_are_recorded_after_the_dead_letters_go_out():
    fakes = Fakes()
    closed = TicketClosed(event_id="e", ticket_id="TK1", occurred_at=NOW, unit_code="110111008", closed_at=NOW,
                          satisfaction="satisfied")
    letter = ("hotline.dlq", closed, None)
    await intake_over(fakes).record_statuses([closed], rejected=[letter])
    assert fakes.published == [letter] and [c.closed for c in fakes.changes] == [True]


class Tokens:
    async def verify(self, *, token):
        return Principal("platform", Role.PLATFORM) if token == "platform" else None


async def post(fakes: Fakes, content: bytes, token: str | None = None) -> httpx.Response:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(http_router(intake_over(fakes), Tokens()))  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post("/v1/tickets", content=content, headers=headers)


async def test_the_doors_refusals_keep_their_status_and_body():
    fakes = Fakes()
    ticket, fingerprint = admit(body(), now=NOW, gazetteer=beijing(), policy=IntakePolicy())
    fakes.stored[ticket.ticket_id] = Stored(True, fingerprint)
    platform_fields = await post(fakes, body())
    assert platform_fields.status_code == 403
    assert [d["loc"] for d in platform_fields.json()["detail"]] == [["body", "channel"], ["body", "source_id"],
                                                                   ["body", "received_at"]]
    refused = await post(fakes, b"[1]")
    assert refused.status_code == 422
    assert refused.content == b'{"detail":[{"loc":["body"],"msg":"expected a JSON object, got list"}]}'
    reused = await post(fakes, body(content="另一件事"), token="platform")
    assert reused.status_code == 409 and reused.json()["detail"][0]["loc"] == ["body", "source_id"]
    unknown = await post(fakes, body(), token="nope")
    assert unknown.status_code == 401 and unknown.headers["www-authenticate"] == "Bearer"
    assert fakes.sent == []
