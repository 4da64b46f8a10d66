"""Prometheus and Grafana provisioning of docker-compose.yml, checked without running them.

- deploy/prometheus/prometheus.yml parses, scrapes each of the four services on
  its /metrics through DNS service discovery (so scaled replicas are scraped),
  and adds no `service` target label (which would rename the services' own).
- deploy/grafana/provisioning: one Prometheus data source with a fixed uid; a
  dashboard provider whose path is where docker-compose.yml mounts the JSON.
- deploy/grafana/dashboards/hotline.json: valid JSON, unique panel ids, every
  panel and target on the provisioned data source, and every query parsed by
  Prometheus' own PromQL parser (deploy/prometheus/promql-check, a small Go
  program built here like deploy/compose-check) naming only metrics the
  services export (docs/operations.md) or FastStream's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = REPO_ROOT / "deploy" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources"
PROVIDERS = GRAFANA / "provisioning" / "dashboards"
DASHBOARD = GRAFANA / "dashboards" / "hotline.json"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
CHECKER_SRC = REPO_ROOT / "deploy" / "prometheus" / "promql-check"
CHECKER_BIN = REPO_ROOT / ".local" / "bin" / "promql-check"
BUILD_TIMEOUT_S = 900  # a cold module cache downloads about 20 MB of modules

SERVICES = {"intake": 8001, "routing": 8002, "followup": 8003, "metrics": 8004}

# The metrics the services export (names fixed with the /metrics work of issue #7).
HOTLINE_METRICS = {
    "hotline_events_processed_total",
    "hotline_consumer_lag",
    "hotline_dead_letters_total",
    "hotline_deadline_breaches_total",
    "hotline_overdue_tickets",
    "hotline_open_tickets",
    "hotline_ranking_freshness_seconds_bucket",
}
# FastStream's Kafka Prometheus middleware (faststream.prometheus, prefix `faststream`).
FASTSTREAM_METRIC = re.compile(r"faststream_(received|published)_[a-z_]+")
# Grafana's variables, replaced by a value the PromQL parser accepts.
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


# --------------------------------------------------------------------------
# Prometheus
# --------------------------------------------------------------------------


def test_prometheus_scrapes_every_replica_of_every_service() -> None:
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    assert config["global"]["scrape_interval"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert len(jobs) == len(config["scrape_configs"]), "duplicate job_name"
    for service, port in SERVICES.items():
        job = jobs[service]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        assert job.get("scheme", "http") == "http"
        # DNS discovery, not a fixed target: Docker's DNS returns one A record per replica.
        assert "static_configs" not in job
        [sd] = job["dns_sd_configs"]
        assert sd == {"names": [service], "type": "A", "port": port, "refresh_interval": "15s"}
        for relabel in job.get("relabel_configs", []):
            assert relabel.get("target_label") != "service", "would rename the services' own `service` label"
        assert not job.get("honor_labels"), "targets must not override job/instance"


def test_prometheus_config_is_the_one_compose_mounts() -> None:
    compose = COMPOSE_FILE.read_text()
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in compose
    assert "--config.file=/etc/prometheus/prometheus.yml" in compose


# --------------------------------------------------------------------------
# Grafana provisioning
# --------------------------------------------------------------------------


def provisioned_datasources() -> list[dict]:
    sources = []
    for path in sorted(DATASOURCES.glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text())
        assert doc["apiVersion"] == 1, path
        sources += doc["datasources"]
    return sources


def test_one_prometheus_datasource_with_a_fixed_uid() -> None:
    [source] = provisioned_datasources()
    assert source["type"] == "prometheus"
    assert source["uid"] == "hotline-prometheus"
    # The Compose service name and Prometheus' port.
    assert source["url"] == "http://prometheus:9090"
    assert source["access"] == "proxy"
    assert source["isDefault"] is True


def test_dashboard_provider_reads_where_compose_mounts_the_dashboards() -> None:
    [path] = list(PROVIDERS.glob("*.y*ml"))
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == 1
    [provider] = doc["providers"]
    assert provider["type"] == "file"
    mount = provider["options"]["path"]
    compose = COMPOSE_FILE.read_text()
    assert f"./deploy/grafana/dashboards:{mount}:ro" in compose
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in compose


# --------------------------------------------------------------------------
# The dashboard
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def all_panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels += panel.get("panels", [])  # collapsed rows keep theirs inside
    return panels


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expr) of every Prometheus target."""
    return [(p["title"], t["expr"]) for p in all_panels(dashboard) for t in p.get("targets", [])]


