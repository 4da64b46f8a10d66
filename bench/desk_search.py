"""How long the desk's ticket search takes on a store with history (docs/services/followup.md).

A quick measurement to run alone (not part of `make bench`): N tickets dispatched over the last
months to a few units, through followup's own store (`FollowupStore.apply_dispatches`, as the
dispatch handler writes them), in a database of the run's own on the running store; then each
kind of search timed through the desk's use case (`Desk.search`) as the HTTP route runs it.

    .venv/bin/python bench/desk_search.py --tickets 5000
"""

import asyncio
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import typer
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).parent))
from common import fresh_namespace  # noqa: E402

from hotline.contracts import BUSINESS_TZ, Channel, TicketDispatched, TicketReceived  # noqa: E402
from hotline.contracts.tickets import Caller, Location  # noqa: E402
from hotline.followup.desk.app import Desk  # noqa: E402
from hotline.followup.desk.store import DeskStore  # noqa: E402
from hotline.followup.tickets.domain import TicketState  # noqa: E402
from hotline.followup.tickets.store import FollowupStore  # noqa: E402
from hotline.runtime.auth import Principal, Role  # noqa: E402
from hotline.runtime.mongo import drop_database  # noqa: E402

UNITS = ["110111008", "110111009", "110111010", "110111011", "110111012"]
CATEGORIES = ["streetlight", "water_supply", "noise", "heating", "garbage", "road", "parking", "other"]
CENTRE = Principal("centre", Role.CENTRE)


def dispatch(n: int, run: str, now: datetime, days: int) -> TicketDispatched:
    ticket_id = f"desk-{run}-{n:06d}"
    received_at = now - timedelta(minutes=(n * 7919) % (days * 24 * 60))
    unit = UNITS[n % len(UNITS)]
    received = TicketReceived(
        event_id=f"r-{ticket_id}", ticket_id=ticket_id, occurred_at=received_at, channel=Channel.PHONE,
        source_id=ticket_id, received_at=received_at, content="路灯不亮", caller=Caller(phone="13800000000"),
        location=Location(district_code="110111", unit_code=unit), category=CATEGORIES[n % len(CATEGORIES)])
    at = received_at + timedelta(minutes=5)
    return TicketDispatched(
        event_id=f"d-{ticket_id}", ticket_id=ticket_id, occurred_at=at, unit_code=unit, unit_name=unit,
        reason="street_town", district_code="110111", dispatched_at=at, attempt=1, category=received.category,
        report_back_due_at=at + timedelta(days=7), urgency="general", received=received)


async def timed(label: str, call, repeat: int) -> tuple[str, float, int]:
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await call()
        took.append(time.perf_counter() - started)
    return label, statistics.median(took) * 1000, answer["count"]


async def measure(tickets: int, days: int, repeat: int) -> list[tuple[str, float, int]]:
    ns = fresh_namespace("desk")
    run = ns.database.rsplit("_", 1)[1]
    client: AsyncMongoClient = AsyncMongoClient(ns.mongodb_url, tz_aware=True)
    db = client[ns.database]
    try:
        store = FollowupStore(db, zone=BUSINESS_TZ)
        now = datetime.now(UTC)
        events = [dispatch(n, run, now, days) for n in range(tickets)]
        for start in range(0, tickets, 500):
            await store.apply_dispatches(events=events[start:start + 500])
        desk = Desk(DeskStore(db))
        week_ago = (now - timedelta(days=7)).astimezone(BUSINESS_TZ).date()
        today = now.astimezone(BUSINESS_TZ).date()
        searches = [
            ("centre, no filter", lambda: desk.search(CENTRE)),
            ("centre, a category", lambda: desk.search(CENTRE, category="noise")),
            ("centre, state closed (none)", lambda: desk.search(CENTRE, state=TicketState.CLOSED)),
            ("centre, the last week", lambda: desk.search(CENTRE, received_from=week_ago, received_to=today)),
            ("centre, one ticket by id", lambda: desk.search(CENTRE, ticket_id=events[tickets // 2].ticket_id)),
            ("a unit's own, no filter", lambda: desk.search(Principal(UNITS[0], Role.UNIT))),
            ("a unit's own, one day", lambda: desk.search(Principal(UNITS[0], Role.UNIT), received_from=today,
                                                          received_to=today)),
        ]
        return [await timed(label, call, repeat) for label, call in searches]
    finally:
        await drop_database(client, ns.database)
        await client.close()


def main(tickets: int = typer.Option(5000, help="Tickets in the store."),
         days: int = typer.Option(90, help="Received over this many days before now."),
         repeat: int = typer.Option(5, help="Runs of each search (the median is shown).")) -> None:
    started = date.today()
    results = asyncio.run(measure(tickets, days, repeat))
    print(f"{tickets} tickets over {days} days ({started}); median of {repeat} runs")
    for label, ms, count in results:
        print(f"  {label:32} {ms:8.1f} ms  {count:4d} found")


if __name__ == "__main__":
    typer.run(main)
