"""Intake is a citizen's door, not the platform's (issue #23), on the real broker and store.

A citizen's submission cannot set what only the hotline platform may (the received time, the
channel, collected work, a direct answer, the source id); a platform's token can; a platform's
source id reused with another body is refused (409 over HTTP, a dead letter on `hotline.raw`)
and the first ticket stays as it was; a revoked platform token is 401.
"""

import asyncio
import base64
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import CollectedBy, DeadLetter, TicketReceived, ticket_id_for, topics
from hotline.devkit import raw_record
from hotline.intake.store import IntakeStore
from hotline.runtime.auth import CredentialStore, Role
from tests.integration.conftest import client_for, intake_without_rate_limit
from tests.support import citizen_record, eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack

PLACE = "房山区良乡镇云景台小区二期"
A = "110111008"  # 良乡地区


@pytest.fixture(scope="module")
async def intake(namespace):
    async with intake_without_rate_limit(namespace) as app:
        yield app


@pytest.fixture
async def tickets(namespace):
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True)
    yield client[namespace.database]["intake_tickets"]
    await client.close()


def citizen(**fields) -> dict:
    """A citizen's submission: what they said, where, who they are."""
    return {**citizen_record(raw_record("unused", PLACE, content="小区门口道路破损，雨天积水严重")), **fields}


def month_ago() -> str:
    return (datetime.now(UTC) - timedelta(days=31)).isoformat()


async def received(namespace, ticket_id: str) -> list[TicketReceived]:
    records = await read_topic(
        namespace.kafka, namespace.prefix + topics.TICKETS_RECEIVED,
        until=lambda rs: any(TicketReceived.model_validate_json(r.value).ticket_id == ticket_id for r in rs))
    return [t for t in (TicketReceived.model_validate_json(r.value) for r in records) if t.ticket_id == ticket_id]


def forged(**fields) -> dict:
    """A whole raw record as anyone could post it, with the platform's fields it forges."""
    return {**raw_record(f"forged-{uuid.uuid4().hex}", PLACE, content="小区门口道路破损，雨天积水严重"), **fields}


def refused_fields(response) -> list[str]:
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert all(d["loc"][0] == "body" and "platform" in d["msg"] for d in detail), detail
    return [d["loc"][1] for d in detail]


async def test_a_back_dated_received_at_is_refused_without_a_platform_token(intake, namespace):
    async with client_for(intake) as client:
        # The finding: a month-old received time was taken, the ticket overdue on arrival.
        assert "received_at" in refused_fields(await client.post("/v1/tickets", json=forged(received_at=month_ago())))
        assert refused_fields(await client.post("/v1/tickets", json=citizen(received_at=month_ago()))) == [
            "received_at"]
        form = {"service_code": "roads_traffic", "address_string": PLACE, "description": "路面坑洼",
                "received_at": month_ago()}
        refused = await client.post("/open311/v2/requests.json", data=form)
        assert refused.status_code == 403, refused.text
        assert "received_at" in refused.json()[0]["description"]
        # Without it, the ticket is received now, on intake's own channel and source id.
        before = datetime.now(UTC)
        accepted = await client.post("/v1/tickets", json=citizen())
        assert accepted.status_code == 202, accepted.text
    [ticket] = await received(namespace, accepted.json()["ticket_id"])
    assert before - timedelta(seconds=1) <= ticket.received_at <= datetime.now(UTC)
    assert ticket.channel == "web" and ticket.source_id.startswith("web-") and len(ticket.source_id) == 36


