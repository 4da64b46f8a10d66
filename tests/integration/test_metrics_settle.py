"""Settled months on the real broker and store, business time from the log (HOTLINE_BUSINESS_CLOCK=log):
a month is provisional until its settle time, then its ranking and figures stop moving (a late
callback and contact change the ticket's fact, not the settled ranking), and `hotline metrics
rebuild` gives the same settled ranking as live."""

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import BusinessTimeTick, topics
from hotline.devkit import Namespace
from hotline.metrics.main import build_app
from hotline.metrics.settings import MetricsSettings
from tests.integration.conftest import client_for
from tests.integration.test_metrics_live import all_drained, publish_events
from tests.integration.test_metrics_rebuild import HOTLINE
from tests.integration.test_metrics_store import snapshot
from tests.support import eventually, publish
from tests.unit.test_metrics_scenario import (
    JINGSHAN,
    JINGSHAN_MARCH,
    MARCH_RANKINGS,
    Script,
    at,
    scripted_month,
    write_scripted_policy,
)

pytestmark = pytest.mark.stack


def log_clock(private: Namespace, folder: Path) -> MetricsSettings:
    """Business time from the log; the scripted month's ranking rules (the callback's response
    rate, a minimum sample of one callback), as test_metrics_live runs them."""
    return MetricsSettings(**private.service_settings(), business_clock="log", settle_check_s=0.2,
                           flush_interval_s=0.1, ranking_policy=write_scripted_policy(folder))


async def tick(private: Namespace, now: datetime) -> None:
    await publish(private.kafka, private.prefix + topics.CLOCK,
                  BusinessTimeTick(now=now, source="test").model_dump_json().encode())


def street_rows(body: dict) -> list:
    return [(r["unit_code"], r["rank"], r["score"], r["dispatched"], r["callbacks"]) for r in body["rows"]]


async def test_a_month_settles_stops_moving_and_rebuilds_to_the_same_settled_ranking(namespace, tmp_path):
    private = namespace.child("s")
    await private.create(topics.core_topics())
    client = AsyncMongoClient(private.mongodb_url, tz_aware=True)
    db = client[private.database]
    try:
        settings = log_clock(private, tmp_path)
        app = build_app(settings)
        async with app.router.lifespan_context(app), client_for(app) as http:
            await publish_events(private.kafka, private.prefix, scripted_month().events)
            await all_drained(private)
            await tick(private, at(10, 12, month=4))

            async def march(period: str = "2026-03") -> dict:
                return (await http.get("/v1/rankings", params={"period": period})).json()

            async def february_settled() -> dict | None:
                body = await march("settled")
                return body if body["period"] == "2026-02" else None

            # February has settled (20 March, and the grace for quiet partitions is over); March not yet.
            settled_feb = await eventually(february_settled)
            assert settled_feb["settled"] is True and settled_feb["settled_at"].startswith("2026-03-20T00:00:00")
            provisional = await march()
            assert provisional["settled"] is False and provisional["settles_at"].startswith("2026-04-20T00:00:00")
            assert provisional["latest_period"] == "2026-03" and provisional["settled_period"] == "2026-02"
            assert street_rows(provisional)[0][:3] == MARCH_RANKINGS["callback"]["street"][0][:3]
            bad = await http.get("/v1/rankings", params={"period": "latest"})
            assert bad.status_code == 422 and "'settled'" in bad.text and "period" in bad.text

            # Business time passes 20 April (and its grace): March settles, frozen as it stood then.
            await tick(private, at(21, 1, month=4))

            async def march_settled() -> dict | None:
                body = await march()
                return body if body["settled"] else None

            settled = await eventually(march_settled)
            assert settled["settled_at"].startswith("2026-04-20T00:00:00") and settled["settles_at"] is None
            assert (await march("settled"))["period"] == "2026-03"
            frozen_month = (await http.get(f"/v1/units/{JINGSHAN}/months/2026-03")).json()
            assert frozen_month["settled"] is True
            assert {k: frozen_month[k] for k in JINGSHAN_MARCH} == JINGSHAN_MARCH

            # Late: J5's first contact and a dissatisfied callback for J4, recorded on 22 April.
            late = Script()
            late.contact("J5", JINGSHAN, at(22, 9, month=4))
            late.callback("J4", at(22, 10, month=4), False, "dissatisfied")
            await publish_events(private.kafka, private.prefix, late.events)
            await all_drained(private)
            facts = app.state.projection.facts

            async def kept() -> bool:
                return "contacts" in facts.get("TK-J5", {}) and bool(facts.get("TK-J4", {}).get("callbacks"))

            await eventually(kept)
            await asyncio.sleep(0.5)  # a flush or two after the late events
            after = await march()
            assert street_rows(after) == street_rows(settled)
            assert after["settled"] is True and after["settled_at"] == settled["settled_at"]
            assert {k: v for k, v in (await http.get(f"/v1/units/{JINGSHAN}/months/2026-03")).json().items()
                    if k in JINGSHAN_MARCH} == JINGSHAN_MARCH
            live = await snapshot(db)

        env = {**private.env(), "HOTLINE_BUSINESS_CLOCK": "log", "METRICS_RANKING_POLICY": str(settings.ranking_policy)}
        process = await asyncio.create_subprocess_exec(
            str(HOTLINE), "metrics", "rebuild", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, out.decode()
        rebuilt = await snapshot(db)
        assert rebuilt == live
        assert rebuilt["rankings"]["2026-03:street"]["settled"] is True
        assert (await db["metrics_meta"].find_one({"_id": "settled"}))["period"] == "2026-03"
    finally:
        await client.drop_database(private.database)
        await client.close()
