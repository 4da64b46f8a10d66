"""The fault suite runs on a private Kafka broker and MongoDB-protocol server of its own, started
with the project's `deploy/local/stack.sh` on free ports, because it stops and restarts them:
the shared stack on 9092/27017 serves every other test."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.devkit import free_port

REPO = Path(__file__).resolve().parents[2]
STACK_SH = REPO / "deploy" / "local" / "stack.sh"
SHARED_LOCAL = Path(os.environ.get("HOTLINE_LOCAL_DIR", REPO / ".local")).resolve()


class PrivateStack:
    """One Kafka node and one MongoDB-protocol server under a directory of their own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.kafka_port, self.mongo_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "HOTLINE_LOCAL_DIR": str(root),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "MONGO_PORT": str(self.mongo_port),
            # A restarted KRaft node takes 15 s here when idle, far longer on a busy machine.
            "STACK_READY_TIMEOUT": "240",
        }
        self.kafka = f"127.0.0.1:{self.kafka_port}"
        self.mongodb_url = f"mongodb://127.0.0.1:{self.mongo_port}"

    def run(self, *args: str, timeout: float = 240) -> str:
        done = subprocess.run(["bash", str(STACK_SH), *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"stack.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def stop(self, server: str) -> None:
        """`stack.sh stop kafka|mongo`: SIGTERM, a clean shutdown (SIGKILL after 20 s)."""
        self.run("stop", server)

    def start(self, server: str) -> None:
        """`stack.sh start kafka|mongo`: back on the same port and data, once it answers."""
        self.run("start", server)


@pytest.fixture(scope="session")
def fault_stack(tmp_path_factory) -> Iterator[PrivateStack]:
    """A private stack for this session; the jars and the compiled launcher are the shared
    `.local` ones (symlinked: nothing is downloaded or compiled again)."""
    if shutil.which("java") is None:
        pytest.fail("java is not on PATH: the fault suite starts its own Kafka and MongoDB-protocol server")
    root = tmp_path_factory.mktemp("fault-stack")
    for part in ("m2", "libs", "build"):
        (SHARED_LOCAL / part).mkdir(parents=True, exist_ok=True)
        (root / part).symlink_to(SHARED_LOCAL / part, target_is_directory=True)
    stack = PrivateStack(root)
    try:
        stack.run("up")
        yield stack
    finally:
        stack.run("down", timeout=90)
