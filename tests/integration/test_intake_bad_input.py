"""Every kind of bad input, through the real broker and over HTTP: a dead letter or a clear 4xx."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hotline.contracts import DeadLetter, TicketReceived, ticket_id_for, topics
from hotline.devkit import raw_record
from hotline.intake.main import build_app
from hotline.intake.settings import IntakeSettings
from tests.support import drained, issue_token, publish, read_topic

pytestmark = pytest.mark.stack


def bad_inputs(marker: str) -> list[tuple[str, bytes, str | None, str]]:
    """(case, payload, field, words in the reason); each payload carries the marker."""
    good = raw_record(f"{marker}-base", "良乡")

    def variant(**changes) -> bytes:
        record = {**good, **changes}
        return json.dumps({k: v for k, v in record.items() if v is not ...}, ensure_ascii=False).encode()

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    return [
        ("not JSON", f"{{{marker} not json".encode(), None, "not JSON"),
        ("invalid UTF-8", b'{"x": "' + marker.encode() + b'\xff\xfe"}', None, "UTF-8"),
        ("over 64 KB", variant(content="长" * 30_000 + marker), None, "limit"),
        ("wrong type", variant(source_id=42, content=marker), "source_id", "string"),
        ("missing field", variant(content=..., address=marker), "content", "required"),
        ("unknown channel", variant(channel="fax", content=marker), "channel", "Input should be"),
        ("future time", variant(received_at=future, content=marker), "received_at", "future"),
        ("empty content", variant(content="   ", address=marker), "content", "empty"),
        ("naive time", variant(received_at="2026-11-26T08:00:00", content=marker), "received_at", "time zone"),
    ]


@pytest.fixture(scope="module")
async def intake(namespace):
    app = build_app(IntakeSettings(
        **namespace.service_settings(),
    ))
    async with app.router.lifespan_context(app):
        yield app


async def test_each_bad_record_is_dead_lettered_and_the_consumer_carries_on(intake, namespace):
    kafka, prefix = namespace.kafka, namespace.prefix
    marker = f"bad-{uuid.uuid4().hex[:10]}"
    cases = bad_inputs(marker)
    after = raw_record(f"{marker}-after", "良乡")
    await publish(kafka, prefix + topics.RAW, *[payload for _, payload, _, _ in cases], after)

    def ours(records) -> dict[bytes, DeadLetter]:
        letters = (DeadLetter.model_validate_json(r.value) for r in records)
        return {base64.b64decode(l.value_b64): l for l in letters if marker.encode() in base64.b64decode(l.value_b64)}

    letters = ours(await read_topic(kafka, prefix + topics.DLQ, until=lambda rs: len(ours(rs)) == len(cases)))
    for case, payload, field, words in cases:
        letter = letters[payload]  # the original bytes, unchanged
        assert letter.field == field, case
        assert words.lower() in letter.reason.lower(), (case, letter.reason)
        assert (letter.service, letter.source_topic) == ("intake", prefix + topics.RAW)
    assert letters[cases[5][1]].channel == "fax"

    after_id = ticket_id_for("phone", after["source_id"])
    received = await read_topic(
        kafka, prefix + topics.TICKETS_RECEIVED,
        until=lambda rs: any(TicketReceived.model_validate_json(r.value).ticket_id == after_id for r in rs),
    )
    assert any(TicketReceived.model_validate_json(r.value).ticket_id == after_id for r in received)


async def test_each_bad_submission_gets_a_4xx_naming_field_and_reason(intake, namespace):
    marker = f"http-{uuid.uuid4().hex[:10]}"
    # A channel platform's records (the cases set its channel, source id and time).
    platform = await issue_token(namespace, "platform")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=intake), base_url="http://t") as client:
        for case, payload, field, words in bad_inputs(marker):
            response = await client.post("/v1/tickets", content=payload,
                                         headers={"content-type": "application/json", **platform})
            expected_status = 413 if case == "over 64 KB" else 422
            assert response.status_code == expected_status, (case, response.text)
            detail = response.json()["detail"][0]
            assert detail["loc"] == (["body", field] if field else ["body"]), case
            assert words.lower() in detail["msg"].lower(), (case, detail)


async def test_a_good_submission_is_accepted_and_becomes_a_ticket(intake, namespace):
    record = raw_record(f"http-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期", content="楼道燃气泄漏，味道很大")
    platform = await issue_token(namespace, "platform")  # a platform's own source id, sent twice
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=intake), base_url="http://t") as client:
        first = await client.post("/v1/tickets", json=record, headers=platform)
        again = await client.post("/v1/tickets", json=record, headers=platform)
    assert first.status_code == again.status_code == 202
    body = first.json()
    assert body == again.json()
    assert (body["unit_code"], body["category"], body["urgency"]) == ("110111008", "gas", "emergency")
    received = await read_topic(
        namespace.kafka, namespace.prefix + topics.TICKETS_RECEIVED,
        until=lambda rs: any(TicketReceived.model_validate_json(r.value).ticket_id == body["ticket_id"] for r in rs),
    )
    # Once intake has processed everything on its input, the resend has been seen too.
    await drained(namespace.kafka, namespace.prefix + topics.RAW,
                  f"{namespace.prefix}hotline-intake.{topics.RAW}")
    received = await read_topic(namespace.kafka, namespace.prefix + topics.TICKETS_RECEIVED,
                                until=lambda rs: False, timeout_s=1)
    ours = [t for t in (TicketReceived.model_validate_json(r.value) for r in received) if t.ticket_id == body["ticket_id"]]
    assert len(ours) == 1  # submitted twice, one ticket event
