"""Intake's public door, pure: what a citizen's body becomes, and a record's fingerprint."""

import json
from datetime import UTC, datetime

import pytest

from hotline.ingest.admission import Rejection, fingerprint, parse_record
from hotline.intake.domain import PLATFORM_FIELDS, Refusal, citizen_record
from hotline.intake.open311.errors import Open311Error
from hotline.intake.open311.form import parse_form, platform_param

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
RECORD = {"channel": "wechat", "source_id": "wx-1", "received_at": "2026-11-26T08:00:00+08:00",
          "content": "暖气不热", "address": "良乡", "caller": {"phone": "13800001111"}}


def print_of(body: bytes | str) -> str:
    record = parse_record(body.encode() if isinstance(body, str) else body, now=NOW)
    assert not isinstance(record, Rejection), record
    return fingerprint(record)


def test_a_fingerprint_ignores_key_order_spacing_escapes_defaults_and_the_time_zone():
    same = [
        json.dumps(RECORD, ensure_ascii=False),
        json.dumps(dict(reversed(RECORD.items())), indent=4),  # other order, spacing, \u escapes
        json.dumps({**RECORD, "anonymous": False, "community": None}),  # defaults written out
        json.dumps({**RECORD, "received_at": "2026-11-26T00:00:00Z"}),  # the same instant
    ]
    assert len({print_of(body) for body in same}) == 1
    others = [{**RECORD, "content": "暖气不热了"}, {**RECORD, "caller": {"phone": "13800002222"}},
              {**RECORD, "received_at": "2026-11-26T08:00:01+08:00"}, {**RECORD, "anonymous": True}]
    assert len({print_of(json.dumps(r)) for r in [RECORD, *others]}) == 1 + len(others)


def test_a_citizens_body_gets_intakes_channel_source_id_and_time():
    body = {k: v for k, v in RECORD.items() if k not in PLATFORM_FIELDS}
    first, second = (json.loads(citizen_record(json.dumps(body).encode(), now=NOW)) for _ in range(2))
    assert first["channel"] == "web" and first["received_at"] == "2026-11-26T09:30:00+08:00"
    assert first["source_id"].startswith("web-") and first["source_id"] != second["source_id"]
    assert {k: first[k] for k in body} == body


@pytest.mark.parametrize("field", PLATFORM_FIELDS)
def test_a_citizen_may_not_send_a_platform_field(field):
    refusal = citizen_record(json.dumps({"content": "x", field: None}).encode(), now=NOW)
    assert refusal == Refusal((field,))
    [detail] = refusal.detail()
    assert detail["loc"] == ["body", field] and "platform" in detail["msg"]


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b"\xff", b"[" * 5000])
def test_a_body_that_is_no_json_object_is_left_for_the_normalizer_to_refuse(body):
    assert citizen_record(body, now=NOW) == body


def test_a_lone_surrogate_stays_a_json_escape():
    out = citizen_record(b'{"content": "\\ud800"}', now=NOW)
    assert b"\\ud800" in out and isinstance(parse_record(out, now=NOW), Rejection)


@pytest.mark.parametrize("key", ["received_at", "channel", "source_id", "collected_by", "answered_directly",
                                 "attribute[received_at]", "collected_by[unit_code]", "requested_datetime"])
def test_open311_refuses_the_platforms_parameters(key):
    assert platform_param(key) is not None
    with pytest.raises(Open311Error) as caught:
        parse_form(f"service_code=water_supply&{key}=x".encode(), "application/x-www-form-urlencoded")
    assert caught.value.status == 403 and platform_param(key) in caught.value.description


def test_open311_keeps_the_citizens_parameters():
    assert all(platform_param(k) is None for k in ("service_code", "description", "attribute[community]",
                                                   "attribute[request_type]", "phone", "category_hint"))
    with pytest.raises(Open311Error) as caught:
        parse_form(json.dumps({"service_code": "water_supply", "collected_by": {"unit_code": "1"}}).encode(),
                   "application/json")
    assert caught.value.status == 403
