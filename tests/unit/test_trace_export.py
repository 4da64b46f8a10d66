"""Where spans go: OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else the service's
JSON-lines file."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hotline.runtime import telemetry
from hotline.runtime.settings import ServiceSettings


def test_without_an_endpoint_spans_go_to_the_service_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    settings = ServiceSettings(traces_dir=tmp_path)
    with telemetry.tracer("file-probe", settings).start_as_current_span("probe") as span:
        span.set_attribute(telemetry.TICKET_ID, "TK-FILE")
    telemetry.flush()
    (line,) = (tmp_path / "file-probe.jsonl").read_text(encoding="utf-8").splitlines()
    written = json.loads(line)
    assert written["name"] == "probe" and written["service"] == "file-probe"
    assert written["attributes"] == {telemetry.TICKET_ID: "TK-FILE"}
    assert len(written["trace_id"]) == 32 and written["parent_id"] is None


def test_a_trace_file_past_its_limit_moves_aside_while_the_service_runs(tmp_path):
    path = tmp_path / "busy.jsonl"
    path.write_text("old\n" * 40, encoding="utf-8")  # 160 bytes: over the limit at start
    lines = telemetry.RotatingLines(path, limit=100)
    assert (tmp_path / "busy.jsonl.1").read_text(encoding="utf-8") == "old\n" * 40
    for n in range(30):
        lines.write(f"span {n:02d}\n")  # 8 bytes a line: the file moves aside after 13 lines
    lines.flush()
    assert (tmp_path / "busy.jsonl.1").read_text(encoding="utf-8") == "".join(f"span {n:02d}\n" for n in range(13, 26))
    assert path.read_text(encoding="utf-8") == "".join(f"span {n:02d}\n" for n in range(26, 30))


def test_with_an_endpoint_spans_go_over_otlp_http(tmp_path, monkeypatch):
    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server protocol
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        settings = ServiceSettings(traces_dir=tmp_path)
        with telemetry.tracer("otlp-probe", settings).start_as_current_span("probe"):
            pass
        telemetry.flush()
    finally:
        server.shutdown()
    assert [path for path, _ in received] == ["/v1/traces"]
    request = ExportTraceServiceRequest.FromString(received[0][1])
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    assert service == "otlp-probe"
    assert [s.name for scope in resource_spans.scope_spans for s in scope.spans] == ["probe"]
    assert not (tmp_path / "otlp-probe.jsonl").exists()
