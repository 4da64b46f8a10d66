"""`hotline simulate`: the plan played against the running system, with a progress display."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hotline.contracts import BUSINESS_TZ, BusinessTimeTick, topics
from hotline.runtime.settings import ServiceSettings
from hotline.simulator.adapter import TICK_SOURCE, Adapter, Clock, Stats, TokenSource, slices
from hotline.simulator.plan import SimConfig, acts_between, month_of

log = logging.getLogger("hotline.simulator")
Progressed = Callable[[Stats], None]


async def play(config: SimConfig, adapter: Adapter, clock: Clock, *, until: datetime | None = None,
               resume_at: datetime | None = None, on_progress: Progressed | None = None,
               ahead: int = 16) -> Stats:
    """Play the plan from the config's start (or after `resume_at`) until `until` (for ever when
    None): each slice's acts once business time reaches the slice's end, then its tick."""
    first = config.start
    acts = acts_between(config, config.start.date(), None if until is None else until.date())
    if resume_at is not None and resume_at > first:
        first = resume_at
        acts = _skipping(acts, adapter, resume_at)
    # While catching up, a slice is about a second of wall time, at most 6 business hours (more
    # in flight only made tickets wait longer for each other on this 2-core machine). A tick is
    # exact at any step: a stop recorded after a mark's time still lets the mark fire.
    step = timedelta(hours=6) if clock.speed is None else min(timedelta(hours=6), max(
        timedelta(minutes=1), timedelta(seconds=clock.speed)))
    inflight: deque[tuple[datetime, asyncio.Future]] = deque()

    async def settle(end: datetime, done: asyncio.Future) -> None:
        await done
        await adapter.tick(end)
        if on_progress is not None:
            on_progress(adapter.stats)

    for end, batch in slices(acts, clock, first=first, until=until, catch_up_step=step):
        if (wait := clock.wait_s(end)) > 0:
            await asyncio.sleep(wait)
        inflight.append((end, adapter.issue(batch)))
        # Ticks in order, each once its slice (and so every slice before it) is done; at most
        # `ahead` slices run at once, so a fast clock does not pile up acts.
        while inflight and (inflight[0][1].done() or len(inflight) > ahead):
            await settle(*inflight.popleft())
    while inflight:
        await settle(*inflight.popleft())
    return adapter.stats


def _skipping(acts, adapter: Adapter, resume_at: datetime):
    for act in acts:
        if act.at <= resume_at:
            adapter.skip(act)
        else:
            yield act


async def last_tick(kafka: dict, topic: str, *, lookback: int = 200) -> datetime | None:
    """The latest business time the simulator published on the clock topic, if any."""
    consumer = AIOKafkaConsumer(**kafka, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(0, ends[tp] - lookback))
        latest = None
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        deadline = time.monotonic() + 10
        while remaining and time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    with contextlib.suppress(ValueError):
                        tick = BusinessTimeTick.model_validate_json(record.value)
                        if tick.source == TICK_SOURCE and (latest is None or tick.now > latest):
                            latest = tick.now
                    if record.offset + 1 >= ends[tp]:
                        remaining.pop(tp, None)
        return latest
    finally:
        await consumer.stop()


def credential_tokens(settings: ServiceSettings) -> tuple[TokenSource, Callable[[], Awaitable[None]]]:
    """Issues one token per unit for this run, as `hotline units token` does; and a closer."""
    from pymongo import AsyncMongoClient

    from hotline.runtime.auth import CENTRE_CODE, CredentialStore, Role

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url,
                                                                 timeoutMS=settings.mongodb_timeout_ms)
    store = CredentialStore(client[settings.mongodb_database])

    async def token_for(unit: str) -> str:
        return await store.issue(unit_code=unit, role=Role.CENTRE if unit == CENTRE_CODE else Role.UNIT)

    return token_for, client.close


def _summary(config: SimConfig, stats: Stats) -> Table:
    table = Table(title=f"simulation {config.run_id}" + (f", scenario {config.scenario}" if config.scenario else ""))
    table.add_column("what")
    table.add_column("count", justify="right")
    for kind, n in sorted(stats.done.items()):
        table.add_row(f"{kind.value}", f"{n:,}")
    table.add_row("ticks", f"{stats.ticks:,}")
    if stats.skipped:
        table.add_row("skipped (done before the resume point)", f"{stats.skipped:,}")
    for (kind, reason), n in sorted(stats.refused.items()):
        table.add_row(f"refused {kind}: {reason}", f"{n:,}")
    return table


def main(config: SimConfig, *, speed: float | None, until: datetime | None, followup_url: str, resume: bool,
         settings: ServiceSettings | None = None, console: Console | None = None) -> int:
    """Run the simulation against the system `settings` names; 0 when it ended, 1 on failure."""
    settings = settings or ServiceSettings()
    console = console or Console()

    async def run() -> Stats:
        from hotline.runtime.kafka import ensure_topics
        from hotline.runtime.topic_admin import TopicPolicy

        await ensure_topics(settings.kafka_client_options(),
                            [s.prefixed(settings.topic_prefix) for s in topics.core_topics()],
                            policy=TopicPolicy.from_settings(settings))
        resume_at = await last_tick(settings.kafka_client_options(), settings.topic(topics.CLOCK)) if resume else None
        producer = AIOKafkaProducer(**settings.kafka_producer_options(),
                                    enable_idempotence=True)
        await producer.start()
        token_for, close = credential_tokens(settings)
        try:
            async with httpx.AsyncClient(base_url=followup_url, timeout=30) as http:
                adapter = Adapter(producer=producer, http=http, token_for=token_for, topic=settings.topic)
                clock = Clock(config.start if resume_at is None else max(config.start, resume_at), speed)
                return await play(config, adapter, clock, until=until, resume_at=resume_at,
                                  on_progress=_display(config, console, until))
        finally:
            await producer.stop()
            await close()

    try:
        stats = asyncio.run(run())
    except KeyboardInterrupt:
        console.print("stopped; `hotline simulate` again continues after the last tick")
        return 0
    except (OSError, httpx.HTTPError, KafkaError, PyMongoError) as exc:
        console.print(f"[red]simulation failed: {exc}[/red] (is the system up? `make up`)")
        return 1
    console.print(_summary(config, stats))
    return 0


def _display(config: SimConfig, console: Console, until: datetime | None) -> Progressed:
    """A progress bar over business time on a terminal; a log line every 10 s otherwise."""
    total = ((until - config.start).total_seconds() if until else None)
    if not console.is_terminal:
        last = [0.0]

        def line(stats: Stats) -> None:
            if time.monotonic() - last[0] >= 10:
                last[0] = time.monotonic()
                console.print(_status(config, stats), highlight=False)
        return line
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                        TimeElapsedColumn(), console=console, transient=False)
    progress.start()
    task = progress.add_task("business time", total=total, status="")
    started = time.monotonic()

    def show(stats: Stats) -> None:
        if stats.business_now is None:
            return
        done = (stats.business_now - config.start).total_seconds()
        rate = done / max(time.monotonic() - started, 1e-6)
        progress.update(task, completed=done if total else None,
                        status=f"{_status(config, stats)}  x{rate:,.0f}")
        if total and done >= total:
            progress.stop()
    return show


def _status(config: SimConfig, stats: Stats) -> str:
    now = stats.business_now.astimezone(BUSINESS_TZ) if stats.business_now else config.start
    refused = sum(stats.refused.values())
    lag = datetime.now(UTC) - now
    phase = "live" if lag < timedelta(minutes=5) else "catching up"
    return (f"{now:%Y-%m-%d %H:%M} (month {month_of(config, now)}, {phase})  tickets {stats.tickets:,}  "
            f"acts {sum(stats.done.values()):,}  refused {refused:,}")
