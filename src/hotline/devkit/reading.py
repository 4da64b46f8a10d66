"""Reading a topic to its end and asking whether consumer groups have caught up: how a test, the
fault suite or the bench knows every record now in a topic was read, or processed.

Topic names are full names (a namespace's `topic(name)`); no group is joined, nothing committed."""

import asyncio
import time
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

FETCH_BYTES = 8 * 1024 * 1024  # per partition: a large backlog is read in few round trips


async def partitions_of(bootstrap: str, names: Iterable[str]) -> list[TopicPartition]:
    """Every partition of these topics (none for a topic that does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(sorted(set(names)))
    finally:
        await admin.close()
    return [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]


async def end_offsets(bootstrap: str, names: Iterable[str]) -> dict[TopicPartition, int]:
    """The end offset of every partition of these topics now: how many records each holds."""
    partitions = await partitions_of(bootstrap, names)
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def read_to_end(bootstrap: str, names: Iterable[str], *, timeout_s: float = 300) -> list[ConsumerRecord]:
    """Every record of these topics, from the start to the end offsets taken now; TimeoutError
    when they could not be read within `timeout_s`."""
    ends = {tp: end for tp, end in (await end_offsets(bootstrap, names)).items() if end > 0}
    if not ends:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=FETCH_BYTES)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        remaining, deadline = dict(ends), time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {sorted({tp.topic for tp in remaining})} to the end "
                                   f"within {timeout_s:.0f} s")
            for tp, batch in (await consumer.getmany(*remaining, timeout_ms=500, max_records=10_000)).items():
                records.extend(r for r in batch if r.offset < ends[tp])  # not what arrived meanwhile
            # The position, not the last record's offset: it passes the end even over a gap.
            for tp in [tp for tp, end in remaining.items() if await consumer.position(tp) >= end]:
                remaining.pop(tp)
        return records
    finally:
        await consumer.stop()


async def lagging(bootstrap: str, groups: Mapping[str, str], *,
                  ends: Mapping[TopicPartition, int] | None = None) -> dict[str, int]:
    """Of these consumer groups (each with the topic it reads), those that have not committed past
    every record now in their topic (or up to `ends`, end offsets taken before), with how many
    records they are behind. A partition that holds nothing needs no commit."""
    if ends is None:
        ends = await end_offsets(bootstrap, set(groups.values()))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        behind = {}
        for group, topic in groups.items():
            parts = {tp: end for tp, end in ends.items() if tp.topic == topic and end > 0}
            if not parts:
                continue
            committed = await admin.list_consumer_group_offsets(group, partitions=list(parts))
            # -1 (or no entry): the group never committed on the partition.
            done = {tp: max(0, committed[tp].offset) if tp in committed else 0 for tp in parts}
            lag = sum(max(0, end - done[tp]) for tp, end in parts.items())
            if lag > 0:
                behind[group] = lag
        return behind
    finally:
        await admin.close()


async def wait_drained(bootstrap: str, groups: Mapping[str, str], *, timeout_s: float = 180,
                       interval_s: float = 0.5) -> None:
    """Until every group of `groups` has committed past the records its topic held when the wait
    began (records published meanwhile are not waited for); TimeoutError naming those behind."""
    ends = await end_offsets(bootstrap, set(groups.values()))
    deadline = time.monotonic() + timeout_s
    while behind := await lagging(bootstrap, groups, ends=ends):
        if time.monotonic() > deadline:
            raise TimeoutError(f"consumer groups still behind after {timeout_s:.0f} s: {behind}")
        await asyncio.sleep(interval_s)
