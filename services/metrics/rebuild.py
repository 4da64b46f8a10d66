"""Rebuild: drop the projections and recompute them from the retained topics, from the start.

A consumer without a group reads every partition of the five topics up to the end offsets taken
after the drop, folds the events into per-ticket facts in memory with the live path's pure
functions, and bulk-loads facts, unit-months, rankings and hotspots. Records published later are
the live service's (its group offsets are untouched); anything read twice is idempotent.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import apply_entries, fact_update, project_facts
from hotline.metrics.events import TOPIC_EVENTS, decode
from hotline.metrics.main import SERVICE, make_directory, make_store
from hotline.metrics.settings import MetricsSettings
from hotline.runtime.mongo import make_client

# (stage, total or None, advance): stages are "read" (records) and "write" (tickets).
Progress = Callable[[str, int | None, int], None]


@dataclass
class RebuildReport:
    """What a rebuild read and wrote."""

    records: int = 0
    events: int = 0
    rejected: int = 0
    conflicts: int = 0  # events under an applied event's id with other content: the first stands
    tickets: int = 0
    unit_months: int = 0
    seconds: float = 0.0
    read_seconds: float = 0.0
    by_topic: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        """Records read per second, end to end."""
        return self.records / self.seconds if self.seconds else 0.0


async def active_consumers(settings: MetricsSettings) -> list[str]:
    """The live metrics consumer groups that have members right now."""
    groups = [f"{settings.group_id(SERVICE)}.{topic}" for topic in TOPIC_EVENTS]
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        # One group a request: aiokafka 0.14 fails to decode an answer about several live groups.
        responses = [r for g in groups for r in await admin.describe_consumer_groups([g])]
    finally:
        await admin.close()
    # Raw DescribeGroups answers: (error_code, group_id, state, protocol_type, protocol, members, ...).
    return sorted(g[1] for r in responses for g in r.groups if g[2] not in ("Empty", "Dead", ""))


async def _partitions(kafka: dict, names: list[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist (a consumer's `topics()` does not fill its own
    metadata, so `partitions_for_topic` would answer None)."""
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return [TopicPartition(t["topic"], p["partition"]) for t in described if t["error_code"] == 0
            for p in sorted(t["partitions"], key=lambda p: p["partition"])]


async def rebuild(settings: MetricsSettings, *, progress: Progress | None = None,
                  idle_timeout_s: float = 30) -> RebuildReport:
    """Drop every metrics projection and rebuild it from the topics."""
    report = RebuildReport()
    started = time.perf_counter()
    step = progress or (lambda *_: None)
    client = make_client(settings)
    store = make_store(client[settings.mongodb_database], settings, make_directory(settings))
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(), group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    loading: asyncio.Task | None = None
    try:
        await store.drop_all()
        await consumer.start()
        names = {settings.topic(t): t for t in TOPIC_EVENTS}
        parts = await _partitions(settings.kafka_client_options(), sorted(names))
        ends, starts = {}, {}
        if parts:
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            # Taken after the drop: whatever lies beyond is the live service's to project.
            ends = await consumer.end_offsets(parts)
            starts = await consumer.beginning_offsets(parts)
        step("read", sum(ends[tp] - starts[tp] for tp in parts), 0)
        remaining = {tp for tp in parts if ends[tp] > starts[tp]}
        facts: dict[str, dict] = {}
        idle_since = time.monotonic()
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=20_000)
            for tp, records in fetched.items():
                records = [r for r in records if r.offset < ends[tp]]
                events, rejected = decode(names[tp.topic], records)
                for event in events:
                    ticket_id, entries = fact_update(event, response_due=response_due)
                    report.conflicts += len(apply_entries(facts.setdefault(ticket_id, {}), entries))
                report.records += len(records)
                report.events += len(events)
                report.rejected += len(rejected)
                report.by_topic[names[tp.topic]] = report.by_topic.get(names[tp.topic], 0) + len(records)
                step("read", None, len(records))
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if fetched:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > idle_timeout_s:
                raise TimeoutError(f"no records for {idle_timeout_s}s before the end of {sorted(map(str, remaining))}")
        report.read_seconds = time.perf_counter() - started
        step("write", len(facts), 0)
        # In `_id` order: the store's B-tree then rewrites a few pages per insert, not one per
        # fact, which takes half the time of the order tickets were met in.
        facts = dict(sorted(facts.items()))
        loading = asyncio.create_task(store.load_facts(facts, progress=lambda n: step("write", None, n)))
        # In a thread, so the loop sends the facts and takes the answers meanwhile.
        months = await asyncio.to_thread(project_facts, facts)
        report.tickets, report.unit_months = len(facts), len(months)
        # The months do not need the facts in the store: both loads run at once.
        await asyncio.gather(loading, store.load_months(months))
    finally:
        if loading is not None:
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
        await consumer.stop()
        await client.close()
    report.seconds = time.perf_counter() - started
    return report


def main(*, force: bool = False) -> int:
    """`hotline metrics rebuild`: progress bars on a terminal, a summary table; the exit code."""
    import asyncio

    from aiokafka.errors import KafkaError
    from pymongo.errors import PyMongoError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    out, err = Console(), Console(stderr=True)
    settings = MetricsSettings()
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True, disable=not err.is_terminal)
    tasks: dict[str, int] = {}
    labels = {"read": "reading the topics (records)", "write": "writing the projections (tickets)"}

    def step(stage: str, total: int | None, advance: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(labels[stage], total=total)
        bars.update(tasks[stage], advance=advance)

    async def run() -> RebuildReport:
        if not force:
            busy = await active_consumers(settings)
            if busy:
                raise RuntimeError(f"metrics is consuming ({', '.join(busy)}): stop it first, or pass --force")
        with bars:
            return await rebuild(settings, progress=step)

    try:
        report = asyncio.run(run())
    except (RuntimeError, KafkaError, PyMongoError, TimeoutError, OSError) as exc:
        err.print(f"[bold red]rebuild failed:[/] {exc}", highlight=False)
        return 1
    table = Table(show_header=False, title="metrics rebuilt from the topics")
    table.add_column("what")
    table.add_column("value", justify="right")
    for topic, count in sorted(report.by_topic.items()):
        table.add_row(f"records from {settings.topic(topic)}", f"{count:,}")
    table.add_row("events used", f"{report.events:,}")
    table.add_row("records that did not parse (skipped)", f"{report.rejected:,}")
    if report.conflicts:
        table.add_row("events under a used id with other content (the first stands)", f"{report.conflicts:,}")
    table.add_row("tickets", f"{report.tickets:,}")
    table.add_row("unit-months", f"{report.unit_months:,}")
    table.add_row("time", f"{report.seconds:.2f} s")
    table.add_row("records/s", f"{report.events_per_s:,.0f}")
    out.print(table)
    return 0
