"""Metrics' Kafka handlers: one batch subscriber per topic it reads, each in the topic's group.

The projection is fed by the reader of every partition (`hotline.metrics.follow`); a group's
handler hands its share to `Metrics.take` (dead letters, then wait until the reader has applied
the records and a flush has written them), so its offsets are committed only once the store holds
what they cover. The five topics are `TOPIC_EVENTS` (`hotline.metrics.events`)."""

from hotline.contracts import topics
from hotline.metrics.app import Metrics
from hotline.metrics.settings import MetricsSettings
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime


def register(runtime: ServiceRuntime[MetricsSettings], metrics: Metrics, publisher: Publisher) -> None:
    """Subscribe metrics' handlers on the runtime's broker (FastStream names each after its function)."""

    def subscriber(topic: str):
        return batch_subscriber(runtime.broker, runtime.settings, runtime.name, topic, publisher=publisher)

    async def take(topic: str, records: Records) -> None:
        async with retry_later(f"metrics {topic} batch"):
            await metrics.take(topic, records)

    @subscriber(topics.TICKETS_RECEIVED)
    async def on_tickets_received(records: Records) -> None:
        await take(topics.TICKETS_RECEIVED, records)

    @subscriber(topics.TICKETS_DISPATCHED)
    async def on_tickets_dispatched(records: Records) -> None:
        await take(topics.TICKETS_DISPATCHED, records)

    @subscriber(topics.TICKETS_FOLLOWUP)
    async def on_tickets_followup(records: Records) -> None:
        await take(topics.TICKETS_FOLLOWUP, records)

    @subscriber(topics.TICKETS_ROUTING)
    async def on_tickets_routing(records: Records) -> None:
        await take(topics.TICKETS_ROUTING, records)

    @subscriber(topics.CALLBACKS)
    async def on_hotline_callbacks(records: Records) -> None:
        await take(topics.CALLBACKS, records)
