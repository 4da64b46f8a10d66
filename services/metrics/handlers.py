"""Metrics' Kafka handlers: one batch subscriber per topic, over all of its partitions (see `follow`)."""

import logging
import time

from aiokafka import TopicPartition

from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import fact_update
from hotline.metrics.events import TOPIC_EVENTS, decode
from hotline.metrics.follow import Follower, key_of
from hotline.metrics.observe import Telemetry
from hotline.metrics.projection import Projection
from hotline.metrics.writer import Writer
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

log = logging.getLogger(__name__)


def register(runtime: ServiceRuntime, projection: Projection, writer: Writer, follower: Follower,
             publisher: Publisher, telemetry: Telemetry, parts: list[TopicPartition]) -> None:
    """Subscribe metrics' handlers on the runtime's broker, each to every partition of its topic."""
    for topic in TOPIC_EVENTS:
        mine = [tp for tp in parts if tp.topic == runtime.settings.topic(topic)]
        if mine:
            _subscribe(runtime, projection, writer, follower, publisher, telemetry, topic, mine)


def _subscribe(runtime: ServiceRuntime, projection: Projection, writer: Writer, follower: Follower,
               publisher: Publisher, telemetry: Telemetry, topic: str, parts: list[TopicPartition]) -> None:
    async def handler(records: Records) -> None:
        async with retry_later(f"metrics {topic} batch"):
            started = time.perf_counter()
            fresh = follower.fresh(topic, list(records))
            events, rejected = decode(topic, fresh)
            # Dead letters first: if they cannot go out, nothing of the batch is applied yet.
            await publisher.publish_all(
                [publisher.dead_letter(r.record, reason=r.reason, field=r.field) for r in rejected]
            )
            for ticket_id, path in projection.apply(fact_update(e, response_due=response_due) for e in events):
                log.warning("an event came again under its id with other content; the first stands",
                            extra={"ticket_id": ticket_id, "event_type": path.split(".", 1)[0]})
                telemetry.conflict(path.split(".", 1)[0])
            for record in fresh:
                projection.covered(key_of(topic, record.partition), record.offset + 1)
            # Offsets are committed when this returns: after a flush that wrote these records.
            await writer.flush()
            telemetry.reflected(events)
            telemetry.batch_done(topic, events=len(events), rejected=len(rejected),
                                 seconds=time.perf_counter() - started)

    # FastStream names a subscriber after its function; one name per topic.
    handler.__name__ = handler.__qualname__ = f"on_{topic.replace('.', '_')}"
    subscriber = batch_subscriber(runtime.broker, runtime.settings, runtime.name, topic, publisher=publisher,
                                  partitions=parts)
    subscriber(handler)
    follower.consumers[topic] = lambda: next(
        (s.consumer for s in runtime.broker.subscribers if getattr(s, "group_id", None) ==
         f"{runtime.settings.group_id(runtime.name)}.{topic}"), None)
