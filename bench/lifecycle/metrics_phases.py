"""Metrics' phases: the rebuild from a run's records, and live updates into a busy unit-month."""

import asyncio
import time
from dataclasses import replace
from datetime import datetime, timedelta

from common import about_other_tickets, percentiles, producer
from pymongo import AsyncMongoClient

from hotline.contracts import BUSINESS_TZ, ContactKind, ContactRecorded, TicketDispatched, topics
from hotline.devkit import Namespace, read_to_end
from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import fact_update
from hotline.metrics.events import TOPIC_EVENTS
from hotline.metrics.main import make_directory, make_writer
from hotline.metrics.projection import Projection
from hotline.metrics.rebuild import rebuild
from hotline.metrics.settings import MetricsSettings
from hotline.runtime.kafka import ensure_topics
from hotline.runtime.mongo import drop_database

# 4. Rebuild


async def rebuild_rates(ns: Namespace, copies: int) -> dict:
    """Rebuild the metrics projections from the run's metrics records and `copies` copies of them
    about other tickets (a run alone is too small: fixed costs would weigh), on topics and a
    database of its own, beside a raw read of the same records."""
    corpus = replace(ns, prefix=f"{ns.prefix}rebuild-", database=f"{ns.database}_rebuild")
    try:
        records = await read_to_end(ns.kafka, [ns.topic(t) for t in TOPIC_EVENTS])
        await ensure_topics(ns.kafka, [topics.TopicSpec(corpus.topic(s.name), s.partitions)
                                       for s in topics.core_topics() if s.name in TOPIC_EVENTS])
        out = producer(ns.kafka)
        await out.start()
        try:
            for copy in range(copies + 1):
                sent = [await out.send(corpus.topic(r.topic.removeprefix(ns.prefix)),
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
        settings = MetricsSettings(**corpus.service_settings())
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
    settings = MetricsSettings(mongodb_url=ns.mongodb_url, flush_interval_s=0)
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    unit, at = "110111008", datetime(2026, 3, 2, 9, tzinfo=BUSINESS_TZ)
    results = {}
    try:
        for size in sizes:
            name = f"{ns.database}_month{size}"
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
