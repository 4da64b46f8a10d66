"""The runtime's Kafka helpers on the real broker."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import topics
from hotline.runtime.kafka import ensure_topics, published_event_ids
from tests.support import publish

pytestmark = pytest.mark.stack


async def test_published_event_ids_finds_what_went_out_since_a_moment_on_every_partition(namespace):
    topic = f"{namespace.prefix}runtime-{uuid.uuid4().hex[:6]}"
    await ensure_topics(namespace.kafka, [topics.TopicSpec(topic, 4)])
    assert await published_event_ids(namespace.kafka, {topic}, since=datetime.now(UTC)) == set()
    since = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(12):
        await publish(namespace.kafka, topic, b"{}", key=f"k{n}".encode(), headers=[("event_id", f"e{n}".encode())])
    assert await published_event_ids(namespace.kafka, {topic}, since=since) == {f"e{n}" for n in range(12)}
    # Records older than the moment are not read.
    assert await published_event_ids(namespace.kafka, {topic}, since=datetime.now(UTC) + timedelta(minutes=1)) == set()
