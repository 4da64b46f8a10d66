"""A no-op FastStream relay, the services' shape without their work: a batch subscriber (the
runtime's, committing after each batch) that republishes every record unchanged and waits for the
acks. Run as its own process by the benchmark: `python bench/relay.py IN_TOPIC OUT_TOPIC` (topic
names without the prefix; HOTLINE_TOPIC_PREFIX and KAFKA_BOOTSTRAP_SERVERS from the environment)."""

import asyncio
import sys

from faststream import FastStream
from hotline.runtime.kafka import Records, batch_subscriber, build_broker
from hotline.runtime.settings import ServiceSettings


def app(in_topic: str, out_topic: str) -> FastStream:
    settings = ServiceSettings()
    broker = build_broker(settings, "bench-relay")

    @batch_subscriber(broker, settings, "bench-relay", in_topic, publisher=None)  # forwards, changes nothing
    async def relay(records: Records) -> None:
        target = settings.topic(out_topic)
        futures = [await broker.publish(r.value, target, key=r.key, no_confirm=True) for r in records]
        await asyncio.gather(*futures)

    return FastStream(broker)


if __name__ == "__main__":
    asyncio.run(app(sys.argv[1], sys.argv[2]).run())
