"""Tracing: one trace per ticket journey across the services (issue #7).

Every consume and publish is traced by `KafkaSpans`, a FastStream middleware that carries the W3C
`traceparent` in each record's headers. The services consume in batches, and a batch span cannot
be the parent of every ticket's next hop, so each record gets a span of its own, as the child of
the context in that record's headers, and `publishing` makes each publish the child of the record
with the same key (records are keyed by ticket id). A ticket's journey (intake, routing,
followup, metrics) is then one trace. Deadline marks fired by followup's scheduler start a new
trace linked to the ticket's (`linked_spans`).

Spans carry the ticket id, unit code and category (`hotline.*` attributes), never a phone, a name
or the content. They go over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else to a
JSON-lines file per service (`<traces dir>/<service>.jsonl`) that `hotline trace` reads.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

from faststream._internal.middlewares import BaseMiddleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.semconv.trace import SpanAttributes
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pymongo import monitoring

from hotline.contracts import topics
from hotline.contracts.common import ticket_id_for
from hotline.runtime.records import consumed_records
from hotline.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

TICKET_ID, UNIT_CODE, CATEGORY = "hotline.ticket_id", "hotline.unit_code", "hotline.category"
_LIBRARY = "hotline"
# Past this size a trace file moves to `<service>.jsonl.1` (replacing the one before), at start
# and while the service runs: a service keeps at most about twice this on disk.
_ROTATE_BYTES = 64 * 1024 * 1024
# Request attributes that can hold personal data: a query string (an Open311 client may put the
# caller's phone there) and the client's address.
_REDACTED = ("http.url", "url.full", "url.query", "http.target", "net.peer.ip", "client.address",
             "http.client_ip", "net.sock.peer.addr", "network.peer.address")

_PROPAGATOR = TraceContextTextMapPropagator()
# The ticket attributes of whatever runs in a context: copied onto every span started in it.
_TICKET_ATTRS = otel_context.create_key("hotline.ticket_attributes")
# Inside a consumed batch (or a deadline pass): key (ticket id) -> that record's context.
_RECORDS: ContextVar[dict[str, Context] | None] = ContextVar("hotline_record_contexts", default=None)


def _ticket_attrs(context: Context | None = None) -> dict[str, str] | None:
    """The ticket attributes set in `context` (the current one by default): only this module sets them."""
    return cast("dict[str, str] | None", otel_context.get_value(_TICKET_ATTRS, context))

_lock = threading.Lock()
_providers: dict[tuple[str, str], TracerProvider] = {}
# Resource (by id) -> tracer: a MongoDB command is traced by the provider of its parent span, so
# four services in one test process keep their spans apart.
_tracers: dict[int, trace.Tracer] = {}
_mongo_registered = False


# --- setup -------------------------------------------------------------------------------------


def default_traces_dir() -> Path:
    """`$HOTLINE_LOCAL_DIR/traces`, else `.local/traces` under the repository (or the working dir)."""
    local = os.environ.get("HOTLINE_LOCAL_DIR")
    if local:
        return Path(local) / "traces"
    repo = Path(__file__).resolve().parents[3]
    base = repo if (repo / "pyproject.toml").exists() else Path.cwd()
    return base / ".local" / "traces"


def traces_dir(settings: ServiceSettings) -> Path:
    """Where this deployment's trace files are."""
    return settings.traces_dir or default_traces_dir()


def tracer_provider(service: str, settings: ServiceSettings) -> TracerProvider:
    """The service's tracer provider, made once per process (and per trace directory)."""
    target = settings.otel_exporter_otlp_endpoint or str(traces_dir(settings))
    with _lock:
        provider = _providers.get((service, target))
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": service,
                                                                "service.namespace": "hotline"}))
            provider.add_span_processor(TicketAttributes())
            # A second's delay keeps `hotline trace` current; a full queue drops spans, never blocks.
            provider.add_span_processor(BatchSpanProcessor(span_exporter(service, settings),
                                                           schedule_delay_millis=1000, max_queue_size=16384,
                                                           max_export_batch_size=1024))
            _providers[(service, target)] = provider
            _tracers[id(provider.resource)] = provider.get_tracer(_LIBRARY)
        _register_mongo_listener()
        return provider


def tracer(service: str, settings: ServiceSettings) -> trace.Tracer:
    """A tracer of the service's provider."""
    return tracer_provider(service, settings).get_tracer(_LIBRARY)


