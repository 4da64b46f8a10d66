"""Deadlines on the real broker and store: warnings, breach and escalation on a simulated clock,
a met deadline, an extension, a reopen, and the wall clock.

Each test runs followup alone in a namespace of its own (topic prefix and database), feeding it
dispatches directly, so that its business-time ticks move no other test's clocks."""

import json
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from hotline.contracts import SupervisionNotice, TicketDispatched, deterministic_event_id, topics
from hotline.devkit import Namespace, ServiceProcess, free_port
from hotline.followup.main import build_app
from hotline.followup.deadlines.store import BUCKET_SHARDS, TimerBuckets
from hotline.followup.settings import FollowupSettings
from tests.integration.conftest import client_for
from tests.support import eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack

TOWN, DISTRICT = "110111008", "110111"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MARK_TYPES = {"DeadlineWarned", "DeadlineBreached", "DeadlineEscalated"}


@pytest.fixture
async def space(namespace):
    """A private prefix and database; topics are removed with the session's prefix."""
    own = namespace.child("dl")
    await own.create([*topics.core_topics(), *topics.queue_topics([TOWN, DISTRICT, topics.TRIAGE_QUEUE_CODE])])
    yield own
    client = AsyncMongoClient(own.mongodb_url)
    await client.drop_database(own.database)
    await client.close()


def settings_for(space: Namespace, **overrides) -> FollowupSettings:
    return FollowupSettings(**{
        **space.service_settings(), "business_clock": "log", "scheduler_interval_s": 0.2, **overrides,
    })


@asynccontextmanager
async def followup(space: Namespace, **overrides):
    app = build_app(settings_for(space, **overrides))
    async with app.router.lifespan_context(app):
        yield app


def dispatch(ticket_id: str, *, at: datetime = T0, report_back_hours: float = 100, attempt: int = 1,
             unit: str = TOWN) -> dict:
    return TicketDispatched(
        event_id=deterministic_event_id("TicketDispatched", ticket_id, str(attempt)), ticket_id=ticket_id,
        occurred_at=at, unit_code=unit, unit_name="良乡镇", district_code=DISTRICT, reason="street_town",
        dispatched_at=at, urgency="general", attempt=attempt,
        report_back_due_at=at + timedelta(hours=report_back_hours),
    ).model_dump(mode="json")


async def tick(space: Namespace, now: datetime) -> None:
    await publish(space.kafka, space.prefix + topics.CLOCK, {"now": now.isoformat(), "source": "test"})


async def marks_on_topic(space: Namespace, until, timeout_s: float = 30) -> list[dict]:
    """Deadline events on tickets.followup (each as its JSON body with its type)."""
    def ours(records):
        return [{**json.loads(r.value), "type": dict(r.headers or ()).get("event_type", b"").decode()}
                for r in records if dict(r.headers or ()).get("event_type", b"").decode() in MARK_TYPES]
    return ours(await read_topic(space.kafka, space.prefix + topics.TICKETS_FOLLOWUP,
                                 until=lambda rs: until(ours(rs)), timeout_s=timeout_s))


def summary(events: list[dict], ticket_id: str) -> list[tuple[str, str, datetime]]:
    return sorted((e["clock"], e["mark"], datetime.fromisoformat(e["occurred_at"]))
                  for e in events if e["ticket_id"] == ticket_id)


