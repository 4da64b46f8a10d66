"""docker-compose.yml's services as Compose would run them: mounted files and scripts, the app
services scaling out behind the edge, the optional simulator, observability, the infrastructure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.unit.compose_check import (
    APP_SERVICES,
    KAFKA_BOOTSTRAP,
    KAFKA_DIR,
    KAFKA_NODES,
    KAFKA_PRINCIPALS,
    MONGO_MEMBERS,
    REPO_ROOT,
    raw_model,
)

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
