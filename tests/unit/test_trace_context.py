"""Per-record trace context inside a consumed batch, deadline spans linked to the ticket's trace,
and log lines that carry the trace (real OpenTelemetry SDK, in-memory exporter, no broker)."""

import io
import json
import logging
from types import SimpleNamespace

from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id

from hotline.contracts.common import ticket_id_for
from hotline.runtime import telemetry
from hotline.runtime.logs import JsonFormatter

UPSTREAM_TRACE, UPSTREAM_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(telemetry.TicketAttributes())
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider, exporter


def record(topic: str, key: str | None, value: dict, headers=()) -> ConsumerRecord:
    body = json.dumps(value).encode()
    return ConsumerRecord(topic, 0, 7, 0, 0, key.encode() if key else None, body, None, 0, len(body), list(headers))


async def consume(tracer, records, handler, used=None):
    """Run `handler` as a batch handler behind KafkaSpans."""
    middleware = telemetry.KafkaSpans(None, context=None, tracer=tracer, raw_topic="p-hotline.raw", used=used)
    return await middleware.consume_scope(handler, SimpleNamespace(raw_message=tuple(records)))


async def publish(tracer, destination: str) -> dict:
    """Publish through KafkaSpans as FastStream's publish does; return the headers that went out."""
    middleware = telemetry.KafkaSpans(None, context=None, tracer=tracer, raw_topic="p-hotline.raw")
    sent = {}

    async def send(cmd):
        sent.update(cmd.headers)

    await middleware.publish_scope(send, SimpleNamespace(destination=destination, headers={"event_type": "X"}))
    return sent


async def test_each_record_continues_its_own_trace_and_publishes_under_it():
    tracer_provider, exporter = provider()
    tracer = tracer_provider.get_tracer("test")
    upstream = f"00-{UPSTREAM_TRACE}-{UPSTREAM_SPAN}-01"
    raw = {"channel": "phone", "source_id": "s-1", "caller": {"phone": "13800001234"}}
    records = [
        record("p-tickets.dispatched", "TK1", {"ticket_id": "TK1", "unit_code": "110111008"},
               headers=[("traceparent", upstream.encode())]),
        record("p-hotline.raw", None, raw),  # keyed by nothing: filed under the ticket id intake derives
    ]
    seen = {}

    async def handler(_msg):
        for key in ("TK1", ticket_id_for("phone", "s-1"), "TK-NOT-IN-BATCH"):
            with telemetry.publishing(key, SimpleNamespace(ticket_id=key, category="roads_traffic")):
                with tracer.start_as_current_span("publish") as span:
                    seen[key] = span
        seen["traceparent"] = telemetry.traceparent("TK1")

    await consume(tracer, records, handler)
    spans = {(s.name, s.attributes.get(telemetry.TICKET_ID)): s for s in exporter.get_finished_spans()}
    (batch,) = [s for s in exporter.get_finished_spans() if s.name == "p-tickets.dispatched process"]
    assert batch.parent is None and batch.attributes["messaging.batch.message_count"] == 2
    dispatched = spans[("p-tickets.dispatched record", "TK1")]
    # The record's span continues the upstream trace and links to the batch.
    assert format_trace_id(dispatched.context.trace_id) == UPSTREAM_TRACE
    assert format_span_id(dispatched.parent.span_id) == UPSTREAM_SPAN
    assert [link.context.span_id for link in dispatched.links] == [batch.context.span_id]
    assert dispatched.attributes[telemetry.UNIT_CODE] == "110111008"
    # A publish for that ticket is the record span's child and carries the ticket's attributes.
    published = spans[("publish", "TK1")]
    assert published.parent.span_id == dispatched.context.span_id
    assert published.attributes[telemetry.CATEGORY] == "roads_traffic"
    assert published.attributes[telemetry.UNIT_CODE] == "110111008"
    assert seen["traceparent"] == f"00-{UPSTREAM_TRACE}-{format_span_id(dispatched.context.span_id)}-01"
    # The raw record has no key: its ticket's publish still joins its trace.
    raw_ticket = ticket_id_for("phone", "s-1")
    raw_span = spans[("p-hotline.raw record", raw_ticket)]
    assert spans[("publish", raw_ticket)].parent.span_id == raw_span.context.span_id
    # A message of no record in the batch starts its own trace: never the batch's.
    stray = spans[("publish", "TK-NOT-IN-BATCH")]
    assert stray.parent is None and stray.context.trace_id != batch.context.trace_id
    assert all("13800001234" not in json.dumps(dict(s.attributes)) for s in exporter.get_finished_spans())


async def test_a_failed_batch_marks_its_record_spans_as_errors():
    tracer_provider, exporter = provider()

    async def handler(_msg):
        raise RuntimeError("store down")

    try:
        await consume(tracer_provider.get_tracer("test"), [record("p-tickets.received", "TK2", {"ticket_id": "TK2"})],
                      handler)
    except RuntimeError:
        pass
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "p-tickets.received record"]
    assert span.status.status_code is trace.StatusCode.ERROR
    (batch,) = [s for s in exporter.get_finished_spans() if s.name == "p-tickets.received process"]
    assert batch.status.status_code is trace.StatusCode.ERROR


