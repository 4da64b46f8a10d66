"""Events of one ticket arriving out of order across topics; a consumer 100,000 events behind
catching up with bounded memory."""

import asyncio
import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from hotline.contracts import ContactKind, topics
from hotline.contracts.followup import ContactRecorded, TicketReopened
from hotline.contracts.raw import CallbackResult
from hotline.metrics.settle import record_time
from tests.faults.pipeline import Services, all_drained, metrics_total, new_space, read_all
from tests.integration.test_metrics_live import publish_events
from tests.integration.test_metrics_store import expected_snapshot, snapshot
from tests.support import eventually
from tests.unit.test_metrics_scenario import CHANGYANG, JINGSHAN, LIANGXIANG, Script, at

pytestmark = [pytest.mark.stack, pytest.mark.faults]

LAG = 100_000
RSS_BOUND_MB = 250


def scrambled_month(tickets: int = 60) -> Script:
    rng, s = random.Random(11), Script("ooo-")
    units = (JINGSHAN, LIANGXIANG, CHANGYANG)
    for n in range(tickets):
        name, unit, day = f"O{n:03d}", units[n % len(units)], 1 + n % 27
        s.received(name, at(day, 8), rng.choice(["noise", "sanitation", "roads_traffic"]), unit[:6], place=unit)
        s.dispatch(name, unit, at(day, 9))
        s.contact(name, unit, at(day, rng.choice([10, 12, 23])),
                  ContactKind.FACE_TO_FACE if rng.random() < 0.5 else ContactKind.PHONE)
        if rng.random() < 0.7:
            s.callback(name, at(day + 1, 15), rng.random() < 0.8,
                       rng.choice(["satisfied", "basically_satisfied", "dissatisfied"]))
    return s


async def test_a_tickets_events_out_of_order_across_topics_give_the_in_order_state(fault_stack, tmp_path):
    """Every ticket's contact first, then its dispatch, then its receipt; callbacks last (followup
    dead-letters a survey of a ticket it does not know yet, by design). Metrics ends with the
    pure projection of the events in order; followup knows each ticket once, whole."""
    space = await new_space(fault_stack, "order")
    services = Services(space, tmp_path)
    await services.start("followup", "metrics")
    script = scrambled_month()
    kind_order = {ContactRecorded: 0, CallbackResult: 3}
    backwards = sorted(script.events, key=lambda e: kind_order.get(type(e), 1 if "Dispatched" in type(e).__name__ else 2))
    assert [type(e).__name__ for e in backwards[:1]] == ["ContactRecorded"]
    client = AsyncMongoClient(space.mongodb_url, tz_aware=True)
    db = client[space.database]
    try:
        await publish_events(space.kafka, space.prefix, backwards)
        await all_drained(space, services=("followup", "metrics"))
        # Followup reopened the tickets of unresolved or dissatisfied callbacks; metrics counts
        # those rounds too, so they belong to the in-order events.
        reopened = [TicketReopened.model_validate_json(r.value) for r in await read_all(space, topics.TICKETS_FOLLOWUP)
                    if dict(r.headers or ()).get("event_type") == b"TicketReopened"]
        # The fault suite's services keep business time by the log (HOTLINE_BUSINESS_CLOCK=log): it
        # is the month's last record, before March settles, so metrics shows March provisional.
        in_order = script.events + reopened
        expected = expected_snapshot(in_order, now=max(record_time(e) for e in in_order))

        async def settled():
            return await snapshot(db) == expected
        try:
            await eventually(settled, timeout_s=30)
        except AssertionError:
            assert await snapshot(db) == expected
        tickets = {e.ticket_id for e in script.events}
        assert await metrics_total(db) == len(tickets)
        holders = {d["_id"]: d["unit_code"] async for d in db["followup_tickets"].find({}, {"unit_code": 1})}
        assert holders == {e.ticket_id: e.unit_code for e in script.events if type(e).__name__ == "TicketDispatched"}
    finally:
        await services.stop()
        await client.close()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_a_consumer_100k_events_behind_catches_up_with_bounded_memory(fault_stack, tmp_path):
    """100,000 business-time ticks wait on hotline.clock before followup first starts; it reads
    them all (its group commits to the end, business time is the last tick) and its peak
    resident memory stays under the bound: batches are bounded, not the backlog."""
    space = await new_space(fault_stack, "lag")
    start = at(1, 0)
    producer = AIOKafkaProducer(bootstrap_servers=space.kafka, acks=1, linger_ms=50,
                                max_batch_size=256 * 1024, compression_type=None)
    await producer.start()
    try:
        pending = []
        for n in range(LAG):
            tick = {"now": (start + timedelta(seconds=n)).isoformat(), "source": "lag"}
            pending.append(await producer.send(space.topic(topics.CLOCK), json.dumps(tick).encode()))
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    last = start + timedelta(seconds=LAG - 1)

    services = Services(space, tmp_path, BATCH_MAX_RECORDS="500")
    await services.start("followup")
    client = AsyncMongoClient(space.mongodb_url, tz_aware=True)
    db = client[space.database]
    try:
        async def caught_up():
            state = await db["followup_scheduler"].find_one({"_id": "business_time"})
            return state is not None and state["now"] == last
        await eventually(caught_up, timeout_s=240, interval_s=0.5)
        await all_drained(space, timeout_s=60, services=("followup",))
        peak = peak_rss_mb(services.processes["followup"].pid)
        print(f"followup caught up with {LAG} ticks; peak RSS {peak:.0f} MB")
        assert peak < RSS_BOUND_MB, f"peak RSS {peak:.0f} MB while catching up {LAG} events"
    finally:
        await services.stop()
        await client.close()
