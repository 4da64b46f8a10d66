"""`hotline metrics rebuild` on the real broker and store: the rebuilt projections equal the live ones."""

import asyncio
import sys
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import ContactKind, topics
from hotline.devkit import Namespace
from hotline.metrics.main import build_app
from tests.integration.test_metrics_live import all_drained, publish_events, settings_for
from tests.integration.test_metrics_store import expected_snapshot, snapshot
from tests.unit.test_metrics_scenario import JINGSHAN, Script, at, scripted_month

pytestmark = pytest.mark.stack
HOTLINE = Path(sys.executable).parent / "hotline"


async def run_rebuild(private: Namespace, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(HOTLINE), "metrics", "rebuild", *args, env=private.env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode()


async def test_rebuild_from_the_topics_equals_the_live_projection(namespace):
    private = namespace.child("r")
    await private.create(topics.core_topics())
    client = AsyncMongoClient(private.mongodb_url, tz_aware=True)
    db = client[private.database]
    try:
        script = scripted_month()
        later = Script()
        later.callback("J5", at(20, 9), True, "satisfied")
        # J2's late phone contact again under its event id as an early visit: the first stands,
        # live and rebuilt alike.
        late_call = next(e for e in script.events if type(e).__name__ == "ContactRecorded" and e.ticket_id == "TK-J2")
        rewritten = late_call.model_copy(update={"kind": ContactKind.FACE_TO_FACE, "contacted_at": at(3, 10)})
        app = build_app(settings_for(private))
        async with app.router.lifespan_context(app):
            await publish_events(private.kafka, private.prefix, script.events)
            # A duplicate of everything, then one more fact: redelivery is part of the log too.
            await publish_events(private.kafka, private.prefix, script.events + later.events + [rewritten])
            await all_drained(private)
            live = await snapshot(db)
            assert live == expected_snapshot(script.events + later.events)
            refused, message = await run_rebuild(private)
            assert refused == 1 and "stop it first" in message, message
        assert live["months"][f"{JINGSHAN}:2026-03"]["callbacks"] == 4

        code, output = await run_rebuild(private)
        assert code == 0, output
        assert "tickets" in output and "records/s" in output
        assert await snapshot(db) == live
        # The rebuilt projections carry on live: the next event lands on them.
        app = build_app(settings_for(private))
        async with app.router.lifespan_context(app):
            await publish_events(private.kafka, private.prefix, script.events[:5])
            await all_drained(private)
            assert await snapshot(db) == live
    finally:
        await client.drop_database(private.database)
        await client.close()
