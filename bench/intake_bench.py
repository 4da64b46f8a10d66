"""Intake benchmark: normalization records/s, and raw record in -> TicketReceived out on the real
broker and store, beside the raw Kafka produce-and-consume rate of the same records."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.table import Table

from hotline.cli import all_topic_specs
from hotline.contracts import topics
from hotline.gazetteer import beijing
from hotline.intake.domain import normalize
from hotline.runtime.kafka import ensure_topics
from hotline.runtime.settings import ServiceSettings

PLACES = ["房山区良乡镇云景台小区二期", "海淀区八里庄街道", "朝阳区望京街道", "东城区景山街道", "通州区永顺镇"]
CONTENTS = ["小区已经停水两天了", "夜间施工噪音扰民", "路面坑洼严重", "垃圾三天没有清运", "暖气不热"]


def records(n: int, run: str) -> list[bytes]:
    """n distinct raw records of realistic size."""
    now = datetime.now(UTC).isoformat()
    return [
        json.dumps({
            "channel": "phone", "source_id": f"bench-{run}-{i}", "received_at": now,
            "content": CONTENTS[i % 5] + "，请尽快处理。", "address": PLACES[i % 5],
            "caller": {"phone": f"138{i:08d}"[:11], "name": "张先生"},
        }, ensure_ascii=False).encode()
        for i in range(n)
    ]


def bench_normalize(payloads: list[bytes]) -> float:
    gazetteer, now = beijing(), datetime.now(UTC)
    start = time.perf_counter()
    for payload in payloads:
        normalize(payload, now=now, gazetteer=gazetteer)
    return len(payloads) / (time.perf_counter() - start)


async def produce(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, p) for p in payloads]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume_count(bootstrap: str, topic: str, n: int, timeout_s: float = 300) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen, deadline = 0, time.monotonic() + timeout_s
        while seen < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            seen += sum(len(part) for part in batch.values())
        if seen < n:
            raise RuntimeError(f"only {seen} of {n} records arrived on {topic}")
    finally:
        await consumer.stop()


async def bench_raw_kafka(bootstrap: str, prefix: str, payloads: list[bytes]) -> float:
    """The limit: produce and consume the same records with no processing."""
    topic = f"{prefix}bench.raw-limit"
    await ensure_topics(bootstrap, [topics.TopicSpec(topic, topics.TICKET_PARTITIONS)])
    start = time.perf_counter()
    await asyncio.gather(produce(bootstrap, topic, payloads), consume_count(bootstrap, topic, len(payloads)))
    return len(payloads) / (time.perf_counter() - start)


async def bench_intake(settings: ServiceSettings, payloads: list[bytes]) -> float:
    """A backlog of raw records, then intake started as its own process: TicketReceived/s.

    The records are published before intake starts, so the producer does not compete with
    intake for the two cores; the rate runs from intake's first output to its last.
    """
    bootstrap = settings.kafka_bootstrap_servers
    await produce(bootstrap, settings.topic(topics.RAW), payloads)
    port = _free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "MONGODB_URL": settings.mongodb_url,
           "MONGODB_DATABASE": settings.mongodb_database, "HOTLINE_TOPIC_PREFIX": settings.topic_prefix,
           "INTAKE_HTTP_PORT": str(port), "LOG_LEVEL": "WARNING"}
    hotline = Path(sys.executable).with_name("hotline")
    process = subprocess.Popen([str(hotline), "serve", "intake"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    consumer = AIOKafkaConsumer(settings.topic(topics.TICKETS_RECEIVED), bootstrap_servers=bootstrap,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen, first, last = 0, None, None
        deadline = time.monotonic() + 600
        while seen < len(payloads) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            count = sum(len(part) for part in batch.values())
            if count:
                now = time.perf_counter()
                first = first or now
                last, seen = now, seen + count
        if seen < len(payloads):
            raise RuntimeError(f"intake produced {seen} of {len(payloads)} tickets")
        return (seen - 1) / (last - first)
    finally:
        await consumer.stop()
        process.terminate()
        process.wait(timeout=30)


async def _clean_up(settings: ServiceSettings) -> None:
    """Delete the run's topics and database: benchmarks leave nothing behind."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
    client = AsyncMongoClient(settings.mongodb_url)
    await client.drop_database(settings.mongodb_database)
    await client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(count: int = typer.Option(20_000, help="Records per measurement.")) -> None:
    """Run the intake benchmark and write bench/results/<date>-intake.json."""
    run = uuid.uuid4().hex[:8]
    base = ServiceSettings()
    settings = base.model_copy(update={"topic_prefix": f"bench{run}-", "mongodb_database": f"hotline_bench_{run}"})
    payloads = records(count, run)

    async def measure() -> dict:
        await ensure_topics(settings.kafka_bootstrap_servers, all_topic_specs(settings.topic_prefix))
        try:
            raw = await bench_raw_kafka(settings.kafka_bootstrap_servers, settings.topic_prefix, payloads)
            through_intake = await bench_intake(settings, payloads)
        finally:
            await _clean_up(settings)
        return {"raw_kafka_records_per_s": raw, "intake_records_per_s": through_intake}

    normalize_rate = bench_normalize(payloads)
    figures = {"normalize_records_per_s": normalize_rate, **asyncio.run(measure())}
    figures["intake_to_raw_kafka_ratio"] = figures["intake_records_per_s"] / figures["raw_kafka_records_per_s"]
    table = Table(title=f"Intake benchmark, {count:,} records")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("normalize (pure), records/s", f"{normalize_rate:,.0f}")
    table.add_row("raw Kafka produce+consume, records/s (the limit)", f"{figures['raw_kafka_records_per_s']:,.0f}")
    table.add_row("intake end to end, records/s", f"{figures['intake_records_per_s']:,.0f}")
    table.add_row("intake / raw Kafka", f"{figures['intake_to_raw_kafka_ratio']:.2f}")
    Console().print(table)
    out = Path(__file__).parent / "results" / f"{datetime.now(UTC):%Y-%m-%d}-intake.json"
    out.write_text(json.dumps({"count": count, "at": datetime.now(UTC).isoformat(), **figures}, indent=2) + "\n")
    typer.echo(f"written {out}")


if __name__ == "__main__":
    typer.run(main)