async def test_a_publish_is_one_span_under_its_tickets_record_and_its_record_carries_that_span():
    tracer_provider, exporter = provider()
    tracer = tracer_provider.get_tracer("test")
    upstream = f"00-{UPSTREAM_TRACE}-{UPSTREAM_SPAN}-01"
    sent = {}

    async def handler(_msg):
        with telemetry.publishing("TK5", SimpleNamespace(ticket_id="TK5", category="roads_traffic")):
            sent.update(await publish(tracer, "p-tickets.dispatched"))

    await consume(tracer, [record("p-tickets.received", "TK5", {"ticket_id": "TK5"},
                                  headers=[("traceparent", upstream.encode())])], handler)
    finished = exporter.get_finished_spans()
    (published,) = [s for s in finished if s.kind is trace.SpanKind.PRODUCER]
    received = next(s for s in finished if s.name == "p-tickets.received record")
    assert published.name == "p-tickets.dispatched publish"
    assert published.parent.span_id == received.context.span_id
    assert published.attributes[telemetry.TICKET_ID] == "TK5"
    assert published.attributes[telemetry.CATEGORY] == "roads_traffic"
    # The next service's record span will be the publish span's child, in the ticket's trace.
    assert sent == {"event_type": "X",
                    "traceparent": f"00-{UPSTREAM_TRACE}-{format_span_id(published.context.span_id)}-01"}
    # Outside a batch (an HTTP request), a publish is the child of the current span.
    with tracer.start_as_current_span("POST /v1/tickets") as request:
        await publish(tracer, "p-hotline.raw")
    outside = next(s for s in exporter.get_finished_spans() if s.name == "p-hotline.raw publish")
    assert outside.parent.span_id == request.get_span_context().span_id


def test_deadline_spans_start_a_new_trace_linked_to_the_ticket_and_log_lines_carry_it():
    tracer_provider, exporter = provider()
    tracer = tracer_provider.get_tracer("test")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("followup"))
    logger = logging.getLogger("test.trace.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("outside any span")
        tickets = [("TK3", f"00-{UPSTREAM_TRACE}-{UPSTREAM_SPAN}-01", {telemetry.UNIT_CODE: "110111008"}),
                   ("TK4", None, {})]
        with telemetry.linked_spans(tracer, "followup deadline", tickets):
            with telemetry.publishing("TK3", SimpleNamespace(ticket_id="TK3")):
                with tracer.start_as_current_span("publish"):
                    logger.info("published a mark")
    finally:
        logger.removeHandler(handler)
    spans = {(s.name, s.attributes.get(telemetry.TICKET_ID)): s for s in exporter.get_finished_spans()}
    deadline = spans[("followup deadline", "TK3")]
    assert deadline.parent is None
    assert format_trace_id(deadline.context.trace_id) != UPSTREAM_TRACE
    assert [(format_trace_id(link.context.trace_id), format_span_id(link.context.span_id))
            for link in deadline.links] == [(UPSTREAM_TRACE, UPSTREAM_SPAN)]
    assert spans[("followup deadline", "TK4")].links == ()  # no stored context: a trace of its own
    publish = spans[("publish", "TK3")]
    assert publish.parent.span_id == deadline.context.span_id

    outside, inside = [json.loads(line) for line in out.getvalue().splitlines()]
    assert "trace_id" not in outside and "ticket_id" not in outside
    assert inside["trace_id"] == format_trace_id(publish.context.trace_id)
    assert inside["span_id"] == format_span_id(publish.context.span_id)
    assert inside["ticket_id"] == "TK3"


async def test_records_a_service_skips_get_no_span_of_their_own():
    tracer_provider, exporter = provider()
    tracer = tracer_provider.get_tracer("test")
    records = [
        record("p-tickets.followup", "TK1", {"ticket_id": "TK1"}, headers=[("event_type", b"TicketClosed")]),
        record("p-tickets.followup", "TK2", {"ticket_id": "TK2"}, headers=[("event_type", b"ContactRecorded")]),
        record("p-tickets.followup", "TK3", {"ticket_id": "TK3"}),  # no type named: it may be used
        record("p-tickets.dispatched", "TK4", {"ticket_id": "TK4"}, headers=[("event_type", b"TicketDispatched")]),
    ]

    async def handler(_msg):
        return None

    await consume(tracer, records, handler, used={"p-tickets.followup": frozenset({"TicketClosed"})})
    traced = {s.attributes.get(telemetry.TICKET_ID) for s in exporter.get_finished_spans() if s.name.endswith(" record")}
    assert traced == {"TK1", "TK3", "TK4"}
