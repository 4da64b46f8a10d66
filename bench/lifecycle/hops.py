"""Each hop's latency for a phase's tickets, from the records' own timestamps, and ranking freshness."""

import json
from collections import defaultdict

from common import percentiles

from hotline.contracts import topics
from hotline.devkit import Namespace, read_to_end
from lifecycle.ranking_watch import RankingWatch


def _by_ticket(records, event_type: str, tickets: set[str]) -> dict[str, tuple[dict, float]]:
    """The first record of a type for each of the tickets: (event, record timestamp ms)."""
    found: dict[str, tuple[dict, float]] = {}
    for r in records:
        if dict(r.headers or ()).get("event_type", b"").decode() != event_type:
            continue
        event = json.loads(r.value)
        if event["ticket_id"] in tickets and event["ticket_id"] not in found:
            found[event["ticket_id"]] = (event, r.timestamp)
    return found


async def hop_latencies(ns: Namespace, run: str, phase: str, watch: RankingWatch, since_ms: float) -> dict:
    """Each hop's latency (ms) for the phase's tickets, from the records' timestamps (CreateTime:
    set by each producer, all on this machine's clock)."""
    read = lambda *names: read_to_end(ns.kafka, [ns.topic(n) for n in names])  # noqa: E731
    raw = {json.loads(r.value)["source_id"]: r.timestamp for r in await read(topics.RAW)}
    prefix = f"bench-{run}-{phase}"
    received: dict[str, tuple[str, float]] = {}
    for r in await read(topics.TICKETS_RECEIVED):
        event = json.loads(r.value)
        if event["source_id"].startswith(prefix):
            received[event["ticket_id"]] = (event["source_id"], r.timestamp)
    tickets = set(received)
    dispatched = _by_ticket(await read(topics.TICKETS_DISPATCHED), "TicketDispatched", tickets)
    queues = sorted({ev["unit_code"] for ev, _ in dispatched.values()})
    queued = {}
    for r in await read(*(topics.queue_topic(u) for u in queues)):
        event = json.loads(r.value)
        if event["ticket_id"] in tickets and event.get("role") == "lead":
            queued.setdefault(event["ticket_id"], r.timestamp)
    commands = {}
    for r in await read(topics.FOLLOWUP_COMMANDS):
        command = json.loads(r.value)
        if command["ticket_id"] in tickets:
            commands.setdefault((command["action"], command["ticket_id"]), r.timestamp)  # the first send
    followup = await read(topics.TICKETS_FOLLOWUP)
    contacted = _by_ticket(followup, "ContactRecorded", tickets)
    resolved = _by_ticket(followup, "TicketResolved", tickets)
    closed = _by_ticket(followup, "TicketClosed", tickets)
    callbacks = {}
    for r in await read(topics.CALLBACKS):
        ticket = json.loads(r.value)["ticket_id"]
        if ticket in tickets:
            callbacks.setdefault(ticket, r.timestamp)

    def hop(start: dict, end: dict) -> dict:
        return percentiles([end[t] - start[t] for t in start.keys() & end.keys()])

    at_raw = {t: raw[s] for t, (s, _) in received.items() if s in raw}
    at_received = {t: ts for t, (_, ts) in received.items()}
    at_dispatched = {t: ts for t, (_, ts) in dispatched.items()}
    hops = {
        "intake: raw record -> TicketReceived": hop(at_raw, at_received),
        "routing: TicketReceived -> lead unit's queue record": hop(at_received, queued),
        "raw record -> unit queue (intake + routing)": hop(at_raw, queued),
        "followup: contact command -> ContactRecorded": hop(
            {t: ts for (a, t), ts in commands.items() if a == "record_contact"},
            {t: ts for t, (_, ts) in contacted.items()}),
        "followup: resolve command -> TicketResolved": hop(
            {t: ts for (a, t), ts in commands.items() if a == "resolve"},
            {t: ts for t, (_, ts) in resolved.items()}),
        "followup: callback -> TicketClosed": hop(callbacks, {t: ts for t, (_, ts) in closed.items()}),
        "metrics: dispatch -> ranking shows it": _freshness(watch, "dispatched", at_dispatched, dispatched, since_ms),
        "metrics: callback -> ranking shows it": _freshness(watch, "callbacks", callbacks, dispatched, since_ms),
        "raw record -> ranking shows the dispatch": _freshness(watch, "dispatched", at_raw, dispatched, since_ms),
    }
    return {"tickets": len(tickets), "hops_ms": hops}


def _freshness(watch: RankingWatch, figure: str, start: dict[str, float], dispatched: dict, since_ms: float) -> dict:
    """Per unit, the k-th of the phase's events (in time order) is reflected once the ranking's count
    reaches the count before the phase plus k (counts only grow in this run; accurate to the poll)."""
    by_unit: dict[str, list[float]] = defaultdict(list)
    for ticket, at in start.items():
        if ticket in dispatched:
            by_unit[dispatched[ticket][0]["unit_code"]].append(at)
    latencies = []
    for unit, moments in by_unit.items():
        base = watch.count_at(figure, unit, since_ms)
        for k, at in enumerate(sorted(moments), start=1):
            seen = watch.reflected_at(figure, unit, base + k)
            if seen is not None:
                latencies.append(max(0.0, seen - at))
    return percentiles(latencies)