def span_exporter(service: str, settings: ServiceSettings) -> SpanExporter:
    """OTLP over HTTP when an endpoint is configured, else the service's JSON-lines file."""
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # As the standard variables mean it: the traces endpoint wins, else <endpoint>/v1/traces.
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
            settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces")
        return OTLPSpanExporter(endpoint=endpoint)
    path = traces_dir(settings) / f"{service}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    # The SDK's console exporter writes to any stream; each span is one compact JSON line.
    # The exporter only writes and flushes its stream, all RotatingLines has of typing.IO.
    return ConsoleSpanExporter(out=RotatingLines(path, _ROTATE_BYTES), formatter=span_line)  # type: ignore[arg-type]


class RotatingLines:
    """An append-only text file that moves to `<name>.1` (replacing the one before) once it
    passes `limit` bytes, between lines. Written by one thread (the span processor's)."""

    def __init__(self, path: Path, limit: int) -> None:
        self._path, self._limit = path, limit
        if path.exists() and path.stat().st_size > limit:
            self._move_aside()
        self._size = path.stat().st_size if path.exists() else 0
        self._file = path.open("a", encoding="utf-8")

    def write(self, text: str) -> int:
        written = self._file.write(text)
        self._size += len(text.encode())
        if self._size > self._limit:
            self._file.close()
            self._move_aside()
            self._size = 0
            self._file = self._path.open("a", encoding="utf-8")
        return written

    def flush(self) -> None:
        self._file.flush()

    def _move_aside(self) -> None:
        self._path.replace(self._path.with_name(self._path.name + ".1"))


def kafka_middlewares(service: str, settings: ServiceSettings,
                      used_events: Mapping[str, Collection[str]] | None = None) -> list:
    """The FastStream middleware that traces every consumed batch, each of its records and every
    publish. `used_events` names, for topics (without prefix) where the service uses only some
    event types, those types: the other records get no span of their own (the service skips them)."""
    used = {settings.topic(t): frozenset(types) for t, types in (used_events or {}).items()}
    return [_KafkaSpansFactory(tracer(service, settings), settings.topic(topics.RAW), used)]


def instrument_http(app, service: str, settings: ServiceSettings) -> None:
    """Trace the app's HTTP requests (not health checks or metrics scrapes)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider(service, settings), meter_provider=NoOpMeterProvider(),
        excluded_urls="/healthz$,/metrics$", exclude_spans=["receive", "send"],
        server_request_hook=_redact_request,
    )


def use_globally(service: str, settings: ServiceSettings) -> None:
    """Make the service's provider the process's (one service per process under run_service)."""
    trace.set_tracer_provider(tracer_provider(service, settings))


def flush(timeout_millis: int = 5000) -> None:
    """Export every finished span now (on stop, and for tests that read the files)."""
    with _lock:
        providers = list(_providers.values())
    for provider in providers:
        provider.force_flush(timeout_millis)


def _redact_request(span, scope) -> None:
    """Called by the ASGI instrumentation once it has set the request's attributes."""
    if span.is_recording():
        present = span.attributes or {}
        for key in _REDACTED:
            if key in present:
                span.set_attribute(key, "redacted")