@pytest.mark.parametrize("fields", [
    {"channel": "leader_board"},
    {"channel": "collected", "collected_by": {"unit_code": A, "staff_id": "s-1"}},
    {"answered_directly": True},
    {"source_id": "sim-000042"},
    {"category_hint": "gas"},
], ids=lambda f: "+".join(f))
async def test_the_platforms_fields_are_refused_without_a_platform_token(intake, fields):
    async with client_for(intake) as client:
        # The finding: each of these got 202 from anyone.
        assert set(fields) <= set(refused_fields(await client.post("/v1/tickets", json=forged(**fields))))
        assert refused_fields(await client.post("/v1/tickets", json=citizen(**fields))) == list(fields)
        form = {"service_code": "roads_traffic", "address_string": PLACE, "description": "路面坑洼",
                **{k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in fields.items()}}
        open311 = await client.post("/open311/v2/requests.json", data=form)
        if "category_hint" in fields:  # Open311's category is the citizen's `service_code`
            assert open311.status_code == 201, open311.text
        else:
            assert open311.status_code == 403, open311.text
            assert next(iter(fields)) in open311.json()[0]["description"]
        # A unit's token is not a platform's.
        unit = await issue_token_for(intake, A)
        assert set(fields) <= set(refused_fields(await client.post("/v1/tickets", json=forged(**fields),
                                                                   headers=unit)))


async def issue_token_for(app, unit_code: str) -> dict[str, str]:
    token = await CredentialStore(app.state.runtime.db).issue(unit_code=unit_code)
    return {"Authorization": f"Bearer {token}"}


async def test_a_platform_token_may_set_them_all(intake, namespace):
    platform = await issue_token(namespace, "platform-wechat")
    cases = {
        "back-dated": dict(received_at=month_ago()),
        "leaders' board": dict(channel="leader_board"),
        "collected": dict(channel="collected", collected_by={"unit_code": A, "staff_id": "s-1"}),
        "answered": dict(channel="phone", answered_directly=True, content="请问社保卡在哪里办理？"),
    }
    answers = {}
    async with client_for(intake) as client:
        for case, fields in cases.items():
            record = raw_record(f"door-{uuid.uuid4().hex}", PLACE, **fields)
            assert (await client.post("/v1/tickets", json=record)).status_code == 403, case  # the token decides
            response = await client.post("/v1/tickets", json=record, headers=platform)
            assert response.status_code == 202, (case, response.text)
            assert response.json()["ticket_id"] == ticket_id_for(record["channel"], record["source_id"])
            answers[case] = (record, response.json()["ticket_id"])
    for case, (record, ticket_id) in answers.items():
        [ticket] = await received(namespace, ticket_id)
        assert ticket.received_at == datetime.fromisoformat(record["received_at"]), case
        assert (ticket.channel, ticket.source_id) == (record["channel"], record["source_id"]), case
        expected = CollectedBy(**record["collected_by"]) if "collected_by" in record else None
        assert ticket.collected_by == expected, case
        assert ticket.answered_directly is record.get("answered_directly", False), case


async def published(tickets, ticket_id: str) -> bool:
    """Whether intake's outbox counts the stored ticket's event as gone out."""
    known = (await IntakeStore(tickets.database).outbox(ticket_ids=[ticket_id])).get(ticket_id)
    return known is not None and known.published


def first_fingerprint(record: dict) -> str:
    """The fingerprint intake stores for this record."""
    from hotline.contracts import RawRecord
    from hotline.ingest.admission import fingerprint

    return fingerprint(RawRecord.model_validate_json(json.dumps(record)))


