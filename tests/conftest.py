"""Shared fixtures: the real local stack, and a private namespace (topic prefix, database) per run."""

import os
import socket
import tempfile
from urllib.parse import urlparse

import pytest
from hypothesis import settings

from hotline.devkit import Namespace, StackAddress
from hotline.topology import all_topic_specs

KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The services' spans of a test run go to a directory of its own, not to a developer's
# .local/traces (which `hotline trace` reads for `make up`).
os.environ.setdefault("HOTLINE_TRACES_DIR", tempfile.mkdtemp(prefix="hotline-test-traces-"))
MONGODB_URL = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")

# Property tests judge answers, not speed: a first example that loads the classifier, or any example
# beside `make up` on two cores, may take seconds (speed lives in `make bench`).
settings.register_profile("hotline", deadline=None)
settings.load_profile("hotline")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def stack() -> StackAddress:
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
    return StackAddress(KAFKA, MONGODB_URL)


@pytest.fixture(scope="session")
async def namespace(stack):
    """A topic prefix with every topic created, and a database, private to this test session."""
    async with Namespace.fresh(stack, "t").created(all_topic_specs("")) as space:
        yield space


@pytest.fixture(scope="session")
def service_env(namespace) -> dict[str, str]:
    """Environment that points a service at the test namespace."""
    return namespace.variables()