async def test_an_unanswered_ticket_warns_breaches_and_escalates_to_the_district_on_business_time(space):
    silent, answered = f"TK-SILENT-{uuid.uuid4().hex[:8]}", f"TK-ANSWERED-{uuid.uuid4().hex[:8]}"
    town = await issue_token(space, TOWN)
    async with followup(space) as app:
        await publish(space.kafka, space.prefix + topics.TICKETS_DISPATCHED,
                      dispatch(silent), dispatch(answered))
        async with client_for(app) as client:
            await eventually(lambda: _status(client, answered, town, 200))
            contact = {"unit_code": TOWN, "kind": "face_to_face", "staff_id": "LX-1",
                       "contacted_at": (T0 + timedelta(hours=1)).isoformat()}
            assert (await client.post(f"/v1/tickets/{answered}/contacts", json=contact, headers=town)).status_code == 201

            await tick(space, T0 + timedelta(hours=11))  # before every mark: nothing fires
            await tick(space, T0 + timedelta(hours=49))
            events = await marks_on_topic(space, lambda es: len(es) >= 5)
            # Response clock (24 h for a general ticket): 50% and 80% warnings, the breach, 督办 at
            # the breach and again a day later. The report-back clock (100 h) has no mark yet.
            assert summary(events, silent) == [
                ("response", "breach", T0 + timedelta(hours=24)),
                ("response", "escalation_1", T0 + timedelta(hours=24)),
                ("response", "escalation_2", T0 + timedelta(hours=48)),
                ("response", "warning_50", T0 + timedelta(hours=12)),
                ("response", "warning_80", T0 + timedelta(hours=19.2)),
            ]
            assert summary(events, answered) == []  # contacted in the first hour: nothing to warn about

            queue = await read_topic(space.kafka, space.prefix + topics.queue_topic(DISTRICT),
                                     until=lambda rs: len(rs) >= 2)
            supervision = [SupervisionNotice.model_validate_json(r.value) for r in queue]
            assert [(a.ticket_id, a.lead_unit_code, a.level) for a in supervision] == [(silent, TOWN, 1), (silent, TOWN, 2)]

            timeline = (await client.get(f"/v1/tickets/{silent}", headers=town)).json()["timeline"]
            assert Counter(e["type"] for e in timeline) == {
                "TicketDispatched": 1, "DeadlineWarned": 2, "DeadlineBreached": 1, "DeadlineEscalated": 2}

            # A resolution in time stops the answered ticket's report-back clock before its 80% mark.
            resolution = {"unit_code": TOWN, "outcome": "resolved", "resolution_code": "R1",
                          "resolved_at": (T0 + timedelta(hours=60)).isoformat()}
            assert (await client.post(f"/v1/tickets/{answered}/resolution", json=resolution,
                                      headers=town)).status_code == 201
            await tick(space, T0 + timedelta(hours=101))
            events = await marks_on_topic(space, lambda es: len(es) >= 5 + 5 + 1)
            assert summary(events, answered) == [("report_back", "warning_50", T0 + timedelta(hours=50))]
            assert [m for c, m, _ in summary(events, silent) if c == "report_back"] == [
                "breach", "escalation_1", "warning_50", "warning_80"]
    assert len({e["event_id"] for e in events}) == len(events)  # each mark once


async def test_an_approved_extension_moves_the_deadline_and_a_reopen_starts_a_new_one(space):
    ticket = f"TK-EXT-{uuid.uuid4().hex[:8]}"
    town, centre = await issue_token(space, TOWN), await issue_token(space, "centre")
    async with followup(space, reopen_report_back_hours=10) as app, client_for(app) as client:
        await publish(space.kafka, space.prefix + topics.TICKETS_DISPATCHED, dispatch(ticket))
        await eventually(lambda: _status(client, ticket, town, 200))
        contact = {"unit_code": TOWN, "kind": "phone", "staff_id": "LX-2",
                   "contacted_at": (T0 + timedelta(hours=1)).isoformat()}
        assert (await client.post(f"/v1/tickets/{ticket}/contacts", json=contact, headers=town)).status_code == 201
        ask = {"unit_code": TOWN, "reason": "需协调产权单位", "requested_at": (T0 + timedelta(hours=2)).isoformat(),
               "requested_due_at": (T0 + timedelta(hours=200)).isoformat()}
        assert (await client.post(f"/v1/tickets/{ticket}/extensions", json=ask, headers=town)).status_code == 201
        decision = {"approved": True, "decided_at": (T0 + timedelta(hours=3)).isoformat()}
        assert (await client.post(f"/v1/tickets/{ticket}/extensions/decision", json=decision,
                                  headers=centre)).status_code == 201

        await tick(space, T0 + timedelta(hours=150))
        events = await marks_on_topic(space, lambda es: len(es) >= 1)
        # The span is now 200 h: the 50% warning at 100 h; the old 100 h breach never fires.
        assert summary(events, ticket) == [("report_back", "warning_50@1", T0 + timedelta(hours=100))]

        resolution = {"unit_code": TOWN, "outcome": "resolved", "resolution_code": "R2",
                      "resolved_at": (T0 + timedelta(hours=151)).isoformat()}
        assert (await client.post(f"/v1/tickets/{ticket}/resolution", json=resolution, headers=town)).status_code == 201
        survey = {"ticket_id": ticket, "resolved": False, "satisfaction": "dissatisfied",
                  "surveyed_at": (T0 + timedelta(hours=152)).isoformat()}
        await publish(space.kafka, space.prefix + topics.CALLBACKS, survey, key=ticket.encode())
        await eventually(lambda: _state(client, ticket, town, "open"))
        await tick(space, T0 + timedelta(hours=163))
        events = await marks_on_topic(space, lambda es: len(es) >= 5)
        # Round 1: 10 h from the survey at 152 h; the extended round-0 clock was stopped by the resolution.
        assert summary(events, ticket) == [
            ("report_back", "breach", T0 + timedelta(hours=162)),
            ("report_back", "escalation_1", T0 + timedelta(hours=162)),
            ("report_back", "warning_50", T0 + timedelta(hours=157)),
            ("report_back", "warning_50@1", T0 + timedelta(hours=100)),
            ("report_back", "warning_80", T0 + timedelta(hours=160)),
        ]
        assert {e["round"] for e in events if e["mark"] == "breach"} == {1}


