"""Kafka accepts only authenticated clients, and its users and ACLs are what docs/production.md's
table says: deploy/kafka/acls.tsv's shape, every service's subscriptions covered, and init.sh and
start.sh run against stub Kafka tools."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from hotline.contracts import topics
from tests.unit.compose_check import ACL_FILE, APP_SERVICES, KAFKA_DIR, KAFKA_NODES, KAFKA_PRINCIPALS


def test_kafka_accepts_only_authenticated_clients(resolved: dict) -> None:
    for node in KAFKA_NODES:
        _accepts_only_authenticated_clients(resolved["services"][node]["environment"])


def _accepts_only_authenticated_clients(env: dict) -> None:
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    listeners = {item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")}
    assert listeners == set(protocols)
    assert env["KAFKA_LISTENER_NAME_BROKER_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_SUPER_USERS"] == "User:admin;User:controller"


# --------------------------------------------------------------------------
# Kafka users and ACLs (deploy/kafka/acls.tsv, init.sh, start.sh)
# --------------------------------------------------------------------------


def acl_rules() -> list[tuple[str, str, str, str, str]]:
    rules = []
    for line in ACL_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            fields = line.split("\t")
            assert len(fields) == 5, f"acls.tsv: 5 tab-separated fields expected: {line!r}"
            rules.append(tuple(fields))
    return rules


def allows(rules, principal: str, operation: str, resource: str, name: str) -> bool:
    implied = {"Describe": {"Describe", "Read", "Write"}}.get(operation, {operation})
    return any(
        p == principal and op in implied and res == resource
        and (n == name if pattern == "literal" else name.startswith(n))
        for p, op, res, pattern, n in rules
    )


def test_acl_table_is_well_formed() -> None:
    rules = acl_rules()
    known_topics = {spec.name for spec in topics.core_topics()}
    assert {r[0] for r in rules} == KAFKA_PRINCIPALS
    for principal, operation, resource, pattern, name in rules:
        # init.sh passes names unquoted: they must not need quoting.
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name), name
        assert operation in {"Read", "Write", "Describe"}
        assert resource in {"topic", "group"} and pattern in {"literal", "prefixed"}
        if resource == "topic":
            assert name in known_topics or (pattern == "prefixed" and name == topics.QUEUE_PREFIX), name
        else:
            # A service's groups are `hotline-<service>.<topic>` (runtime/kafka.py batch_subscriber).
            assert (pattern, name) == ("prefixed", f"hotline-{principal}.")
    assert len(set(rules)) == len(rules), "duplicate ACL rule"
    # Only routing and followup write to unit queues; nobody but admin reads every queue except followup.
    assert {r[0] for r in rules if r[4] == topics.QUEUE_PREFIX and r[1] == "Write"} == {"routing", "followup"}
    assert not allows(rules, "metrics", "Write", "topic", "tickets.received")
    assert not allows(rules, "intake", "Read", "topic", "queue.110111008")


def _subscriptions(service: str) -> list[tuple[str, str]]:
    """(topic, group) of every subscriber the service registers, as built by its main.py."""
    import importlib

    from hotline.runtime import service as runtime_service

    captured = {}
    original = runtime_service.ServiceRuntime.create.__func__

    def create(cls, name, settings, **options):
        captured[name] = original(cls, name, settings, **options)
        return captured[name]

    module = importlib.import_module(f"hotline.{service}.main")
    settings_module = importlib.import_module(f"hotline.{service}.settings")
    settings_cls = getattr(settings_module, f"{service.capitalize()}Settings")
    # The production topic names: no test prefix; followup with the simulator's clock too.
    settings = settings_cls(topic_prefix="", business_clock="log") if service == "followup" else settings_cls(
        topic_prefix="")
    runtime_service.ServiceRuntime.create = classmethod(create)
    try:
        module.build_app(settings)
    finally:
        runtime_service.ServiceRuntime.create = classmethod(original)
    subs = captured[service].broker.subscribers
    return [(topic, sub.group_id) for sub in subs for topic in sub.topic_names]


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_acls_cover_every_subscription(service: str) -> None:
    """Each topic a service consumes, and its group, is readable by its principal."""
    rules = acl_rules()
    subscriptions = _subscriptions(service)
    assert subscriptions
    for topic, group in subscriptions:
        assert allows(rules, service, "Read", "topic", topic), f"{service} cannot read {topic}"
        assert allows(rules, service, "Read", "group", group), f"{service} cannot use group {group}"
        assert not any(allows(rules, other, "Read", "group", group) for other in KAFKA_PRINCIPALS - {service})


def _stub_tool(path: Path, log: Path) -> None:
    path.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$(basename "$0") $*" >> {log}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


PASSWORDS = {f"KAFKA_{p.upper()}_PASSWORD": f"{p}-secret-0123456789abcdef" for p in KAFKA_PRINCIPALS | {"admin"}}


def run_init(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    log.unlink(missing_ok=True)
    for tool in ("kafka-configs.sh", "kafka-acls.sh"):
        _stub_tool(bin_dir / tool, log)
    full_env = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(bin_dir), "KAFKA_BOOTSTRAP": "kafka:9092",
                "ACL_FILE": str(ACL_FILE), **PASSWORDS, **env}
    proc = subprocess.run(["bash", str(KAFKA_DIR / "init.sh")], env=full_env, capture_output=True, text=True,
                          timeout=60)
    return proc, (log.read_text().splitlines() if log.exists() else [])


def test_kafka_init_creates_users_and_acls(tmp_path: Path) -> None:
    proc, calls = run_init(
        tmp_path, KAFKA_UNIT_USERS="110111008:unit-secret-0123456789ab,m-housing:unit2-secret-0123456789")
    assert proc.returncode == 0, proc.stderr
    configs = [c for c in calls if c.startswith("kafka-configs.sh")]
    users = [c.split("--entity-name ")[1].split()[0] for c in configs]
    assert sorted(users) == sorted([*KAFKA_PRINCIPALS, "unit-110111008", "unit-m-housing"])
    assert all("SCRAM-SHA-512=[iterations=8192,password=" in c for c in configs)
    assert all("--command-config" in c and "--bootstrap-server kafka:9092" in c for c in calls)

    # The calls add exactly the rules of acls.tsv, plus each unit's own queue and group.
    added = set()
    for call in (c for c in calls if c.startswith("kafka-acls.sh")):
        principal = re.search(r"--allow-principal User:(\S+)", call).group(1)
        operation = re.search(r"--operation (\S+)", call).group(1)
        pattern = re.search(r"--resource-pattern-type (\S+)", call).group(1)
        for resource, name in re.findall(r"--(topic|group) (\S+)", call):
            added.add((principal, operation, resource, pattern, name))
    units = {(f"unit-{code}", "Read", resource, "literal",
              f"{kind}.{code}" if resource == "topic" else f"console-{code}")
             for code in ("110111008", "m-housing") for resource, kind in (("topic", "queue"), ("group", "console"))}
    assert added == set(acl_rules()) | units
    # One JVM start per principal, operation and pattern type, not one per rule.
    assert len([c for c in calls if c.startswith("kafka-acls.sh")]) == \
        len({(r[0], r[1], r[3]) for r in acl_rules()}) + 2
    # No password reaches the job's output.
    for secret in [*PASSWORDS.values(), "unit-secret-0123456789ab"]:
        assert secret not in proc.stdout + proc.stderr


def test_kafka_init_applies_the_topic_prefix(tmp_path: Path) -> None:
    proc, calls = run_init(tmp_path, HOTLINE_TOPIC_PREFIX="staging-")
    assert proc.returncode == 0, proc.stderr
    acls = [c for c in calls if c.startswith("kafka-acls.sh")]
    assert any("--group staging-hotline-intake. --resource-pattern-type prefixed" in c for c in acls)
    assert all(re.search(r"--(topic|group) staging-", c) for c in acls)


@pytest.mark.parametrize("env", [
    {"KAFKA_ROUTING_PASSWORD": ""},
    {"KAFKA_ROUTING_PASSWORD": "short"},
    {"KAFKA_ROUTING_PASSWORD": 'quote"breaks-jaas-0123456789'},
    {"KAFKA_UNIT_USERS": "110111008"},
    {"KAFKA_UNIT_USERS": "110111008:short"},
])
def test_kafka_init_refuses_bad_credentials(tmp_path: Path, env: dict[str, str]) -> None:
    proc, calls = run_init(tmp_path, **env)
    assert proc.returncode == 2
    assert not any(c.startswith("kafka-acls.sh") for c in calls) or "KAFKA_UNIT_USERS" in env


def test_kafka_start_renders_a_sasl_broker(tmp_path: Path, resolved: dict) -> None:
    home = tmp_path / "kafka"
    (home / "bin").mkdir(parents=True)
    log = tmp_path / "calls.log"
    for tool in ("kafka-storage.sh", "kafka-server-start.sh"):
        _stub_tool(home / "bin" / tool, log)
    conf = tmp_path / "conf"
    broker_env = {k: v for k, v in resolved["services"]["kafka1"]["environment"].items()}
    admin, controller = "admin-secret-0123456789abcdef", "ctrl-secret-0123456789abcdef"
    broker_env.update(BROKER_ADMIN_PASSWORD=admin, BROKER_CONTROLLER_PASSWORD=controller)
    env = {"PATH": os.environ["PATH"], "KAFKA_HOME": str(home), "HOTLINE_KAFKA_CONF_DIR": str(conf), **broker_env}
    proc = subprocess.run(["bash", str(KAFKA_DIR / "start.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert admin not in proc.stdout + proc.stderr and controller not in proc.stdout + proc.stderr

    props = dict(
        line.split("=", 1) for line in (conf / "server.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert props["listener.name.broker.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["group.coordinator.append.linger.ms"] == "0"
    assert f'password="{admin}"' in props["listener.name.broker.scram-sha-512.sasl.jaas.config"]
    assert f'user_controller="{controller}"' in props["listener.name.controller.plain.sasl.jaas.config"]
    assert "heap.opts" not in props and "admin.password" not in props
    for name in ("server.properties", "admin.properties"):
        assert stat.S_IMODE((conf / name).stat().st_mode) == 0o600

    calls = log.read_text().splitlines()
    assert calls[0].startswith(f"kafka-storage.sh format --cluster-id {broker_env['CLUSTER_ID']}")
    assert "--ignore-formatted" in calls[0]
    assert f"--add-scram SCRAM-SHA-512=[name=admin,password={admin}]" in calls[0]
    assert calls[1] == f"kafka-server-start.sh {conf / 'server.properties'}"


def test_kafka_start_refuses_a_weak_password(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "CLUSTER_ID": "x", "BROKER_ADMIN_PASSWORD": "short",
           "BROKER_CONTROLLER_PASSWORD": "ctrl-secret-0123456789abcdef", "HOTLINE_KAFKA_CONF_DIR": str(tmp_path)}
    proc = subprocess.run(["bash", str(KAFKA_DIR / "start.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "BROKER_ADMIN_PASSWORD" in proc.stderr
