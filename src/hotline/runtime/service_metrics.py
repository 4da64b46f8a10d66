"""Prometheus metrics every service serves on `GET /metrics`: FastStream's Kafka metrics, events
processed, dead letters and consumer lag; services add their business figures to the same registry."""

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from pymongo import monitoring

from hotline.contracts.dlq import DeadLetter
from hotline.runtime.records import consumed_records
from hotline.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

LAG_INTERVAL_S = 5.0
Exposition = Callable[[], Awaitable[bytes]]


class ServiceMetrics:
    """One service's registry (one per app: tests run several apps in one process) and the
    metrics every service has."""

    def __init__(self, service: str, settings: ServiceSettings) -> None:
        self.service = service
        self.settings = settings
        self.registry = CollectorRegistry()
        self.events_processed = Counter(
            "hotline_events_processed", "Records a service's consumers processed (their batch succeeded).",
            ["service", "topic"], registry=self.registry)
        self.dead_letters = Counter(
            "hotline_dead_letters", "Dead letters a service published, by a coarse reason (no values).",
            ["service", "reason"], registry=self.registry)
        self.consumer_lag = Gauge(
            "hotline_consumer_lag", "Log end offset minus the service's committed offset, per partition.",
            ["service", "topic", "partition"], registry=self.registry)
        self.store_commands = Counter(
            "hotline_store_commands", "Round trips to the store, by command and collection.",
            ["service", "command", "collection"], registry=self.registry)
        self.store_seconds = Counter(
            "hotline_store_command_seconds", "Time spent waiting for the store, by command and collection.",
            ["service", "command", "collection"], registry=self.registry)
        self.store_documents_written = Counter(
            "hotline_store_documents_written",
            "Documents the store inserted, changed or deleted for the service, by collection "
            "(a store rewrites a whole document per change: its cost follows these, not round trips).",
            ["service", "collection"], registry=self.registry)
        self._expositions: list[Exposition] = []

    def store_listener(self) -> monitoring.CommandListener:
        """Counts and times this service's store commands (pass to the client's `event_listeners`)."""
        return _StoreCommands(self)

    def local_topic(self, topic: str) -> str:
        """A topic's name without the deployment's prefix: labels stay the same everywhere."""
        return topic.removeprefix(self.settings.topic_prefix)

    def count_dead_letters(self, letters: Iterable[DeadLetter]) -> None:
        """Count dead letters the broker acknowledged."""
        for letter in letters:
            self.dead_letters.labels(self.service, reason_label(letter.reason, letter.field)).inc()

    def add_exposition(self, exposition: Exposition) -> None:
        """Extra text appended to `/metrics` (gauges that must read the store at scrape time)."""
        self._expositions.append(exposition)

    async def exposition(self) -> bytes:
        """Everything `/metrics` shows, in Prometheus' text format."""
        parts = [generate_latest(self.registry)]
        for extra in self._expositions:
            parts.append(await extra())
        return b"".join(parts)

    async def lag_forever(self, broker: KafkaBroker, *, interval_s: float = LAG_INTERVAL_S) -> None:
        """Sample the lag of every subscriber's group at each interval until cancelled."""
        admin = AIOKafkaAdminClient(**self.settings.kafka_client_options())
        consumer = AIOKafkaConsumer(**self.settings.kafka_client_options(), group_id=None,
                                    enable_auto_commit=False)
        try:
            await admin.start()
            await consumer.start()
            while True:
                try:
                    await self._sample_lag(broker, admin, consumer)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a broker hiccup must not end the sampler
                    log.warning("consumer lag sample failed: %r", exc)
                await asyncio.sleep(interval_s)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await admin.close()

    async def _sample_lag(self, broker: KafkaBroker, admin: AIOKafkaAdminClient,
                          consumer: AIOKafkaConsumer) -> None:
        groups: dict[str, set[str]] = {}
        for subscriber in broker.subscribers:
            group = getattr(subscriber, "group_id", None)
            if group:
                groups.setdefault(group, set()).update(getattr(subscriber, "topic_names", ()) or ())
        names = sorted({t for ts in groups.values() for t in ts})
        if not names:
            return
        described = await admin.describe_topics(names)
        partitions = {t["topic"]: [TopicPartition(t["topic"], p["partition"]) for p in t["partitions"]]
                      for t in described if t["error_code"] == 0}
        every = [tp for tps in partitions.values() for tp in tps]
        ends = await consumer.end_offsets(every)
        starts = await consumer.beginning_offsets(every)
        for group, group_topics in sorted(groups.items()):
            wanted = [tp for t in sorted(group_topics) for tp in partitions.get(t, [])]
            committed = await admin.list_consumer_group_offsets(group, partitions=wanted)
            for tp in wanted:
                done = committed.get(tp)
                position = done.offset if done is not None and done.offset >= 0 else starts[tp]
                self.consumer_lag.labels(self.service, self.local_topic(tp.topic), str(tp.partition)).set(
                    max(ends[tp] - position, 0))


