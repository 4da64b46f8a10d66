"""Tracing on the real broker and store, the four services in this process: one ticket's journey
(intake, routing, followup, metrics) is one trace; a deadline breach the followup scheduler fires
is a new trace linked to it; no span and no log line holds the caller's phone or name.

The services run in a namespace of their own (topic prefix and database): the test moves business
time on `hotline.clock`, which must not fire marks for other tests' tickets. Spans go to JSON-lines
files in a temporary directory, read as `hotline trace` reads them.
"""

import io
import json
import logging
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from rich.console import Console

from hotline.catalogue import catalogue_at
from hotline.contracts import ticket_id_for, topics
from hotline.devkit import Namespace, raw_record
from hotline.gazetteer import beijing
from hotline.runtime import telemetry
from hotline.runtime.logs import JsonFormatter
from hotline.runtime.trace_files import span_tree, ticket_spans, trace_files
from tests.integration.conftest import client_for
from tests.support import citizen_record, eventually, issue_token, publish

pytestmark = pytest.mark.stack

PHONE, NAME = "13800001234", "王先生"
PLACE = "房山区良乡镇云景台小区二期"


def _queues(record: dict) -> set[str]:
    """The queues routing will write this record's ticket to, and the district's (escalations)."""
    from hotline.ingest.admission import normalize
    from hotline.routing.domain import decide, dispatch_events

    ticket = normalize(json.dumps(record).encode(), now=datetime.now(UTC), gazetteer=beijing())
    _, assignments = dispatch_events(ticket, decide(ticket, beijing(), catalogue_at(None)))
    return {a.unit_code for a in assignments} | {ticket.location.district_code, topics.TRIAGE_QUEUE_CODE}


@dataclass
class Traced:
    space: Namespace
    traces: Path  # the services' span files
    apps: dict
    logs: io.StringIO  # every log line, as JSON


@pytest.fixture(scope="module")
async def traced(namespace, tmp_path_factory):
    """The four services with their own topics, database and trace directory; HTTP traced as
    `run_service` traces it; every log line captured as JSON."""
    from hotline.followup.main import build_app as build_followup
    from hotline.followup.settings import FollowupSettings
    from hotline.intake.main import build_app as build_intake
    from hotline.intake.settings import IntakeSettings
    from hotline.metrics.main import build_app as build_metrics
    from hotline.metrics.settings import MetricsSettings
    from hotline.routing.main import build_app as build_routing
    from hotline.routing.settings import RoutingSettings

    space, traces = namespace.child("tr"), tmp_path_factory.mktemp("traces")
    queues = _queues(raw_record("probe", PLACE))
    await space.create([*topics.core_topics(), *topics.queue_topics(sorted(queues))])
    common = dict(**space.service_settings(), traces_dir=traces, otel_exporter_otlp_endpoint=None)
    settings = {
        "intake": IntakeSettings(**common),
        "routing": RoutingSettings(**common),
        "followup": FollowupSettings(**common, business_clock="log", scheduler_interval_s=0.2),
        "metrics": MetricsSettings(**common),
    }
    builders = {"intake": build_intake, "routing": build_routing, "followup": build_followup,
                "metrics": build_metrics}
    apps = {}
    for name, build in builders.items():
        apps[name] = build(settings[name])
        telemetry.instrument_http(apps[name], name, settings[name])
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(JsonFormatter("test"))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    try:
        async with AsyncExitStack() as stack:
            for app in apps.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield Traced(space, traces, apps, logs)
    finally:
        logging.getLogger().removeHandler(handler)
        client = AsyncMongoClient(space.mongodb_url)
        await client.drop_database(space.database)
        await client.close()


def _spans(traced, ticket_id: str) -> list[dict]:
    telemetry.flush()
    return ticket_spans(traced.traces, ticket_id)


def _record_span(spans: list[dict], service: str, topic: str, ticket_id: str) -> dict | None:
    return next((s for s in spans if s["service"] == service and s["name"].endswith(f"{topic} record")
                 and s["attributes"].get(telemetry.TICKET_ID) == ticket_id), None)


def _journey(spans: list[dict], ticket_id: str, first_hop: str) -> dict[str, dict] | None:
    """Each service's record span of this ticket, once all four are written."""
    hops = {
        "intake": _record_span(spans, "intake", first_hop, ticket_id),
        "routing": _record_span(spans, "routing", topics.TICKETS_RECEIVED, ticket_id),
        "followup": _record_span(spans, "followup", topics.TICKETS_DISPATCHED, ticket_id),
        "metrics": _record_span(spans, "metrics", topics.TICKETS_DISPATCHED, ticket_id),
    }
    return hops if all(hops.values()) else None


