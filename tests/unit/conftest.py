"""Fixtures of the compose tests (test_compose_*.py, test_kafka_auth.py): the deploy/compose-check
binary, the model it resolves, and a project directory to write broken copies into."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.compose_check import (
    BUILD_TIMEOUT_S,
    CHECKER_BIN,
    CHECKER_SRC,
    COMPOSE_FILE,
    DOCKERFILE,
    checker_is_fresh,
    run_checker,
)


@pytest.fixture(scope="session")
def checker() -> Path:
    if checker_is_fresh():
        return CHECKER_BIN
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "the Go toolchain ('go') is not on PATH: it is needed to build "
            "deploy/compose-check, which validates docker-compose.yml. Install Go "
            "(>= 1.24) or put it on PATH; this test must not be skipped.",
            pytrace=False,
        )
    CHECKER_BIN.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target then rename, so a concurrent run never sees a
    # half-written binary.
    tmp_bin = CHECKER_BIN.with_name(f"{CHECKER_BIN.name}.tmp-{os.getpid()}")
    # -mod=readonly: go.mod/go.sum are the pins, never rewritten by the build
    # (overrides any -mod=mod in GOFLAGS). -buildvcs=false: no VCS stamping.
    cmd = [go, "build", "-mod=readonly", "-buildvcs=false", "-o", str(tmp_bin), "."]
    try:
        proc = subprocess.run(
            cmd,
            cwd=CHECKER_SRC,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"building compose-check took longer than {BUILD_TIMEOUT_S}s", pytrace=False)
    if proc.returncode != 0:
        tmp_bin.unlink(missing_ok=True)
        pytest.fail(
            f"building compose-check failed ({' '.join(cmd)} in {CHECKER_SRC}):\n"
            f"{proc.stdout}{proc.stderr}",
            pytrace=False,
        )
    os.replace(tmp_bin, CHECKER_BIN)
    return CHECKER_BIN


@pytest.fixture(scope="module")
def resolved(checker: Path) -> dict:
    """The model as Compose would run it (anchors merged, paths resolved,
    the dummy secrets interpolated; services behind a profile left out)."""
    proc = run_checker(checker, "-print", COMPOSE_FILE)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


@pytest.fixture
def tmp_project(tmp_path: Path):
    """Returns write(model) -> path: a compose file in tmp_path next to a copy
    of deploy/Dockerfile, so the build context resolves as in the repo and the
    only problem in a written file is the one a test put there."""
    (tmp_path / "deploy").mkdir()
    shutil.copy2(DOCKERFILE, tmp_path / "deploy" / "Dockerfile")

    def write(model: dict) -> Path:
        path = tmp_path / "docker-compose.yml"
        path.write_text(yaml.safe_dump(model, sort_keys=False))
        return path

    return write
