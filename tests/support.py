"""Helpers for tests on the real broker: publish, read a topic until a condition holds, wait for a
condition, a token. Namespaces, service processes, reading to the end and raw records are the dev
kit's (`hotline.devkit`)."""

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hotline.devkit import Namespace, encoded, wait_drained


async def publish(bootstrap: str, topic: str, *values: bytes | dict, key: bytes | None = None,
                  headers: list[tuple[str, bytes]] | None = None) -> None:
    """Publish raw bytes or JSON objects and wait for the broker's acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            payload = value if isinstance(value, bytes) else encoded(value)
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


async def drained(bootstrap: str, topic: str, group_id: str, *, timeout_s: float = 30) -> None:
    """Wait until `group_id` has committed past every record now in `topic`: all were processed."""
    await wait_drained(bootstrap, {group_id: topic}, timeout_s=timeout_s * WAIT_FACTOR, interval_s=0.2)


async def issue_token(namespace: Namespace, unit_code: str) -> dict[str, str]:
    """Authorization headers with a fresh token for the unit (or `centre`, or a channel platform:
    `platform`, `platform-<gateway>`) in the test database."""
    from pymongo import AsyncMongoClient

    from hotline.runtime.auth import CENTRE_CODE, PLATFORM_CODE, CredentialStore, Role

    client: AsyncMongoClient = AsyncMongoClient(namespace.mongodb_url)
    try:
        store = CredentialStore(client[namespace.database])
        role = (Role.CENTRE if unit_code == CENTRE_CODE else
                Role.PLATFORM if unit_code.partition("-")[0] == PLATFORM_CODE else Role.UNIT)
        token = await store.issue(unit_code=unit_code, role=role)
    finally:
        await client.close()
    return {"Authorization": f"Bearer {token}"}