class TicketAttributes(SpanProcessor):
    """Copies the ticket attributes of the span's context onto it."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attrs = _ticket_attrs(parent_context)
        if attrs:
            span.set_attributes(attrs)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_line(span: ReadableSpan) -> str:
    """A span as one JSON line (what `hotline trace` reads)."""
    ctx = span.context
    return json.dumps({
        "trace_id": format_trace_id(ctx.trace_id),
        "span_id": format_span_id(ctx.span_id),
        "parent_id": format_span_id(span.parent.span_id) if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get("service.name"),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "links": [{"trace_id": format_trace_id(link.context.trace_id),
                   "span_id": format_span_id(link.context.span_id)} for link in span.links],
    }, ensure_ascii=False, default=str) + "\n"


# --- per-record context ------------------------------------------------------------------------


def _record_attrs(record, raw_topic: str) -> dict[str, str]:
    """The ticket id, unit code and category a record names (ids only, never personal data).

    Raw records are keyed by source id, or not at all: their span is filed under the ticket id
    intake derives from channel and source id, so the ticket's trace starts at the raw record.
    """
    attrs: dict[str, str] = {}
    key = record.key.decode(errors="replace") if record.key else None
    data: Any = None
    if record.value and len(record.value) <= 65536:
        try:
            data = json.loads(record.value)
        except ValueError:
            data = None
    if not isinstance(data, dict):
        data = {}
    if record.topic == raw_topic:
        channel, source_id = data.get("channel"), data.get("source_id")
        if isinstance(channel, str) and isinstance(source_id, str):
            key = ticket_id_for(channel, source_id)
    ticket_id = data.get("ticket_id") if isinstance(data.get("ticket_id"), str) else key
    if ticket_id:
        attrs[TICKET_ID] = ticket_id
    attrs.update(_fields(data))
    return attrs


def _fields(data: Mapping) -> dict[str, str]:
    found: dict[str, str] = {}
    location = data.get("location")
    unit = data.get("unit_code") or (location.get("unit_code") if isinstance(location, dict) else None)
    if isinstance(unit, str):
        found[UNIT_CODE] = unit
    if isinstance(data.get("category"), str):
        found[CATEGORY] = data["category"]
    return found


def message_attrs(message: Any) -> dict[str, str]:
    """The ticket attributes of an outgoing message (a contract)."""
    found: dict[str, str] = {}
    ticket_id = getattr(message, "ticket_id", None)
    if isinstance(ticket_id, str):
        found[TICKET_ID] = ticket_id
    location = getattr(message, "location", None)
    unit = getattr(message, "unit_code", None) or getattr(location, "unit_code", None)
    if isinstance(unit, str):
        found[UNIT_CODE] = unit
    category = getattr(message, "category", None)
    if isinstance(category, str):
        found[CATEGORY] = category
    return found


class _KafkaSpansFactory:
    """Builds a `KafkaSpans` middleware per consumed batch and per publish (FastStream's protocol)."""

    def __init__(self, tracer_: trace.Tracer, raw_topic: str, used: Mapping[str, frozenset[str]]) -> None:
        self._tracer = tracer_
        self._raw_topic = raw_topic
        self._used = used

    def __call__(self, msg: Any, /, *, context) -> KafkaSpans:
        return KafkaSpans(msg, context=context, tracer=self._tracer, raw_topic=self._raw_topic, used=self._used)


class KafkaSpans(BaseMiddleware):
    """A consumed batch: a `<topic> process` span (a trace of its own: the records belong to many
    tickets), and one span per record, the child of the context in that record's headers and linked
    to the batch's; while the handler runs, `publishing` finds each record's context by its key.
    A publish: one `<topic> publish` span under the current context, whose `traceparent` the
    record carries.

    In place of FastStream's `KafkaTelemetryMiddleware`, which made two spans per publish and two
    per batch (a `create` span before each) and read every record's headers a second time. Under
    FastStream's test broker a one-record publish and its batch took 1.35 ms of CPU traced by both,
    0.9 ms by this alone, 0.4 ms untraced.
    """

    def __init__(self, msg: Any, /, *, context, tracer: trace.Tracer, raw_topic: str,
                 used: Mapping[str, frozenset[str]] | None = None) -> None:
        super().__init__(msg, context=context)
        self._tracer = tracer
        self._raw_topic = raw_topic
        self._used = used or {}

    async def consume_scope(self, call_next, msg):
        records = consumed_records(msg)
        topic = records[0].topic if records else ""
        with self._tracer.start_as_current_span(
            f"{topic} process", context=Context(), kind=SpanKind.CONSUMER,
            attributes={SpanAttributes.MESSAGING_SYSTEM: "kafka", SpanAttributes.MESSAGING_DESTINATION_NAME: topic,
                        SpanAttributes.MESSAGING_OPERATION: "process",
                        SpanAttributes.MESSAGING_BATCH_MESSAGE_COUNT: len(records)},
        ) as batch_span:
            batch = batch_span.get_span_context()
            links = [Link(batch)] if batch.is_valid else None
            contexts: dict[str, Context] = {}
            spans = []
            for record in records:
                used = self._used.get(record.topic)
                if used is not None and (kind := topics.event_type_of(record.headers)) is not None and kind not in used:
                    continue  # a record the service skips: a span per record costs a fifth of its CPU
                attrs = _record_attrs(record, self._raw_topic)
                headers = {k: v.decode(errors="replace") for k, v in (record.headers or ()) if v is not None}
                parent = _PROPAGATOR.extract(headers)
                span = self._tracer.start_span(
                    f"{record.topic} record", context=parent, kind=SpanKind.CONSUMER, links=links,
                    attributes={**attrs, SpanAttributes.MESSAGING_KAFKA_DESTINATION_PARTITION: record.partition,
                                SpanAttributes.MESSAGING_KAFKA_MESSAGE_OFFSET: record.offset})
                spans.append(span)
                if TICKET_ID in attrs:
                    # A later record of the same ticket in the batch is its latest state: it wins.
                    contexts[attrs[TICKET_ID]] = otel_context.set_value(
                        _TICKET_ATTRS, attrs, trace.set_span_in_context(span, parent))
            with _tickets_in_scope(contexts, spans):
                return await call_next(msg)

    async def publish_scope(self, call_next, cmd):
        with self._tracer.start_as_current_span(
            f"{cmd.destination} publish", kind=SpanKind.PRODUCER,
            attributes={SpanAttributes.MESSAGING_SYSTEM: "kafka",
                        SpanAttributes.MESSAGING_DESTINATION_NAME: cmd.destination,
                        SpanAttributes.MESSAGING_OPERATION: "publish"},
        ):
            _PROPAGATOR.inject(cmd.headers)
            return await call_next(cmd)


@contextmanager
def publishing(key: str | None, message: Any) -> Iterator[None]:
    """Publish `message` in its ticket's trace: under the consumed record with the same key, or,
    outside a batch, under the current span (an HTTP request). Inside a batch a message with no
    record of its own starts a trace of its own rather than joining the batch's."""
    records = _RECORDS.get()
    base = records.get(key) if records is not None and key else None
    if base is None:
        base = Context() if records is not None else otel_context.get_current()
    attrs = {**(_ticket_attrs(base) or {}), **message_attrs(message)}
    token = otel_context.attach(otel_context.set_value(_TICKET_ATTRS, attrs, base))
    try:
        yield
    finally:
        otel_context.detach(token)


def traceparent(ticket_id: str) -> str | None:
    """The W3C traceparent of this ticket's record in the batch being handled, if any."""
    records = _RECORDS.get()
    ctx = records.get(ticket_id) if records else None
    if ctx is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=ctx)
    return carrier.get("traceparent")


