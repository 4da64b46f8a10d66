"""The end-to-end benchmark (`make bench`): the four services as real processes on the real broker
and store, against the raw-Kafka limit measured in the same run.

1. The limit: raw aiokafka produce-and-consume of the same records, and a no-op FastStream relay.
2. Offered load: raw records at a fixed rate; each hop's latency from the records' own timestamps
   (raw record -> TicketReceived -> the lead unit's queue record; a unit's command -> its followup
   event) and ranking freshness (a dispatch or a callback -> the month's ranking showing it).
3. Saturation: a burst of tickets taken through the whole lifecycle (received, dispatched,
   contacted, resolved, called back and closed) until every ticket is closed and the rankings count
   every callback: tickets/s.
4. Rebuild: the metrics projections recomputed from the run's metrics records and copies of them
   about other tickets (ten times the run by default), beside a raw read of the same records.
5. With history (`--history N`, on by default): the same offered load and saturation again on a
   second run's store after the city simulator played N tickets over some months into it (the
   store's growth and documents written per ticket are reported), beside the empty store's.
6. A busy month: metrics' store alone, one contact at a time into a unit-month that already holds
   thousands of tickets (a Beijing street's month is 4,000-5,000): what each live update costs
   once a month is full, which the short runs above never reach.
The bench plays the handling units and the callback centre: it answers each dispatch with a
contact, each contact with a resolution (commands on `followup.commands`), each resolution with a
satisfied callback on `hotline.callbacks`. Each service's CPU share and peak RSS are read from
/proc for each phase. Writes bench/results/<date>.json and prints the table with the ratios.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from aiokafka import AIOKafkaConsumer
from history import load_history, tickets_over
from common import (
    RESULTS,
    CpuWindow,
    Namespace,
    about_other_tickets,
    addresses,
    consume_timed,
    machine,
    percentiles,
    produce,
    producer,
    raw_limit,
    raw_record,
    raw_records,
    read_to_end,
    records_written,
    stack_pids,
    start_service,
    store_commands,
    store_commands_between,
    wait_healthy,
)
from hotline.metrics.deadlines import response_due
from hotline.metrics.directory import RankingKind
from hotline.metrics.domain import fact_update, period_of
from hotline.metrics.events import TOPIC_EVENTS
from hotline.metrics.main import make_directory, make_writer
from hotline.metrics.projection import Projection
from hotline.metrics.ranking import ranking_id
from hotline.metrics.rebuild import rebuild
from hotline.metrics.settings import MetricsSettings
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.table import Table

from hotline.contracts import BUSINESS_TZ, ContactKind, ContactRecorded, TicketDispatched, topics
from hotline.runtime.kafka import ensure_topics
from hotline.runtime.mongo import drop_database

SERVICES = ("intake", "routing", "followup", "metrics")
# Issue #25's aims: a saturated lifecycle of 300 tickets/s, raw -> queue p99 of 100 ms on an empty
# store and 500 ms on one holding five months, at most 8 documents written and 20 KB of store file
# per ticket.
AIMS = {"lifecycle_tickets_per_s": 300, "raw_to_queue_p99_ms": 100, "raw_to_queue_p99_ms_with_history": 500,
        "ranking_freshness_p99_ms": 2_000, "rebuild_events_per_s": 20_000, "service_peak_rss_mb": 150,
        "documents_written_per_ticket": 8, "store_kb_per_ticket": 20}
# Wide enough for the table when the output is not a terminal (make, CI logs).
console = Console(width=max(190, Console().width))


def now_ms() -> float:
    return time.time() * 1000


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


# 1. The limit


async def relay_rate(ns: Namespace, payloads: list[bytes], logs: Path) -> dict:
    """A backlog relayed by the no-op FastStream relay in its own process: records/s from its first
    output to its last (as for the services, the producer does not compete with it)."""
    await ensure_topics(ns.kafka, [topics.TopicSpec(ns.topic(t), topics.TICKET_PARTITIONS)
                                   for t in ("bench.relay-in", "bench.relay-out")])
    await produce(ns.kafka, ns.topic("bench.relay-in"), payloads)
    relay = start_service("relay", ns.env(), logs / "relay.log", port_variable="UNUSED_PORT",
                          command=[sys.executable, str(Path(__file__).with_name("relay.py")),
                                   "bench.relay-in", "bench.relay-out"])
    window = CpuWindow({"relay": relay.process.pid})
    window.start()
    try:
        first, last = await consume_timed(ns.kafka, ns.topic("bench.relay-out"), len(payloads))
        return {"records_per_s": (len(payloads) - 1) / (last - first), "process": window.stop()["relay"]}
    finally:
        relay.stop()


# 2-3. The lifecycle driver: plays the units and the callback centre


class Driver:
    """Answers dispatches, contacts and resolutions as units and citizens would, and watches closes."""

    def __init__(self, ns: Namespace, contact_delay_s: float, retry_s: float = 0.5) -> None:
        self.ns, self.contact_delay_s, self.retry_s = ns, contact_delay_s, retry_s
        # A history's records came before the driver and are the simulator's to answer.
        self.since_ms = now_ms()
        self.closed: dict[str, float] = {}  # ticket id -> epoch ms the bench saw TicketClosed
        self.refusals = 0
        self._producer = producer(ns.kafka)
        self._consumer = AIOKafkaConsumer(
            ns.topic(topics.TICKETS_DISPATCHED), ns.topic(topics.TICKETS_FOLLOWUP), bootstrap_servers=ns.kafka,
            group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
        self._commands: dict[str, dict] = {}
        self._tasks: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        self._loop_task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for task in [self._loop_task, *self._tasks]:
            if task:
                task.cancel()
        await asyncio.gather(*[t for t in [self._loop_task, *self._tasks] if t], return_exceptions=True)
        await self._consumer.stop()
        await self._producer.stop()

    def _later(self, delay: float, coro) -> None:
        async def run():
            await asyncio.sleep(delay)
            await coro

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, command: dict) -> None:
        self._commands[command["command_id"]] = command
        await self._producer.send(self.ns.topic(topics.FOLLOWUP_COMMANDS), json.dumps(command).encode(),
                                  key=command["ticket_id"].encode())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=5_000)
            for records in batch.values():
                for record in records:
                    await self._react(record)

    async def _react(self, record) -> None:
        if record.timestamp < self.since_ms:
            return
        event_type = dict(record.headers or ()).get("event_type", b"").decode()
        if event_type not in ("TicketDispatched", "ContactRecorded", "TicketResolved", "TicketClosed",
                              "FollowupCommandRefused"):
            return
        event = json.loads(record.value)
        ticket, unit = event["ticket_id"], event.get("unit_code")
        if event_type == "TicketDispatched" and event.get("attempt", 1) == 1:
            self._later(self.contact_delay_s, self._command({
                "action": "record_contact", "command_id": f"contact-{ticket}", "ticket_id": ticket,
                "payload": {"unit_code": unit, "kind": "face_to_face", "contacted_at": iso_now(),
                            "staff_id": "bench"}}))
        elif event_type == "ContactRecorded":
            await self._command({
                "action": "resolve", "command_id": f"resolve-{ticket}", "ticket_id": ticket,
                "payload": {"unit_code": unit, "outcome": "resolved", "resolution_code": "fixed",
                            "resolved_at": iso_now()}})
        elif event_type == "TicketResolved":
            await self._producer.send(self.ns.topic(topics.CALLBACKS), json.dumps({
                "ticket_id": ticket, "resolved": True, "satisfaction": "satisfied", "surveyed_at": iso_now(),
            }).encode(), key=ticket.encode())
        elif event_type == "TicketClosed":
            self.closed.setdefault(ticket, now_ms())
        elif event_type == "FollowupCommandRefused":
            # Usually the command overtook the dispatch into followup's store: send it again.
            self.refusals += 1
            command = self._commands.get(event["command_id"])
            if command:
                for stamp in ("contacted_at", "resolved_at"):
                    if stamp in command["payload"]:
                        command["payload"][stamp] = iso_now()
                self._later(self.retry_s, self._command(command))


class RankingWatch:
    """Polls the month's rankings (the documents the ranking API serves) and keeps, per unit, when
    its `dispatched` and `callbacks` counts changed."""

    def __init__(self, ns: Namespace, interval_s: float) -> None:
        self.interval_s = interval_s
        self._client = AsyncMongoClient(ns.settings.mongodb_url)
        self._rankings = self._client[ns.settings.mongodb_database]["metrics_rankings"]
        self.history: dict[str, dict[str, list[tuple[int, float]]]] = {"dispatched": {}, "callbacks": {}}
        self.latest: dict[str, dict[str, int]] = {"dispatched": {}, "callbacks": {}}
        # The month's counts before the run's own tickets (a history's): totals count from there.
        self.baseline: dict[str, int] | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.close()

    async def poll(self) -> None:
        period = period_of(datetime.now(UTC))
        ids = [ranking_id(period, kind) for kind in RankingKind]
        at = now_ms()
        async for doc in self._rankings.find({"_id": {"$in": ids}}):
            for row in [*doc.get("rows", []), *doc.get("unranked", [])]:
                for figure in ("dispatched", "callbacks"):
                    count = row.get(figure, 0)
                    if count != self.latest[figure].get(row["unit_code"]):
                        self.latest[figure][row["unit_code"]] = count
                        self.history[figure].setdefault(row["unit_code"], []).append((count, at))

    def total(self, figure: str) -> int:
        return sum(self.latest[figure].values()) - (self.baseline or {}).get(figure, 0)

    async def _run(self) -> None:
        while True:
            await self.poll()
            if self.baseline is None:
                self.baseline = {figure: sum(counts.values()) for figure, counts in self.latest.items()}
            await asyncio.sleep(self.interval_s)

    def count_at(self, figure: str, unit: str, at_ms: float) -> int:
        """The unit's count as last seen at or before a moment."""
        count = 0
        for value, seen in self.history[figure].get(unit, []):
            if seen > at_ms:
                break
            count = value
        return count

    def reflected_at(self, figure: str, unit: str, count: int) -> float | None:
        """When the ranking first showed at least `count` for the unit."""
        return next((seen for value, seen in self.history[figure].get(unit, []) if value >= count), None)


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
            {t: ts for (a, t), ts in commands.items() if a == "record_contact"}, {t: ts for t, (_, ts) in contacted.items()}),
        "followup: resolve command -> TicketResolved": hop(
            {t: ts for (a, t), ts in commands.items() if a == "resolve"}, {t: ts for t, (_, ts) in resolved.items()}),
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


