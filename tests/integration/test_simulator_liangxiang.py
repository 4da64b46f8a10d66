"""The simulator's Liangxiang scenario, short form: seven Fangshan towns over five past months
(January to May 2026) at full speed, through the real broker and the four services in this
process.

Liangxiang must sit in the lower half of the towns' ranking in months 1 and 2 and in the middle
by month 5, in the rankings the metrics service computes from what the simulated units did. The
module has a namespace of its own: the simulator's business-time ticks must not move the clock
of other tests' followup."""

import time
from datetime import datetime

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from hotline.catalogue import default_catalogue
from hotline.contracts import BUSINESS_TZ, topics
from hotline.devkit import Namespace
from hotline.runtime.auth import CENTRE_CODE, CredentialStore, Role
from hotline.simulator import preview
from hotline.simulator.adapter import Adapter, Clock
from hotline.simulator.plan import LIANGXIANG, SimConfig, acts_between
from hotline.simulator.run import play
from tests.integration.conftest import client_for, four_services
from tests.support import eventually

pytestmark = pytest.mark.stack

TOWNS = ("110111008", "110111009", "110111010", "110111101", "110111103", "110111104", "110111105")
SEED, TICKETS_PER_DAY = 4, 3.5


@pytest.fixture(scope="module")
async def sim_space(stack):
    """A topic prefix and database of this module's own."""
    specs = [*topics.core_topics(),
             *topics.queue_topics([*TOWNS, "110111", topics.TRIAGE_QUEUE_CODE, *default_catalogue().units_by_code])]
    async with Namespace.fresh(stack, "s").created(specs) as space:
        yield space


@pytest.fixture(scope="module")
async def sim_services(sim_space):
    """The four services in this process; followup on the simulator's business time."""
    # Months stay provisional: the plan's figures count every act, also those after a month would
    # settle (settling is tests/integration/test_metrics_settle.py's).
    async with four_services(sim_space, scheduler_interval_s=0.2, metrics_settings={"settle_rule": "never"}) as apps:
        yield apps


def _report():
    """Progress on the test's output (-s) every 10 s: a slow run says where it is."""
    last = [time.monotonic()]

    def report(stats) -> None:
        if time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            print(f"simulated to {stats.business_now:%Y-%m-%d %H:%M}: {dict(stats.done)} retries {stats.retries}")
    return report


async def test_liangxiang_moves_from_the_lower_half_to_the_middle(sim_space, sim_services):
    # Five whole months in the past, fixed, so the plan is the same whenever the test runs. With
    # seven towns and a small volume, a rank moves with chance: the plan tells the story for most
    # seeds (6 of 1 to 8); this is one of them, and the live ranks must equal the plan's.
    start, until = datetime(2026, 1, 1, tzinfo=BUSINESS_TZ), datetime(2026, 6, 1, tzinfo=BUSINESS_TZ)
    config = SimConfig(seed=SEED, start=start, tickets_per_day=TICKETS_PER_DAY, units=TOWNS, scenario="liangxiang")
    periods = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]

    # What the plan says should happen (pure), and that it tells the scenario's story.
    expected = preview.figures(acts_between(config, start.date(), until.date()), until=until)
    expected_ranks = preview.rankings(expected, TOWNS)
    assert sum(m.dispatched for (u, _), m in expected.items() if u == LIANGXIANG) > 100

    mongo = AsyncMongoClient(sim_space.mongodb_url)
    credentials = CredentialStore(mongo[sim_space.database])

    async def token_for(unit: str) -> str:
        return await credentials.issue(unit_code=unit, role=Role.CENTRE if unit == CENTRE_CODE else Role.UNIT)

    producer = AIOKafkaProducer(bootstrap_servers=sim_space.kafka, acks="all")
    await producer.start()
    try:
        async with client_for(sim_services["followup"]) as http:
            adapter = Adapter(producer=producer, http=http, token_for=token_for,
                              topic=lambda name: sim_space.prefix + name)
            stats = await play(config, adapter, Clock(start, None), until=until, on_progress=_report())
    finally:
        await producer.stop()
        await mongo.close()

    assert not stats.refused, stats.refused
    assert stats.done["collect"] > 0  # Liangxiang filed demands it collected on its visits
    assert stats.business_now == until

    async with client_for(sim_services["metrics"]) as metrics:
        async def settled():
            """Every month's figures as the plan has them (so every act reached the rankings)."""
            for period in periods:
                ranked = (await metrics.get("/v1/rankings", params={"period": period, "kind": "town"})).json()
                rows = {r["unit_code"]: r for r in ranked["rows"] + ranked["unranked"]}
                for (unit, month), want in expected.items():
                    if month != period:
                        continue
                    row = rows.get(unit)
                    got = row and (row["dispatched"], row["callbacks"], row["resolved"], row["contacted_in_time"],
                                   row["contacted_late"], row["response_overdue"], row["satisfied"])
                    if got != (want.dispatched, want.callbacks, want.resolved, want.in_time, want.late,
                               want.overdue, want.satisfied):
                        return None
            return True

        await eventually(settled, timeout_s=60, interval_s=0.5)

        ranks = {}
        for period in periods:
            ranked = (await metrics.get("/v1/rankings", params={"period": period, "kind": "town"})).json()
            row = next(r for r in ranked["rows"] if r["unit_code"] == LIANGXIANG)
            ranks[period] = (row["rank"], len(ranked["rows"]))
            assert ranks[period] == preview.rank_of(expected_ranks, LIANGXIANG, "town", period)

    m1, m2, m5 = ranks[periods[0]], ranks[periods[1]], ranks[periods[4]]
    for rank, count in (m1, m2):
        assert rank > count / 2, ranks  # the lower half while it only receives complaints
    rank, count = m5
    assert count / 4 < rank <= count * 3 / 4, ranks  # the middle once it collects them, face to face
    assert rank < min(m1[0], m2[0])
    # Face to face after the switch: the rankings' own figure.
    assert expected[(LIANGXIANG, periods[4])].face_to_face > 0.8 * expected[(LIANGXIANG, periods[4])].dispatched
