"""Hostile input, generated: intake's normalizer on raw bytes, and the HTTP APIs in-process.

Every input ends accepted or rejected with a reason (a Rejection with a reason; a 4xx whose body
names the field and the reason), never an exception or a 500. The examples add up to more than
10,000 (FUZZ_EXAMPLES); `derandomize` makes every run draw the same inputs, so CI is stable.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.contracts import TicketReceived, ticket_id_for, topics
from hotline.devkit import raw_record
from hotline.gazetteer import beijing
from hotline.ingest.admission import IntakePolicy, Rejection, normalize
from hotline.runtime.kafka import ensure_topics
from tests.integration.conftest import client_for
from tests.support import citizen_record, eventually, issue_token, publish

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
FUZZ_EXAMPLES = {
    "normalize_bytes": 2500, "normalize_json": 2000, "normalize_records": 2000,
    "http_tickets": 1200, "http_open311": 1200, "http_followup": 1200,
}
assert sum(FUZZ_EXAMPLES.values()) >= 10_000


def fuzz(name: str):
    return settings(max_examples=FUZZ_EXAMPLES[name], derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


# -- strategies --------------------------------------------------------------------------------

# Text that breaks naive code: controls, NUL, lone surrogates (as JSON escapes), bidi and
# zero-width marks, CJK, emoji, very long runs, numbers that look like phone numbers.
nasty_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "\x00", "\u202e\u200b\ufeff", "良乡镇", "朝阳区八里庄街道", "🚰" * 50,
                     "' OR 1=1 --", "$where", "{\"$gt\": \"\"}", "../../etc/passwd", "<script>x</script>",
                     "%00", "\\ud800", "1" * 400, "13800001234", "NaN", "Infinity", "-0", "1e309"]),
    # Long values cheaply: a short draw repeated (drawing 600 characters one by one is slow).
    st.tuples(st.text(min_size=1, max_size=6), st.integers(20, 200)).map(lambda t: t[0] * t[1]),
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | nasty_text
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


raw_bytes = st.one_of(
    st.binary(max_size=256),
    st.tuples(st.binary(min_size=1, max_size=8), st.integers(1, 2000)).map(lambda t: t[0] * t[1]),
    st.sampled_from([b"", b"{", b"null", b"[]", b'"x"', b"\xef\xbb\xbf{}", b'{"a":1,"a":2}', b"NaN",
                     b'{"content": "\\ud800"}', deep(5000).encode(), b'{"x":' * 3000,
                     b"\xff\xfe{\x00}\x00", b"{" + b" " * 70_000 + b"}",
                     b'{"service_code": "water_supply", "address_string": "\\u826f\\u4e61", "description": "\\ud800"}',
                     b'{"service_code": "water_supply", "lat": 1e999, "long": -1e999, "description": "x"}',
                     b'{"unit_code": "110111008", "staff_id": "\\udfff", "text": "x", "noted_at": "2026-11-26T08:00:00Z"}']),
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
)

record_fields = ["channel", "source_id", "received_at", "content", "address", "caller", "district",
                 "community", "lat", "lon", "category_hint", "request_type", "anonymous", "answered_directly",
                 "collected_by"]
times = st.one_of(
    st.datetimes(timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-11-26T08:00:00+08:00", "2026-11-26T08:00:00", "2026-02-30T00:00:00Z", "yesterday",
                     "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "2026-11-26T08:00:00+25:00"]),
)


@st.composite
def mutated_records(draw) -> bytes:
    """A valid record with some fields dropped, replaced by hostile values, or added."""
    record = raw_record(f"fz-{draw(st.integers(0, 10**9))}", draw(st.sampled_from(
        ["房山区良乡镇云景台小区二期", "八里庄街道", "", "nowhere"])))
    record["received_at"] = (NOW - timedelta(minutes=5)).isoformat()
    for field in draw(st.lists(st.sampled_from(record_fields), max_size=4, unique=True)):
        action = draw(st.sampled_from(["drop", "hostile", "time", "number"]))
        if action == "drop":
            record.pop(field, None)
        elif action == "time":
            record[field] = draw(times)
        elif action == "number":
            record[field] = draw(st.floats(allow_nan=False) | st.integers())
        else:
            record[field] = draw(json_values)
    for key, value in draw(st.dictionaries(nasty_text, json_scalars, max_size=3)).items():
        record.setdefault(key, value)
    return json.dumps(record, ensure_ascii=draw(st.booleans())).encode()


# -- the normalizer, pure ----------------------------------------------------------------------

POLICY = IntakePolicy()


def check_outcome(payload: bytes) -> None:
    outcome = normalize(payload, now=NOW, gazetteer=beijing(), policy=POLICY)
    if isinstance(outcome, Rejection):
        assert isinstance(outcome.reason, str) and outcome.reason.strip(), outcome
        assert outcome.field is None or isinstance(outcome.field, str)
    else:
        assert isinstance(outcome, TicketReceived)
        assert outcome.ticket_id.startswith("TK") and outcome.category


@fuzz("normalize_bytes")
@given(raw_bytes)
def test_normalizer_on_hostile_bytes(payload):
    check_outcome(payload)


@fuzz("normalize_json")
@given(json_values | st.dictionaries(st.sampled_from(record_fields), json_values, max_size=5))
def test_normalizer_on_hostile_json(value):
    check_outcome(json.dumps(value).encode())


@fuzz("normalize_records")
@given(mutated_records())
def test_normalizer_on_mutated_records(payload):
    check_outcome(payload)


# -- HTTP, in-process --------------------------------------------------------------------------


def check_answer(response: httpx.Response, *, open311: bool = False) -> None:
    """Accepted (2xx), or a 4xx naming the field and the reason; never a 5xx."""
    assert response.status_code < 500, response.text[:500]
    if response.status_code < 400:
        return
    if open311:
        body = response.json() if "json" in response.headers.get("content-type", "") else None
        if body is not None:
            assert body and all(e["code"] == response.status_code and e["description"] for e in body), body
        else:
            assert "<description>" in response.text, response.text[:300]
        return
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    for item in detail:
        assert item["loc"] and item["msg"], item


@pytest.fixture(scope="module")
async def intake(namespace):
    """Intake's app without its consumers and without a rate limit, publishing to a private
    `hotline.raw` that nothing reads (accepted fuzz records must not become the suite's tickets)."""
    from hotline.intake.main import build_app
    from hotline.intake.settings import IntakeSettings

    prefix = f"fz{uuid.uuid4().hex[:8]}-"
    await ensure_topics(namespace.kafka, [topics.TopicSpec(prefix + topics.RAW, 1)])
    app = build_app(IntakeSettings(
        kafka_bootstrap_servers=namespace.kafka, mongodb_url=namespace.mongodb_url,
        mongodb_database=namespace.database, topic_prefix=prefix, rate_limit_per_s=0,
    ))
    runtime = app.state.runtime
    await runtime.broker.connect()
    try:
        async with client_for(app) as client:
            # A channel platform's token: its records go through the whole normalizer.
            client.platform = await issue_token(namespace, "platform")
            yield client
    finally:
        await runtime.broker.stop()
        await runtime.mongo.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=namespace.kafka)
        await admin.start()
        try:
            await admin.delete_topics([prefix + topics.RAW])
        finally:
            await admin.close()


