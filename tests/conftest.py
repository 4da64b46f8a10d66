"""Shared fixtures: the real local stack, and a private namespace (topic prefix, database) per run."""

import os
import socket
import uuid
from urllib.parse import urlparse

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from hotline.cli import all_topic_specs
from hotline.runtime.kafka import ensure_topics

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
MONGODB_URL = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    """The running Kafka broker and MongoDB-protocol server (`make test` starts them)."""
    kafka_host, kafka_port = KAFKA.split(",")[0].rsplit(":", 1)
    mongo = urlparse(MONGODB_URL)
    missing = [
        name
        for name, host, port in [
            ("Kafka", kafka_host, int(kafka_port)),
            ("MongoDB", mongo.hostname or "127.0.0.1", mongo.port or 27017),
        ]
        if not _reachable(host, port)
    ]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not reachable: run `make test`, which starts the local stack")
    return {"kafka": KAFKA, "mongodb_url": MONGODB_URL}


@pytest.fixture(scope="session")
async def namespace(stack):
    """A topic prefix with every topic created, and a database, private to this test session."""
    tag = uuid.uuid4().hex[:8]
    prefix, database = f"t{tag}-", f"hotline_test_{tag}"
    await ensure_topics(stack["kafka"], all_topic_specs(prefix))
    yield {"prefix": prefix, "database": database, **stack}
    admin = AIOKafkaAdminClient(bootstrap_servers=stack["kafka"])
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
    client = AsyncMongoClient(stack["mongodb_url"])
    await client.drop_database(database)
    await client.close()


@pytest.fixture(scope="session")
def service_env(namespace) -> dict[str, str]:
    """Environment that points a service at the test namespace."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": namespace["kafka"],
        "MONGODB_URL": namespace["mongodb_url"],
        "MONGODB_DATABASE": namespace["database"],
        "HOTLINE_TOPIC_PREFIX": namespace["prefix"],
    }
