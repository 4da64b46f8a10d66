"""`hotline replay` of the shipped San Francisco, New York and Chicago histories through the four
services on the real broker and store: the history's departments appear in the monthly ranking with
response and closing figures, and a second replay changes nothing."""

import asyncio
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from hotline.city import load_city
from hotline.contracts import topics
from hotline.devkit import Namespace
from hotline.ranking_policy import default_ranking_policy
from hotline.replay.mapping import REPLAY_DATA, load_replay_mapping
from hotline.replay.runner import Barrier, run_replay
from hotline.runtime.settings import ServiceSettings
from tests.integration.conftest import client_for, four_services
from tests.support import WAIT_FACTOR, eventually

# (mapping, history file, slice): small slices keep the test fast.
CASES = {
    "chicago": ("chicago/chicago_requests_50.json", {}),
    "nyc": ("nyc/nyc311_2024-04-16_api.csv", {"limit": 150}),
    "sf": ("sf/sf311_cases_2000.csv", {"since": datetime.fromisoformat("2015-01-01T00:00:00-08:00"),
                                       "until": datetime.fromisoformat("2015-02-01T00:00:00-08:00")}),
}
MINIMUM = default_ranking_policy().minimum_sample.callbacks
METRICS_TOPICS = [topics.TICKETS_RECEIVED, topics.TICKETS_DISPATCHED, topics.TICKETS_FOLLOWUP,
                  topics.TICKETS_ROUTING, topics.CALLBACKS]


@pytest.fixture(scope="module")
async def replay_space(stack):
    """A topic prefix and database of this module's own: the replay's business-time ticks (years
    back) must not move the clock of other tests' followup."""
    async with Namespace.fresh(stack, "r").created(topics.core_topics()) as space:
        yield space


def city_services(space: Namespace, city_file: Path):
    """The four services in this process, configured for the city (its unit registry); followup
    on the replay's business-time ticks, as a replay is meant to run. Metrics' months stay
    provisional (METRICS_SETTLE_RULE=never): these histories close tickets months after they
    opened, and what is checked here is that every close reached the figures; settling is
    tests/integration/test_metrics_settle.py's."""
    return four_services(space, city_path=city_file, metrics_settings={"settle_rule": "never"})


async def _settled(settings: ServiceSettings, quiet_s: float = 3) -> None:
    """Until followup's scheduler has fired every mark the last tick made due (no new followup
    event for `quiet_s`, a few scheduler passes) and metrics has taken everything."""
    async with Barrier(settings, timeout_s=60 * WAIT_FACTOR) as barrier:
        followup = await barrier.partitions(settings.topic(topics.TICKETS_FOLLOWUP))
        ends = None
        while ends != (ends := await barrier.consumer.end_offsets(followup)):
            await asyncio.sleep(quiet_s)
        for topic in METRICS_TOPICS:
            await barrier.wait("metrics", topic)


async def _ranking(client, period: str) -> dict[str, dict]:
    response = await client.get("/v1/rankings", params={"period": period, "kind": "department"})
    assert response.status_code == 200, response.text
    body = response.json()
    return {row["unit_code"]: row for row in body["rows"] + body["unranked"]}


@pytest.mark.parametrize("name", list(CASES))
async def test_replay_ranks_the_history_departments_and_is_idempotent(replay_space, name):
    mapping = load_replay_mapping(name)
    file, window = CASES[name]
    settings = ServiceSettings(kafka_bootstrap_servers=replay_space.kafka, topic_prefix=replay_space.prefix)
    async with city_services(replay_space, mapping.city) as apps:
        first = await run_replay(REPLAY_DATA / file, mapping, settings=settings, timeout_s=90 * WAIT_FACTOR, **window)
        records = first.plan.records
        assert records and not first.plan.unregistered
        assert first.published[topics.RAW] == len(records)

        # The month (in the city's time zone, as metrics counts) with the most records, and its units' tickets.
        zone = load_city(mapping.city).zone
        month = Counter(r.opened_at.astimezone(zone).strftime("%Y-%m") for r in records).most_common(1)[0][0]
        in_month = [r for r in records if r.opened_at.astimezone(zone).strftime("%Y-%m") == month]
        dispatched, closed = Counter(r.unit_code for r in in_month), defaultdict(int)
        for r in in_month:
            if r.closed_at is not None:
                closed[r.unit_code] += 1
        assert closed, f"{name}: no closed record in {month}"

        async with client_for(apps["metrics"]) as metrics:
            async def complete():
                rows = await _ranking(metrics, month)
                # Metrics reads contacts (tickets.followup) and callbacks (hotline.callbacks) apart:
                # wait for both.
                done = all(rows.get(code, {}).get("dispatched") == n for code, n in dispatched.items()) and all(
                    rows[code]["callbacks"] == n and rows[code]["contacted"] == n for code, n in closed.items())
                return rows if done else None

            rows = await eventually(complete, timeout_s=90)
            for code, n in closed.items():
                row = rows[code]
                # Response figures: the close is the unit's first recorded contact with the citizen.
                assert row["contacted"] == n and row["contacted_in_time"] + row["contacted_late"] == n
                assert row["rates"]["response"] is not None and row["median_first_contact_minutes"] is not None
                # Closing figures: each close is a resolved callback.
                assert row["resolved"] == n and row["rates"]["resolution"] == 1.0
                assert row["score"] is not None
                # Ranked with the policy's minimum sample of valid callbacks; listed and marked below it.
                if n >= MINIMUM:
                    assert row["rank"] is not None and row["ranked"], row
                else:
                    assert (row["rank"], row["ranked"], row["unranked_reason"]) == (None, False, "minimum_sample")
            assert {rows[c]["name"] for c in dispatched} == {r.unit_name for r in in_month}

            await _settled(settings)
            before = await _ranking(metrics, month)
            client = AsyncMongoClient(replay_space.mongodb_url)
            try:
                tickets_before = await client[replay_space.database]["intake_tickets"].count_documents({})
                second = await run_replay(REPLAY_DATA / file, mapping, settings=settings, timeout_s=90 * WAIT_FACTOR, **window)
                assert [r.ticket_id for r in second.plan.records] == [r.ticket_id for r in records]
                await _settled(settings)
                assert await client[replay_space.database]["intake_tickets"].count_documents({}) == tickets_before
            finally:
                await client.close()
            assert await _ranking(metrics, month) == before
