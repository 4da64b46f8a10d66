"""`hotline replay`: a hotline history through the real pipeline, lifecycle included.

Reads the history (CSV or JSON, `hotline.ingest.files`), maps each record (`mapping.map_record`),
checks it with intake's own admission rule (`hotline.ingest.admission`), orders every message of
every record by business time (`lifecycle.lifecycle_steps`) and publishes them in windows. A
message may need the services to have caught up first (followup must know a ticket before its
commands; the commands before the callback), so each window publishes its openings, waits until
intake, routing and followup have committed past them, then its commands, waits for followup,
then its callbacks, and ends with a business-time tick on `hotline.clock` (for followup's
`HOTLINE_BUSINESS_CLOCK=log`). At full speed a window is a chunk of messages; with `speed` the
windows follow the wall clock, `speed` seconds of history a second.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hotline.city import City, load_city
from hotline.contracts import topics
from hotline.ingest.admission import Rejection, normalize
from hotline.ingest.files import SourceError, csv_rows, json_rows
from hotline.ingest.mapping import MappingError
from hotline.ingest.records import RowRejection
from hotline.replay.lifecycle import Stage, Step, lifecycle_steps
from hotline.replay.mapping import ReplayMapping, ReplayRecord, map_record
from hotline.replay.registry import register_units, registered_units
from hotline.runtime.settings import ServiceSettings

WINDOW = 2000  # messages per window at full speed
PACED_WINDOW_S = 0.5  # wall-clock span of a window with --speed


class ReplayError(RuntimeError):
    """The replay cannot go on: unreadable file, unknown city, broker down, services not consuming."""


@dataclass
class ReplayPlan:
    """What a history replays as."""

    records: list[ReplayRecord] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    rows_read: int = 0
    rejected: Counter = field(default_factory=Counter)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)  # every unit the rows name
    unregistered: Counter = field(default_factory=Counter)  # unit code -> rows skipped


@dataclass
class ReplaySummary:
    """What a replay did."""

    file: str
    mapping: str
    city: str
    dry_run: bool
    plan: ReplayPlan
    published: Counter = field(default_factory=Counter)  # topic -> messages
    ticks: int = 0
    seconds: float = 0.0

    @property
    def messages(self) -> int:
        """Messages published (ticks included)."""
        return sum(self.published.values()) + self.ticks


# ---------------------------------------------------------------------------------------------
# Reading and planning
# ---------------------------------------------------------------------------------------------


def read_rows(path: Path, mapping: ReplayMapping) -> Iterator[dict]:
    """The history's rows as column -> text; a JSON history's objects flattened."""
    try:
        if mapping.format == "json":
            yield from json_rows(path, mapping)
            return
        with path.open(encoding=mapping.file_encoding, newline="") as handle:
            for _, _, row in csv_rows(handle, mapping, path):
                yield row
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReplayError(f"cannot read {path}: {exc}") from exc
    except SourceError as exc:
        raise ReplayError(str(exc)) from exc


def plan_replay(
    rows: Iterator[dict], mapping: ReplayMapping, city: City, *, registered: set[str],
    now: datetime, limit: int | None = None, since: datetime | None = None, until: datetime | None = None,
) -> ReplayPlan:
    """Map and check every row, keep those in [since, until), order every message by time. Pure."""
    from hotline.gazetteer import beijing

    gazetteer = beijing()  # the services resolve places with it, so the check does too
    taxonomy = city.taxonomy()  # intake's, for the city
    plan = ReplayPlan()
    seen: set[str] = set()
    for row in rows:
        if limit is not None and plan.rows_read >= limit:
            break
        plan.rows_read += 1
        if None in row:
            plan.rejected[f"row: {row[None]}"] += 1
            continue
        record = map_record(row, mapping, city_code=city.code)
        if isinstance(record, RowRejection):
            plan.rejected[f"{record.field or 'record'}: {record.reason}"] += 1
            continue
        plan.units[record.unit_code] = (mapping.lifecycle.unit_kind, record.unit_name)
        if since is not None and record.opened_at < since or until is not None and record.opened_at >= until:
            continue
        if record.unit_code not in registered:
            plan.unregistered[record.unit_code] += 1
            continue
        ticket = normalize(json.dumps(record.raw, ensure_ascii=False).encode(), now=now, gazetteer=gazetteer,
                           taxonomy=taxonomy)
        if isinstance(ticket, Rejection):
            plan.rejected[f"{ticket.field or 'record'}: {ticket.reason}"] += 1
            continue
        if record.ticket_id in seen:  # the same source record twice in one file
            plan.rejected["source_id: repeated in the file"] += 1
            continue
        seen.add(record.ticket_id)
        plan.records.append(record)
        plan.steps.extend(lifecycle_steps(record, mapping.lifecycle, report_back_due_at=ticket.report_back_due_at))
    plan.steps.sort(key=lambda s: s.sort_key)
    return plan


# ---------------------------------------------------------------------------------------------
# Publishing: windows, barriers, ticks
# ---------------------------------------------------------------------------------------------

# Who must have consumed what before a stage's messages go out.
_BEFORE = {
    Stage.COMMAND: [("intake", topics.RAW), ("routing", topics.TICKETS_RECEIVED),
                    ("followup", topics.TICKETS_DISPATCHED)],
    Stage.CALLBACK: [("followup", topics.FOLLOWUP_COMMANDS)],
}
_AFTER_ALL = [("followup", topics.CALLBACKS)]


class Barrier:
    """Waits until a service's consumer group has committed past a topic's current end."""

    def __init__(self, settings: ServiceSettings, timeout_s: float) -> None:
        self.settings, self.timeout_s = settings, timeout_s
        self._partitions: dict[str, list] = {}

    async def __aenter__(self) -> Barrier:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        self.admin = AIOKafkaAdminClient(**self.settings.kafka_client_options())
        self.consumer = AIOKafkaConsumer(**self.settings.kafka_client_options(), group_id=None)
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def partitions(self, topic: str) -> list:
        """The partitions of a (full) topic name."""
        from aiokafka.structs import TopicPartition

        if topic not in self._partitions:
            described = (await self.admin.describe_topics([topic]))[0]
            self._partitions[topic] = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        return self._partitions[topic]

    async def wait(self, service: str, topic: str) -> None:
        """Until `service` has processed every record now in `topic`; ReplayError on timeout."""
        full = self.settings.topic(topic)
        group = f"{self.settings.group_id(service)}.{topic}"  # as runtime.kafka.batch_subscriber names it
        tps = await self.partitions(full)
        ends = await self.consumer.end_offsets(tps)
        deadline = time.monotonic() + self.timeout_s
        while True:
            committed = await self.admin.list_consumer_group_offsets(group, partitions=tps)
            if all(end == 0 or (tp in committed and committed[tp].offset >= end) for tp, end in ends.items()):
                return
            if time.monotonic() > deadline:
                raise ReplayError(f"{service} has not consumed {full} within {self.timeout_s:.0f} s: "
                                  "is it running (with this topic prefix)?")
            await asyncio.sleep(0.05)


def _windows(steps: list[Step], speed: float | None) -> Iterator[tuple[float | None, list[Step]]]:
    """(wall-clock offset to start at, messages) per window."""
    if not speed:
        for i in range(0, len(steps), WINDOW):
            yield None, steps[i:i + WINDOW]
        return
    start, i = steps[0].at, 0
    while i < len(steps):
        offset = (steps[i].at - start).total_seconds() / speed
        j = i
        while (j < len(steps) and j - i < WINDOW
               and (steps[j].at - start).total_seconds() / speed <= offset + PACED_WINDOW_S):
            j += 1
        yield offset, steps[i:j]
        i = j


async def publish_plan(plan: ReplayPlan, settings: ServiceSettings, summary: ReplaySummary, *,
                       speed: float | None, timeout_s: float, progress=None) -> None:
    """Publish the plan's messages window by window, waiting for the services between stages."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from hotline.contracts.clock import BusinessTimeTick
    from hotline.runtime.kafka import ensure_topics
    from hotline.runtime.topic_admin import TopicPolicy

    if not plan.steps:
        return
    producer = AIOKafkaProducer(**settings.kafka_producer_options(),
                                enable_idempotence=True)
    try:
        # The history's units, and triage: followup's supervision notices on tickets without a district.
        units = sorted({r.unit_code for r in plan.records} | {topics.TRIAGE_QUEUE_CODE})
        await ensure_topics(settings.kafka_client_options(),
                            [s.prefixed(settings.topic_prefix) for s in topics.queue_topics(units)],
                            policy=TopicPolicy.from_settings(settings))
        await producer.start()
    except (KafkaError, OSError) as exc:
        await producer.stop()
        raise ReplayError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc}") from exc
    task = progress.add_task("replay", total=len(plan.steps)) if progress else None
    started = time.monotonic()
    try:
        async with Barrier(settings, timeout_s) as barrier:
            for offset, window in _windows(plan.steps, speed):
                if offset is not None and (wait := offset - (time.monotonic() - started)) > 0:
                    await asyncio.sleep(wait)
                for stage in Stage:
                    batch = [s for s in window if s.stage is stage]
                    if not batch:
                        continue
                    for service, topic in _BEFORE.get(stage, []):
                        await barrier.wait(service, topic)
                    sent = [await producer.send(settings.topic(s.topic),
                                                json.dumps(s.payload, ensure_ascii=False).encode(),
                                                key=s.key.encode() if s.key else None) for s in batch]
                    await asyncio.gather(*sent)
                    summary.published.update(s.topic for s in batch)
                    if progress:
                        progress.advance(task, len(batch))
                # Business time reaches the window's last message once its stops are in followup.
                for service, topic in [*_BEFORE[Stage.COMMAND], *_BEFORE[Stage.CALLBACK], *_AFTER_ALL]:
                    await barrier.wait(service, topic)
                tick = BusinessTimeTick(now=window[-1].at, source="replay")
                await producer.send_and_wait(settings.topic(topics.CLOCK), tick.model_dump_json().encode())
                summary.ticks += 1
    except KafkaError as exc:
        raise ReplayError(f"publishing failed ({exc}); replaying again is safe: every id comes from the "
                          "source records") from exc
    finally:
        await producer.stop()