async def test_on_the_wall_clock_deadlines_already_past_fire_without_ticks(space):
    ticket = f"TK-WALL-{uuid.uuid4().hex[:8]}"
    long_ago = datetime.now(UTC) - timedelta(hours=30)
    async with followup(space, business_clock="wall"):
        await publish(space.kafka, space.prefix + topics.TICKETS_DISPATCHED,
                      dispatch(ticket, at=long_ago, report_back_hours=1000))
        events = await marks_on_topic(space, lambda es: len(es) >= 4)
    assert [m for _, m, _ in summary(events, ticket)] == ["breach", "escalation_1", "warning_50", "warning_80"]


async def test_on_the_wall_clock_dispatches_with_marks_ahead_do_not_wake_the_scheduler(space):
    """A pass reads the store; a mark hours ahead waits for the interval's pass, not one per batch."""
    soon = datetime.now(UTC)
    async with followup(space, business_clock="wall", scheduler_interval_s=600) as app:
        for n in range(10):  # one batch each: every batch schedules
            await publish(space.kafka, space.prefix + topics.TICKETS_DISPATCHED,
                          dispatch(f"TK-AHEAD-{n}-{uuid.uuid4().hex[:6]}", at=soon))
            await scheduled_everything(space, n + 1)  # its earliest mark (the response clock's)
        finds = await _store_commands(app, "find", "followup_timer_buckets")
    assert finds <= 1, finds  # the pass at start only


async def _store_commands(app, command: str, collection: str) -> float:
    async with client_for(app) as client:
        text = (await client.get("/metrics")).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "hotline_store_commands_total"
               and sample.labels.get("command") == command and sample.labels.get("collection") == collection)


async def _status(client, ticket_id: str, headers: dict, status: int) -> bool:
    return (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).status_code == status


async def _state(client, ticket_id: str, headers: dict, state: str) -> bool:
    response = await client.get(f"/v1/tickets/{ticket_id}", headers=headers)
    return response.status_code == 200 and response.json().get("state") == state


# Exactly once: many tickets due at the same moments, fired by two schedulers side by side, or by
# one that is SIGKILLed mid-firing and started again. Each ticket's response clock gives 5 marks
# by T0 + 49 h (two warnings, the breach, two escalations) and 2 supervision notices.
TICKETS = 300


async def load_tickets(space: Namespace, tag: str) -> list[str]:
    ids = [f"TK-{tag}-{n:04d}" for n in range(TICKETS)]
    await publish(space.kafka, space.prefix + topics.TICKETS_DISPATCHED, *(dispatch(t) for t in ids))
    return ids


async def scheduled_everything(space: Namespace, entries: int) -> None:
    client = AsyncMongoClient(space.mongodb_url, tz_aware=True)
    try:
        buckets = TimerBuckets(client[space.database])
        await eventually(lambda: _equals(buckets.pending_count(), entries), timeout_s=60)
    finally:
        await client.close()