def test_dashboard_is_well_formed(dashboard: dict) -> None:
    assert dashboard["uid"] and dashboard["title"]
    assert "id" not in dashboard or dashboard["id"] is None  # provisioning assigns it
    panels = all_panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["type"] in {"row", "timeseries", "stat", "table", "gauge", "bargauge"}, panel["type"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]


def test_every_panel_uses_the_provisioned_datasource(dashboard: dict) -> None:
    [source] = provisioned_datasources()
    expected = {"type": "prometheus", "uid": source["uid"]}
    for panel in all_panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == expected, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == expected


def _checker_is_fresh() -> bool:
    if not CHECKER_BIN.exists():
        return False
    built = CHECKER_BIN.stat().st_mtime
    return all((CHECKER_SRC / n).stat().st_mtime < built for n in ("main.go", "go.mod", "go.sum"))


@pytest.fixture(scope="session")
def promql_check() -> Path:
    if _checker_is_fresh():
        return CHECKER_BIN
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain ('go', >= 1.26.7) is needed to build deploy/prometheus/promql-check, "
                    "which checks the dashboard's PromQL; this test must not be skipped.", pytrace=False)
    CHECKER_BIN.parent.mkdir(parents=True, exist_ok=True)
    tmp_bin = CHECKER_BIN.with_name(f"{CHECKER_BIN.name}.tmp-{os.getpid()}")
    cmd = [go, "build", "-mod=readonly", "-buildvcs=false", "-o", str(tmp_bin), "."]
    try:
        proc = subprocess.run(cmd, cwd=CHECKER_SRC, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"building promql-check took longer than {BUILD_TIMEOUT_S}s", pytrace=False)
    if proc.returncode != 0:
        tmp_bin.unlink(missing_ok=True)
        pytest.fail(f"building promql-check failed ({' '.join(cmd)} in {CHECKER_SRC}):\n{proc.stdout}{proc.stderr}",
                    pytrace=False)
    os.replace(tmp_bin, CHECKER_BIN)
    return CHECKER_BIN


def parse(checker: Path, exprs: list[str]) -> list[dict]:
    for name, value in GRAFANA_INTERVALS.items():
        exprs = [e.replace(name, value) for e in exprs]
    proc = subprocess.run([str(checker)], input=json.dumps(exprs), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_promql_check_rejects_a_broken_query(promql_check: Path) -> None:
    """Control: the checker really parses."""
    [bad, good] = parse(promql_check, ["sum(rate(hotline_open_tickets[5m]", 'rate(x_total{a="$service"}[$__rate_interval])'])
    assert "parse error" in bad["error"]
    assert good["error"] == "" and good["metrics"] == ["x_total"]


def test_every_query_parses_and_names_known_metrics(dashboard: dict, promql_check: Path) -> None:
    found = queries(dashboard)
    results = parse(promql_check, [expr for _, expr in found])
    used = set()
    for (title, expr), result in zip(found, results, strict=True):
        assert result["error"] == "", f"{title}: {expr}: {result['error']}"
        assert result["metrics"], f"{title}: {expr} selects no metric"
        for metric in result["metrics"]:
            assert metric in HOTLINE_METRICS or FASTSTREAM_METRIC.fullmatch(metric), f"{title}: unknown {metric}"
            used.add(metric)
    # Every metric of the list is on the dashboard, and FastStream's throughput both ways.
    assert HOTLINE_METRICS <= used, sorted(HOTLINE_METRICS - used)
    assert {"faststream_received_messages_total", "faststream_published_messages_total"} <= used


def test_histogram_is_read_with_quantiles(dashboard: dict) -> None:
    freshness = [expr for _, expr in queries(dashboard) if "hotline_ranking_freshness_seconds" in expr]
    assert freshness
    for expr in freshness:
        assert "_bucket" in expr and expr.startswith("histogram_quantile(")
        assert "by (le)" in expr.replace(" ", " ")


def test_template_variable_is_defined(dashboard: dict) -> None:
    names = {v["name"] for v in dashboard["templating"]["list"]}
    for _, expr in queries(dashboard):
        for var in re.findall(r"\$(\w+)", expr):
            if not var.startswith("__"):
                assert var in names, f"${var} used but not defined"
