"""Metrics' Kafka handlers: one batch subscriber per topic it projects."""

import time

from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import fact_update
from hotline.metrics.events import TOPIC_EVENTS, decode
from hotline.metrics.observe import Telemetry
from hotline.metrics.store import MetricsStore
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime


def register(runtime: ServiceRuntime, store: MetricsStore, publisher: Publisher, telemetry: Telemetry) -> None:
    """Subscribe metrics' handlers on the runtime's broker."""
    for topic in TOPIC_EVENTS:
        _subscribe(runtime, store, publisher, telemetry, topic)


def _subscribe(runtime: ServiceRuntime, store: MetricsStore, publisher: Publisher, telemetry: Telemetry,
               topic: str) -> None:
    async def handler(records: Records) -> None:
        async with retry_later(f"metrics {topic} batch"):
            started = time.perf_counter()
            events, rejected = decode(topic, records)
            await store.handle([fact_update(e, response_due=response_due) for e in events])
            telemetry.reflected(events)
            await publisher.publish_all(
                [publisher.dead_letter(r.record, reason=r.reason, field=r.field) for r in rejected]
            )
            telemetry.batch_done(topic, events=len(events), rejected=len(rejected),
                                 seconds=time.perf_counter() - started)

    # FastStream names a subscriber after its function; one name per topic.
    handler.__name__ = handler.__qualname__ = f"on_{topic.replace('.', '_')}"
    batch_subscriber(runtime.broker, runtime.settings, runtime.name, topic, publisher=publisher)(handler)
