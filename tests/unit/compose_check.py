"""The compose tests' shared ground: where the files are, what the stack is made of, and how
deploy/compose-check is run (the binary itself is conftest.py's `checker` fixture)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
KAFKA_DIR = REPO_ROOT / "deploy" / "kafka"
ACL_FILE = KAFKA_DIR / "acls.tsv"
CHECKER_SRC = REPO_ROOT / "deploy" / "compose-check"
CHECKER_BIN = REPO_ROOT / ".local" / "bin" / "compose-check"

APP_SERVICES = {"intake": 8001, "routing": 8002, "followup": 8003, "metrics": 8004}
MONGO_MEMBERS = {"mongo1", "mongo2", "mongo3"}
ONE_SHOTS = {"kafka-init", "topics", "mongo-init"}
OBSERVABILITY = {"jaeger", "prometheus", "grafana"}
KAFKA_NODES = {"kafka1", "kafka2", "kafka3"}
KAFKA_BOOTSTRAP = "kafka1:9092,kafka2:9092,kafka3:9092"
EXPECTED_SERVICES = KAFKA_NODES | {"edge", "simulator"} | ONE_SHOTS | MONGO_MEMBERS | OBSERVABILITY | set(APP_SERVICES)
KAFKA_PRINCIPALS = {*APP_SERVICES, "simulator"}

BUILD_TIMEOUT_S = 900  # a cold module cache downloads ~15 small modules

# `${NAME:?message}`: Compose refuses to start while NAME is unset or empty.
REQUIRED_VAR = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]*\}")
ANY_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?+][^}]*)?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|SALT|TOKEN|_KEY$|UNIT_USERS")


def compose_text() -> str:
    """docker-compose.yml without its comment lines (which may show `${VAR:?}` as an example)."""
    return "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))


def required_vars() -> set[str]:
    return set(REQUIRED_VAR.findall(compose_text()))


def secret_env(**overrides: str) -> dict[str, str]:
    """The process environment plus a distinct dummy value for every required variable."""
    env = dict(os.environ)
    for name in required_vars():
        env[name] = f"dummy-{name.lower().replace('_', '-')}-0123456789"
    env.update(overrides)
    return env


def checker_is_fresh() -> bool:
    if not CHECKER_BIN.exists():
        return False
    built = CHECKER_BIN.stat().st_mtime
    sources = [*CHECKER_SRC.glob("*.go"), CHECKER_SRC / "go.mod", CHECKER_SRC / "go.sum"]
    return all(src.stat().st_mtime < built for src in sources)


def run_checker(
    checker: Path, *args: str | Path, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checker), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=secret_env() if env is None else env,
    )


def listed_services(stdout: str) -> list[str]:
    lines = stdout.strip().splitlines()
    assert lines and lines[0].startswith("ok: "), stdout
    names = lines[1:]
    assert lines[0] == f"ok: {len(names)} services", stdout
    return names


def raw_model() -> dict:
    # safe_load merges the `<<:` anchors; nested mappings may be shared
    # between services, so tests replace values instead of mutating them.
    return yaml.safe_load(COMPOSE_FILE.read_text())