async def _bucket_sizes(space: Namespace) -> dict[str, int]:
    client = AsyncMongoClient(space.mongodb_url)
    try:
        return {d["_id"]: len(d["entries"]) async for d in client[space.database]["followup_timer_buckets"].find({})}
    finally:
        await client.close()


async def test_due_buckets_are_each_shard_of_every_begun_minute_and_the_bare_minutes_of_before(space):
    """The shards of a minute sort after the bare minute (the bucket `_id` before shards) and before
    the next minute, on the real store's ordering."""
    client = AsyncMongoClient(space.mongodb_url, tz_aware=True)
    try:
        db = client[space.database]
        ids = ["202603020858", "202603020859:15", "202603020900", "202603020900:00", "202603020900:15",
               "202603020901", "202603020901:00"]
        await db["followup_timer_buckets"].insert_many([{"_id": i, "entries": []} for i in reversed(ids)])
        due = await TimerBuckets(db).due(T0 + timedelta(seconds=59), limit=10)
        assert [d["_id"] for d in due] == ids[:5]
    finally:
        await client.close()


async def _equals(awaitable, expected) -> bool:
    return await awaitable == expected


async def assert_fired_once(space: Namespace, ids: list[str]) -> None:
    events = await marks_on_topic(space, lambda es: len({e["event_id"] for e in es}) >= 5 * TICKETS, timeout_s=90)
    await scheduled_everything(space, TICKETS)  # every ticket's next mark is back in its bucket
    events = await marks_on_topic(space, lambda es: False, timeout_s=2)
    per_ticket = Counter(e["ticket_id"] for e in events)
    twice = [k for k, n in Counter((e["ticket_id"], e["mark"]) for e in events).items() if n > 1]
    assert set(per_ticket) == set(ids) and set(per_ticket.values()) == {5}, (len(twice), twice[:10])
    assert len({e["event_id"] for e in events}) == len(events) == 5 * TICKETS  # no mark twice
    notices = await read_topic(space.kafka, space.prefix + topics.queue_topic(DISTRICT),
                               until=lambda rs: False, timeout_s=2)
    assert len(notices) == len({json.loads(r.value)["event_id"] for r in notices}) == 2 * TICKETS


async def test_two_followup_instances_fire_every_mark_exactly_once(space):
    ids = await load_tickets(space, "TWO")
    async with followup(space), followup(space):
        await scheduled_everything(space, TICKETS)
        # Every ticket's next mark falls in the same minute, spread over its shards.
        sizes = await _bucket_sizes(space)
        assert len(sizes) == BUCKET_SHARDS and max(sizes.values()) < 3 * TICKETS / BUCKET_SHARDS, sizes
        await tick(space, T0 + timedelta(hours=49))
        await assert_fired_once(space, ids)


@pytest.mark.parametrize("kill_when", ["claimed", "published"])
async def test_a_followup_killed_mid_firing_fires_every_mark_exactly_once_after_restart(space, kill_when, tmp_path):
    env = space.env(HOTLINE_BUSINESS_CLOCK="log", CLAIM_TIMEOUT_S="3", SCHEDULER_INTERVAL_S="0.2",
                    LOG_LEVEL="WARNING")
    port = free_port()
    ids = await load_tickets(space, kill_when.upper())
    first = start_followup(env, port, tmp_path / "first.log")
    try:
        await scheduled_everything(space, TICKETS)
        await tick(space, T0 + timedelta(hours=49))
        if kill_when == "claimed":
            await eventually(lambda: _claims_started(space), timeout_s=60, interval_s=0.02)
        else:
            await marks_on_topic(space, lambda es: len(es) >= 1, timeout_s=60)
    finally:
        first.kill()
    second = start_followup(env, port, tmp_path / "second.log")
    try:
        await assert_fired_once(space, ids)
    finally:
        second.stop()


def start_followup(env: dict, port: int, log: Path) -> ServiceProcess:
    return ServiceProcess.spawn("followup", env, log, port=port).wait_healthy(60)


async def _claims_started(space: Namespace) -> bool:
    client = AsyncMongoClient(space.mongodb_url)
    try:
        return await client[space.database]["followup_tickets"].find_one({"fired": {"$exists": True}}) is not None
    finally:
        await client.close()

