"""The soak's loss check on the real broker: raw records that became tickets or dead letters are
not lost, a raw record nothing processed is; a ticket that routing never dispatched is named; and
a consumer group's lag is its log end minus what it committed."""

import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hotline.catalogue import default_catalogue
from hotline.contracts import ticket_id_for, topics
from hotline.devkit import Namespace, encoded, raw_record
from tests.integration.conftest import four_services
from tests.support import eventually, read_topic

pytestmark = pytest.mark.stack

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def soak_watch(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import soak_watch

    return soak_watch


@pytest.fixture
async def space(stack):
    specs = [*topics.core_topics(),
             *topics.queue_topics(["110111008", "110111", topics.TRIAGE_QUEUE_CODE, *default_catalogue().units_by_code])]
    async with Namespace.fresh(stack, "soak").created(specs) as space:
        yield space


async def _send(bootstrap: str, topic: str, value: bytes) -> tuple[int, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value)
        return meta.partition, meta.offset
    finally:
        await producer.stop()


async def test_records_the_system_handled_are_not_losses_and_the_others_are(space, soak_watch):
    kafka, prefix = space.kafka, space.prefix
    good = raw_record(f"soak-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期")
    async with four_services(space):
        await _send(kafka, prefix + topics.RAW, encoded(good))
        await _send(kafka, prefix + topics.RAW, b'{"channel": "phone"')  # broken: a dead letter
        ticket = ticket_id_for("phone", good["source_id"])
        await read_topic(kafka, prefix + topics.TICKETS_DISPATCHED,
                         until=lambda rs: any(json.loads(r.value)["ticket_id"] == ticket for r in rs))
        await read_topic(kafka, prefix + topics.DLQ, until=lambda rs: len(rs) >= 1)
        assert await soak_watch.losses(kafka, prefix) == {
            "raw_records": 2, "tickets": 1, "dead_letters_from_raw": 1, "raw_records_lost": 0,
            "lost_examples": [], "tickets_never_dispatched": 0, "undispatched_examples": []}
    # With the services stopped, a raw record stays unprocessed: a loss if the soak ended so.
    partition, offset = await _send(kafka, prefix + topics.RAW,
                                    encoded(raw_record(f"soak-{uuid.uuid4().hex}", "房山区良乡镇云景台小区二期")))
    found = await soak_watch.losses(kafka, prefix)
    assert (found["raw_records_lost"], found["lost_examples"]) == (1, [f"{partition}/{offset}"])


async def test_a_ticket_received_but_never_dispatched_is_named(space, soak_watch):
    kafka, prefix = space.kafka, space.prefix
    received = {"ticket_id": "TK00000000000000AB", "channel": "phone", "source_id": "soak-x",
                "answered_directly": False}
    answered = {"ticket_id": "TK00000000000000AC", "channel": "phone", "source_id": "soak-y",
                "answered_directly": True}
    for event in (received, answered):
        await _send(kafka, prefix + topics.TICKETS_RECEIVED, json.dumps(event).encode())
    found = await soak_watch.losses(kafka, prefix)
    assert (found["tickets_never_dispatched"], found["undispatched_examples"]) == (1, ["TK00000000000000AB"])


async def test_a_group_lag_is_the_log_end_minus_its_committed_offset(space, soak_watch):
    kafka, prefix = space.kafka, space.prefix
    topic = prefix + topics.CALLBACKS
    for i in range(5):
        await _send(kafka, topic, json.dumps({"n": i}).encode())
    group = f"{prefix}hotline-soak-test"
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        taken = []
        while len(taken) < 2:
            for records in (await consumer.getmany(timeout_ms=500, max_records=2 - len(taken))).values():
                taken.extend(records)
        last = taken[-1]
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
        await consumer.commit({TopicPartition(topic, r.partition): r.offset + 1 for r in taken})
    finally:
        await consumer.stop()
    lags = await eventually(lambda: _lags(soak_watch, kafka, prefix))
    committed_parts = {TopicPartition(topic, r.partition) for r in taken}
    expected = sum(end - (max(r.offset for r in taken if r.partition == tp.partition) + 1)
                   for tp, end in ends.items() if tp in committed_parts)
    assert lags == {group: expected} and last is not None


async def _lags(soak_watch, kafka: str, prefix: str) -> dict:
    return await soak_watch.group_lags(kafka, prefix=f"{prefix}hotline-")