@pytest.mark.stack
@fuzz("http_tickets")
@given(st.one_of(raw_bytes, mutated_records()), st.sampled_from(["application/json", "text/plain", ""]),
       st.sampled_from(["platform", "citizen", "citizen as sent"]))
async def test_post_tickets_on_hostile_bodies(intake, payload, content_type, who):
    headers = {"content-type": content_type}
    if who == "platform":
        headers.update(intake.platform)
    elif who == "citizen":  # without the platform's fields, as a citizen's form sends it
        payload = citizen_body(payload)
    response = await intake.post("/v1/tickets", content=payload, headers=headers)
    check_answer(response)


def citizen_body(payload: bytes) -> bytes:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        return payload
    if not isinstance(value, dict):
        return payload
    return json.dumps(citizen_record(value)).encode()


form_params = ["service_code", "lat", "long", "address_string", "description", "first_name", "last_name",
               "phone", "email", "attribute[community]", "attribute[request_type]", "attribute[anonymous]",
               "device_id", "media_url"]
good_form = {"service_code": "water_supply", "address_string": "房山区良乡镇拱辰大街", "description": "家里停水两天了"}


@st.composite
def open311_bodies(draw) -> tuple[bytes, str]:
    form = dict(good_form) if draw(st.booleans()) else {}
    for param in draw(st.lists(st.sampled_from(form_params), max_size=5, unique=True)):
        form[param] = draw(nasty_text | st.sampled_from(["nan", "inf", "-inf", "1e400", "39.7", "116.1", "true"]))
    kind = draw(st.sampled_from(["form", "json", "raw"]))
    if kind == "form":
        return httpx.QueryParams(form).__str__().encode(), "application/x-www-form-urlencoded"
    if kind == "json":
        value = draw(st.one_of(st.just(form), json_values))
        return json.dumps(value, ensure_ascii=False).encode(), "application/json"
    return draw(raw_bytes), draw(st.sampled_from(["application/json", "multipart/form-data", "text/plain"]))


