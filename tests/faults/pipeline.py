"""The fault suite's pipeline: a steady stream of tickets through the four services as processes,
on the private stack, and the outcome every run is compared on.

A run publishes the same raw records (fixed source ids and received times, so the same ticket
ids and business times in every namespace), waits until followup and metrics know every ticket,
publishes one business-time tick that passes every ticket's first deadline marks, and waits until
every consumer group has committed past every record and no due timer is left."""

import asyncio
import base64
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient

from hotline import devkit
from hotline.contracts import BUSINESS_TZ, ticket_id_for, topics
from hotline.devkit import Namespace, ServiceProcess, Stack, encoded, free_port, raw_record, stop_all
from hotline.followup.deadlines.store import due_by
from tests.integration.test_metrics_store import snapshot
from tests.support import eventually, issue_token

SERVICES = ("intake", "routing", "followup", "metrics")
# What each service consumes (its on_<topic> handlers); a group per service and topic.
CONSUMES = {
    "intake": (topics.RAW,),
    "routing": (topics.TICKETS_RECEIVED, topics.ROUTING_COMMANDS),
    # Not tickets.received: the received ticket rides on its dispatch (TicketDispatched v2).
    "followup": (topics.TICKETS_DISPATCHED, topics.CLOCK, topics.TICKETS_ROUTING,
                 topics.CALLBACKS, topics.FOLLOWUP_COMMANDS),
    "metrics": (topics.TICKETS_RECEIVED, topics.TICKETS_DISPATCHED, topics.TICKETS_FOLLOWUP,
                topics.TICKETS_ROUTING, topics.CALLBACKS),
}
MARK_TYPES = {"DeadlineWarned", "DeadlineBreached", "DeadlineEscalated"}

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=BUSINESS_TZ)  # a Monday
# Past every ticket's response breach (emergency 30 min to general 24 h) and the report-back
# breach of the 2 h and 24 h classes: several marks per ticket, none yet of the 7-day clocks.
TICK = T0 + timedelta(hours=31)
# Places and matters that resolve to streets, towns, a district and nowhere, with four urgency
# classes and several categories (checked against intake's normalizer).
PLACES = (
    ("房山区良乡镇拱辰大街", "家里停水两天了"),
    ("东城区景山街道景山前街", "小区门口道路破损，雨天积水严重"),
    ("海淀区中关村街道", "夜间施工噪音扰民"),
    ("西城区什刹海街道", "垃圾清运不及时，小区垃圾堆积"),
    ("丰台区", "路灯不亮"),
    ("朝阳区望京街道", "楼道里有燃气泄漏的味道，很危险"),
    ("不知道在哪里", "咨询社保办理流程"),
)
TICKETS = 100


def stream(count: int = TICKETS) -> list[dict]:
    """The input: one raw record a minute from T0, each a different caller (no repeats)."""
    records = []
    for n in range(count):
        address, content = PLACES[n % len(PLACES)]
        records.append(raw_record(f"fault-{n:04d}", address, content=content,
                                  received_at=(T0 + timedelta(minutes=n)).isoformat(),
                                  caller={"phone": f"139{n:08d}", "name": "测试"}))
    return records


def ticket_ids(records: list[dict]) -> list[str]:
    return [ticket_id_for(r["channel"], r["source_id"]) for r in records]


async def new_space(stack: Stack, name: str) -> Namespace:
    """A namespace on the private stack, core topics created with their partitions; queues are
    auto-created by the private broker on first use (creating all 390 would cost seconds per
    space). Never cleaned up: the private stack goes with the session."""
    space = Namespace.fresh(stack, f"f{name}")
    await space.create(topics.core_topics())
    return space


# A machine loaded by several test runs at once: four services import in parallel.
STARTED_WITHIN_S = 240


