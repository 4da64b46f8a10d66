"""`hotline trace <ticket_id>`: a ticket's span tree from the services' JSON-lines files."""

import json
import re

from typer.testing import CliRunner

from hotline.cli import app

TICKET, OTHER = "TK00000000000000A1", "TK00000000000000B2"
JOURNEY, DEADLINE, UNRELATED = "a" * 32, "d" * 32, "f" * 32
MS = 1_000_000


def span(trace_id, span_id, parent, name, service, start_ms, end_ms, ticket=None, links=(), **attrs):
    attributes = {**({"hotline.ticket_id": ticket} if ticket else {}), **attrs}
    return {"trace_id": trace_id, "span_id": span_id, "parent_id": parent, "name": name, "kind": "CONSUMER",
            "service": service, "start_ns": 1_800_000_000_000 * MS + start_ms * MS,
            "end_ns": 1_800_000_000_000 * MS + end_ms * MS, "status": "UNSET", "attributes": attributes,
            "links": [{"trace_id": t, "span_id": s} for t, s in links]}


def write(path, *spans):
    path.write_text("".join(json.dumps(s) + "\n" for s in spans), encoding="utf-8")


def test_trace_prints_the_ticket_span_tree_with_services_timings_and_the_linked_deadline_trace(tmp_path):
    write(tmp_path / "intake.jsonl",
          span(JOURNEY, "1" * 16, None, "POST /v1/tickets", "intake", 0, 12),
          span(JOURNEY, "2" * 16, "1" * 16, "hotline.raw create", "intake", 2, 2, ticket=TICKET),
          span(JOURNEY, "3" * 16, "2" * 16, "hotline.raw record", "intake", 20, 45, ticket=TICKET,
               **{"hotline.unit_code": "110111008"}),
          span(JOURNEY, "4" * 16, "3" * 16, "tickets.received create", "intake", 40, 40, ticket=TICKET,
               **{"hotline.category": "roads_traffic"}),
          span(UNRELATED, "9" * 16, None, "hotline.raw record", "intake", 5, 6, ticket=OTHER))
    # Routing's and followup's files; a line cut short by a killed process is skipped.
    write(tmp_path / "routing.jsonl",
          span(JOURNEY, "5" * 16, "4" * 16, "tickets.received record", "routing", 60, 80, ticket=TICKET))
    with (tmp_path / "routing.jsonl").open("a") as out:
        out.write('{"trace_id": "' + JOURNEY + '", "span_')
    write(tmp_path / "followup.jsonl",
          span(DEADLINE, "6" * 16, None, "followup deadline", "followup", 5000, 5003, ticket=TICKET,
               links=[(JOURNEY, "5" * 16)], **{"hotline.deadline.marks": ["breach"]}))
    write(tmp_path / "metrics.jsonl.1",
          span(DEADLINE, "7" * 16, "6" * 16, "tickets.followup record", "metrics", 5010, 5020, ticket=TICKET))

    result = CliRunner().invoke(app, ["trace", TICKET, "--dir", str(tmp_path)], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "7 spans in 2 trace(s)" in lines[0]
    depth = {name: _depth(lines, name) for name in (
        "POST /v1/tickets", "hotline.raw create", "hotline.raw record", "tickets.received create",
        "tickets.received record", "followup deadline", "tickets.followup record")}
    # Each hop under the one before it: the HTTP request, intake, routing.
    assert depth["POST /v1/tickets"] < depth["hotline.raw create"] < depth["hotline.raw record"] \
        < depth["tickets.received create"] < depth["tickets.received record"]
    assert depth["followup deadline"] < depth["tickets.followup record"]
    assert _line(lines, "hotline.raw record").count("[intake]") == 1
    assert "+20.0 ms  25.0 ms" in _line(lines, "hotline.raw record")
    assert "unit_code=110111008" in _line(lines, "hotline.raw record")
    assert "+60.0 ms  20.0 ms" in _line(lines, "tickets.received record")
    assert "[routing]" in _line(lines, "tickets.received record")
    # The journey comes first; the deadline's trace names the journey it is linked to.
    journey_at = next(i for i, line in enumerate(lines) if f"trace {JOURNEY}" in line)
    deadline_at = next(i for i, line in enumerate(lines) if f"trace {DEADLINE}" in line)
    assert journey_at < deadline_at
    assert f"linked to trace {JOURNEY}" in lines[deadline_at]
    assert "marks=breach" in _line(lines, "followup deadline")
    assert OTHER not in result.output and UNRELATED not in result.output


def test_trace_of_an_unknown_ticket_or_an_empty_directory_exits_1(tmp_path):
    result = CliRunner().invoke(app, ["trace", TICKET, "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no trace files" in result.output
    write(tmp_path / "intake.jsonl", span(UNRELATED, "9" * 16, None, "hotline.raw record", "intake", 0, 1,
                                          ticket=OTHER))
    result = CliRunner().invoke(app, ["trace", TICKET, "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"no spans of ticket {TICKET}" in result.output


def _line(lines: list[str], name: str) -> str:
    return next(line for line in lines if re.search(rf"(^|[ ─└├│]){re.escape(name)}  \[", line))


def _depth(lines: list[str], name: str) -> int:
    line = _line(lines, name)
    return line.index(name)
