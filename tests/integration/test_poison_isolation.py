"""Poison isolation on the real broker and store: a record that fails where the others do not is
dead-lettered and its partition moves on; a store that is down still rewinds the batch."""

import asyncio
import base64
import json
import uuid

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import topics
from hotline.runtime.kafka import Publisher, batch_subscriber, build_broker, ensure_topics
from hotline.runtime.settings import ServiceSettings
from tests.support import drained, eventually, publish, read_topic

pytestmark = pytest.mark.stack


async def _consumer(namespace, name: str, topic: str, handle):
    """A broker with one isolated batch subscriber on `topic`, started."""
    settings = ServiceSettings(kafka_bootstrap_servers=namespace.kafka, topic_prefix=namespace.prefix)
    broker = build_broker(settings, name)
    publisher = Publisher(broker, settings, name)
    batch_subscriber(broker, settings, name, topic, publisher=publisher)(handle)
    await broker.start()
    return broker, settings


async def test_a_record_the_store_cannot_hold_is_dead_lettered_and_the_rest_are_stored(namespace):
    topic = f"poison-{uuid.uuid4().hex[:6]}"
    await ensure_topics(namespace.kafka, [topics.TopicSpec(namespace.prefix + topic, 1)])
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True)
    stored = client[namespace.database][f"isolation_{topic}"]

    async def on_poison(records) -> None:
        # Valid JSON, stored as it is: BSON has no integer above 2**63 - 1, so that one fails in
        # the store's encoder (OverflowError), the way a year-0 date once did.
        docs = [{"_id": json.loads(r.value)["id"], "n": json.loads(r.value)["n"]} for r in records]
        await stored.insert_many(docs, ordered=False)

    # One batch: good records before and after the poison, all on one partition.
    values = [{"id": f"r{n}", "n": 2**70 if n == 3 else n} for n in range(8)]
    await publish(namespace.kafka, namespace.prefix + topic, *values, key=b"same-partition")
    broker, settings = await _consumer(namespace, "isolation-test", topic, on_poison)
    try:
        await drained(namespace.kafka, namespace.prefix + topic,
                      f"{settings.group_id('isolation-test')}.{topic}", timeout_s=60)
        assert sorted([d["_id"] async for d in stored.find({})]) == [f"r{n}" for n in range(8) if n != 3]
        letters = await read_topic(namespace.kafka, namespace.prefix + topics.DLQ, until=lambda rs: any(
            json.loads(r.value)["source_topic"] == namespace.prefix + topic for r in rs))
        ours = [json.loads(r.value) for r in letters if json.loads(r.value)["source_topic"] == namespace.prefix + topic]
        assert len(ours) == 1, ours
        assert ours[0]["reason"].startswith("OverflowError"), ours[0]
        assert json.loads(base64.b64decode(ours[0]["value_b64"])) == values[3]
        assert ours[0]["offset"] == 3 and ours[0]["service"] == "isolation-test"
    finally:
        await broker.stop()
        await client.close()


async def test_a_failure_that_may_heal_is_retried_whole_and_nothing_is_dead_lettered(namespace):
    topic = f"transient-{uuid.uuid4().hex[:6]}"
    await ensure_topics(namespace.kafka, [topics.TopicSpec(namespace.prefix + topic, 1)])
    seen: list[str] = []
    failures = {"left": 3}

    async def on_flaky(records) -> None:
        if failures["left"] > 0:  # the store unreachable for a while, as pymongo reports it
            failures["left"] -= 1
            from pymongo.errors import ServerSelectionTimeoutError
            raise ServerSelectionTimeoutError("store unreachable")
        seen.extend(json.loads(r.value)["id"] for r in records)

    await publish(namespace.kafka, namespace.prefix + topic, *[{"id": f"t{n}"} for n in range(4)], key=b"k")
    broker, settings = await _consumer(namespace, "transient-test", topic, on_flaky)
    try:
        await eventually(lambda: asyncio.sleep(0, result=sorted(set(seen)) == [f"t{n}" for n in range(4)]),
                         timeout_s=60)
        letters = await read_topic(namespace.kafka, namespace.prefix + topics.DLQ, until=lambda rs: True,
                                   timeout_s=3)
        assert not [r for r in letters if json.loads(r.value)["source_topic"] == namespace.prefix + topic]
    finally:
        await broker.stop()
