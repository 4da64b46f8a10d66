"""A metrics process SIGKILLed mid-stream and started again ends with the same figures as
processing each event once, in order (the pure projection of the same events)."""

import random
import uuid
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import ContactKind, topics
from hotline.devkit import Namespace, ServiceProcess, free_port
from tests.integration.test_metrics_live import all_drained, publish_events
from tests.integration.test_metrics_store import expected_snapshot, snapshot
from tests.support import eventually
from tests.unit.test_metrics_scenario import CHANGYANG, DONGHUAMEN, JINGSHAN, LIANGXIANG, Script, at

pytestmark = pytest.mark.stack
UNITS = (JINGSHAN, DONGHUAMEN, LIANGXIANG, CHANGYANG)


def busy_month(tag: str, tickets: int = 400) -> Script:
    """Many tickets over March: dispatches, contacts (some face to face, some late), callbacks."""
    rng, s = random.Random(7), Script(tag)
    for n in range(tickets):
        name, unit, day = f"N{n:04d}", UNITS[n % len(UNITS)], 1 + n % 27
        s.received(name, at(day, 8), rng.choice(["noise", "sanitation", "roads_traffic"]), unit[:6], place=unit)
        s.dispatch(name, unit, at(day, 9))
        if rng.random() < 0.85:
            s.contact(name, unit, at(day, rng.choice([10, 12, 23]) if rng.random() < 0.8 else 9, 0),
                      ContactKind.FACE_TO_FACE if rng.random() < 0.4 else ContactKind.PHONE)
            if rng.random() < 0.7:
                s.callback(name, at(day + 1, 15), rng.random() < 0.8,
                           rng.choice(["satisfied", "basically_satisfied", "dissatisfied"]))
    return s


def start_metrics(private: Namespace, port: int, log: Path) -> ServiceProcess:
    return ServiceProcess.spawn("metrics", private.env(BATCH_MAX_RECORDS="25", LOG_LEVEL="WARNING"), log,
                                port=port).wait_healthy(60)


async def test_a_metrics_process_killed_mid_stream_and_restarted_gives_the_undisturbed_figures(namespace, tmp_path):
    tag = uuid.uuid4().hex[:6]
    private = namespace.child("k")
    await private.create(topics.core_topics())
    port = free_port()
    script = busy_month(tag)
    client = AsyncMongoClient(private.mongodb_url, tz_aware=True)
    db = client[private.database]
    try:
        first = start_metrics(private, port, tmp_path / "first.log")
        try:
            await publish_events(private.kafka, private.prefix, script.events)

            async def part_way() -> bool:
                return await db["metrics_unit_figures"].count_documents({}) > 0
            await eventually(part_way, timeout_s=60, interval_s=0.05)
        finally:
            first.kill()
        second = start_metrics(private, port, tmp_path / "second.log")
        try:
            await all_drained(private, timeout_s=120)
            expected = expected_snapshot(script.events)

            async def settled():
                return await snapshot(db) == expected
            # The projections settle after the last batch; give the settle passes a moment.
            try:
                await eventually(settled, timeout_s=20)
            except AssertionError:
                assert await snapshot(db) == expected
        finally:
            await second.stop_async()
    finally:
        await client.drop_database(private.database)
        await client.close()