class Services:
    """The four services as `hotline serve` processes, so a SIGKILL is a real one."""

    def __init__(self, space: Namespace, logs: Path, **extra_env: str) -> None:
        self.space, self.logs = space, logs
        self.ports = {svc: free_port() for svc in SERVICES}
        self.env = space.env(**{
            **{f"{svc.upper()}_HTTP_PORT": str(port) for svc, port in self.ports.items()},
            # Deadlines on business time from our ticks; small batches, so a kill lands mid-stream.
            "HOTLINE_BUSINESS_CLOCK": "log", "SCHEDULER_INTERVAL_S": "0.2", "CLAIM_TIMEOUT_S": "5",
            "BATCH_MAX_RECORDS": "20", "LOG_LEVEL": "WARNING",
            **extra_env,  # a test's own settings win over these defaults
        })
        self.processes: dict[str, ServiceProcess] = {}
        self.starts: Counter = Counter()

    async def start(self, *names: str) -> None:
        async def one(svc: str) -> None:
            self.starts[svc] += 1
            log = self.logs / f"{self.space.prefix}{svc}-{self.starts[svc]}.log"
            self.processes[svc] = ServiceProcess.spawn(svc, self.env, log, port=self.ports[svc], append=True)
            await self.processes[svc].wait_healthy_async(STARTED_WITHIN_S)
        # All settle before a failure is raised, so that stop() finds every process started.
        failed = [r for r in await asyncio.gather(*(one(svc) for svc in names or SERVICES), return_exceptions=True)
                  if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    def kill(self, svc: str) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed or committed."""
        self.processes.pop(svc).kill()

    async def stop(self) -> None:
        # Stuck in shutdown (e.g. its broker was just away) ends in a SIGKILL: not what is tested.
        await asyncio.to_thread(stop_all, self.processes.values())
        self.processes.clear()

    def url(self, svc: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[svc]}{path}"


async def feed(space: Namespace, records: list[dict], *, chunk: int = 10, pause_s: float = 0.1,
               at: dict[int, Callable[[], Awaitable[None]]] | None = None) -> None:
    """Publish the records a chunk at a time, as the hotline platform would, starting each
    disturbance in `at` (by record index) as a task while the stream goes on. A chunk the broker
    did not acknowledge is sent again (at least once, as a real platform would)."""
    at, tasks = dict(at or {}), []
    producer = AIOKafkaProducer(bootstrap_servers=space.kafka, acks="all", request_timeout_ms=10_000)
    await producer.start()
    try:
        for start in range(0, len(records), chunk):
            for index in [i for i in at if i <= start]:
                tasks.append(asyncio.create_task(at.pop(index)()))
            payloads = [encoded(r) for r in records[start:start + chunk]]
            await _send_until_acked(producer, space.topic(topics.RAW), payloads)
            await asyncio.sleep(pause_s)
        assert not at, f"disturbances past the end of the stream: {sorted(at)}"
        await asyncio.gather(*tasks)
    finally:
        await producer.stop()


async def _send_until_acked(producer: AIOKafkaProducer, topic: str, payloads: list[bytes],
                            timeout_s: float = 300) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await asyncio.gather(*[await producer.send(topic, p) for p in payloads])
            return
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1)


async def publish_tick(space: Namespace, now: datetime) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=space.kafka, acks="all")
    await producer.start()
    try:
        await _send_until_acked(producer, space.topic(topics.CLOCK),
                                [json.dumps({"now": now.isoformat(), "source": "fault-suite"}).encode()])
    finally:
        await producer.stop()


async def end_offsets(space: Namespace, names) -> dict[TopicPartition, int]:
    """The end offset of every partition of these topics (without prefix)."""
    return await devkit.end_offsets(space.kafka, [space.topic(t) for t in names])


def groups(space: Namespace, services=SERVICES) -> dict[str, str]:
    """Each consumer group of the services, with its topic (full name)."""
    return {space.group(svc, topic): space.topic(topic) for svc in services for topic in CONSUMES[svc]}


async def lagging(space: Namespace, services=SERVICES) -> list[str]:
    """The groups that have not committed past every record now in their topic."""
    return sorted(await devkit.lagging(space.kafka, groups(space, services)))


async def all_drained(space: Namespace, timeout_s: float = 180, services=SERVICES) -> None:
    async def none_behind():
        return not await lagging(space, services)
    await eventually(none_behind, timeout_s=timeout_s, interval_s=0.5)


async def settle(space: Namespace, count: int, *, tick: datetime = TICK, timeout_s: float = 240,
                 after_tick: Callable[[], Awaitable[None]] | None = None) -> None:
    """Every ticket in followup and metrics, then the tick, then quiet: every group caught up,
    no timer due up to the tick, and no new record for a moment."""
    client = AsyncMongoClient(space.mongodb_url, tz_aware=True)
    db = client[space.database]
    try:
        async def known_everywhere():
            return (await db["followup_tickets"].count_documents({}) >= count
                    and await metrics_total(db) >= count)
        await eventually(known_everywhere, timeout_s=timeout_s, interval_s=0.5)
        await publish_tick(space, tick)
        if after_tick is not None:
            await after_tick()

        every = {t for names in CONSUMES.values() for t in names}
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            before = await end_offsets(space, every)
            behind = await lagging(space)
            state = await db["followup_scheduler"].find_one({"_id": "business_time"})
            due = await db["followup_timer_buckets"].count_documents(due_by(tick))
            await asyncio.sleep(1)
            moved = before != await end_offsets(space, every)
            ticked = state is not None and state["now"] >= tick
            if not behind and due == 0 and ticked and not moved:
                return
            assert asyncio.get_running_loop().time() < deadline, \
                f"not settled within {timeout_s}s: groups behind {behind}, due timers {due}, ticked {ticked}"
    finally:
        await client.close()


async def metrics_total(db, figure: str = "dispatched") -> int:
    """A figure summed over every unit-month metrics wrote: with `dispatched`, the tickets it
    counts (each in its holder's month once)."""
    return sum([d["figures"][figure] async for d in db["metrics_unit_figures"].find({}, {"figures": 1})])


@dataclass
class Outcome:
    """What a run ends with, in the form two runs are compared in."""

    metrics: dict  # metrics' unit-months, figures, rankings, hotspots (tests.integration's snapshot)
    tickets: dict[str, dict]  # followup's GET /v1/tickets/{id}, per ticket
    audit: dict[str, Any] = field(default_factory=dict)  # counts from the topics themselves


async def outcome(space: Namespace, services: Services, ids: list[str]) -> Outcome:
    client = AsyncMongoClient(space.mongodb_url, tz_aware=True)
    db = client[space.database]
    try:
        metrics = await snapshot(db)
        # Which unit-month counts each ticket lives in metrics' memory; the store's figures say
        # how many each one holds.
        facts = await metrics_total(db)
        followup_tickets = await db["followup_tickets"].count_documents({})
        intake_tickets = await db["intake_tickets"].count_documents({})
    finally:
        await client.close()
    centre = await issue_token(space, "centre")
    async with httpx.AsyncClient(timeout=10, headers=centre) as http:
        async def state(ticket_id: str) -> dict:
            response = await http.get(services.url("followup", f"/v1/tickets/{ticket_id}"))
            assert response.status_code == 200, (ticket_id, response.text)
            return _without_trace(response.json())
        states = dict(zip(ids, await asyncio.gather(*(state(t) for t in ids)), strict=True))
    audit = await audit_topics(space)
    audit.update(metrics_facts=facts, followup_tickets=followup_tickets, intake_tickets=intake_tickets)
    return Outcome(metrics=metrics, tickets=states, audit=audit)


async def read_all(space: Namespace, name: str) -> list:
    """Every record now in a topic (without prefix), read with no group."""
    return await devkit.read_to_end(space.kafka, [space.topic(name)], timeout_s=120)


def _type(record) -> str:
    return dict(record.headers or ()).get("event_type", b"").decode()


async def audit_topics(space: Namespace) -> dict[str, Any]:
    """Counts taken from the log itself: each ticket received and dispatched once (by event id),
    and how often each deadline mark went out."""
    received = [json.loads(r.value) for r in await read_all(space, topics.TICKETS_RECEIVED)]
    dispatched = [json.loads(r.value) for r in await read_all(space, topics.TICKETS_DISPATCHED)]
    marks = [{**json.loads(r.value), "type": _type(r)} for r in await read_all(space, topics.TICKETS_FOLLOWUP)
             if _type(r) in MARK_TYPES]
    letters = await read_all(space, topics.DLQ)
    return {
        "received_records": len(received),
        "received_tickets": len({e["ticket_id"] for e in received}),
        "received_event_ids": len({e["event_id"] for e in received}),
        "dispatched_records": len(dispatched),
        "dispatched_event_ids": len({e["event_id"] for e in dispatched}),
        "dispatched_tickets": len({e["ticket_id"] for e in dispatched}),
        "mark_records": len(marks),
        # (ticket, type, clock, mark) -> how many records: 1 each when every deadline fired once.
        "marks": Counter((e["ticket_id"], e["type"], e["clock"], e["mark"]) for e in marks),
        "mark_event_ids": len({e["event_id"] for e in marks}),
        "dead_letters": len(letters),
    }


def assert_same_outcome(got: Outcome, want: Outcome, ids: list[str]) -> None:
    """Nothing lost, nothing counted twice, every deadline once: as the undisturbed run."""
    count = len(ids)
    for name in ("received_tickets", "received_event_ids", "dispatched_event_ids", "dispatched_tickets",
                 "metrics_facts", "followup_tickets", "intake_tickets"):
        assert got.audit[name] == count, (name, got.audit[name], count)
    # Every ticket counted once (`metrics_facts`: the unit-months' tickets add up to the count),
    # in the same unit-months as undisturbed (the figures compared below).
    # Each deadline mark on the topic once, and the same marks as undisturbed.
    twice = {k: n for k, n in got.audit["marks"].items() if n != 1}
    assert not twice, f"marks sent more than once: {twice}"
    assert set(got.audit["marks"]) == set(want.audit["marks"])
    assert got.audit["mark_event_ids"] == got.audit["mark_records"]
    assert got.tickets == want.tickets, _first_difference(got.tickets, want.tickets)
    assert got.metrics == want.metrics, _first_difference(got.metrics, want.metrics)
    assert got.audit["dead_letters"] == 0


async def rewind(space: Namespace, keep: float) -> dict[str, int]:
    """Move every service group's committed offsets back to `keep` of each partition: the rest
    of every topic is delivered again. The services must be stopped (the groups empty)."""
    every = {t for names in CONSUMES.values() for t in names}
    ends = {tp: end for tp, end in (await end_offsets(space, every)).items() if end > 0}
    rewound = {}
    for group, topic in groups(space).items():
        target = {tp: int(end * keep) for tp, end in ends.items() if tp.topic == topic}
        if not target:
            continue
        consumer = AIOKafkaConsumer(bootstrap_servers=space.kafka, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(list(target))
            await consumer.commit(target)
        finally:
            await consumer.stop()
        rewound[group] = sum(ends[tp] - offset for tp, offset in target.items())
    return rewound


def _without_trace(value: Any) -> Any:
    """A state without its trace context (`traceparent`): a new trace in every run, not state."""
    if isinstance(value, dict):
        return {k: _without_trace(v) for k, v in value.items() if k != "traceparent"}
    if isinstance(value, list):
        return [_without_trace(v) for v in value]
    return value


def _first_difference(got: Any, want: Any, path: str = "") -> str:
    """Where two JSON-like values first differ, for a readable failure."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want), key=str):
            if got.get(key) != want.get(key):
                return _first_difference(got.get(key), want.get(key), f"{path}/{key}")
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for n, (a, b) in enumerate(zip(got, want, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{n}]")
    return f"{path}: got {got!r:.600}, undisturbed {want!r:.600}"


def decode_letter(record) -> dict:
    letter = json.loads(record.value)
    letter["value"] = base64.b64decode(letter["value_b64"])
    letter["key"] = base64.b64decode(letter["key_b64"]) if letter.get("key_b64") else None
    return letter