async def run_replay(
    path: Path, mapping: ReplayMapping, *, settings: ServiceSettings | None = None,
    speed: float | None = None, limit: int | None = None, since: datetime | None = None,
    until: datetime | None = None, dry_run: bool = False, register: bool = False,
    timeout_s: float = 120, console=None, now: datetime | None = None,
) -> ReplaySummary:
    """Replay one history file: plan it, then (unless dry) publish it through the pipeline."""
    settings = settings or ServiceSettings()
    city = load_city(mapping.city)
    registered = set(registered_units(city.catalogue))
    started = time.perf_counter()
    rows = read_rows(path, mapping)
    plan = plan_replay(rows, mapping, city, registered=registered, now=now or datetime.now(UTC),
                       limit=limit, since=since, until=until)
    summary = ReplaySummary(str(path), mapping.name, city.name, dry_run or register, plan)
    if register:
        register_units(city, plan.units)
    elif not dry_run:
        progress = _progress(console)
        try:
            await publish_plan(plan, settings, summary, speed=speed, timeout_s=timeout_s, progress=progress)
        finally:
            if progress:
                progress.stop()
    summary.seconds = time.perf_counter() - started
    return summary


def _progress(console):
    if console is None:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("messages"), TimeElapsedColumn(), console=console, transient=True)
    progress.start()
    return progress


