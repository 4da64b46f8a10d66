"""How metrics reads its five topics: every process reads every partition of them.

A ticket's events are spread over five topics, and Kafka's groups would split each topic's
partitions among a group's members independently: no member would see all of a ticket. So each
metrics process assigns itself all partitions (no group split) and holds the whole projection in
memory; replicas compute the same figures and the store's version vectors keep one that is behind
from writing over one that is ahead (`store`). That is simpler than co-partitioned assignment,
which would also need each member to refold its partitions on every rebalance and the store to
add up the members' partial figures.

On start, before serving, the log is folded into memory up to the offsets the service's groups
have committed (one group per topic, as before: offsets are committed only after a flush wrote
what they cover, so everything before them was handled, dead letters included), then written
(only what differs from the store). The FastStream subscribers then carry on from those offsets,
with the usual spans, counters, dead letters and redelivery; a record already applied is skipped.
If another replica committed further meanwhile, the subscriber is sought back to what this
process has applied, so it never skips a record.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import fact_update
from hotline.metrics.events import TOPIC_EVENTS, decode
from hotline.metrics.projection import Projection, vector_key
from hotline.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)
TOPICS = list(TOPIC_EVENTS)  # their order numbers the version vector's keys


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


async def committed(settings: ServiceSettings, service: str, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The offsets each topic's group has committed (absent where it has none)."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    found: dict[TopicPartition, int] = {}
    try:
        for topic in TOPICS:
            mine = [tp for tp in parts if tp.topic == settings.topic(topic)]
            if not mine:
                continue
            offsets = await admin.list_consumer_group_offsets(f"{settings.group_id(service)}.{topic}", partitions=mine)
            found |= {tp: meta.offset for tp, meta in offsets.items() if meta is not None and meta.offset >= 0}
    finally:
        await admin.close()
    return found


Apply = Callable[[str, TopicPartition, list[ConsumerRecord]], None]


async def read_log(settings: ServiceSettings, parts: list[TopicPartition], stop: Callable[[dict], dict] | None,
                   apply: Apply, *, idle_timeout_s: float = 30) -> dict[TopicPartition, int]:
    """Read `parts` from their start up to the offsets `stop(ends)` picks (the end offsets by
    default) with a consumer of no group, handing each partition's records in order to
    `apply(topic without prefix, partition, records)`; return where each one stopped."""
    names = {settings.topic(t): t for t in TOPICS}
    consumer = AIOKafkaConsumer(**settings.kafka_client_options(), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        if not parts:
            return {}
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        until = {tp: max(min(off, ends[tp]), starts[tp]) for tp, off in (stop(ends) if stop else ends).items()}
        remaining = {tp for tp in parts if until[tp] > starts[tp]}
        idle_since = time.monotonic()
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=20_000)
            for tp, records in fetched.items():
                apply(names[tp.topic], tp, [r for r in records if r.offset < until[tp]])
            for tp in list(remaining):
                if await consumer.position(tp) >= until[tp]:
                    remaining.discard(tp)
            if fetched:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > idle_timeout_s:
                raise TimeoutError(f"no records for {idle_timeout_s}s before the end of {sorted(map(str, remaining))}")
        return until
    finally:
        await consumer.stop()


def folder(projection: Projection, counts: dict[str, int] | None = None) -> Apply:
    """Applies a partition's records to the projection (no dead letters: see `rebuild`, `Follower`)."""
    def apply(topic: str, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        events, rejected = decode(topic, records)
        conflicts = projection.apply(fact_update(e, response_due=response_due) for e in events)
        if counts is not None:
            for name, n in (("records", len(records)), ("events", len(events)), ("rejected", len(rejected)),
                            ("conflicts", len(conflicts)), (topic, len(records))):
                counts[name] = counts.get(name, 0) + n
        if records:
            projection.covered(key_of(topic, tp.partition), records[-1].offset + 1)
    return apply


class Follower:
    """Which records of a live batch this process has not applied yet."""

    def __init__(self, settings: ServiceSettings, projection: Projection) -> None:
        self._settings, self._projection = settings, projection
        self.consumers: dict[str, Callable[[], AIOKafkaConsumer | None]] = {}  # topic -> its subscriber's
        self._sought: dict[str, int] = {}

    def fresh(self, topic: str, records: list[ConsumerRecord]) -> list[ConsumerRecord]:
        """The records past what is applied, in order; at a gap (another replica committed past
        this process's offset), the subscriber is sought back and the rest of that partition is
        left for the redelivery. A gap met again right after seeking is a hole in the log."""
        by_partition: dict[int, list[ConsumerRecord]] = {}
        for record in records:
            by_partition.setdefault(record.partition, []).append(record)
        out: list[ConsumerRecord] = []
        for partition, found in by_partition.items():
            key = key_of(topic, partition)
            need = self._projection.vector.get(key, 0)
            for record in sorted(found, key=lambda r: r.offset):
                if record.offset < need:
                    continue  # applied already (folded on start, or a redelivery)
                if record.offset > need and self._sought.get(key) != need:
                    self._seek(topic, partition, need)
                    break
                out.append(record)
                need = record.offset + 1
        return out

    def _seek(self, topic: str, partition: int, offset: int) -> None:
        consumer = self.consumers[topic]()
        self._sought[key_of(topic, partition)] = offset
        if consumer is not None:
            log.warning("records past this process's offset were committed by another; reading them from it",
                        extra={"topic": topic, "partition": partition})
            consumer.seek(TopicPartition(self._settings.topic(topic), partition), offset)

    async def check_positions(self) -> None:
        """Once started: seek back any subscriber that starts past what was folded (a replica
        committed further between the fold and its start) and would wait for a next record."""
        for topic, get in self.consumers.items():
            consumer = get()
            if consumer is None:
                continue
            for tp in consumer.assignment():
                need = self._projection.vector.get(key_of(topic, tp.partition), 0)
                if await consumer.position(tp) > need:
                    self._seek(topic, tp.partition, need)
