"""Intake alone: normalization records/s, and a backlog on `hotline.raw` turned into TicketReceived
by intake as its own process, beside the raw Kafka produce-and-consume rate of the same records.
(`make bench` runs the whole pipeline: lifecycle_bench.py.)"""

import asyncio
import json
import time
from datetime import UTC, datetime

import typer
from common import (
    HEALTHY_WITHIN_S,
    RESULTS,
    SERVICE_LOG_LEVEL,
    consume_timed,
    create_topics,
    fresh_namespace,
    machine,
    produce,
    raw_limit,
    raw_records,
    run_of,
)
from hotline.ingest.admission import admit_all, normalize
from rich.console import Console
from rich.table import Table

from hotline.contracts import topics
from hotline.devkit import Namespace, ServiceProcess, wait_all_healthy
from hotline.gazetteer import beijing


def bench_normalize(payloads: list[bytes]) -> float:
    gazetteer, now = beijing(), datetime.now(UTC)
    normalize(payloads[0], now=now, gazetteer=gazetteer)  # the classifier loaded before the clock starts
    start = time.perf_counter()
    for payload in payloads:
        normalize(payload, now=now, gazetteer=gazetteer)
    return len(payloads) / (time.perf_counter() - start)


def bench_admit_batches(payloads: list[bytes], size: int = 500) -> float:
    """What intake's consumer does with a batch (the classifier reads it at once): records/s."""
    gazetteer, now = beijing(), datetime.now(UTC)
    admit_all(payloads[:1], now=now, gazetteer=gazetteer)
    start = time.perf_counter()
    for i in range(0, len(payloads), size):
        admit_all(payloads[i:i + size], now=now, gazetteer=gazetteer)
    return len(payloads) / (time.perf_counter() - start)


async def bench_intake(ns: Namespace, payloads: list[bytes]) -> float:
    """A backlog of raw records, then intake started as its own process: TicketReceived/s from its
    first output to its last (the producer does not compete with intake for the cores)."""
    await produce(ns.kafka, ns.topic(topics.RAW), payloads)
    log = RESULTS.parents[1] / ".local" / "bench" / "intake-alone.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    intake = ServiceProcess.spawn("intake", ns.env(LOG_LEVEL=SERVICE_LOG_LEVEL), log)
    try:
        wait_all_healthy([intake], HEALTHY_WITHIN_S)
        first, last = await consume_timed(ns.kafka, ns.topic(topics.TICKETS_RECEIVED), len(payloads), timeout_s=600)
        return (len(payloads) - 1) / (last - first)
    finally:
        intake.stop()


def main(count: int = typer.Option(20_000, help="Records per measurement.")) -> None:
    """Run the intake benchmark and write bench/results/<date>-intake.json."""
    ns = fresh_namespace("benchi")
    payloads = raw_records(count, run_of(ns))

    async def measure() -> dict:
        await create_topics(ns)
        try:
            return {"raw_kafka_records_per_s": await raw_limit(ns, payloads),
                    "intake_records_per_s": await bench_intake(ns, payloads)}
        finally:
            await ns.clean_up()

    figures = {"normalize_records_per_s": bench_normalize(payloads),
               "admit_batches_records_per_s": bench_admit_batches(payloads), **asyncio.run(measure())}
    figures["intake_to_raw_kafka_ratio"] = figures["intake_records_per_s"] / figures["raw_kafka_records_per_s"]
    table = Table(title=f"Intake benchmark, {count:,} records")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("normalize (pure, one record at a time), records/s", f"{figures['normalize_records_per_s']:,.0f}")
    table.add_row("admit_all (pure, batches of 500), records/s", f"{figures['admit_batches_records_per_s']:,.0f}")
    table.add_row("raw Kafka produce+consume, records/s (the limit)", f"{figures['raw_kafka_records_per_s']:,.0f}")
    table.add_row("intake end to end, records/s", f"{figures['intake_records_per_s']:,.0f}")
    table.add_row("intake / raw Kafka", f"{figures['intake_to_raw_kafka_ratio']:.2f}")
    Console().print(table)
    out = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-intake.json"
    out.write_text(json.dumps({"count": count, "at": datetime.now(UTC).isoformat(), "machine": machine(),
                               **figures}, indent=2) + "\n")
    typer.echo(f"written {out}")


if __name__ == "__main__":
    typer.run(main)