class _StoreCommands(monitoring.CommandListener):
    """Round trips are what the store's time goes on: the benchmark divides these by tickets."""

    _IGNORED = frozenset({"ping", "hello", "ismaster", "isMaster", "endSessions", "buildInfo"})

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._metrics = metrics
        # (collection, documents an insert sent) of each command in flight.
        self._started: dict[tuple, tuple[str, int]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in self._IGNORED:
            return
        collection = event.command.get(event.command_name)
        self._started[(event.connection_id, event.request_id)] = (
            collection if isinstance(collection, str) else "", len(event.command.get("documents") or ()))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        started = self._count(event)
        # A bulk write with some failed operations still succeeds, and says what it wrote.
        if started is not None and (written := documents_written(event.command_name, event.reply, sent=started[1])):
            self._metrics.store_documents_written.labels(self._metrics.service, started[0]).inc(written)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._count(event)

    def _count(self, event) -> tuple[str, int] | None:
        started = self._started.pop((event.connection_id, event.request_id), None)
        if started is None:
            return None
        labels = (self._metrics.service, event.command_name, started[0])
        self._metrics.store_commands.labels(*labels).inc()
        self._metrics.store_seconds.labels(*labels).inc(event.duration_micros / 1e6)
        return started


def documents_written(command: str, reply: Mapping[str, Any], *, sent: int = 0) -> int:
    """How many documents a write command's reply says it inserted, changed or deleted. An update
    that matched a document without changing it wrote nothing; findAndModify's reply does not
    tell, so its match counts. An insert is counted as the documents sent less those refused
    (the local MongoDB-protocol server counts refused ones in `n`)."""
    match command:
        case "insert":
            return min(int(reply.get("n", 0)), max(sent - len(reply.get("writeErrors", ())), 0))
        case "delete":
            return int(reply.get("n", 0))
        case "update":
            return int(reply.get("nModified", 0)) + len(reply.get("upserted", ()))
        case "findAndModify":
            return int((reply.get("lastErrorObject") or {}).get("n", 0))
    return 0


_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


def reason_label(reason: str, field: str | None) -> str:
    """A bounded label for a dead letter's reason: the field path and the reason's fixed words,
    cut before any quoted value or detail (reasons may quote what the sender wrote)."""
    text = re.split(r"[:'\"(\[{]", reason, maxsplit=1)[0]
    text = _SPACES.sub(" ", _DIGITS.sub("N", text.lower())).strip()[:60] or "unknown"
    if field:
        return f"{_DIGITS.sub('N', field)[:40]}: {text}"
    return text


class _CountProcessed(BaseMiddleware):
    """Counts the records of each batch (or single message) whose handler returned."""

    def __init__(self, msg: Any, /, *, context: Any, metrics: ServiceMetrics) -> None:
        super().__init__(msg, context=context)
        self._metrics = metrics

    async def consume_scope(self, call_next, msg):
        result = await call_next(msg)
        by_topic: dict[str, int] = {}
        for record in consumed_records(msg):
            topic = getattr(record, "topic", None)
            if topic:
                by_topic[topic] = by_topic.get(topic, 0) + 1
        for topic, count in by_topic.items():
            self._metrics.events_processed.labels(self._metrics.service, self._metrics.local_topic(topic)).inc(count)
        return result


def kafka_middlewares(metrics: ServiceMetrics) -> list:
    """FastStream middlewares that count and time every consume and publish into the service's registry."""
    return [
        KafkaPrometheusMiddleware(registry=metrics.registry, app_name=metrics.service),
        partial(_CountProcessed, metrics=metrics),
    ]
