"""A steady stream of tickets through the four services (real processes) on the private stack,
disturbed in one way per test, ends as the undisturbed run of the same input: zero tickets lost,
zero counted twice, every deadline fired once (see pipeline.py for what is compared)."""

import asyncio
from collections import Counter

import pytest

from tests.faults.pipeline import (
    SERVICES,
    TICKETS,
    Services,
    assert_same_outcome,
    feed,
    lagging,
    new_space,
    outcome,
    rewind,
    settle,
    stream,
    ticket_ids,
)

pytestmark = [pytest.mark.stack, pytest.mark.faults]

RECORDS = stream()
IDS = ticket_ids(RECORDS)


@pytest.fixture(scope="module")
async def baseline(fault_stack, tmp_path_factory):
    """The undisturbed run; its services stay up for the redelivery test."""
    space = await new_space(fault_stack, "base")
    services = Services(space, tmp_path_factory.mktemp("baseline-logs"))
    await services.start()
    try:
        await feed(space, RECORDS)
        await settle(space, TICKETS)
        yield {"space": space, "services": services, "outcome": await outcome(space, services, IDS)}
    finally:
        await services.stop()


async def run_disturbed(fault_stack, logs, name: str, *, at: dict, after_tick=None):
    space = await new_space(fault_stack, name)
    services = Services(space, logs)
    await services.start()
    try:
        await feed(space, RECORDS, at={index: act(services) for index, act in at.items()})
        await settle(space, TICKETS, after_tick=after_tick(services) if after_tick else None)
        return await outcome(space, services, IDS), services
    finally:
        await services.stop()


def kill_and_restart(svc: str, down_s: float = 1.0):
    def bind(services: Services):
        async def act() -> None:
            services.kill(svc)
            await asyncio.sleep(down_s)
            await services.start(svc)
        return act
    return bind


def restart_server(stack, server: str, down_s: float = 2.0):
    def bind(services: Services):
        async def act() -> None:
            await asyncio.to_thread(stack.stop, server)
            await asyncio.sleep(down_s)
            await asyncio.to_thread(stack.start, server)
        return act
    return bind


async def test_the_undisturbed_run_counts_each_ticket_once_and_fires_each_deadline_once(baseline):
    got = baseline["outcome"]
    assert got.audit["received_records"] == TICKETS and got.audit["dispatched_records"] == TICKETS
    assert all(n == 1 for n in got.audit["marks"].values())
    # No ticket was contacted, so every ticket's response clock breached by the tick.
    breached = {t for (t, kind, clock, mark) in got.audit["marks"] if kind == "DeadlineBreached" and clock == "response"}
    assert breached == set(IDS)
    assert sum(f["dispatched"] for f in got.metrics["figures"].values()) == TICKETS
    assert sum(f["response_overdue"] for f in got.metrics["figures"].values()) == TICKETS
    # The same marks on each ticket's timeline as on the topic.
    on_timelines = Counter(e["type"] for t in got.tickets.values() for e in t["timeline"]
                           if e["type"].startswith("Deadline"))
    assert sum(on_timelines.values()) == got.audit["mark_records"]


async def test_each_service_sigkilled_in_turn_mid_stream_and_restarted(fault_stack, baseline, tmp_path):
    # intake, routing and metrics while tickets flow; followup while they flow and again right
    # after the tick, while it fires the deadline marks.
    got, services = await run_disturbed(
        fault_stack, tmp_path, "kill",
        at={20: kill_and_restart("intake"), 45: kill_and_restart("routing"), 65: kill_and_restart("metrics"),
            85: kill_and_restart("followup")},
        after_tick=kill_and_restart("followup", down_s=0.3))
    assert {svc: services.starts[svc] for svc in SERVICES} == {
        "intake": 2, "routing": 2, "followup": 3, "metrics": 2}
    assert_same_outcome(got, baseline["outcome"], IDS)


async def test_the_kafka_broker_then_the_mongodb_server_stopped_and_restarted_mid_stream(
        fault_stack, baseline, tmp_path):
    # One run for both (each restart is a clean stop by stack.sh, then a start on the same port
    # and data): the services and the platform's producer ride out each outage.
    got, _ = await run_disturbed(fault_stack, tmp_path, "infra",
                                 at={30: restart_server(fault_stack, "kafka"), 80: restart_server(fault_stack, "mongo")})
    assert_same_outcome(got, baseline["outcome"], IDS)


async def test_a_slice_of_every_topic_redelivered_changes_nothing(baseline):
    space, services = baseline["space"], baseline["services"]
    await services.stop()
    # Every group back to a third of each partition: two thirds of every topic come again.
    rewound = await rewind(space, keep=1 / 3)
    assert sum(rewound.values()) > TICKETS and await lagging(space)
    await services.start()
    await settle(space, TICKETS)
    assert_same_outcome(await outcome(space, services, IDS), baseline["outcome"], IDS)