# ---------------------------------------------------------------------------------------------
# The command line (`hotline replay`)
# ---------------------------------------------------------------------------------------------


def summary_table(summary: ReplaySummary):
    """The summary as a rich table."""
    from rich.table import Table

    plan = summary.plan
    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("city", summary.city)
    table.add_row("rows read", f"{plan.rows_read:,}")
    table.add_row("records replayed" if not summary.dry_run else "records to replay", f"{len(plan.records):,}")
    table.add_row("closed in the history", f"{sum(1 for r in plan.records if r.closed_at):,}")
    table.add_row("units", f"{len({r.unit_code for r in plan.records}):,} of {len(plan.units):,} named")
    if plan.records:
        first, last = min(r.opened_at for r in plan.records), max(r.opened_at for r in plan.records)
        table.add_row("opened", f"{first:%Y-%m-%d} to {last:%Y-%m-%d}")
    for name, count in sorted(summary.published.items()):
        table.add_row(f"published to {name}", f"{count:,}")
    if summary.ticks:
        table.add_row(f"ticks on {topics.CLOCK}", f"{summary.ticks:,}")
    table.add_row("rejected", f"{sum(plan.rejected.values()):,}")
    for reason, count in plan.rejected.most_common():
        table.add_row(f"  {reason}", f"{count:,}")
    if plan.unregistered:
        table.add_row("skipped: unit not in the city's registry (--register adds it)",
                      f"{sum(plan.unregistered.values()):,}")
    table.add_row("time", f"{summary.seconds:.2f} s")
    if summary.messages and summary.seconds:
        table.add_row("messages/s", f"{summary.messages / summary.seconds:,.0f}")
    return table


def main(file: Path, *, mapping: str, speed: float | None = None, limit: int | None = None,
         since: str | None = None, until: str | None = None, dry_run: bool = False,
         register: bool = False, timeout_s: float = 120) -> int:
    """Run a replay from the command line: progress bar, summary table; the exit code."""
    from rich.console import Console
    from rich.markup import escape

    from hotline.city import CityError
    from hotline.replay.mapping import load_replay_mapping

    out, err = Console(), Console(stderr=True)
    try:
        spec = load_replay_mapping(mapping)
        window = [_day(text, spec) for text in (since, until)]
        summary = asyncio.run(run_replay(
            file, spec, speed=speed, limit=limit, since=window[0], until=window[1], dry_run=dry_run,
            register=register, timeout_s=timeout_s, console=err if err.is_terminal else None))
    except (MappingError, CityError, ValueError) as exc:
        err.print("[bold red]error:[/]", escape(str(exc)), highlight=False)
        return 2
    except ReplayError as exc:
        err.print("[bold red]error:[/]", escape(str(exc)), highlight=False)
        return 1
    out.print(f"{summary.file} with mapping {summary.mapping!r}", highlight=False)
    out.print(summary_table(summary))
    if register:
        out.print(f"{len(summary.plan.units)} units in the registry of {summary.city}; restart routing and "
                  "metrics to read it", highlight=False)
    return 0


def _day(text: str | None, mapping: ReplayMapping) -> datetime | None:
    """A --since/--until date or time; naive ones in the history's zone."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO date or time: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=mapping.zone)