async def publish_paced(ns: Namespace, run: str, phase: str, count: int, rate: float | None) -> None:
    """`count` raw records at `rate` per second (None: as fast as the producer goes)."""
    places, sender = addresses(), producer(ns.kafka)
    await sender.start()
    try:
        started, futures = time.monotonic(), []
        for i in range(count):
            if rate:
                ahead = started + i / rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            futures.append(await sender.send(ns.topic(topics.RAW), raw_record(i, f"{run}-{phase}", places)))
        await asyncio.gather(*futures)
    finally:
        await sender.stop()


async def wait_for(condition, timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s:.0f} s")
        await asyncio.sleep(interval_s)


async def settled(missing, timeout_s: float, stable_s: float = 5) -> int:
    """Wait until nothing is missing, or the count stopped moving for `stable_s` (a ticket whose
    unit is in no ranking never shows); return what is still missing."""
    deadline, last, since = time.monotonic() + timeout_s, None, time.monotonic()
    while (left := missing()) > 0 and time.monotonic() < deadline:
        if left != last:
            last, since = left, time.monotonic()
        elif time.monotonic() - since > stable_s:
            break
        await asyncio.sleep(0.05)
    return max(0, left)


WARM_UP_TICKETS = 1000


async def lifecycle_phases(ns: Namespace, logs: Path, *, rate: float, seconds: float, tickets: int,
                           contact_delay_s: float, poll_s: float, timeout_s: float, profile: str | None,
                           history: int = 0, history_months: int = 3) -> dict:
    services, before = {}, {}
    try:
        for name in SERVICES:
            services[name] = start_service(name, ns.env(), logs / f"{name}.log")
        wait_healthy(list(services.values()))
        if history:
            loader = Driver(ns, contact_delay_s)
            await loader.start()
            try:
                before["history"] = await load_history(ns, services, loader, tickets=history, months=history_months,
                                                       timeout_s=max(timeout_s, 1800))
            finally:
                await loader.stop()
            history_records = await records_written(ns)
        pids = {name: s.process.pid for name, s in services.items()}
        driver, watch = Driver(ns, contact_delay_s), RankingWatch(ns, poll_s)
        await driver.start()
        watch.start()
        await wait_for(lambda: watch.baseline is not None, timeout_s, "the rankings' first read")
        own, shared = {**pids, "bench driver": os.getpid()}, stack_pids(ns.settings)
        try:
            # Warm-up: consumer groups join, first batches pay their set-up costs, and the store's
            # JVM compiles its hot paths (a store just started took twice the CPU per ticket).
            await publish_paced(ns, ns.run, "warm", WARM_UP_TICKETS, None)
            await wait_for(lambda: len(driver.closed) >= WARM_UP_TICKETS, timeout_s, "warm-up lifecycle")
            # Closed is not yet ranked: a warm-up callback counted after the next phase began
            # would be taken for one of that phase's, and its callback freshness read too low.
            await settled(lambda: WARM_UP_TICKETS - watch.total("callbacks"), timeout_s)

            offered = int(rate * seconds)
            window, closed_before = CpuWindow(own, shared), len(driver.closed)
            trips = store_commands(list(services.values()))
            window.start()
            since = now_ms()
            await publish_paced(ns, ns.run, "load", offered, rate)
            await wait_for(lambda: len(driver.closed) >= closed_before + offered, timeout_s, "offered-load lifecycle")
            load_shortfall = await settled(lambda: closed_before + offered - watch.total("callbacks"), timeout_s)
            load = {"offered_tickets_per_s": rate, "seconds": seconds, "processes": window.stop(),
                    "store_round_trips": store_commands_between(trips, store_commands(list(services.values())), offered),
                    "callbacks_missing_from_rankings": load_shortfall,
                    **await hop_latencies(ns, ns.run, "load", watch, since)}

            window, closed_before = CpuWindow(own, shared), len(driver.closed)
            profiler = _profile(pids[profile], logs) if profile else None
            trips = store_commands(list(services.values()))
            window.start()
            started = now_ms()
            await publish_paced(ns, ns.run, "burst", tickets, None)
            published = now_ms()
            await wait_for(lambda: len(driver.closed) >= closed_before + tickets, timeout_s, "burst lifecycle")
            all_closed = now_ms()
            shortfall = await settled(lambda: closed_before + tickets - watch.total("callbacks"), timeout_s)
            done = now_ms()
            processes = window.stop()
            round_trips = store_commands_between(trips, store_commands(list(services.values())), tickets)
            burst = {
                "tickets": tickets, "seconds": (done - started) / 1000,
                "tickets_per_s": tickets / ((done - started) / 1000),
                "publish_seconds": (published - started) / 1000,
                "all_closed_seconds": (all_closed - started) / 1000, "processes": processes,
                "command_refusals_retried": driver.refusals, "callbacks_missing_from_rankings": shortfall,
                "store_round_trips": round_trips,
            }
            if profiler:
                burst["profile"] = {"service": profile, **_profile_summary(profiler, logs)}
            # Every ticket of the run (warm-up, offered load, burst) is closed: what it cost in records.
            written = await records_written(ns)
            if history:
                written = {t: n - history_records.get(t, 0) for t, n in written.items() if n > history_records.get(t, 0)}
            run_tickets = WARM_UP_TICKETS + offered + tickets
            burst["kafka_records"] = {"tickets": run_tickets, "by_topic": written,
                                      "per_ticket": sum(written.values()) / run_tickets}
        finally:
            await watch.stop()
            await driver.stop()
    finally:
        for service in services.values():
            service.stop()
    return {**before, "offered_load": load, "saturation": burst}


