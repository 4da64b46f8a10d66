"""The production docker-compose.yml is valid Compose and wired as intended.

No Docker engine runs where these tests run, so the file is checked with
deploy/compose-check: a small Go program built on the compose-spec reference
loader (schema validation, interpolation, path resolution, consistency
checks) plus our own checks (Dockerfile paths exist, depends_on targets
exist). The test builds it with the Go toolchain (modules from the Go module
proxy, pinned by deploy/compose-check/go.sum) into .local/bin/compose-check
and skips the rebuild when the binary is newer than the sources.

On top of the checker: no secret is committed (every password is a required
`${VAR:?}` reference, listed empty in .env.example), every mounted config file
exists, the services scale (no fixed host port, no container name), the Kafka
and MongoDB security setup is wired, and the Kafka init and start scripts do
what docs/production.md's ACL table says (run against stub Kafka tools).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from hotline.contracts import topics

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


def _checker_is_fresh() -> bool:
    if not CHECKER_BIN.exists():
        return False
    built = CHECKER_BIN.stat().st_mtime
    sources = [*CHECKER_SRC.glob("*.go"), CHECKER_SRC / "go.mod", CHECKER_SRC / "go.sum"]
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
    """The model as Compose would run it (anchors merged, paths resolved,
    the dummy secrets interpolated; services behind a profile left out)."""
    proc = run_checker(checker, "-print", COMPOSE_FILE)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


# --------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Mounted files, scripts
# --------------------------------------------------------------------------


def test_every_mounted_file_exists(resolved: dict) -> None:
    binds = 0
    for name, svc in resolved["services"].items():
        for volume in svc.get("volumes", []):
            if volume["type"] == "bind":
                binds += 1
                source = Path(volume["source"])
                assert source.exists(), f"{name}: {source} does not exist"
                assert REPO_ROOT in source.parents, f"{name}: {source} is outside the repository"
                assert volume.get("read_only"), f"{name}: mount {source} read-only"
    assert binds >= 8


def test_scripts_parse() -> None:
    scripts = [KAFKA_DIR / "start.sh", KAFKA_DIR / "init.sh", REPO_ROOT / "deploy/compose/mongo-entrypoint.sh"]
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} is not executable"
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    # shellcheck is a Debian package; when present it must find nothing.
    if shutil.which("shellcheck"):
        proc = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout
    if shutil.which("node"):
        proc = subprocess.run(["node", "--check", str(REPO_ROOT / "deploy/compose/mongo-init.js")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------
# Services: scaling, health, wiring
# --------------------------------------------------------------------------


def test_app_services_scale_out_and_are_wired(resolved: dict) -> None:
    services = resolved["services"]
    for name, port in APP_SERVICES.items():
        svc = services[name]
        assert svc["command"] == ["serve", name]
        assert svc["restart"] == "unless-stopped"
        assert Path(svc["build"]["context"]) == REPO_ROOT
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        # Scalable: nothing that two replicas could not both have.
        assert "container_name" not in svc and "ports" not in svc and "hostname" not in svc
        assert svc["expose"] == [str(port)]
        env = svc["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == KAFKA_BOOTSTRAP
        assert env["KAFKA_ACKS"] == "all"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_USERNAME"] == name
        assert env["KAFKA_SASL_PASSWORD"] == f"dummy-kafka-{name}-password-0123456789"
        url = env["MONGODB_URL"]
        assert url.startswith(f"mongodb://{name}:dummy-mongo-{name}-password-0123456789@")
        assert url.endswith("authSource=admin&replicaSet=rs0")
        assert all(m in url for m in MONGO_MEMBERS)
        assert env["HTTP_HOST"] == "0.0.0.0"
        assert env[f"{name.upper()}_HTTP_PORT"] == str(port)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
        test = svc["healthcheck"]["test"]
        assert test[0] == "CMD" and "urllib" in " ".join(test)
        assert f"127.0.0.1:{port}/healthz" in " ".join(test)
        deps = {dep: cfg["condition"] for dep, cfg in svc["depends_on"].items()}
        assert deps == {
            **{node: "service_healthy" for node in KAFKA_NODES},
            "kafka-init": "service_completed_successfully",
            "topics": "service_completed_successfully",
            "mongo-init": "service_completed_successfully",
            "jaeger": "service_started",
        }
    assert services["intake"]["environment"]["INTAKE_REPEAT_SALT"] == "dummy-intake-repeat-salt-0123456789"


def test_only_edge_and_the_uis_publish_ports(resolved: dict) -> None:
    published = {
        name: sorted(int(p["published"]) for p in svc.get("ports", []))
        for name, svc in resolved["services"].items()
        if svc.get("ports")
    }
    assert published == {"edge": [8001, 8002, 8003, 8004], "jaeger": [16686], "prometheus": [9090],
                         "grafana": [3000]}
    for name in ("jaeger", "prometheus", "grafana"):
        assert all(p["host_ip"] == "127.0.0.1" for p in resolved["services"][name]["ports"])
    edge_conf = (REPO_ROOT / "deploy/compose/edge.conf").read_text()
    for name, port in APP_SERVICES.items():
        assert f"listen {port};" in edge_conf
        assert f"set $upstream {name}:{port};" in edge_conf
    # Resolved per request through Docker's DNS, so new replicas get traffic.
    assert "resolver 127.0.0.11" in edge_conf


def test_the_services_trust_x_forwarded_for_from_the_edge_network_only(resolved: dict) -> None:
    """uvicorn would take any loopback caller's X-Forwarded-For; here only the edge's counts, so the
    per-address limits see the caller: a network of the edge and the four services alone."""
    import ipaddress

    services = resolved["services"]
    subnet = resolved["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_network(subnet).is_private
    on_edge = {name for name, svc in services.items() if "edge" in (svc.get("networks") or {})}
    assert on_edge == {"edge", *APP_SERVICES}
    assert set(services["edge"]["networks"]) == {"edge"}
    for name in APP_SERVICES:
        assert services[name]["environment"]["HOTLINE_TRUSTED_PROXIES"] == subnet
        assert "default" in services[name]["networks"]  # Kafka, MongoDB, Jaeger, Prometheus
    edge_conf = (REPO_ROOT / "deploy/compose/edge.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in edge_conf


def test_simulator_is_an_optional_profile(resolved: dict) -> None:
    assert "simulator" not in resolved["services"]  # not started by a plain `up`
    sim = raw_model()["services"]["simulator"]
    assert sim["profiles"] == ["sim"]
    command = sim["command"]
    assert command[0] == "simulate"
    assert command[command.index("--followup-url") + 1] == "http://followup:8003"
    assert sim["environment"]["KAFKA_SASL_USERNAME"] == "simulator"
    assert sim["depends_on"]["followup"]["condition"] == "service_healthy"
    assert sim["build"] == raw_model()["services"]["intake"]["build"]


def test_observability_wiring(resolved: dict) -> None:
    services = resolved["services"]
    assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")
    assert {"4317", "4318"} <= set(services["jaeger"]["expose"])
    prometheus = services["prometheus"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    mounts = {v["target"]: Path(v["source"]) for v in prometheus["volumes"] if v["type"] == "bind"}
    assert mounts["/etc/prometheus/prometheus.yml"] == REPO_ROOT / "deploy/prometheus/prometheus.yml"
    grafana = services["grafana"]
    mounts = {v["target"]: Path(v["source"]) for v in grafana["volumes"] if v["type"] == "bind"}
    assert mounts["/etc/grafana/provisioning"] == REPO_ROOT / "deploy/grafana/provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == REPO_ROOT / "deploy/grafana/dashboards"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_infrastructure_shape(resolved: dict) -> None:
    services = resolved["services"]

    for number, node in enumerate(sorted(KAFKA_NODES), start=1):
        kafka = services[node]
        assert kafka["image"] == "apache/kafka:4.1.1"
        env = kafka["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_NODE_ID"] == str(number)
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"BROKER://{node}:9092"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka1:9093,2@kafka2:9093,3@kafka3:9093"
        assert env["KAFKA_GROUP_COORDINATOR_APPEND_LINGER_MS"] == "0"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert kafka["command"] == ["bash", "/opt/hotline/kafka/start.sh"]
        assert "healthcheck" in kafka and "--command-config" in " ".join(kafka["healthcheck"]["test"])
        assert [v["source"] for v in kafka["volumes"] if v["type"] == "volume"] == [f"{node}-data"]

    topics_job = services["topics"]
    assert topics_job["command"] == ["topics", "ensure"]
    assert {topics_job["depends_on"][node]["condition"] for node in KAFKA_NODES} == {"service_healthy"}
    assert topics_job["build"] == services["intake"]["build"]
    assert topics_job["environment"]["KAFKA_SASL_USERNAME"] == "admin"

    init = services["kafka-init"]
    assert init["command"] == ["bash", "/opt/hotline/kafka/init.sh"]
    assert {init["depends_on"][node]["condition"] for node in KAFKA_NODES} == {"service_healthy"}
    assert init["environment"]["KAFKA_BOOTSTRAP"] == KAFKA_BOOTSTRAP

    for member in MONGO_MEMBERS:
        svc = services[member]
        assert svc["image"].startswith("mongo:")
        assert int(svc["image"].split(":")[1].split(".")[0]) >= 7
        assert svc["command"][:3] == ["mongod", "--replSet", "rs0"]
        assert "--keyFile" in svc["command"]
        assert svc["entrypoint"] == ["bash", "/opt/hotline/mongo-entrypoint.sh"]
        assert svc["environment"]["MONGO_REPLICA_KEY"] == "dummy-mongo-replica-key-0123456789"
        assert "healthcheck" in svc
        assert any(v["type"] == "volume" and v["target"] == "/data/db" for v in svc["volumes"])
    assert "MONGO_INITDB_ROOT_PASSWORD" in services["mongo1"]["environment"]

    init = services["mongo-init"]
    assert "/opt/hotline/mongo-init.js" in init["command"]
    script = (REPO_ROOT / "deploy/compose/mongo-init.js").read_text()
    assert "rs.initiate" in script and "createUser" in script and "updateUser" in script
    for service in KAFKA_PRINCIPALS:
        assert f"MONGO_{service.upper()}_PASSWORD" in init["environment"]
        assert f"'{service}'" in script
    assert {d: c["condition"] for d, c in init["depends_on"].items()} == {
        m: "service_healthy" for m in MONGO_MEMBERS
    }

    assert {"kafka1-data", "kafka2-data", "kafka3-data", "mongo1-data", "mongo2-data", "mongo3-data", "prometheus-data",
            "grafana-data"} <= set(resolved["volumes"])


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
    proc, calls = run_init(tmp_path, KAFKA_UNIT_USERS="110111008:unit-secret-0123456789ab,m-housing:unit2-secret-0123456789")
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
    units = {(f"unit-{code}", "Read", resource, "literal", f"{kind}.{code}" if resource == "topic" else f"console-{code}")
             for code in ("110111008", "m-housing") for resource, kind in (("topic", "queue"), ("group", "console"))}
    assert added == set(acl_rules()) | units
    # One JVM start per principal, operation and pattern type, not one per rule.
    assert len([c for c in calls if c.startswith("kafka-acls.sh")]) == len({(r[0], r[1], r[3]) for r in acl_rules()}) + 2
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