@contextmanager
def linked_spans(tracer_: trace.Tracer, name: str,
                 tickets: Iterable[tuple[str, str | None, Mapping[str, Any]]]) -> Iterator[None]:
    """For work a timer starts (a deadline mark): a new trace per ticket, its root span linked to
    the ticket's trace (`traceparent`), under which `publishing` sends that ticket's messages."""
    contexts: dict[str, Context] = {}
    spans = []
    for ticket_id, parent_traceparent, attributes in tickets:
        linked = trace.get_current_span(_PROPAGATOR.extract({"traceparent": parent_traceparent})
                                        if parent_traceparent else Context()).get_span_context()
        attrs = {TICKET_ID: ticket_id, **attributes}
        span = tracer_.start_span(name, context=Context(), kind=SpanKind.INTERNAL, attributes=attrs,
                                  links=[Link(linked)] if linked.is_valid else None)
        spans.append(span)
        ticket_attrs = {k: v for k, v in attrs.items() if k in (TICKET_ID, UNIT_CODE, CATEGORY)}
        contexts[ticket_id] = otel_context.set_value(_TICKET_ATTRS, ticket_attrs, trace.set_span_in_context(span))
    with _tickets_in_scope(contexts, spans):
        yield


@contextmanager
def _tickets_in_scope(contexts: dict[str, Context], spans: list) -> Iterator[None]:
    """Make each ticket's context findable by `publishing` for the work inside; then end the
    spans, marked as failed when the work raised."""
    token = _RECORDS.set(contexts)
    try:
        yield
    except Exception as exc:
        for span in spans:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        _RECORDS.reset(token)
        for span in spans:
            span.end()


def current_ticket_id() -> str | None:
    """The ticket the current context works on, if any (for log lines)."""
    attrs = _ticket_attrs()
    return attrs.get(TICKET_ID) if attrs else None


# --- MongoDB -----------------------------------------------------------------------------------


class _MongoSpans(monitoring.CommandListener):
    """A span per MongoDB command: operation, database and collection, never the statement.

    Only commands run inside a traced request, batch or deadline pass are recorded: the
    scheduler's idle polls would otherwise fill the files with one-span traces.
    """

    def __init__(self) -> None:
        self._spans: dict[tuple, trace.Span] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        parent = trace.get_current_span()
        if not parent.is_recording():
            return
        tracer_ = _tracers.get(id(getattr(parent, "resource", None)))
        if tracer_ is None:
            return
        collection = event.command.get(event.command_name)
        attrs = {"db.system.name": "mongodb", "db.namespace": event.database_name,
                 "db.operation.name": event.command_name}
        if isinstance(collection, str):
            attrs["db.collection.name"] = collection
        span = tracer_.start_span(f"mongodb {event.command_name}", kind=SpanKind.CLIENT, attributes=attrs)
        self._spans[(event.connection_id, event.request_id)] = span

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        span = self._spans.pop((event.connection_id, event.request_id), None)
        if span is not None:
            span.end()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        span = self._spans.pop((event.connection_id, event.request_id), None)
        if span is not None:
            # The code name only: an error message can quote a document's values.
            span.set_status(Status(StatusCode.ERROR, str(event.failure.get("codeName", "failed"))))
            span.end()


def _register_mongo_listener() -> None:
    """Once per process, before the first client is made (clients copy the global listeners)."""
    global _mongo_registered
    if not _mongo_registered:
        monitoring.register(_MongoSpans())
        _mongo_registered = True