def _ancestors(span: dict, by_id: dict[str, dict]) -> list[dict]:
    chain = []
    while (parent := by_id.get(span.get("parent_id") or "")) is not None:
        chain.append(parent)
        span = parent
    return chain


async def test_one_ticket_is_one_trace_across_the_four_services_and_a_breach_is_a_linked_trace(traced, db_for):
    intake = client_for(traced.apps["intake"])
    # One ticket over HTTP, one from a channel straight onto hotline.raw (no key, no trace context).
    async with intake:
        answer = await intake.post("/v1/tickets", json=citizen_record(raw_record(f"trace-http-{uuid.uuid4().hex[:8]}", PLACE)))
        assert answer.status_code == 202, answer.text
    by_http = answer.json()["ticket_id"]
    source_id = f"trace-raw-{uuid.uuid4().hex[:8]}"
    by_kafka = ticket_id_for("phone", source_id)
    await publish(traced.space.kafka, traced.space.prefix + topics.RAW, raw_record(source_id, PLACE))

    journeys = {}
    for ticket_id in (by_http, by_kafka):
        async def written(ticket_id=ticket_id):
            return _journey(_spans(traced, ticket_id), ticket_id, topics.RAW)
        journeys[ticket_id] = await eventually(written, timeout_s=60)

    for ticket_id, hops in journeys.items():
        spans = _spans(traced, ticket_id)
        by_id = {s["span_id"]: s for s in spans}
        # One trace id from intake to metrics, each hop a descendant of the one before.
        assert len({s["trace_id"] for s in hops.values()}) == 1, hops
        assert hops["intake"] in _ancestors(hops["routing"], by_id)
        assert hops["routing"] in _ancestors(hops["followup"], by_id)
        assert hops["routing"] in _ancestors(hops["metrics"], by_id)
        journey = [s for s in spans if s["trace_id"] == hops["intake"]["trace_id"]]
        assert {s["service"] for s in journey} == {"intake", "routing", "followup", "metrics"}
        assert hops["followup"]["attributes"][telemetry.UNIT_CODE] == hops["metrics"]["attributes"][telemetry.UNIT_CODE]
        assert any(s["attributes"].get(telemetry.CATEGORY) for s in journey)
    # The HTTP ticket's trace starts at the request; the channel's at intake's raw record.
    http_root = _ancestors(journeys[by_http]["intake"], {s["span_id"]: s for s in _spans(traced, by_http)})[-1]
    assert http_root["service"] == "intake" and http_root["kind"] == "SERVER" and "POST" in http_root["name"]
    assert journeys[by_kafka]["intake"]["parent_id"] is None
    assert journeys[by_http]["intake"]["trace_id"] != journeys[by_kafka]["intake"]["trace_id"]

    # A unit's action over HTTP starts from its request: the contact reaches metrics in that trace.
    unit = journeys[by_http]["followup"]["attributes"][telemetry.UNIT_CODE]
    followup = client_for(traced.apps["followup"])
    async with followup:
        contact = {"unit_code": unit, "kind": "phone", "staff_id": "LX-1", "contacted_at": datetime.now(UTC).isoformat()}
        answer = await followup.post(f"/v1/tickets/{by_http}/contacts", json=contact,
                                     headers=await issue_token(traced.space, unit))
        assert answer.status_code == 201, answer.text

    async def contact_traced():
        spans = _spans(traced, by_http)
        by_id = {s["span_id"]: s for s in spans}
        in_metrics = [s for s in spans if s["service"] == "metrics" and s["name"].endswith(f"{topics.TICKETS_FOLLOWUP} record")]
        roots = [_ancestors(s, by_id)[-1] for s in in_metrics if _ancestors(s, by_id)]
        return [r for r in roots if r["kind"] == "SERVER" and r["service"] == "followup" and "contacts" in r["name"]]
    assert await eventually(contact_traced, timeout_s=60)

    # Business time passes the response deadline (24 h for a general ticket): the scheduler fires
    # warnings, the breach and the escalation in a new trace linked to the ticket's.
    followup_tickets = db_for(traced)["followup_tickets"]

    async def dispatched_with_trace():
        doc = await followup_tickets.find_one({"_id": by_kafka})
        return doc and doc.get("traceparent")
    stored = await eventually(dispatched_with_trace)
    assert stored.split("-")[1] == journeys[by_kafka]["followup"]["trace_id"]
    await publish(traced.space.kafka, traced.space.prefix + topics.CLOCK,
                  {"now": (datetime.now(UTC) + timedelta(hours=25)).isoformat(), "source": "test"})

    def deadline_spans(spans):
        return [s for s in spans if s["name"] == "followup deadline"]

    async def breach_traced():
        spans = _spans(traced, by_kafka)
        fired = deadline_spans(spans)
        kinds = {k for s in fired for k in s["attributes"].get("hotline.deadline.kinds", [])}
        metrics_saw = [s for s in spans if s["service"] == "metrics" and s["name"].endswith(f"{topics.TICKETS_FOLLOWUP} record")
                       and any(s["trace_id"] == f["trace_id"] for f in fired)]
        return (spans, fired) if "breach" in kinds and metrics_saw else None
    spans, fired = await eventually(breach_traced, timeout_s=60)
    journey_trace, dispatch_span = journeys[by_kafka]["followup"]["trace_id"], journeys[by_kafka]["followup"]["span_id"]
    for span in fired:
        assert span["service"] == "followup" and span["parent_id"] is None
        assert span["trace_id"] != journey_trace
        assert span["links"] == [{"trace_id": journey_trace, "span_id": dispatch_span}]
        assert span["attributes"][telemetry.TICKET_ID] == by_kafka
    # The breach's events reach metrics inside the deadline's trace.
    by_id = {s["span_id"]: s for s in spans}
    in_metrics = [s for s in spans if s["service"] == "metrics" and s["trace_id"] in {f["trace_id"] for f in fired}]
    fired_ids = {f["span_id"] for f in fired}
    assert any(fired_ids & {a["span_id"] for a in _ancestors(s, by_id)} for s in in_metrics)

    # `hotline trace` draws it all.
    console = Console(file=io.StringIO(), width=200)
    console.print(span_tree(spans, by_kafka))
    drawn = console.file.getvalue()
    assert "followup deadline" in drawn and f"linked to trace {journey_trace}" in drawn



