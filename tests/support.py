"""Helpers for tests on the real broker: publish, read a topic, wait for a condition."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def publish(bootstrap: str, topic: str, *values: bytes | dict, key: bytes | None = None,
                  headers: list[tuple[str, bytes]] | None = None) -> None:
    """Publish raw bytes or JSON objects and wait for the broker's acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            payload = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
            await producer.send_and_wait(topic, payload, key=key, headers=headers)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, *, until: Callable[[list], bool], timeout_s: float = 30) -> list:
    """Read a topic from the start (no group) until `until(records)` holds or time runs out."""
    # Without a group, the consumer is assigned every partition of the topic.
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not until(records):
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()


# Every wait's limit times this: the suite also runs beside `make up` (a living city catching up
# on the same two cores), where the same hops take several times longer. A limit only decides how
# long a failing test waits; a passing one returns as soon as its condition holds.
WAIT_FACTOR = float(os.environ.get("HOTLINE_TEST_WAIT_FACTOR", "3"))


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout_s: float = 30, interval_s: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; fail with the last value otherwise."""
    timeout_s *= WAIT_FACTOR
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s; last value: {last!r}")


# What only a channel platform's token may set on POST /v1/tickets (intake sets the first three).
PLATFORM_FIELDS = ("channel", "source_id", "received_at", "collected_by", "answered_directly", "category_hint")


def citizen_record(record: dict) -> dict:
    """What a citizen posts of a raw record: no platform-only field (intake sets those itself)."""
    return {k: v for k, v in record.items() if k not in PLATFORM_FIELDS}


def raw_record(source_id: str, address: str, **overrides) -> dict:
    """A raw record as the hotline platform publishes it, received just now."""
    from datetime import UTC, datetime

    record = {
        "channel": "phone",
        "source_id": source_id,
        "received_at": datetime.now(UTC).isoformat(),
        "content": "小区门口道路破损，雨天积水严重，请尽快维修。",
        "address": address,
        "caller": {"phone": "13800001234", "name": "王先生"},
    }
    record.update(overrides)
    return record


async def drained(bootstrap: str, topic: str, group_id: str, *, timeout_s: float = 30) -> None:
    """Wait until `group_id` has committed past every record now in `topic`: all were processed."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.structs import TopicPartition

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        described = (await admin.describe_topics([topic]))[0]
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        ends = await consumer.end_offsets(partitions)

        async def caught_up():
            committed = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
            return all(tp in committed and committed[tp].offset >= end for tp, end in ends.items())

        await eventually(caught_up, timeout_s=timeout_s)
    finally:
        await consumer.stop()
        await admin.close()


async def issue_token(namespace: dict, unit_code: str) -> dict[str, str]:
    """Authorization headers with a fresh token for the unit (or `centre`, or a channel platform:
    `platform`, `platform-<gateway>`) in the test database."""
    from pymongo import AsyncMongoClient

    from hotline.runtime.auth import CENTRE_CODE, PLATFORM_CODE, CredentialStore, Role

    client = AsyncMongoClient(namespace["mongodb_url"])
    try:
        store = CredentialStore(client[namespace["database"]])
        role = (Role.CENTRE if unit_code == CENTRE_CODE else
                Role.PLATFORM if unit_code.partition("-")[0] == PLATFORM_CODE else Role.UNIT)
        token = await store.issue(unit_code=unit_code, role=role)
    finally:
        await client.close()
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    """A TCP port free on the loopback address right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """In a child process: be killed when the test run that started it dies, so an interrupted
    run leaves no service consuming from its topics (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def spawn_service(service: str, env: dict, log: Path, *, append: bool = False) -> subprocess.Popen:
    """`hotline serve <service>` as a child process writing to `log`, gone when the test run dies."""
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen([str(Path(sys.executable).parent / "hotline"), "serve", service], env=env,
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


def start_service(service: str, env: dict, port: int, log: Path) -> subprocess.Popen:
    """`hotline serve <service>` as a process logging to `log`, once its /healthz answers 200."""
    import httpx

    process = spawn_service(service, env, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)


@asynccontextmanager
async def private_space(stack: dict, prefix: str, database: str, specs: list) -> AsyncIterator[dict]:
    """A topic prefix (with these topics created) and a database of their own for a test module,
    removed afterwards: business-time ticks there cannot move other tests' clocks."""
    from aiokafka.admin import AIOKafkaAdminClient
    from pymongo import AsyncMongoClient

    from hotline.runtime.kafka import ensure_topics
    from hotline.runtime.mongo import drop_database

    # Each topic keeps its class (log or unit queue), so the space has production's retention.
    await ensure_topics(stack["kafka"], [s.prefixed(prefix) for s in specs])
    try:
        yield {"prefix": prefix, "database": database, **stack}
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=stack["kafka"])
        await admin.start()
        try:
            ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if ours:
                await admin.delete_topics(ours)
        finally:
            await admin.close()
        client = AsyncMongoClient(stack["mongodb_url"])
        await drop_database(client, database)
        await client.close()
