"""Followup's deadline side of Kafka: in simulation and replay, business time comes from the ticks
on `hotline.clock`, so a replayed log fires the same marks at the same business times."""

from hotline.contracts import topics
from hotline.contracts.clock import BusinessTimeTick
from hotline.followup.deadlines.app import DeadlineScheduler
from hotline.followup.settings import FollowupSettings
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime


def register(runtime: ServiceRuntime[FollowupSettings], scheduler: DeadlineScheduler, publisher: Publisher) -> None:
    """Subscribe the clock handler (only when business time follows the log)."""

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.CLOCK, publisher=publisher)
    async def on_hotline_clock(records: Records) -> None:
        async with retry_later("followup clock batch"):
            ticks, dead_letters = publisher.parse_all(records, BusinessTimeTick)
            if ticks:
                await scheduler.advance(max(t.now for t in ticks))
            await publisher.publish_all(dead_letters)
