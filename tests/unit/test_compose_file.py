"""The production docker-compose.yml is valid Compose, and the checker refuses broken copies.

No Docker engine runs where these tests run, so the file is checked with
deploy/compose-check: a small Go program built on the compose-spec reference
loader (schema validation, interpolation, path resolution, consistency
checks) plus our own checks (Dockerfile paths exist, depends_on targets
exist). The `checker` fixture (conftest.py) builds it with the Go toolchain
(modules from the Go module proxy, pinned by deploy/compose-check/go.sum) into
.local/bin/compose-check and skips the rebuild when the binary is newer than
the sources.

Beside this file: no secret is committed (test_compose_secrets.py), every
mounted config file exists and the services scale (test_compose_services.py),
the Kafka security setup is wired and the Kafka init and start scripts do what
docs/production.md's ACL table says (test_kafka_auth.py), and Kafka keeps the
log (test_compose_kafka.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.compose_check import COMPOSE_FILE, EXPECTED_SERVICES, REPO_ROOT, listed_services, raw_model, run_checker

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


# --------------------------------------------------------------------------
# The checker rejects broken files
# --------------------------------------------------------------------------


def test_unmodified_copy_passes(checker: Path, tmp_project) -> None:
    """Control for the negative tests below."""
    proc = run_checker(checker, tmp_project(raw_model()))
    assert proc.returncode == 0, proc.stderr
    assert set(listed_services(proc.stdout)) == EXPECTED_SERVICES


def test_rejects_depends_on_unknown_service(checker: Path, tmp_project) -> None:
    model = raw_model()
    routing = model["services"]["routing"]
    routing["depends_on"] = {**routing["depends_on"], "ghost": {"condition": "service_started"}}
    proc = run_checker(checker, tmp_project(model))
    assert proc.returncode != 0
    assert "ghost" in proc.stderr
    assert "routing" in proc.stderr


def test_rejects_invalid_ports_type(checker: Path, tmp_project) -> None:
    model = raw_model()
    model["services"]["edge"]["ports"] = "not-a-list"
    proc = run_checker(checker, tmp_project(model))
    assert proc.returncode != 0
    assert "ports" in proc.stderr


def test_rejects_unknown_service_key(checker: Path, tmp_project) -> None:
    model = raw_model()
    model["services"]["metrics"] = {**model["services"]["metrics"], "restart_policy": "always"}
    proc = run_checker(checker, tmp_project(model))
    assert proc.returncode != 0
    assert "restart_policy" in proc.stderr


def test_rejects_missing_dockerfile(checker: Path, tmp_project, tmp_path: Path) -> None:
    path = tmp_project(raw_model())
    (tmp_path / "deploy" / "Dockerfile").unlink()
    proc = run_checker(checker, path)
    assert proc.returncode != 0
    assert "Dockerfile" in proc.stderr and "does not exist" in proc.stderr
