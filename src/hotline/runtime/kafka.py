"""Kafka adapters: broker construction, topic creation, publishing events and dead letters."""

import asyncio
import base64
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import BaseModel, TypeAdapter, ValidationError

from hotline.contracts import topics
from hotline.contracts.common import Contract, Event
from hotline.contracts.dlq import DeadLetter
from hotline.runtime import poison, telemetry
from hotline.runtime.records import Records, consumed_records
from hotline.runtime.settings import ServiceSettings

if TYPE_CHECKING:
    from hotline.runtime.topic_admin import Ensured, TopicPolicy

log = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)
DEAD_LETTER_VALUE_LIMIT = 256 * 1024  # bytes of a rejected record a dead letter carries
Outgoing = tuple[str, Contract, str | None]  # what publish_all sends: (topic, message, key)


def client_options(kafka: str | Mapping[str, Any]) -> dict[str, Any]:
    """aiokafka client arguments from bootstrap servers alone or from `ServiceSettings.kafka_client_options`."""
    return {"bootstrap_servers": kafka} if isinstance(kafka, str) else dict(kafka)


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """FastStream's form of the SASL settings; None on a plaintext broker (the local stack)."""
    if not settings.kafka_security_protocol.startswith("SASL"):
        return None
    kinds = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    return kinds[settings.kafka_sasl_mechanism](
        settings.kafka_sasl_username or "", password, use_ssl=settings.kafka_security_protocol == "SASL_SSL"
    )


def build_broker(settings: ServiceSettings, service: str, middlewares: Sequence = ()) -> KafkaBroker:
    """A broker whose producer waits for all replicas before a send counts as done."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        security=broker_security(settings),
        client_id=f"hotline-{service}",
        acks=settings.kafka_acks,
        # Not idempotent: after a broker restart aiokafka's idempotent producer can answer every
        # send with OutOfOrderSequenceNumber until the process restarts (aio-libs/aiokafka#1017;
        # seen by the fault suite). A retried send may duplicate a record instead, which every
        # consumer drops by its event id; aiokafka keeps one batch in flight per partition, so
        # order holds.
        enable_idempotence=False,
        # FastStream's own logs go through ours (JSON lines); its two INFO lines per
        # message are logged at DEBUG, below the services' level.
        logger=logging.getLogger("hotline.broker"),
        log_level=logging.DEBUG,
        middlewares=tuple(middlewares),
    )


def encode(model: Contract) -> bytes:
    """The wire form of a contract: compact JSON."""
    return model.model_dump_json().encode()


def event_headers(event: Event) -> dict[str, str]:
    """Headers that let a consumer route or skip a record without parsing it."""
    return {
        "event_type": type(event).__name__,
        "event_id": event.event_id,
        "schema_version": str(event.schema_version),
    }


class Publisher:
    """Publishes events keyed by ticket id, many at once, and waits for the broker's acks."""

    def __init__(
        self, broker: KafkaBroker, settings: ServiceSettings, service: str,
        *, on_dead_letters: Callable[[list[DeadLetter]], None] | None = None,
    ) -> None:
        self._broker = broker
        self._settings = settings
        self._service = service
        self._on_dead_letters = on_dead_letters  # counts them once the broker has them

    @property
    def service(self) -> str:
        """The publishing service's name."""
        return self._service

    @property
    def tracer(self):
        """A tracer of the service's provider, for spans that no consumed record starts (timers)."""
        return telemetry.tracer(self._service, self._settings)

    def topic(self, name: str) -> str:
        """The full name of a topic, with the deployment's prefix."""
        return self._settings.topic(name)

    async def publish_all(self, items: Iterable[Outgoing]) -> None:
        """Publish (topic, message, key) triples concurrently; return when all are acknowledged."""
        futures, letters = [], []
        for topic, message, key in items:
            if isinstance(message, DeadLetter):
                letters.append(message)
            headers = event_headers(message) if isinstance(message, Event) else None
            # Each message goes out in its own ticket's trace, not the consumed batch's.
            with telemetry.publishing(key, message):
                futures.append(
                    await self._broker.publish(
                        encode(message),
                        self._settings.topic(topic),
                        key=key.encode() if key else None,
                        headers=headers,
                        no_confirm=True,
                    )
                )
        # The real producer returns delivery futures; FastStream's test broker returns None.
        pending = [f for f in futures if inspect.isawaitable(f)]
        if pending:
            await asyncio.gather(*pending)
        if letters and self._on_dead_letters is not None:
            self._on_dead_letters(letters)

    def parse_all(
        self, records: Iterable[ConsumerRecord], model: type[ModelT] | TypeAdapter
    ) -> tuple[list, list[tuple[str, DeadLetter, str | None]]]:
        """Parse each record as `model` (a model or a type adapter, e.g. for a union of
        commands); what does not parse becomes a dead letter."""
        validate = model.validate_json if isinstance(model, TypeAdapter) else model.model_validate_json
        parsed, dead_letters = [], []
        for record in records:
            try:
                parsed.append(validate(record.value or b""))
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(part) for part in first["loc"]) or None
                dead_letters.append(self.dead_letter(record, reason=first["msg"], field=field))
        return parsed, dead_letters

    def dead_letter(
        self,
        record: ConsumerRecord,
        *,
        reason: str,
        field: str | None = None,
        channel: str | None = None,
    ) -> tuple[str, DeadLetter, str | None]:
        """A dead-letter record for `record`, ready for `publish_all`."""
        value = record.value or b""
        letter = DeadLetter(
            service=self._service,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key_b64=base64.b64encode(record.key).decode() if record.key else None,
            # A whole 1 MB record, base64 in a letter, would exceed the producer's and the
            # topic's 1 MB limit: the batch would fail and be redelivered for ever. The letter
            # then keeps the first bytes; the whole record stays at its topic, partition, offset.
            value_b64=base64.b64encode(value[:DEAD_LETTER_VALUE_LIMIT]).decode(),
            value_truncated_from=len(value) if len(value) > DEAD_LETTER_VALUE_LIMIT else None,
            field=field,
            reason=reason,
            channel=channel,
            rejected_at=datetime.now(UTC),
        )
        key = record.key.decode(errors="replace") if record.key else None
        return topics.DLQ, letter, key


