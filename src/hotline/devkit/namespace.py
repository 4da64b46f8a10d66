"""A namespace: a topic prefix and a database of their own on a running broker and store, so a test
run, a fault scenario or a benchmark run shares the stack with others without seeing their records."""

import os
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from hotline.contracts import topics
from hotline.runtime.kafka import ensure_topics
from hotline.runtime.mongo import drop_database

# The broker takes a delete request of a few hundred topics at once; a bench run holds more.
_DELETE_CHUNK = 200


class Stack(Protocol):
    """Where the broker and the store answer (the test suite's stack, the fault suite's own)."""

    @property
    def kafka(self) -> str: ...

    @property
    def mongodb_url(self) -> str: ...


@dataclass(frozen=True)
class StackAddress:
    """A running stack's addresses, as the test suite's `stack` fixture finds them."""

    kafka: str
    mongodb_url: str


@dataclass(frozen=True)
class Namespace:
    """A topic prefix and a database on one stack. `create` makes topics under the prefix,
    `clean_up` deletes every topic under it and drops the database."""

    kafka: str
    mongodb_url: str
    prefix: str
    database: str

    @classmethod
    def fresh(cls, stack: Stack, label: str) -> "Namespace":
        """A namespace nobody else uses: `<label><tag>-` and `hotline_<label>_<tag>`."""
        tag = uuid.uuid4().hex[:8]
        return cls(stack.kafka, stack.mongodb_url, f"{label}{tag}-", f"hotline_{label}_{tag}")

    def child(self, label: str) -> "Namespace":
        """A namespace inside this one (`<prefix><label><tag>-`, `<database>_<label><tag>`): a test's own
        topics and database beside its module's. The parent's `clean_up` deletes its topics too."""
        tag = uuid.uuid4().hex[:6]
        return replace(self, prefix=f"{self.prefix}{label}{tag}-", database=f"{self.database}_{label}{tag}")

    def topic(self, name: str) -> str:
        """A topic's full name in this namespace."""
        return self.prefix + name

    def group(self, service: str, topic: str) -> str:
        """The consumer group a service reads a topic with here (as `runtime.kafka.batch_subscriber`
        names it: `ServiceSettings.group_id(service)` and the topic)."""
        return f"{self.prefix}hotline-{service}.{topic}"

    def variables(self) -> dict[str, str]:
        """The environment variables that point a service process at this namespace."""
        return {"KAFKA_BOOTSTRAP_SERVERS": self.kafka, "MONGODB_URL": self.mongodb_url,
                "MONGODB_DATABASE": self.database, "HOTLINE_TOPIC_PREFIX": self.prefix}

    def env(self, **extra: str) -> dict[str, str]:
        """A service process's whole environment: this process's, the namespace's, then `extra`."""
        return {**os.environ, **self.variables(), **extra}

    def service_settings(self) -> dict[str, str]:
        """The settings fields that point an in-process service at this namespace
        (`IntakeSettings(**ns.service_settings(), ...)`)."""
        return {"kafka_bootstrap_servers": self.kafka, "mongodb_url": self.mongodb_url,
                "mongodb_database": self.database, "topic_prefix": self.prefix}

    async def create(self, specs: Iterable[topics.TopicSpec], *, timeout_s: float = 60) -> None:
        """These topics (named without the prefix) under the prefix, each with its partitions and
        retention class, so the namespace has production's retention."""
        await ensure_topics(self.kafka, [s.prefixed(self.prefix) for s in specs], timeout_s=timeout_s)

    async def clean_up(self) -> None:
        """Delete every topic under the prefix and drop the database: a run leaves nothing behind."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka)
        await admin.start()
        try:
            ours = [t for t in await admin.list_topics() if t.startswith(self.prefix)]
            for start in range(0, len(ours), _DELETE_CHUNK):
                await admin.delete_topics(ours[start:start + _DELETE_CHUNK])
        finally:
            await admin.close()
        client: AsyncMongoClient = AsyncMongoClient(self.mongodb_url)
        try:
            await drop_database(client, self.database)
        finally:
            await client.close()

    @asynccontextmanager
    async def created(self, specs: Iterable[topics.TopicSpec], *, timeout_s: float = 60) -> AsyncIterator["Namespace"]:
        """The namespace with these topics for the block's length, cleaned up afterwards."""
        await self.create(specs, timeout_s=timeout_s)
        try:
            yield self
        finally:
            await self.clean_up()
