"""Metrics alone, on a synthetic month over every street and town: rebuild events/s from the
retained topics, beside the raw read rate of the same records, and live update latency (event
published -> unit-month figures changed). `make bench` measures rebuild on its own run's topics."""

import asyncio
import random
import statistics
import time
import uuid
from datetime import datetime, timedelta

import typer
from aiokafka import AIOKafkaProducer
from common import EVENT_TOPICS, send_events
from hotline.metrics.main import build_app
from hotline.metrics.rebuild import rebuild
from hotline.metrics.settings import MetricsSettings
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.table import Table

from hotline.contracts import (
    BUSINESS_TZ,
    CallbackResult,
    ContactKind,
    ContactRecorded,
    Satisfaction,
    TicketDispatched,
    deterministic_event_id,
    topics,
)
from hotline.devkit import Namespace, read_to_end
from hotline.gazetteer import beijing
from hotline.runtime.kafka import ensure_topics

def month_of_events(tickets: int, run: str) -> list:
    """A month of tickets over every street and town: dispatch, usually a contact, often a callback."""
    rng, units = random.Random(11), sorted(beijing().units)
    start = datetime(2026, 3, 1, 8, tzinfo=BUSINESS_TZ)
    events: list = []
    for n in range(tickets):
        ticket, unit = f"TK-B{run}-{n}", units[n % len(units)]
        at = start + timedelta(minutes=rng.randrange(27 * 24 * 60))
        events.append(TicketDispatched(
            event_id=deterministic_event_id("TicketDispatched", ticket, "1"), ticket_id=ticket, occurred_at=at,
            unit_code=unit, unit_name=unit, district_code=unit[:6], reason="street_town", dispatched_at=at))
        if rng.random() < 0.85:
            when = at + timedelta(hours=rng.choice([1, 3, 30]))
            cid = deterministic_event_id("Contact", ticket, when.isoformat())
            events.append(ContactRecorded(
                event_id=deterministic_event_id("ContactRecorded", cid), ticket_id=ticket, occurred_at=when,
                contact_id=cid, unit_code=unit, contacted_at=when, staff_id="S",
                kind=ContactKind.FACE_TO_FACE if rng.random() < 0.4 else ContactKind.PHONE))
            if rng.random() < 0.7:
                events.append(CallbackResult(ticket_id=ticket, resolved=rng.random() < 0.8,
                                             surveyed_at=when + timedelta(days=2),
                                             satisfaction=rng.choice(list(Satisfaction))))
    return events


async def publish(kafka: str, prefix: str, events: list) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        await send_events(producer, prefix, events)
    finally:
        await producer.stop()


async def raw_read_rate(kafka: str, prefix: str) -> tuple[int, float]:
    """Records/s of reading the same topics to their end with no processing: the limit."""
    started = time.perf_counter()
    count = len(await read_to_end(kafka, sorted({prefix + t for t in EVENT_TOPICS.values() if t != topics.TICKETS_RECEIVED})))
    return count, count / (time.perf_counter() - started)


async def live_latency(settings: MetricsSettings, kafka: str, samples: int) -> list[float]:
    """Seconds from publishing a dispatch to the unit-month figures showing it."""
    app = build_app(settings)
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    months = client[settings.mongodb_database]["metrics_unit_figures"]
    unit, at = "110111008", datetime(2026, 3, 28, 9, tzinfo=BUSINESS_TZ)
    latencies = []
    try:
        async with app.router.lifespan_context(app):
            # The first event waits for the consumer groups to form: a warm-up, not a sample.
            for n in range(samples + 1):
                before = (await months.find_one({"_id": f"{unit}:2026-03"}) or {"figures": {}})["figures"].get("dispatched", 0)
                ticket = f"TK-LIVE-{uuid.uuid4().hex[:8]}-{n}"
                event = TicketDispatched(
                    event_id=deterministic_event_id("TicketDispatched", ticket, "1"), ticket_id=ticket,
                    occurred_at=at, unit_code=unit, unit_name=unit, district_code=unit[:6],
                    reason="street_town", dispatched_at=at)
                started = time.perf_counter()
                await publish(kafka, settings.topic_prefix, [event])
                while (await months.find_one({"_id": f"{unit}:2026-03"}) or {"figures": {}})["figures"].get("dispatched", 0) <= before:
                    await asyncio.sleep(0.005)
                if n:
                    latencies.append(time.perf_counter() - started)
    finally:
        await client.close()
    return latencies


def main(tickets: int = typer.Option(20_000, help="Tickets in the month (about 3 events each)."),
         samples: int = typer.Option(30, help="Live latency samples.")) -> None:
    """Run the metrics benchmark on the local stack and print the figures."""
    asyncio.run(run(tickets, samples))


async def run(tickets: int, samples: int) -> None:
    console = Console()
    run_id = uuid.uuid4().hex[:6]
    settings = MetricsSettings(topic_prefix=f"bench-m{run_id}-", mongodb_database=f"bench_metrics_{run_id}",
                               stream_poll_s=0.2)
    kafka = settings.kafka_bootstrap_servers
    await ensure_topics(kafka, [topics.TopicSpec(settings.topic(s.name), s.partitions) for s in topics.core_topics()])
    events = month_of_events(tickets, run_id)
    with console.status(f"publishing {len(events):,} events"):
        await publish(kafka, settings.topic_prefix, events)
    with console.status("reading them raw"):
        raw_count, raw_rate = await raw_read_rate(kafka, settings.topic_prefix)
    with console.status("rebuilding the projections"):
        report = await rebuild(settings)
    with console.status(f"live latency, {samples} samples"):
        latencies = sorted(await live_latency(settings, kafka, samples))
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]

    table = Table(title=f"metrics benchmark ({tickets:,} tickets, {raw_count:,} records)")
    for column in ("measure", "value", "ratio / aim"):
        table.add_column(column)
    table.add_row("raw read of the same records (limit)", f"{raw_rate:,.0f} records/s", "1.00")
    table.add_row("rebuild, end to end", f"{report.events_per_s:,.0f} records/s",
                  f"{report.events_per_s / raw_rate:.2f} of the limit; aim 20,000/s: "
                  f"{report.events_per_s / 20_000:.2f}")
    table.add_row("live update latency p50", f"{p50 * 1000:,.0f} ms", "")
    table.add_row("live update latency p99", f"{p99 * 1000:,.0f} ms", f"aim 2,000 ms: {p99 / 2:.2f}")
    console.print(table)

    await Namespace(kafka, settings.mongodb_url, settings.topic_prefix, settings.mongodb_database).clean_up()


if __name__ == "__main__":
    typer.run(main)