async def test_a_reused_source_id_with_another_body_is_409_and_the_first_ticket_stays(intake, namespace, tickets):
    platform = await issue_token(namespace, "platform")
    first = raw_record(f"sim-{uuid.uuid4().hex[:8]}", PLACE, channel="app", content="楼道灯坏了一周")
    squat = {**first, "content": "我要投诉良乡地区不作为", "caller": {"phone": "13900000000"}}
    ticket_id = ticket_id_for("app", first["source_id"])
    async with client_for(intake) as client:
        assert (await client.post("/v1/tickets", json=first, headers=platform)).status_code == 202
        await eventually(lambda: tickets.find_one({"_id": ticket_id}))
        response = await client.post("/v1/tickets", json=squat, headers=platform)
        assert response.status_code == 409, response.text
        [detail] = response.json()["detail"]
        assert detail["loc"] == ["body", "source_id"] and "different body" in detail["msg"]
        # An honest resend (same record, other key order and spacing) is the same ticket.
        resend = json.dumps(dict(reversed(first.items())), indent=2, ensure_ascii=False).encode()
        again = await client.post("/v1/tickets", content=resend, headers=platform)
        assert again.status_code == 202 and again.json()["ticket_id"] == ticket_id, again.text
    doc = await tickets.find_one({"_id": ticket_id})
    # Intake keeps no text of a ticket Open311 never shows: the first record's fingerprint stands.
    assert doc["fingerprint"] == first_fingerprint(first) and await published(tickets, ticket_id)
    assert [t.content for t in await received(namespace, ticket_id)] == [first["content"]]


async def test_a_reused_source_id_on_the_raw_topic_is_dead_lettered_and_the_first_ticket_stays(
        intake, namespace, tickets):
    kafka, prefix = namespace.kafka, namespace.prefix
    # One squat after the first ticket is stored, one in flight right behind its first record.
    stored = raw_record(f"sim-{uuid.uuid4().hex[:8]}", PLACE, content="楼道灯坏了一周")
    behind = raw_record(f"sim-{uuid.uuid4().hex[:8]}", PLACE, content="小区垃圾三天没人清运")
    squats = {}
    await publish(kafka, prefix + topics.RAW, stored)
    await eventually(lambda: published(tickets, ticket_id_for("phone", stored["source_id"])))
    for first in (stored, behind):
        squat = {**first, "content": f"冒用编号的另一件事 {uuid.uuid4().hex[:6]}"}
        squats[json.dumps(squat, ensure_ascii=False).encode()] = first
    await publish(kafka, prefix + topics.RAW, list(squats)[0])
    await publish(kafka, prefix + topics.RAW, behind, list(squats)[1])

    def ours(records) -> dict[bytes, DeadLetter]:
        letters = (DeadLetter.model_validate_json(r.value) for r in records)
        return {value: letter for letter in letters if (value := base64.b64decode(letter.value_b64)) in squats}

    letters = ours(await read_topic(kafka, prefix + topics.DLQ, until=lambda rs: len(ours(rs)) == len(squats)))
    assert set(letters) == set(squats)
    for squat, letter in letters.items():
        assert (letter.reason, letter.field) == ("source_id reused with a different body", "source_id")
        first = squats[squat]
        ticket_id = ticket_id_for("phone", first["source_id"])
        assert [t.content for t in await received(namespace, ticket_id)] == [first["content"]]
        assert (await tickets.find_one({"_id": ticket_id}))["fingerprint"] == first_fingerprint(first)


async def test_a_revoked_platform_token_is_401(intake, namespace):
    store = CredentialStore(intake.state.runtime.db)
    token = await store.issue(unit_code="platform-web", role=Role.PLATFORM)
    record = raw_record(f"door-{uuid.uuid4().hex}", PLACE, channel="web", received_at=month_ago())
    async with client_for(intake) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.post("/v1/tickets", json=record, headers=headers)).status_code == 202
        await store.revoke_all(unit_code="platform-web")
        for record in (record, citizen()):  # not served as a citizen either
            response = await client.post("/v1/tickets", json=record, headers=headers)
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["detail"][0]["loc"] == ["header", "authorization"]


async def test_hotline_platform_token_issues_a_token_intake_takes(intake, namespace, service_env):
    command = [str(Path(sys.executable).parent / "hotline"), "platform", "token", "app"]
    process = await asyncio.create_subprocess_exec(*command, env={**os.environ, **service_env},
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    token = out.decode().strip()
    assert token.startswith("platform-app.")
    record = raw_record(f"door-{uuid.uuid4().hex}", PLACE, channel="app", received_at=month_ago())
    async with client_for(intake) as client:
        response = await client.post("/v1/tickets", json=record, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.text