@pytest.mark.stack
@fuzz("http_open311")
@given(open311_bodies(), st.sampled_from(["json", "xml", "yaml"]))
async def test_post_open311_requests_on_hostile_bodies(intake, body, fmt):
    payload, content_type = body
    response = await intake.post(f"/open311/v2/requests.{fmt}", content=payload,
                                 headers={"content-type": content_type})
    check_answer(response, open311=True)


@pytest.fixture(scope="module")
async def followup_ticket(services, namespace):
    """A ticket dispatched to 良乡地区 with a phone contact; the unit's and the centre's tokens."""
    unit = "110111008"
    record = raw_record(f"fuzz-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期", content="小区垃圾三天没人清运")
    await publish(namespace.kafka, namespace.prefix + topics.RAW, record)
    ticket_id = ticket_id_for("phone", record["source_id"])
    unit_token, centre = await issue_token(namespace, unit), await issue_token(namespace, "centre")
    async with client_for(services["followup"]) as followup:
        async def dispatched():
            response = await followup.get(f"/v1/tickets/{ticket_id}", headers=centre)
            return response.status_code == 200 and response.json().get("unit_code") == unit
        await eventually(dispatched)
        contact = await followup.post(f"/v1/tickets/{ticket_id}/contacts", headers=unit_token, json={
            "unit_code": unit, "kind": "phone", "contacted_at": datetime.now(UTC).isoformat(), "staff_id": "s-1"})
        assert contact.status_code == 201, contact.text
        yield {"client": followup, "ticket_id": ticket_id, "contact_id": contact.json()["contact_id"],
               "unit": unit, "headers": {"unit": unit_token, "centre": centre}}


ACTIONS = {  # path under the ticket, whose token, a valid body
    "contacts": ("unit", lambda u, now: {"unit_code": u, "kind": "face_to_face", "contacted_at": now, "staff_id": "s"}),
    "resolution": ("unit", lambda u, now: {"unit_code": u, "outcome": "resolved", "resolution_code": "R",
                                           "resolved_at": now}),
    "extensions": ("unit", lambda u, now: {"unit_code": u, "reason": "r", "requested_due_at": now,
                                           "requested_at": now}),
    "extensions/decision": ("centre", lambda u, now: {"approved": False, "decided_at": now}),
    "exemptions": ("unit", lambda u, now: {"unit_code": u, "reason_code": "duplicate", "note": "n",
                                           "requested_at": now}),
    "exemptions/decision": ("centre", lambda u, now: {"approved": False, "decided_at": now}),
    "on-site": ("unit", lambda u, now: {"unit_code": u, "staff_id": "s", "reported_at": now}),
    "sign": ("unit", lambda u, now: {"unit_code": u, "staff_id": "s", "signed_at": now}),
    "notes": ("unit", lambda u, now: {"unit_code": u, "staff_id": "s", "text": "t", "noted_at": now}),
    "contacts/{contact_id}/demands": ("unit", lambda u, now: {"unit_code": u, "demands": [{"description": "d"}]}),
    "case": ("centre", lambda u, now: {"tags": ["t"], "lesson": "l"}),
}


@st.composite
def action_calls(draw) -> tuple[str, str, bytes, str | None]:
    action = draw(st.sampled_from(sorted(ACTIONS)))
    who, valid = ACTIONS[action]
    body = valid("110111008", datetime.now(UTC).isoformat())
    kind = draw(st.sampled_from(["mutate", "json", "raw"]))
    if kind == "mutate":
        for key in draw(st.lists(st.sampled_from([*body, "unit_code", "extra"]), max_size=3, unique=True)):
            body[key] = draw(json_values | times)
        payload = json.dumps(body, ensure_ascii=False).encode()
    elif kind == "json":
        payload = json.dumps(draw(json_values)).encode()
    else:
        payload = draw(raw_bytes)
    idempotency_key = draw(st.none() | st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e),
                                               max_size=200))
    return action, who, payload, idempotency_key


@pytest.mark.stack
@fuzz("http_followup")
@given(action_calls())
async def test_followup_actions_on_hostile_bodies(followup_ticket, call):
    action, who, payload, idempotency_key = call
    path = action.format(contact_id=followup_ticket["contact_id"])
    headers = {**followup_ticket["headers"][who], "content-type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    response = await followup_ticket["client"].post(f"/v1/tickets/{followup_ticket['ticket_id']}/{path}",
                                                    content=payload, headers=headers)
    check_answer(response)
