"""How metrics reads its five topics: every process follows every partition of them.

A ticket's events are spread over five topics, and each topic has its own consumer group, whose
partitions Kafka splits among the members independently: no member would see all of a ticket.
So each metrics process also reads all partitions itself (a consumer of no group, `LogReader`) and
holds the whole projection in memory; replicas compute the same figures, and the store's version
vectors keep one that is behind from writing over one that is ahead (`store`). That is simpler
than co-partitioned assignment, which would need each member to refold its partitions on every
rebalance and the store to add up the members' partial figures.

On start, before serving, the reader folds the log from its start to the end offsets of that
moment, and the result is written (only what differs from the store); then it follows the log.
The groups' subscribers stay as they were for what the log alone does not do: dead letters (each
bad record once, by the member its partition is assigned to), spans, counters, lag, and offsets
committed only once the reader has applied their records and a flush has written them, so a
group's committed offset still means "in the store" (`hotline.metrics.app.Metrics`).

This module is the Kafka side of that: the reader hands each partition's records, in order, to
the use cases' `apply`, and knows nothing of what they do with them.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from hotline.contracts import topics
from hotline.metrics.events import TOPIC_EVENTS
from hotline.metrics.projection import Projection, vector_key
from hotline.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)
# Their order numbers the version vector's keys; business time (`hotline.clock`) last, so the
# five topics' keys stay what they were.
TOPICS = [*TOPIC_EVENTS, topics.CLOCK]


def key_of(topic: str, partition: int) -> str:
    """A partition's key in the version vector, by the topic's name without prefix."""
    return vector_key(TOPICS.index(topic), partition)


async def partitions(settings: ServiceSettings, *, timeout_s: float = 90) -> list[TopicPartition]:
    """Every partition of the five topics that exist, waiting for a broker that is booting."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(**settings.kafka_client_options())
        try:
            await admin.start()
            described = await admin.describe_topics([settings.topic(t) for t in TOPICS])
            return [TopicPartition(t["topic"], p["partition"]) for t in described if t["error_code"] == 0
                    for p in sorted(t["partitions"], key=lambda p: p["partition"])]
        except (KafkaConnectionError, KafkaError, OSError):
            if time.monotonic() > deadline:
                raise
            log.warning("kafka not reachable yet, retrying")
            await asyncio.sleep(1)
        finally:
            await admin.close()


async def check_partitions(settings: ServiceSettings, parts: list[TopicPartition]) -> None:
    """The topics have the partitions this release reads (`hotline topics` creates them so)."""
    found = await partitions(settings)
    if sorted(found) != sorted(parts):
        raise RuntimeError(f"the metrics topics have partitions {sorted(map(str, found))}, not the "
                           f"{len(parts)} this release reads ({sorted(map(str, parts))})")


# (topic without prefix, the partition's version-vector key, its records in order)
Apply = Callable[[str, str, list[ConsumerRecord]], None]


class LogReader:
    """One consumer of no group over `parts`, from their start: `fold` reads up to the end
    offsets of the moment, `follow` carries on for good; each partition's records go in order
    to `apply(topic without prefix, partition key, records)`."""

    def __init__(self, settings: ServiceSettings, parts: list[TopicPartition], apply: Apply, *,
                 idle_timeout_s: float = 30) -> None:
        self._settings, self._parts, self._apply = settings, parts, apply
        self._idle_timeout_s = idle_timeout_s
        self._names = {settings.topic(t): t for t in TOPICS}
        self._consumer: AIOKafkaConsumer | None = None
        self._progress = asyncio.Event()  # set, and replaced, after each applied fetch

    async def fold(self) -> dict[str, int]:
        """Read every partition from its start to its end offset of now; return those offsets, by
        the partitions' version-vector keys."""
        idle_timeout_s = self._idle_timeout_s
        self._consumer = consumer = AIOKafkaConsumer(
            **self._settings.kafka_client_options(), group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024)
        await consumer.start()
        if not self._parts:
            return {}
        consumer.assign(self._parts)
        await consumer.seek_to_beginning(*self._parts)
        ends = await consumer.end_offsets(self._parts)
        remaining = {tp for tp in self._parts if await consumer.position(tp) < ends[tp]}
        idle_since = time.monotonic()
        while remaining:
            fetched = await self._fetch(remaining, limit=ends)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if fetched:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > idle_timeout_s:
                raise TimeoutError(f"no records for {idle_timeout_s}s before the end of {sorted(map(str, remaining))}")
        if self._parts:
            # Past the end offsets nothing was taken: the positions are the end offsets.
            for tp in self._parts:
                consumer.seek(tp, ends[tp])
        return {key_of(self._names[tp.topic], tp.partition): offset for tp, offset in ends.items()}

    async def follow(self) -> None:
        """Apply what is published from now on, until cancelled (a failure is logged and retried)."""
        try:
            while True:
                try:
                    await self._fetch(set(self._parts))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the reader must outlive a broker hiccup
                    log.error("metrics could not read its topics, retrying: %r", exc)
                    await asyncio.sleep(1)
        finally:
            await self.stop()

    async def _fetch(self, parts: set[TopicPartition], limit: dict[TopicPartition, int] | None = None) -> bool:
        if self._consumer is None:
            raise RuntimeError("the reader reads after `fold` started its consumer")
        fetched = await self._consumer.getmany(*parts, timeout_ms=500, max_records=20_000)
        for tp, records in fetched.items():
            if limit is not None:
                records = [r for r in records if r.offset < limit[tp]]
            topic = self._names[tp.topic]
            self._apply(topic, key_of(topic, tp.partition), records)
        if fetched:
            self._progress.set()
            self._progress = asyncio.Event()
        return bool(fetched)

    async def reached(self, topic: str, records: list[ConsumerRecord], projection: Projection) -> None:
        """Return once the projection has applied these records of a topic."""
        wanted: dict[str, int] = {}
        for r in records:
            k = key_of(topic, r.partition)
            wanted[k] = max(wanted.get(k, 0), r.offset + 1)
        while any(projection.vector.get(k, 0) < offset for k, offset in wanted.items()):
            await self._progress.wait()

    async def stop(self) -> None:
        """Close the consumer."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

