"""Reading the JSON-lines trace files the services write, and drawing one ticket's span tree
(`hotline trace <ticket_id>`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from rich.tree import Tree

from hotline.runtime.telemetry import CATEGORY, TICKET_ID, UNIT_CODE


def trace_files(directory: Path) -> list[Path]:
    """Every service's file, the rotated ones too."""
    return sorted([*directory.glob("*.jsonl"), *directory.glob("*.jsonl.1")])


def _lines(files: list[Path]) -> Iterator[str]:
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            yield from handle


def _load(line: str) -> dict | None:
    try:
        span = json.loads(line)
    except ValueError:
        return None  # a line cut short by a process that was killed while writing
    return span if isinstance(span, dict) and "trace_id" in span and "span_id" in span else None


def ticket_spans(directory: Path, ticket_id: str) -> list[dict]:
    """Every span of every trace in which some span names this ticket (its journey, and the
    traces its deadline marks started). Two passes, so a large file is never held whole."""
    files = trace_files(directory)
    trace_ids = set()
    for line in _lines(files):
        if ticket_id in line and (span := _load(line)) and span.get("attributes", {}).get(TICKET_ID) == ticket_id:
            trace_ids.add(span["trace_id"])
    if not trace_ids:
        return []
    spans, seen = [], set()
    for line in _lines(files):
        if any(t in line for t in trace_ids) and (span := _load(line)) and span["trace_id"] in trace_ids:
            if span["span_id"] not in seen:
                seen.add(span["span_id"])
                spans.append(span)
    return spans


@dataclass
class _Node:
    span: dict
    children: list[_Node] = field(default_factory=list)


def span_tree(spans: list[dict], ticket_id: str) -> Tree:
    """One branch per trace (the journey first), each span under its parent, with its service,
    start offset and duration; a trace started by a timer names the trace it links to."""
    origin = min((s["start_ns"] for s in spans), default=0)
    by_trace: dict[str, list[dict]] = {}
    for span in spans:
        by_trace.setdefault(span["trace_id"], []).append(span)
    root = Tree(Text(f"ticket {ticket_id}: {len(spans)} spans in {len(by_trace)} trace(s)", style="bold"))
    for trace_id, members in sorted(by_trace.items(), key=lambda kv: min(s["start_ns"] for s in kv[1])):
        linked = sorted({link["trace_id"] for s in members for link in s.get("links", [])
                         if link["trace_id"] != trace_id and link["trace_id"] in by_trace})
        label = Text(f"trace {trace_id}", style="cyan")
        if linked:
            label.append(f"  linked to trace {', '.join(linked)}", style="magenta")
        branch = root.add(label)
        nodes = {s["span_id"]: _Node(s) for s in members}
        tops: list[_Node] = []
        for node in nodes.values():
            parent = nodes.get(node.span.get("parent_id") or "")
            (parent.children if parent else tops).append(node)
        for node in sorted(tops, key=_start):
            _add(branch, node, origin, set(by_trace))
    return root


def _start(node: _Node) -> tuple[int, str]:
    return node.span["start_ns"], node.span["name"]


def _add(branch: Tree, node: _Node, origin: int, shown: set[str]) -> None:
    span = node.span
    attrs = span.get("attributes", {})
    offset_ms = (span["start_ns"] - origin) / 1e6
    duration_ms = ((span.get("end_ns") or span["start_ns"]) - span["start_ns"]) / 1e6
    label = Text()
    label.append(span["name"], style="bold red" if span.get("status") == "ERROR" else "bold")
    label.append(f"  [{span.get('service')}]", style="green")
    label.append(f"  +{offset_ms:.1f} ms  {duration_ms:.1f} ms", style="yellow")
    details = [f"{key.removeprefix('hotline.')}={attrs[key]}" for key in (UNIT_CODE, CATEGORY) if attrs.get(key)]
    if marks := attrs.get("hotline.deadline.marks"):
        details.append(f"marks={','.join(marks)}")
    # Links into the ticket's other traces (a deadline's to the journey); a record's link to its
    # consumed batch's span is not part of the ticket's story.
    if links := [link for link in span.get("links", []) if link["trace_id"] in shown]:
        details.append("linked to " + ",".join(f"{link['trace_id'][:8]}…/{link['span_id'][:8]}…" for link in links))
    if details:
        label.append("  " + " ".join(details), style="dim")
    child = branch.add(label)
    for sub in sorted(node.children, key=_start):
        _add(child, sub, origin, shown)
