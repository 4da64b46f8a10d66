"""JSON-lines logging; records carry ids, never personal data."""

import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import format_span_id, format_trace_id

from hotline.runtime import telemetry

_EXTRA_FIELDS = ("ticket_id", "unit_code", "topic", "count", "reason", "event_type")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the service name and any known id fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for field in _EXTRA_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        # The span the line was logged in, so a log line leads to its trace and back.
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format_trace_id(span.trace_id)
            entry["span_id"] = format_span_id(span.span_id)
        if "ticket_id" not in entry and (ticket_id := telemetry.current_ticket_id()):
            entry["ticket_id"] = ticket_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str) -> None:
    """Send every logger's records to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # FastStream's own logger prints coloured text to stderr: send it through ours instead.
    faststream_logger = logging.getLogger("faststream")
    faststream_logger.handlers[:] = []
    faststream_logger.propagate = True
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("pymongo").setLevel(logging.WARNING)
    # Under a burst the span queue drops spans, and the SDK would log one line per dropped span.
    logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)