def _profile(pid: int, logs: Path) -> subprocess.Popen:
    """py-spy sampling the service for the whole burst (stopped with SIGINT, it writes its stacks)."""
    return subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid), "--rate", "50",
                             "--format", "raw", "--idle", "-o", str(logs / "profile.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _profile_summary(profiler: subprocess.Popen, logs: Path, top: int = 12) -> dict:
    """From py-spy's collapsed stacks of the service's event loop (the thread in `run_service`): the
    share of samples idle in the selector (waiting for the broker or the store), and the frames of
    our code and our clients where the rest went (inclusive shares of all event-loop samples)."""
    import signal

    profiler.send_signal(signal.SIGINT)
    profiler.wait(timeout=60)
    path = logs / "profile.txt"
    loop_samples, idle, inclusive = 0, 0, defaultdict(int)
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any("run_service" in f for f in frames):
            continue  # worker threads: idle by design
        loop_samples += int(count)
        if frames[-1].split(" ")[0].endswith("Selector.select"):
            idle += int(count)
            continue
        for frame in set(frames):
            if any(part in frame for part in ("hotline/", "pymongo/", "aiokafka/")) and "run_service" not in frame \
                    and "cli.py" not in frame:
                inclusive[frame] += int(count)
    if not loop_samples:
        return {"samples": 0}
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return {"event_loop_samples": loop_samples, "event_loop_idle_share": round(idle / loop_samples, 3),
            "busy_frames_share": {frame: round(n / loop_samples, 3) for frame, n in ranked}}


# 4. Rebuild


async def rebuild_rates(ns: Namespace, copies: int) -> dict:
    """Rebuild the metrics projections from the run's metrics records and `copies` copies of them
    about other tickets (a run alone is too small: fixed costs would weigh), on topics and a
    database of its own, beside a raw read of the same records."""
    corpus = Namespace(ns.settings.model_copy(update={
        "topic_prefix": f"{ns.settings.topic_prefix}rebuild-",
        "mongodb_database": f"{ns.settings.mongodb_database}_rebuild"}), ns.run)
    try:
        records = await read_to_end(ns.kafka, [ns.topic(t) for t in TOPIC_EVENTS])
        await ensure_topics(ns.kafka, [topics.TopicSpec(corpus.topic(s.name), s.partitions)
                                       for s in topics.core_topics() if s.name in TOPIC_EVENTS])
        out = producer(ns.kafka)
        await out.start()
        try:
            for copy in range(copies + 1):
                sent = [await out.send(corpus.topic(r.topic.removeprefix(ns.settings.topic_prefix)),
                                       about_other_tickets(r.value or b"", copy),
                                       key=about_other_tickets(r.key, copy) if r.key else None,
                                       headers=list(r.headers or ()))
                        for r in records]
                await asyncio.gather(*sent)
        finally:
            await out.stop()
        names = [corpus.topic(t) for t in TOPIC_EVENTS]
        started = time.perf_counter()
        count = len(await read_to_end(ns.kafka, names))
        raw_rate = count / (time.perf_counter() - started)
        settings = MetricsSettings(kafka_bootstrap_servers=ns.kafka, mongodb_url=ns.settings.mongodb_url,
                                   mongodb_database=corpus.settings.mongodb_database,
                                   topic_prefix=corpus.settings.topic_prefix)
        report = await rebuild(settings)
    finally:
        await corpus.clean_up()
    return {"records": report.records, "tickets": report.tickets, "copies_of_the_run": copies,
            "raw_read_records_per_s": raw_rate, "events_per_s": report.events_per_s,
            "read_seconds": report.read_seconds, "seconds": report.seconds}


# 5. A busy month


async def busy_month_updates(ns: Namespace, sizes: tuple[int, ...] = (5_000, 20_000), samples: int = 40) -> dict:
    """ms per live update (one contact, one batch) into a unit-month already holding `size`
    tickets, loaded as a start's fold would; metrics' projection and store alone, in a database of
    its own. One update at a time with no flush spacing: the spacing would be most of what is timed."""
    settings = MetricsSettings(mongodb_url=ns.settings.mongodb_url, flush_interval_s=0)
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    unit, at = "110111008", datetime(2026, 3, 2, 9, tzinfo=BUSINESS_TZ)
    results = {}
    try:
        for size in sizes:
            name = f"{ns.settings.mongodb_database}_month{size}"
            projection = Projection()
            _, writer = make_writer(client[name], settings, make_directory(settings), projection)
            try:
                dispatches = [TicketDispatched(
                    event_id=f"busy-d-{n}", ticket_id=f"TK-busy-{n:06d}", occurred_at=at, unit_code=unit,
                    unit_name=unit, district_code=unit[:6], reason="street_town",
                    dispatched_at=at + timedelta(seconds=n)) for n in range(size)]
                projection.apply(fact_update(e, response_due=response_due) for e in dispatches)
                projection.covered("0_0", size)
                await writer.flush()
                took = []
                for n in range(samples + 5):
                    contact = ContactRecorded(
                        event_id=f"busy-c-{n}", ticket_id=f"TK-busy-{n:06d}", occurred_at=at, contact_id=f"busy-c-{n}",
                        unit_code=unit, kind=ContactKind.FACE_TO_FACE, contacted_at=at + timedelta(hours=1),
                        staff_id="LX-1")
                    started = time.perf_counter()
                    projection.apply([fact_update(contact, response_due=response_due)])
                    projection.covered("0_0", size + n + 1)
                    await writer.flush()
                    took.append((time.perf_counter() - started) * 1000)
                results[str(size)] = percentiles(took[5:])  # the first few warm the store's caches
            finally:
                await drop_database(client, name)
    finally:
        await client.close()
    return results


# The run


async def run(limit_records: int, rate: float, seconds: float, tickets: int, contact_delay_s: float,
              poll_s: float, timeout_s: float, profile: str | None, rebuild_copies: int,
              history: int = 0, history_months: int = 3) -> dict:
    ns = Namespace.fresh("bench")
    logs = RESULTS.parents[1] / ".local" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict = {"at": datetime.now(UTC).isoformat(), "machine_before": machine()}
    try:
        with console.status("creating the run's topics"):
            await ns.create()
        with console.status("the limit: raw Kafka produce and consume"):
            payloads = raw_records(limit_records, ns.run)
            # Untimed first: a broker just started runs its first seconds in the JVM's interpreter
            # (one run measured 16,000 records/s cold and 41,000 warm).
            await raw_limit(ns, payloads, name="bench.raw-warm-up")
            results["limit"] = {"records": limit_records, "raw_kafka_records_per_s": await raw_limit(ns, payloads)}
        with console.status("the limit: a no-op FastStream relay"):
            results["limit"]["faststream_relay"] = await relay_rate(ns, payloads, logs)
        with console.status(f"the lifecycle: {rate:.0f} tickets/s for {seconds:.0f} s, then {tickets:,} at once"):
            results.update(await lifecycle_phases(
                ns, logs, rate=rate, seconds=seconds, tickets=tickets, contact_delay_s=contact_delay_s,
                poll_s=poll_s, timeout_s=timeout_s, profile=profile))
        if history:
            with console.status(f"with history: {history:,} tickets over {history_months} months, then the same load"):
                results["with_history"] = await history_phases(
                    logs, history=history, history_months=history_months, rate=rate, seconds=seconds,
                    tickets=tickets, contact_delay_s=contact_delay_s, poll_s=poll_s, timeout_s=timeout_s)
        with console.status(f"rebuild from the run's metrics records and {rebuild_copies} copies of them"):
            results["rebuild"] = await rebuild_rates(ns, rebuild_copies)
        with console.status("a busy month: live updates into unit-months of 5,000 and 20,000 tickets"):
            results["busy_month_update_ms"] = await busy_month_updates(ns)
    finally:
        await ns.clean_up()
    results["machine_after"] = machine()
    return results


async def history_phases(logs: Path, *, history: int, history_months: int, **phases) -> dict:
    """The offered load and the saturation on a second run whose store holds a history first."""
    ns = Namespace.fresh("benchh")
    try:
        await ns.create()
        return await lifecycle_phases(ns, logs, profile=None, history=history, history_months=history_months,
                                      **phases)
    finally:
        await ns.clean_up()


def history_table(results: dict) -> Table | None:
    """The empty store's figures beside the same figures on a store holding a history."""
    if not (other := results.get("with_history")):
        return None
    h = other["history"]
    out = Table(title=f"Empty store beside one holding {h['tickets']:,} tickets ({h['months']} months of the "
                      f"simulated city, loaded at {h['tickets_per_s']:,.0f} tickets/s)")
    for column in ("measure", "empty store", "with history", "aim"):
        out.add_column(column, justify="left" if column == "measure" else "right")
    queue = "raw record -> unit queue (intake + routing)"

    def p99(r: dict) -> str:
        p = r["offered_load"]["hops_ms"][queue]
        return f"{p['p50']:,.0f} / {p['p99']:,.0f}" if p["p50"] is not None else "no samples"

    def written(r: dict, phase: str) -> str:
        by_service = r[phase]["store_round_trips"]["documents_written_per_ticket_by_service"]
        return f"{sum(by_service.values()):.1f}"

    out.add_row(f"{queue} at {results['offered_load']['offered_tickets_per_s']:g}/s, ms p50 / p99",
                p99(results), p99(other),
                f"p99 ≤ {AIMS['raw_to_queue_p99_ms']} / {AIMS['raw_to_queue_p99_ms_with_history']}")
    out.add_row("full lifecycle, saturated", f"{results['saturation']['tickets_per_s']:,.0f} tickets/s",
                f"{other['saturation']['tickets_per_s']:,.0f} tickets/s", f"≥ {AIMS['lifecycle_tickets_per_s']}")
    for phase, label in (("offered_load", "at the offered load"), ("saturation", "saturated")):
        out.add_row(f"store documents written per ticket {label} (all services)", written(results, phase),
                    written(other, phase), f"≤ {AIMS['documents_written_per_ticket']}")
    out.add_row("store documents written per ticket while the history loaded", "",
                f"{sum(h['documents_written_per_ticket_by_service'].values()):.1f}",
                f"≤ {AIMS['documents_written_per_ticket']}")
    out.add_row("store file growth per ticket while the history loaded", "",
                f"{h['store']['file_growth_kb_per_ticket']:.1f} KB", f"≤ {AIMS['store_kb_per_ticket']} KB")
    out.add_row("the documents' own BSON per ticket after the history", "", f"{h['store']['bson_kb_per_ticket']:.1f} KB")
    store = "mongodb-protocol store"
    for phase, label in (("offered_load", "at the offered load"), ("saturation", "saturated")):
        a, b = results[phase]["processes"].get(store), other[phase]["processes"].get(store)
        if a and b:
            out.add_row(f"store {label}: CPU, peak RSS", f"{a['cpu_percent']:.0f}%, {a['peak_rss_mb']:.0f} MB",
                        f"{b['cpu_percent']:.0f}%, {b['peak_rss_mb']:.0f} MB")
    return out


def ratios(results: dict) -> dict:
    limit = results["limit"]["raw_kafka_records_per_s"]
    relay = results["limit"]["faststream_relay"]["records_per_s"]
    lifecycle = results["saturation"]["tickets_per_s"]
    rebuild_ = results["rebuild"]
    per_ticket = results["saturation"].get("kafka_records", {}).get("per_ticket")
    return {
        "relay_to_raw": relay / limit,
        "lifecycle_tickets_to_raw_records": lifecycle / limit,
        "lifecycle_tickets_to_relay_records": lifecycle / relay,
        "rebuild_to_raw_read": rebuild_["events_per_s"] / rebuild_["raw_read_records_per_s"],
        **({"lifecycle_tickets_to_raw_ceiling": lifecycle / (limit / per_ticket)} if per_ticket else {}),
    }


def _per_service(results: dict | None, phase: str, figure: str = "per_ticket_by_service") -> str:
    """A phase's store figure per ticket (round trips unless named), service by service."""
    trips = ((results or {}).get(phase) or {}).get("store_round_trips", {}).get(figure, {})
    return ", ".join(f"{name} {n:.2f}" for name, n in trips.items())


def table(results: dict, baseline: dict | None) -> Table:
    r = ratios(results)
    hops = results["offered_load"]["hops_ms"]
    title = (f"Hotline end to end ({results['saturation']['tickets']:,} tickets at once; "
             f"{results['offered_load']['offered_tickets_per_s']:.0f}/s for {results['offered_load']['seconds']:.0f} s; "
             f"load average {results['machine_before']['loadavg_1_5_15'][0]:.1f} on {results['machine_before']['cpus']} cores)")
    out = Table(title=title)
    for column in ("measure", "value", "ratio to the limit", "aim"):
        out.add_column(column, justify="left" if column == "measure" else "right")
    if baseline:
        out.add_column("before the fix", justify="right")
    limit = results["limit"]["raw_kafka_records_per_s"]

    def row(measure: str, value: str, ratio: str = "", aim: str = "", before: str = "") -> None:
        out.add_row(measure, value, ratio, aim, *([before] if baseline else []))

    def fig(path: tuple, fmt: str) -> str:
        value = baseline
        for step in path:
            value = (value or {}).get(step) if isinstance(value, dict) else None
        return fmt.format(value) if isinstance(value, int | float) else ""

    phases = (("offered_load", f"at {results['offered_load']['offered_tickets_per_s']:g}/s"),
              ("saturation", "saturated"))
    row("raw aiokafka produce + consume (the limit)", f"{limit:,.0f} records/s", "1.00")
    row("no-op FastStream relay", f"{results['limit']['faststream_relay']['records_per_s']:,.0f} records/s",
        f"{r['relay_to_raw']:.2f}", "", fig(("limit", "faststream_relay", "records_per_s"), "{:,.0f}"))
    row("full lifecycle (every projection reflects every ticket)",
        f"{results['saturation']['tickets_per_s']:,.0f} tickets/s",
        f"{r['lifecycle_tickets_to_raw_records']:.2g} (relay {r['lifecycle_tickets_to_relay_records']:.2g})",
        f"≥ {AIMS['lifecycle_tickets_per_s']:,}", fig(("saturation", "tickets_per_s"), "{:,.0f}"))
    records = results["saturation"].get("kafka_records")
    if records:
        # A ticket's lifecycle is this many records, each produced and consumed at least once: the
        # raw limit alone caps the lifecycle at limit / records, before any processing.
        row("Kafka records written per ticket's lifecycle (every topic)", f"{records['per_ticket']:.1f}")
        row("lifecycle ceiling at the raw limit (limit / records per ticket)",
            f"{limit / records['per_ticket']:,.0f} tickets/s", "1.00")
        row("full lifecycle against that ceiling", f"{results['saturation']['tickets_per_s']:,.0f} tickets/s",
            f"{r['lifecycle_tickets_to_raw_ceiling']:.2f}")
    for name, p in hops.items():
        if p["p50"] is None:
            row(f"{name} (ms)", "no samples")
            continue
        aim = {"raw record -> unit queue (intake + routing)": f"p99 ≤ {AIMS['raw_to_queue_p99_ms']}",
               "metrics: dispatch -> ranking shows it": f"p99 ≤ {AIMS['ranking_freshness_p99_ms']:,}"}.get(name, "")
        before = fig(("offered_load", "hops_ms", name, "p99"), "p99 {:,.0f}")
        row(f"{name}, ms p50 / p95 / p99", f"{p['p50']:,.0f} / {p['p95']:,.0f} / {p['p99']:,.0f}", "", aim, before)
    for phase, label in phases:
        if _per_service(results, phase):
            row(f"store round trips per ticket {label}", _per_service(results, phase), "", "",
                _per_service(baseline, phase))
    # The store rewrites a whole document per change: its work follows the documents written.
    for phase, label in phases:
        if written := _per_service(results, phase, "documents_written_per_ticket_by_service"):
            row(f"store documents written per ticket {label}", written, "", "",
                _per_service(baseline, phase, "documents_written_per_ticket_by_service"))
    rb = results["rebuild"]
    row("raw read of the metrics topics (rebuild's limit)", f"{rb['raw_read_records_per_s']:,.0f} records/s", "1.00")
    row(f"metrics rebuild ({rb['records']:,} records, {rb.get('tickets', 0):,} tickets)",
        f"{rb['events_per_s']:,.0f} events/s", f"{r['rebuild_to_raw_read']:.3f}",
        f"≥ {AIMS['rebuild_events_per_s']:,}", fig(("rebuild", "events_per_s"), "{:,.0f}"))
    for size, p in results.get("busy_month_update_ms", {}).items():
        row(f"metrics: one contact into a unit-month of {int(size):,} tickets, ms p50 / p95",
            f"{p['p50']:,.1f} / {p['p95']:,.1f}", "", "", fig(("busy_month_update_ms", size, "p50"), "p50 {:,.1f}"))
    for phase, label in phases:
        for name, p in results[phase]["processes"].items():
            aim = f"≤ {AIMS['service_peak_rss_mb']} MB" if name in SERVICES else ""
            before = fig((phase, "processes", name, "cpu_percent"), "{:.0f}% CPU")
            row(f"{name} {label}: CPU, peak RSS", f"{p['cpu_percent']:.0f}% CPU, {p['peak_rss_mb']:.0f} MB", "", aim, before)
    return out


def main(
    limit_records: int = typer.Option(10_000, help="Records for the raw limit and the relay."),
    rate: float = typer.Option(100, help="Offered load, tickets per second."),
    seconds: float = typer.Option(5, help="How long the offered load lasts."),
    tickets: int = typer.Option(1000, help="Tickets published at once for the saturating run."),
    contact_delay_s: float = typer.Option(0.5, help="How long a unit takes to contact the citizen."),
    poll_s: float = typer.Option(0.1, help="How often the rankings are read (freshness is accurate to it)."),
    timeout_s: float = typer.Option(420, help="Give up on a phase after this long."),
    profile: str | None = typer.Option(None, help="Sample this service with py-spy during the saturating run."),
    history: int = typer.Option(-1, help="Tickets the simulator plays into a second run's store before the same "
                                         "offered load and saturation run again on it (0: empty store only; "
                                         "default: the simulated city's 240 a day over --history-months)."),
    history_months: int = typer.Option(5, help="Months the history spans (ending now)."),
    rebuild_copies: int = typer.Option(9, help="Copies of the run's metrics records (about other tickets) "
                                               "that the rebuild reads besides the run's own."),
    baseline: Path | None = typer.Option(None, help="An earlier results file to show beside this run."),
    out: Path | None = typer.Option(None, help="Results file (default bench/results/<date>.json)."),
) -> None:
    """Run the end-to-end benchmark on the local stack, print the table, write the results."""
    if history < 0:
        history = round(tickets_over(history_months))
    results = asyncio.run(run(limit_records, rate, seconds, tickets, contact_delay_s, poll_s, timeout_s, profile,
                              rebuild_copies, history, history_months))
    results["ratios"] = ratios(results)
    results["aims"] = AIMS
    before = json.loads(baseline.read_text()) if baseline else None
    if before:
        results["before"] = {"file": baseline.name, "at": before.get("at"),
                             "saturation": before.get("saturation"), "offered_load": before.get("offered_load"),
                             "rebuild": before.get("rebuild"), "limit": before.get("limit"),
                             "busy_month_update_ms": before.get("busy_month_update_ms")}
    console.print(table(results, before))
    if (beside := history_table(results)) is not None:
        console.print(beside)
    target = out or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}.json"
    target.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    console.print(f"written {target}")


if __name__ == "__main__":
    typer.run(main)
