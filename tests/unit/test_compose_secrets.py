"""docker-compose.yml commits no secret: every password is a required `${VAR:?}` reference,
listed empty in .env.example, and Compose refuses to start without them."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.compose_check import (
    ANY_VAR,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    REQUIRED_VAR,
    SECRET_NAME,
    compose_text,
    raw_model,
    required_vars,
    run_checker,
    secret_env,
)


def test_compose_refuses_to_start_without_its_secrets(checker: Path) -> None:
    names = required_vars()
    assert {"KAFKA_ADMIN_PASSWORD", "MONGO_ROOT_PASSWORD", "MONGO_REPLICA_KEY", "GRAFANA_ADMIN_PASSWORD",
            "INTAKE_REPEAT_SALT"} <= names
    env = {k: v for k, v in secret_env().items() if k not in names}
    proc = run_checker(checker, COMPOSE_FILE, env=env)
    assert proc.returncode != 0
    for name in names:
        assert f"required variable {name} is missing a value" in proc.stderr, name
    # An empty value counts as missing (`:?`, not `?`), so .env.example's blanks cannot start a stack.
    proc = run_checker(checker, COMPOSE_FILE, env=secret_env(KAFKA_ADMIN_PASSWORD=""))
    assert proc.returncode != 0
    assert "KAFKA_ADMIN_PASSWORD" in proc.stderr


def _environments(model: dict):
    for name, svc in model["services"].items():
        env = svc.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use the mapping form of environment"
        for key, value in env.items():
            yield name, key, str(value)


def test_no_secret_is_committed() -> None:
    """Every secret-looking value is a required variable reference (or an empty
    default), and no value anywhere embeds a credential literally."""
    for service, key, value in _environments(raw_model()):
        if SECRET_NAME.search(key):
            refs = ANY_VAR.findall(value)
            assert refs and ANY_VAR.fullmatch(value), f"{service}.{key} must be a ${{VAR}} reference"
            m = re.fullmatch(r"\$\{[A-Z0-9_]+(:?)([-?])?(.*)\}", value)
            assert m is not None
            assert m.group(2) == "?" or m.group(3) == "", f"{service}.{key} has a default: {value}"
        # A URL's userinfo password must come from a required variable too.
        for user_info in re.findall(r"://([^@/]+)@", value):
            _user, _, password = user_info.partition(":")
            assert REQUIRED_VAR.fullmatch(password), f"{service}.{key}: literal password in URL"
    text = compose_text()
    assert not re.search(r"(?i)password\s*[:=]\s*['\"]?[A-Za-z0-9]{6,}", text.replace("PASSWORD: ${", ""))


def test_env_example_lists_every_variable_without_secrets() -> None:
    example: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, line
            example[key.strip()] = value.strip()
    used = set(ANY_VAR.findall(compose_text()))
    assert used <= set(example), f"missing from .env.example: {sorted(used - set(example))}"
    assert set(example) <= used, f"not used by docker-compose.yml: {sorted(set(example) - used)}"
    for key, value in example.items():
        if SECRET_NAME.search(key):
            assert value == "", f".env.example must not hold a value for {key}"
    # Every required variable is blank there, so a copy must be filled in before use.
    assert all(example[name] == "" for name in required_vars())
