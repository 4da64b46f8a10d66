import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.contracts import TicketClosed, TicketReceived, TicketReopened, ticket_id_for
from hotline.gazetteer import beijing
from hotline.ingest.admission import Rejection, normalize
from hotline.intake.domain import StatusChange, status_change

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def record(**overrides) -> dict:
    base = {
        "channel": "phone",
        "source_id": "BJ-2026-000123",
        "received_at": "2026-11-26T17:30:00+08:00",
        "content": "小区门口道路破损，雨天积水严重。",
        "address": "房山区良乡镇云景台小区二期",
        "caller": {"phone": "13800001234", "name": "王先生"},
    }
    base.update(overrides)
    return base


def run(payload) -> TicketReceived | Rejection:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    return normalize(raw, now=NOW, gazetteer=beijing())


def test_a_valid_record_becomes_a_ticket_with_its_unit():
    ticket = run(record())
    assert isinstance(ticket, TicketReceived)
    assert ticket.ticket_id == ticket_id_for("phone", "BJ-2026-000123")
    assert ticket.location.unit_code == "110111008"
    assert ticket.location.district_code == "110111"
    assert ticket.received_at == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    assert ticket.caller.phone == "13800001234"


def test_the_same_record_twice_gives_the_same_event():
    assert run(record()) == run(record())


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (b"not json at all", None, "not JSON"),
        (b"\xff\xfe{}", None, "UTF-8"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"channel": "phone", "content": "' + b"x" * 70_000 + b'"}', None, "limit"),
        (record(channel="fax"), "channel", "Input should be"),
        (record(source_id=12), "source_id", "valid string"),
        ({k: v for k, v in record().items() if k != "content"}, "content", "Field required"),
        (record(content="   "), "content", "empty"),
        (record(received_at="2026-11-26T17:30:00"), "received_at", "time zone"),
        (record(received_at="2026-11-26T19:00:00+08:00"), "received_at", "future"),
        (record(lat=123.0), "lat", "less than or equal"),
    ],
)
def test_bad_input_is_rejected_with_field_and_reason(payload, field, reason):
    outcome = run(payload)
    assert isinstance(outcome, Rejection)
    assert outcome.field == field
    assert reason in outcome.reason


def test_a_rejection_names_the_channel_when_readable():
    outcome = run(record(content=""))
    assert isinstance(outcome, Rejection) and outcome.channel == "phone"


def test_up_to_ten_minutes_ahead_is_tolerated():
    ahead = (NOW + timedelta(minutes=9)).isoformat()
    assert isinstance(run(record(received_at=ahead)), TicketReceived)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
field_values = {
    "channel": st.sampled_from(["phone", "web", "fax", ""]) | json_values,
    "source_id": st.text(max_size=10) | json_values,
    "received_at": st.sampled_from(["2026-11-26T08:00:00+08:00", "2026-11-26", "x"]) | json_values,
    "content": st.text(max_size=30) | json_values,
    "address": st.text(max_size=30) | json_values,
    "caller": st.fixed_dictionaries({}, optional={"phone": json_values, "name": json_values}) | json_values,
}


@settings(max_examples=300)
@given(st.fixed_dictionaries({}, optional=field_values) | json_values)
def test_normalizing_arbitrary_json_never_raises(data):
    outcome = run(json.dumps(data).encode())
    assert isinstance(outcome, TicketReceived | Rejection)


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_normalizing_arbitrary_bytes_never_raises(payload):
    assert isinstance(run(payload), TicketReceived | Rejection)


def test_closes_and_reopens_become_open311_statuses_without_personal_data():
    at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    common = {"event_id": "e", "ticket_id": "TK1", "occurred_at": at, "unit_code": "110111008"}
    assert status_change(TicketClosed(**common, closed_at=at, satisfaction="satisfied")) == StatusChange(
        "TK1", True, 0, "已办结，回访市民满意", at)
    reopen = TicketReopened(**common, reason="unresolved", reopened_at=at, report_back_due_at=at, round=2)
    assert status_change(reopen) == StatusChange("TK1", False, 2, "回访问题未解决，第3轮重新办理", at)
