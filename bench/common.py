"""Pieces every benchmark shares: a private namespace on the real stack, raw records, producing and
counting records, service processes with their CPU and peak memory, percentiles."""

import asyncio
import os
import re
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from hotline import devkit
from hotline.contracts import topics
from hotline.devkit import Namespace, ServiceProcess, Stack, StackAddress
from hotline.gazetteer import beijing
from hotline.runtime.kafka import ensure_topics
from hotline.runtime.settings import ServiceSettings
from hotline.topology import all_topic_specs

RESULTS = Path(__file__).parent / "results"
CONTENTS = ["小区已经停水两天了", "夜间施工噪音扰民", "路面坑洼严重", "垃圾三天没有清运", "暖气不热"]
_TICKS = os.sysconf("SC_CLK_TCK")


# A loaded machine may take a minute to start a service (the dev kit's default wait is shorter).
HEALTHY_WITHIN_S = 300.0
# The services' own log level in a benchmark: their INFO lines would be most of what they write.
SERVICE_LOG_LEVEL = "WARNING"


def fresh_namespace(label: str = "bench") -> Namespace:
    """A topic prefix and a database private to one benchmark run, on the stack the services'
    settings name (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URL)."""
    settings = ServiceSettings()
    return Namespace.fresh(StackAddress(settings.kafka_bootstrap_servers, settings.mongodb_url), label)


def run_of(ns: Namespace) -> str:
    """The run's tag, which its record ids carry: the `<tag>` of `hotline_<label>_<tag>`."""
    return ns.database.rsplit("_", 1)[1]


async def create_topics(ns: Namespace) -> None:
    """Every topic the run's tickets can reach: the ticket topics with their partitions, the
    queues of the streets and towns in `addresses()` and of every department, enterprise,
    district centre and triage (a loaded broker takes minutes to create all 349 street queues)."""
    streets = set(beijing().units)
    chosen = {topics.queue_topic(code) for code in unit_codes()}
    queue = topics.QUEUE_PREFIX
    specs = [s for s in all_topic_specs("")
             if not (s.name.startswith(queue) and s.name.removeprefix(queue) in streets and s.name not in chosen)]
    await ns.create(specs, timeout_s=300)


