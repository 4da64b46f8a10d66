"""A store that already holds a history: months of tickets taken through their whole lifecycle by
the bench's own services before the timed phases, so these run on realistic state.

The tickets are the bench's (received over the months before now, answered by its driver at full
speed): the city simulator plays acts one HTTP call at a time, about 40 a second here, which would
take an hour for five months.

The history's size, how long it took, the store's growth (the file, and the documents' own BSON
bytes in the run's database) and the documents written per ticket are part of the results.
"""

import asyncio
import time
from datetime import UTC, datetime

import bson
from common import addresses, producer, raw_record, run_of, store_commands, store_commands_between
from pymongo import AsyncMongoClient
from soak_watch import group_lags, store_bytes

from hotline.contracts import topics
from hotline.devkit import Namespace, ServiceProcess
from hotline.runtime.settings import ServiceSettings
from hotline.simulator.plan import month_start


def tickets_per_day(tickets: int, months: int, now: datetime | None = None) -> float:
    """The simulator's city-wide daily rate that gives about `tickets` over the history."""
    start = month_start(now or datetime.now(UTC), months)
    days = max(1.0, ((now or datetime.now(UTC)) - start).total_seconds() / 86_400)
    return tickets / days


def tickets_over(months: int, per_day: float = 240.0) -> float:
    """How many tickets the simulator's default city (240 a day) makes over `months` to now."""
    return per_day * tickets_per_day(1, months) ** -1


async def database_bytes(ns: Namespace) -> int:
    """The BSON size of every document in the run's database: what the data is, whatever the
    store's file adds around it."""
    client = AsyncMongoClient(ns.mongodb_url)
    try:
        db = client[ns.database]
        total = 0
        for name in await db.list_collection_names():
            async for raw in db[name].find({}, batch_size=2_000):
                total += len(bson.encode(raw))
        return total
    finally:
        await client.close()


async def drained(ns: Namespace, timeout_s: float, stable_s: float = 3.0) -> None:
    """Until every one of the run's consumer groups has read to the end for `stable_s`."""
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        lags = await group_lags(ns.kafka, prefix=ServiceSettings(topic_prefix=ns.prefix).group_id(""))
        if lags and not any(lags.values()):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= stable_s:
                return
        else:
            quiet_since = None
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the history did not drain within {timeout_s:.0f} s: {lags}")


async def publish_history(ns: Namespace, tickets: int, months: int) -> None:
    """`tickets` raw records received over the months before now, oldest first, as fast as the
    producer goes."""
    places, now = addresses(), datetime.now(UTC)
    start = month_start(now, months)
    step = (now - start) / max(1, tickets)
    sender, run = producer(ns.kafka), run_of(ns)
    await sender.start()
    try:
        futures = [await sender.send(ns.topic(topics.RAW), raw_record(i, f"{run}-history", places, start + step * i))
                   for i in range(tickets)]
        await asyncio.gather(*futures)
    finally:
        await sender.stop()


async def load_history(ns: Namespace, services: dict[str, ServiceProcess], driver, *, tickets: int,
                       months: int, timeout_s: float) -> dict:
    """Take `tickets` received over `months` through their whole lifecycle with the running
    services (`driver` answers as units and citizens do), until every consumer group has drained."""
    trips = store_commands(list(services.values()))
    file_before, started = store_bytes(), time.monotonic()
    await publish_history(ns, tickets, months)
    deadline = time.monotonic() + timeout_s
    while len(driver.closed) < tickets:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(driver.closed):,} of the history's {tickets:,} tickets closed in {timeout_s:.0f} s")
        await asyncio.sleep(0.5)
    await drained(ns, timeout_s)
    seconds = time.monotonic() - started
    data = await database_bytes(ns)
    file_growth = store_bytes() - file_before
    written = store_commands_between(trips, store_commands(list(services.values())), tickets)
    return {
        "tickets": tickets, "months": months, "seconds": round(seconds, 1),
        "tickets_per_s": round(tickets / seconds, 1),
        "store": {"database_bson_bytes": data, "bson_kb_per_ticket": round(data / 1024 / tickets, 2),
                  "file_growth_bytes": file_growth,
                  "file_growth_kb_per_ticket": round(file_growth / 1024 / tickets, 2)},
        "documents_written_per_ticket_by_service": written["documents_written_per_ticket_by_service"],
        "documents_written_per_ticket": written["documents_written_per_ticket"],
    }
