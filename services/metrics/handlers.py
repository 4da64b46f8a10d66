"""Metrics' Kafka handlers: one batch subscriber per topic, in the topic's group.

The projection is fed by the reader of every partition (`follow`); a group's handler sends its
share's dead letters, waits until the reader has applied its records and a flush has written them,
and returns, so its offsets are committed only once the store holds what they cover."""

import time

from hotline.metrics.events import TOPIC_EVENTS, decode
from hotline.metrics.follow import LogReader
from hotline.metrics.observe import Telemetry
from hotline.metrics.projection import Projection
from hotline.metrics.settings import MetricsSettings
from hotline.metrics.writer import Writer
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime


def register(runtime: ServiceRuntime[MetricsSettings], projection: Projection, reader: LogReader, writer: Writer,
             publisher: Publisher, telemetry: Telemetry) -> None:
    """Subscribe metrics' handlers on the runtime's broker."""
    for topic in TOPIC_EVENTS:
        _subscribe(runtime, projection, reader, writer, publisher, telemetry, topic)


def _subscribe(runtime: ServiceRuntime[MetricsSettings], projection: Projection, reader: LogReader, writer: Writer,
               publisher: Publisher, telemetry: Telemetry, topic: str) -> None:
    async def handler(records: Records) -> None:
        async with retry_later(f"metrics {topic} batch"):
            started = time.perf_counter()
            events, rejected = decode(topic, records)
            await publisher.publish_all(
                [publisher.dead_letter(r.record, reason=r.reason, field=r.field) for r in rejected]
            )
            await reader.reached(topic, list(records), projection)
            await writer.flush()
            telemetry.reflected(events)
            telemetry.batch_done(topic, events=len(events), rejected=len(rejected),
                                 seconds=time.perf_counter() - started)

    # FastStream names a subscriber after its function; one name per topic.
    handler.__name__ = handler.__qualname__ = f"on_{topic.replace('.', '_')}"
    batch_subscriber(runtime.broker, runtime.settings, runtime.name, topic, publisher=publisher)(handler)