def unit_codes(count: int = 64) -> list[str]:
    """`count` streets and towns spread over every district (every k-th by code)."""
    codes = sorted(beijing().units)
    return codes[:: max(1, len(codes) // count)][:count]


def addresses() -> list[str]:
    """One address ("district + unit") per street or town of `unit_codes()`."""
    gazetteer = beijing()
    return [f"{gazetteer.districts[gazetteer.units[c].district_code].name}{gazetteer.units[c].name}"
            for c in unit_codes()]


def raw_record(i: int, run: str, places: list[str], received_at: datetime | None = None) -> bytes:
    """The i-th distinct raw record of a run, of realistic size."""
    return devkit.encoded(devkit.raw_record(
        f"bench-{run}-{i}", places[i % len(places)], received_at=(received_at or datetime.now(UTC)).isoformat(),
        content=CONTENTS[i % len(CONTENTS)] + "，请尽快处理。", caller={"phone": f"138{i:08d}"[:11], "name": "张先生"}))


def raw_records(n: int, run: str) -> list[bytes]:
    """n distinct raw records over every street and town."""
    places, now = addresses(), datetime.now(UTC)
    return [raw_record(i, run, places, now) for i in range(n)]


def producer(bootstrap: str, **options) -> AIOKafkaProducer:
    """The producer the services use in spirit: all acks, idempotent, a little batching."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                            **options)


async def produce(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    """Publish every payload and wait for the broker's acknowledgements."""
    sender = producer(bootstrap)
    await sender.start()
    try:
        futures = [await sender.send(topic, p) for p in payloads]
        await asyncio.gather(*futures)
    finally:
        await sender.stop()


async def consume_timed(bootstrap: str, topic: str, n: int, timeout_s: float = 300) -> tuple[float, float]:
    """Read a topic from the start until n records arrived; the wall times of the first and last."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen, first, last, deadline = 0, 0.0, 0.0, time.monotonic() + timeout_s
        while seen < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            count = sum(len(part) for part in batch.values())
            if count:
                last = time.perf_counter()
                first, seen = first or last, seen + count
        if seen < n:
            raise RuntimeError(f"only {seen} of {n} records arrived on {topic}")
        return first, last
    finally:
        await consumer.stop()


async def raw_limit(ns: Namespace, payloads: list[bytes], name: str = "bench.raw-limit") -> float:
    """The limit: produce and consume the same records with no processing, records/s."""
    topic = ns.topic(name)
    await ensure_topics(ns.kafka, [topics.TopicSpec(topic, topics.TICKET_PARTITIONS)])
    start = time.perf_counter()
    _, last = (await asyncio.gather(produce(ns.kafka, topic, payloads), consume_timed(ns.kafka, topic, len(payloads))))[1]
    return len(payloads) / (last - start)


async def records_written(ns: Namespace, skip: tuple[str, ...] = ("bench.",)) -> dict[str, int]:
    """How many records each of the run's topics holds (end offsets), but the bench's own."""
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.kafka)
    await admin.start()
    try:
        prefix = ns.prefix
        names = [t for t in await admin.list_topics() if t.startswith(prefix)
                 and not t.removeprefix(prefix).startswith(skip)]
    finally:
        await admin.close()
    counts: dict[str, int] = defaultdict(int)
    for tp, end in (await devkit.end_offsets(ns.kafka, names)).items():
        counts[tp.topic.removeprefix(prefix)] += end
    return {t: n for t, n in sorted(counts.items()) if n}


# Ticket ids as intake makes them ("TK" and 16 hex digits), wherever a record names one.
TICKET_ID = re.compile(rb"TK[0-9A-F]{16}")


def about_other_tickets(value: bytes, copy: int) -> bytes:
    """The same record about other tickets: each ticket id mapped to another, the same way
    throughout one copy, so every copy is a whole, consistent history of its own tickets."""
    if copy == 0:
        return value
    shift = copy * 0x9E3779B97F4A7C15  # a large odd step: copies never land on each other's ids
    return TICKET_ID.sub(lambda m: b"TK%016X" % ((int(m.group()[2:], 16) + shift) % 2**64), value)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 (nearest rank) and the count; None when there are no values."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {"n": len(ordered), "p50": statistics.median(ordered), "p95": rank(0.95), "p99": rank(0.99)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) since start or since `reset_peak`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak(pid: int) -> None:
    """Start a new peak-RSS window (writing 5 to clear_refs resets VmHWM)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass  # not ours to reset: the peak then covers the process's whole life


def stack_pids(stack: Stack) -> dict[str, int]:
    """The pids listening on the broker's and the store's ports (shared: their CPU includes every
    other user of the stack). Found from /proc/net/tcp's listening sockets and /proc/*/fd."""
    kafka_port = int(stack.kafka.split(",")[0].rsplit(":", 1)[1])
    mongo_port = urlparse(stack.mongodb_url).port or 27017
    wanted = {kafka_port: "kafka broker", mongo_port: "mongodb-protocol store"}
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            port, state = int(fields[1].rsplit(":", 1)[1], 16), fields[3]
            if state == "0A" and port in wanted:  # 0A: LISTEN
                inodes[f"socket:[{fields[9]}]"] = wanted[port]
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue  # gone, or not ours to read
        for fd in fds:
            try:
                name = inodes.get(os.readlink(fd))
            except OSError:
                continue  # closed meanwhile: the broker opens and closes files all the time
            if name:
                found[name] = int(proc.name)
    return found


class CpuWindow:
    """CPU share and peak RSS of some processes between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int], shared: dict[str, int] | None = None) -> None:
        # Shared processes (the stack) are only read: their peak is not ours to reset.
        self.pids = {**pids, **(shared or {})}
        self._own = set(pids.values())
        self._cpu: dict[str, float] = {}
        self._at = 0.0

    def start(self) -> None:
        for pid in self._own:
            reset_peak(pid)
        self._cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._at = time.monotonic()

    def stop(self) -> dict[str, dict[str, float]]:
        wall = time.monotonic() - self._at
        return {name: {"cpu_percent": round(100 * (cpu_seconds(pid) - self._cpu[name]) / wall, 1),
                       "peak_rss_mb": round(peak_rss_mb(pid), 1)}
                for name, pid in self.pids.items()}


def store_commands(services: list[ServiceProcess]) -> dict[str, dict[str, float]]:
    """Each service's store round trips so far, from its /metrics: "service command collection" ->
    {commands, seconds}; and the documents it wrote: "service written collection" -> {documents}."""
    totals: dict[str, dict[str, float]] = {}
    for service in services:
        text = httpx.get(f"http://127.0.0.1:{service.port}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            figure = {"hotline_store_commands": "commands", "hotline_store_command_seconds": "seconds",
                      "hotline_store_documents_written": "documents"}.get(family.name)
            if not figure:
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    labels = sample.labels
                    command = labels.get("command", "written")
                    key = f"{labels['service']} {command} {labels['collection']}".strip()
                    totals.setdefault(key, {"commands": 0.0, "seconds": 0.0, "documents": 0.0})[figure] = sample.value
    return totals


def store_commands_between(before: dict, after: dict, tickets: int) -> dict:
    """The round trips a phase made, per ticket, busiest first, and each service's total; the
    same for the documents written, by collection."""
    rows, written = {}, {}
    for key, figures in after.items():
        earlier = before.get(key, {"commands": 0.0, "seconds": 0.0, "documents": 0.0})
        commands = figures["commands"] - earlier["commands"]
        if commands:
            rows[key] = {"commands": int(commands), "per_ticket": round(commands / tickets, 2),
                         "mean_ms": round(1000 * (figures["seconds"] - earlier["seconds"]) / commands, 2)}
        if documents := figures["documents"] - earlier["documents"]:
            service, _, collection = key.split(" ", 2)
            written[f"{service} {collection}"] = round(documents / tickets, 2)
    ranked = dict(sorted(rows.items(), key=lambda kv: -kv[1]["commands"]))
    return {"per_ticket_by_service": _by_service({k: row["per_ticket"] for k, row in rows.items()}),
            "by_command": ranked,
            "documents_written_per_ticket_by_service": _by_service(written),
            "documents_written_per_ticket": dict(sorted(written.items(), key=lambda kv: -kv[1]))}


def _by_service(per_ticket: dict[str, float]) -> dict[str, float]:
    """Figures keyed "service ..." summed per service."""
    totals: dict[str, float] = {}
    for key, value in per_ticket.items():
        service = key.split(" ", 1)[0]
        totals[service] = round(totals.get(service, 0) + value, 2)
    return totals


def machine() -> dict:
    """What else the machine was doing: the figures depend on it."""
    return {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()]}


# The topic each event type the metrics benchmarks send goes to.
EVENT_TOPICS = {"TicketReceived": topics.TICKETS_RECEIVED, "TicketDispatched": topics.TICKETS_DISPATCHED,
                "ContactRecorded": topics.TICKETS_FOLLOWUP, "CallbackResult": topics.CALLBACKS}


async def send_events(sender: AIOKafkaProducer, prefix: str, events: list) -> None:
    """Events as the services publish them (keyed by ticket, type and id in the headers), acknowledged."""
    from hotline.contracts.common import Event

    futures = []
    for e in events:
        headers = [("event_type", type(e).__name__.encode())]
        if isinstance(e, Event):
            headers.append(("event_id", e.event_id.encode()))
        futures.append(await sender.send(prefix + EVENT_TOPICS[type(e).__name__], e.model_dump_json().encode(),
                                         key=e.ticket_id.encode(), headers=headers))
    await asyncio.gather(*futures)