async def ensure_topics(
    kafka: str | Mapping[str, Any], specs: list[topics.TopicSpec], *, timeout_s: float = 60,
    policy: "TopicPolicy | None" = None,
) -> list[str]:
    """Create the topics that do not exist yet, with their partition counts, and give every one
    the policy's replication and retention (`runtime.topic_admin`); return those created."""
    return (await ensure_topics_report(kafka, specs, timeout_s=timeout_s, policy=policy)).created


async def ensure_topics_report(
    kafka: str | Mapping[str, Any], specs: list[topics.TopicSpec], *, timeout_s: float = 60,
    policy: "TopicPolicy | None" = None,
) -> "Ensured":
    """`ensure_topics`, returning what was created and altered and what still differs."""
    from hotline.runtime import topic_admin

    admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=30_000)
    await _start_with_retry(admin.start, timeout_s)
    try:
        policy = policy or topic_admin.TopicPolicy()
        result = await topic_admin.ensure(admin, specs, policy)
        await _wait_until_led(admin, result.created, timeout_s)
        # New configurations reach every broker's metadata a moment later: look again before
        # calling a topic wrong.
        deadline = asyncio.get_running_loop().time() + (10 if result.created or result.altered else 0)
        while (problems := await topic_admin.verify(admin, specs, policy)) and \
                asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
        result.problems = problems
        return result
    finally:
        await admin.close()


async def _wait_until_led(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """Wait until every partition of the new topics has a leader.

    A consumer that subscribes before then can see the topic vanish from its metadata and
    lose its assignment, so callers get topics that are ready to use.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    pending = list(names)
    while pending:
        described = await admin.describe_topics(pending)
        pending = [
            t["topic"]
            for t in described
            if t["error_code"] != 0 or not t["partitions"] or any(p["leader"] < 0 for p in t["partitions"])
        ]
        if not pending:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics without a leader after {timeout_s}s: {pending[:5]}")
        await asyncio.sleep(0.2)


async def _start_with_retry(start, timeout_s: float) -> None:
    """Kafka refuses clients until it has elected itself controller: retry until ready."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await start()
            return
        except (KafkaConnectionError, KafkaError, OSError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _records(message) -> Records:
    """The decoder: the consumed records themselves. A handler that asked FastStream for the
    message instead (`msg: KafkaMessage`) paid a worker-thread hop per batch to receive it
    (fast_depends resolves that argument synchronously): 0.35 ms, half of a 1-record batch's
    cost under FastStream's test broker."""
    return consumed_records(message)


def batch_subscriber(
    broker: KafkaBroker, settings: ServiceSettings, service: str, topic: str, *, publisher: "Publisher | None"
):
    """A batch subscriber that commits offsets only after the batch's work is done.

    NACK_ON_ERROR rewinds to the batch's first record when the handler raises (store or
    broker down), so nothing taken is lost; handlers are idempotent, so replays are harmless.
    With a `publisher`, a record that fails by itself is dead-lettered instead (`runtime.poison`),
    so it cannot hold its partition; only a consumer that changes nothing may pass None.
    """
    from faststream import AckPolicy

    subscriber = broker.subscriber(
        settings.topic(topic),
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=100,
        # One group per service and topic: members of a group then share one subscription.
        group_id=f"{settings.group_id(service)}.{topic}",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_records,
    )
    if publisher is None:
        return subscriber
    return lambda handler: subscriber(poison.isolating(handler, publisher, f"{service} {topic} batch"))


class retry_later:  # lower case: used as a context manager, it reads as a phrase
    """On failure, log and pause before re-raising, so a down store is not hammered."""

    def __init__(self, what: str, pause_s: float = 1.0) -> None:
        self._what = what
        self._pause_s = pause_s

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        # Only a failure that may heal waits here; any other is the poison isolation's to sort out.
        if exc is not None and poison.is_transient(exc):
            log.error("%s failed, the batch will be redelivered: %r", self._what, exc)
            await asyncio.sleep(self._pause_s)
        return False


async def published_event_ids(kafka: str | Mapping[str, Any], topic_names: set[str], *, since: datetime) -> set[str]:
    """The `event_id` headers of the records written to these topics since a moment (by record
    timestamp): lets a process that takes over an unconfirmed send skip what already went out."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(sorted(topic_names))
    finally:
        await admin.close()
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    found: set[str] = set()
    if not partitions:
        return found
    consumer = AIOKafkaConsumer(**client_options(kafka), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
        remaining = {}
        for tp in partitions:
            start = starts[tp].offset if starts.get(tp) else ends[tp]
            if start < ends[tp]:
                consumer.seek(tp, start)
                remaining[tp] = ends[tp]
        give_up = asyncio.get_running_loop().time() + 60
        while remaining:
            if asyncio.get_running_loop().time() > give_up:
                raise TimeoutError(f"could not read {sorted(map(str, remaining))} to their end")
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    event_id = dict(record.headers or ()).get("event_id")
                    if event_id:
                        found.add(event_id.decode())
                    if record.offset + 1 >= remaining.get(tp, 0):
                        remaining.pop(tp, None)
        return found
    finally:
        await consumer.stop()