async def test_no_span_attribute_or_log_line_holds_the_callers_phone_or_name(traced):
    """Every span and log line of this module's services, once a ticket with a phone and a name went
    the whole way over HTTP, Open311 (phone in the form and in a query string) and the raw topic."""
    phone = "13912345678"
    record = raw_record(f"trace-pii-{uuid.uuid4().hex[:8]}", PLACE, caller={"phone": phone, "name": NAME})
    async with client_for(traced.apps["intake"]) as intake:
        assert (await intake.post("/v1/tickets", json=citizen_record(record))).status_code == 202
        form = {"service_code": "roads_traffic", "address_string": PLACE, "description": "路面坑洼",
                "phone": phone, "first_name": "王", "last_name": "先生"}
        assert (await intake.post("/open311/v2/requests.json", data=form)).status_code == 201
        assert (await intake.get(f"/open311/v2/services.json?phone={phone}")).status_code == 200
    source_id = f"trace-pii-raw-{uuid.uuid4().hex[:8]}"
    await publish(traced.space.kafka, traced.space.prefix + topics.RAW,
                  raw_record(source_id, PLACE, caller={"phone": phone, "name": NAME}))
    await publish(traced.space.kafka, traced.space.prefix + topics.RAW, b"not json")  # logged, dead-lettered
    by_kafka = ticket_id_for("phone", source_id)
    await eventually(lambda: _async(_journey(_spans(traced, by_kafka), by_kafka, topics.RAW)), timeout_s=60)

    telemetry.flush()
    files = trace_files(traced.traces)
    assert {path.name for path in files} == {"intake.jsonl", "routing.jsonl", "followup.jsonl", "metrics.jsonl"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert phone not in text and PHONE not in text and NAME not in text, path
        assert record["content"] not in text  # nor what the citizen said
    # The query string was recorded, as `redacted`.
    assert "redacted" in (traced.traces / "intake.jsonl").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in traced.logs.getvalue().splitlines()]
    assert lines and all(phone not in json.dumps(line, ensure_ascii=False) for line in lines)
    assert all(NAME not in json.dumps(line, ensure_ascii=False) for line in lines)
    # A line logged while a batch is handled names its trace and span.
    rejected = [line for line in lines if line["msg"] == "rejected raw record"]
    assert rejected and all(len(line["trace_id"]) == 32 and len(line["span_id"]) == 16 for line in rejected)


async def _async(value):
    return value


@pytest.fixture
async def db_for():
    clients = []

    def open_db(traced):
        client = AsyncMongoClient(traced.space.mongodb_url, tz_aware=True)
        clients.append(client)
        return client[traced.space.database]
    yield open_db
    for client in clients:
        await client.close()
