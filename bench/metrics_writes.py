"""Documents metrics writes per ticket, alone on the shared stack (no other service started).

Tickets over every street and town (or `--units N` of them, as `make bench` uses 64), each with its lifecycle as metrics sees it: received and
dispatched, a contact a second later, a callback two seconds later; paced at `--rate` tickets/s
(`--rate 0`: all at once, saturation). Metrics runs in this process on a namespace of its own; the
figure is its `hotline_store_documents_written` counter over the load, divided by the tickets.
`--history N` publishes N tickets spread over five months first and times the start (the fold of
the retained log, then the first write), as a restart on a city's history would.

    .venv/bin/python bench/metrics_writes.py --tickets 1000 --rate 100
"""

import asyncio
import json
import random
import time
import uuid
from datetime import datetime, timedelta

import typer
from aiokafka import AIOKafkaProducer
from common import send_events
from pymongo import AsyncMongoClient

from hotline.contracts import (
    BUSINESS_TZ,
    CallbackResult,
    ContactKind,
    ContactRecorded,
    Location,
    Satisfaction,
    TicketDispatched,
    TicketReceived,
    deterministic_event_id,
    topics,
)
from hotline.contracts.raw import Caller, Channel
from hotline.gazetteer import beijing
from hotline.metrics.main import build_app
from hotline.metrics.settings import MetricsSettings
from hotline.runtime.kafka import ensure_topics
from hotline.runtime.mongo import drop_database

def lifecycle(ticket: str, unit: str, at: datetime, rng: random.Random) -> list[list]:
    """The ticket's events in three steps a second apart: received and dispatched, contact, callback."""
    received = TicketReceived(
        event_id=deterministic_event_id("TicketReceived", ticket), ticket_id=ticket, occurred_at=at,
        channel=Channel.PHONE, source_id=ticket, received_at=at, content="……", caller=Caller(phone="13800001234"),
        location=Location(district_code=unit[:6], unit_code=unit, community=f"社区{rng.randrange(5)}"),
        category=rng.choice(["noise", "sanitation", "roads_traffic", "heating"]))
    dispatched = TicketDispatched(
        event_id=deterministic_event_id("TicketDispatched", ticket, "1"), ticket_id=ticket, occurred_at=at,
        unit_code=unit, unit_name=unit, district_code=unit[:6], reason="street_town", dispatched_at=at)
    when = at + timedelta(minutes=rng.choice([20, 90, 600]))
    cid = deterministic_event_id("Contact", ticket, when.isoformat())
    contact = ContactRecorded(
        event_id=deterministic_event_id("ContactRecorded", cid), ticket_id=ticket, occurred_at=when,
        contact_id=cid, unit_code=unit, contacted_at=when, staff_id="S",
        kind=ContactKind.FACE_TO_FACE if rng.random() < 0.4 else ContactKind.PHONE)
    callback = CallbackResult(ticket_id=ticket, resolved=rng.random() < 0.8, surveyed_at=when + timedelta(days=2),
                              satisfaction=rng.choice(list(Satisfaction)))
    return [[received, dispatched], [contact], [callback]]


def tickets_of(count: int, run: str, start: datetime, days: int, seed: int, spread: int = 0) -> list[list[list]]:
    rng = random.Random(seed)
    units = sorted(code for code, u in beijing().units.items() if u.kind in ("street", "town", "area", "township"))
    if spread:  # every k-th, as `make bench` spreads its 64
        units = units[:: max(1, len(units) // spread)][:spread]
    return [lifecycle(f"TK-W{run}-{n}", rng.choice(units),
                      start + timedelta(minutes=rng.randrange(days * 24 * 60)), rng) for n in range(count)]


def written(app) -> dict[str, float]:
    registry = app.state.runtime.metrics.registry
    found: dict[str, float] = {}
    for family in registry.collect():
        if family.name == "hotline_store_documents_written":
            for s in family.samples:
                if s.name.endswith("_total"):
                    found[s.labels["collection"]] = s.value
    return found


def events_applied(app) -> float:
    for family in app.state.runtime.metrics.registry.collect():
        if family.name == "hotline_metrics_events":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    return 0.0


async def paced(producer, prefix: str, tickets: list[list[list]], rate: float) -> None:
    """Step k of ticket n goes out k seconds after its first step; tickets start `rate` a second."""
    if rate <= 0:
        for step in range(3):
            await send_events(producer, prefix, [e for t in tickets for e in t[step]])
        return
    due = sorted((n / rate + step, step, n) for n, t in enumerate(tickets) for step in range(3))
    began = time.monotonic()
    i = 0
    while i < len(due):
        now = time.monotonic() - began
        batch = []
        while i < len(due) and due[i][0] <= now:
            batch += tickets[due[i][2]][due[i][1]]
            i += 1
        if batch:
            await send_events(producer, prefix, batch)
        await asyncio.sleep(0.02)


async def run(tickets: int, rate: float, history: int, settle_s: float, units: int) -> dict:
    tag = uuid.uuid4().hex[:6]
    settings = MetricsSettings(topic_prefix=f"mw{tag}-", mongodb_database=f"hotline_mw_{tag}", log_level="WARNING")
    await ensure_topics(settings.kafka_bootstrap_servers,
                        [topics.TopicSpec(settings.topic(s.name), s.partitions) for s in topics.core_topics()])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    mongo = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    result: dict = {"tickets": tickets, "rate": rate, "units": units or "all", "history_tickets": history}
    try:
        if history:
            old = tickets_of(history, f"{tag}h", datetime(2026, 1, 1, 8, tzinfo=BUSINESS_TZ), 150, 3)
            events = [e for t in old for step in t for e in step]
            for start in range(0, len(events), 20_000):
                await send_events(producer, settings.topic_prefix, events[start:start + 20_000])
            result["history_events"] = len(events)
        app = build_app(settings)
        started = time.perf_counter()
        async with app.router.lifespan_context(app):
            result["start_s"] = round(time.perf_counter() - started, 2)
            await asyncio.sleep(2)  # consumers settle; what the start wrote is not the load's
            before, applied = written(app), events_applied(app)
            load = tickets_of(tickets, tag, datetime(2026, 6, 1, 8, tzinfo=BUSINESS_TZ), 28, 5, units)
            expected = applied + sum(len(step) for t in load for step in t)
            began = time.perf_counter()
            await paced(producer, settings.topic_prefix, load, rate)
            while events_applied(app) < expected:
                await asyncio.sleep(0.1)
            result["load_s"] = round(time.perf_counter() - began, 2)
            await asyncio.sleep(settle_s)
            after = written(app)
        per = {c: round((after.get(c, 0) - before.get(c, 0)) / tickets, 3) for c in sorted(after)}
        result["documents_written_per_ticket"] = {c: v for c, v in per.items() if v}
        result["documents_written_per_ticket_total"] = round(sum(per.values()), 3)
    finally:
        await producer.stop()
        await drop_database(mongo, settings.mongodb_database)
        await mongo.close()
    return result


def main(tickets: int = 1000, rate: float = 100, history: int = 0, settle_s: float = 3,
         units: int = typer.Option(0, help="Spread the load over this many streets and towns (0: all 349).")) -> None:
    print(json.dumps(asyncio.run(run(tickets, rate, history, settle_s, units)), indent=1))


if __name__ == "__main__":
    typer.run(main)
