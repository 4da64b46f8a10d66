"""The production docker-compose.yml is valid Compose and wired as intended.

No Docker engine runs where these tests run, so the file is checked with
deploy/compose-check: a small Go program built on the compose-spec reference
loader (schema validation, interpolation, path resolution, consistency
checks) plus our own checks (Dockerfile paths exist, depends_on targets
exist). The test builds it with the Go toolchain (modules from the Go module
proxy, pinned by deploy/compose-check/go.sum) into .local/bin/compose-check
and skips the rebuild when the binary is newer than the sources.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
CHECKER_SRC = REPO_ROOT / "deploy" / "compose-check"
CHECKER_BIN = REPO_ROOT / ".local" / "bin" / "compose-check"

APP_SERVICES = {"intake": 8001, "routing": 8002, "followup": 8003, "metrics": 8004}
MONGO_MEMBERS = {"mongo1", "mongo2", "mongo3"}
EXPECTED_SERVICES = {"kafka", "topics", "mongo-init"} | MONGO_MEMBERS | set(APP_SERVICES)

BUILD_TIMEOUT_S = 900  # a cold module cache downloads ~15 small modules


def _checker_is_fresh() -> bool:
    if not CHECKER_BIN.exists():
        return False
    built = CHECKER_BIN.stat().st_mtime
    sources = [CHECKER_SRC / name for name in ("main.go", "go.mod", "go.sum")]
    return all(src.stat().st_mtime < built for src in sources)


@pytest.fixture(scope="session")
def checker() -> Path:
    if _checker_is_fresh():
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


def run_checker(checker: Path, *args: str | Path, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checker), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def listed_services(stdout: str) -> list[str]:
    lines = stdout.strip().splitlines()
    assert lines and lines[0].startswith("ok: "), stdout
    names = lines[1:]
    assert lines[0] == f"ok: {len(names)} services", stdout
    return names


# --------------------------------------------------------------------------
# The repository's compose file
# --------------------------------------------------------------------------


def test_repo_compose_file_is_valid(checker: Path) -> None:
    proc = run_checker(checker, COMPOSE_FILE)
    assert proc.returncode == 0, proc.stderr
    assert set(listed_services(proc.stdout)) == EXPECTED_SERVICES


def test_checker_defaults_to_docker_compose_yml_in_cwd(checker: Path) -> None:
    proc = run_checker(checker, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert set(listed_services(proc.stdout)) == EXPECTED_SERVICES


@pytest.fixture(scope="module")
def resolved(checker: Path) -> dict:
    """The model as Compose would run it (anchors merged, paths resolved)."""
    proc = run_checker(checker, "-print", COMPOSE_FILE)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def test_app_services_are_wired_for_production(resolved: dict) -> None:
    services = resolved["services"]
    for name, port in APP_SERVICES.items():
        svc = services[name]
        assert svc["command"] == ["serve", name]
        assert svc["restart"] == "unless-stopped"
        assert Path(svc["build"]["context"]) == REPO_ROOT
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        env = svc["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["MONGODB_URL"].endswith("replicaSet=rs0")
        assert all(m in env["MONGODB_URL"] for m in MONGO_MEMBERS)
        assert env["HTTP_HOST"] == "0.0.0.0"
        assert env[f"{name.upper()}_HTTP_PORT"] == str(port)
        assert [(p["target"], str(p["published"])) for p in svc["ports"]] == [(port, str(port))]
        test = svc["healthcheck"]["test"]
        assert test[0] == "CMD" and "urllib" in " ".join(test)
        assert f":{port}/healthz" in " ".join(test)
        deps = {dep: cfg["condition"] for dep, cfg in svc["depends_on"].items()}
        assert deps == {
            "kafka": "service_healthy",
            "mongo-init": "service_completed_successfully",
            "topics": "service_completed_successfully",
        }


def test_infrastructure_shape(resolved: dict) -> None:
    services = resolved["services"]

    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["environment"]["KAFKA_GROUP_COORDINATOR_APPEND_LINGER_MS"] == "0"
    assert kafka["environment"]["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert "healthcheck" in kafka

    topics = services["topics"]
    assert topics["command"] == ["topics", "ensure"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics["build"] == services["intake"]["build"]

    for member in MONGO_MEMBERS:
        svc = services[member]
        assert svc["image"].startswith("mongo:")
        assert int(svc["image"].split(":")[1].split(".")[0]) >= 7
        assert "rs0" in svc["command"]
        assert "healthcheck" in svc
        assert any(v["type"] == "volume" and v["target"] == "/data/db" for v in svc["volumes"])

    init = services["mongo-init"]
    assert "rs.initiate" in " ".join(init["command"])
    assert {d: c["condition"] for d, c in init["depends_on"].items()} == {
        m: "service_healthy" for m in MONGO_MEMBERS
    }

    assert {"kafka-data", "mongo1-data", "mongo2-data", "mongo3-data"} <= set(resolved["volumes"])


# --------------------------------------------------------------------------
# The checker rejects broken files
# --------------------------------------------------------------------------


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


def load_model() -> dict:
    # safe_load merges the `<<:` anchors; nested mappings may be shared
    # between services, so tests replace values instead of mutating them.
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_unmodified_copy_passes(checker: Path, tmp_project) -> None:
    """Control for the negative tests below."""
    proc = run_checker(checker, tmp_project(load_model()))
    assert proc.returncode == 0, proc.stderr
    assert set(listed_services(proc.stdout)) == EXPECTED_SERVICES


def test_rejects_depends_on_unknown_service(checker: Path, tmp_project) -> None:
    model = load_model()
    routing = model["services"]["routing"]
    routing["depends_on"] = {**routing["depends_on"], "ghost": {"condition": "service_started"}}
    proc = run_checker(checker, tmp_project(model))
    assert proc.returncode != 0
    assert "ghost" in proc.stderr
    assert "routing" in proc.stderr


def test_rejects_invalid_ports_type(checker: Path, tmp_project) -> None:
    model = load_model()
    model["services"]["intake"]["ports"] = "not-a-list"
    proc = run_checker(checker, tmp_project(model))
    assert proc.returncode != 0
    assert "ports" in proc.stderr


def test_rejects_unknown_service_key(checker: Path, tmp_project) -> None:
    model = load_model()
    model["services"]["metrics"] = {**model["services"]["metrics"], "restart_policy": "always"}
    proc = run_checker(checker, tmp_project(model))
    assert proc.returncode != 0
    assert "restart_policy" in proc.stderr


def test_rejects_missing_dockerfile(checker: Path, tmp_project, tmp_path: Path) -> None:
    path = tmp_project(load_model())
    (tmp_path / "deploy" / "Dockerfile").unlink()
    proc = run_checker(checker, path)
    assert proc.returncode != 0
    assert "Dockerfile" in proc.stderr and "does not exist" in proc.stderr
