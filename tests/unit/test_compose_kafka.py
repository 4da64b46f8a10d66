"""deploy/compose-check refuses a Compose file whose Kafka does not keep the log
(deploy/compose-check/kafka.go; docs/production.md "Kafka"): each test writes a modified copy of
docker-compose.yml and expects the check to fail, naming the problem. The unmodified copy passing
is tests/unit/test_compose_file.py::test_unmodified_copy_passes."""

import subprocess
from pathlib import Path

import pytest
import yaml

# The checker binary and the copy-writing fixture (`checker`, `tmp_project`) are conftest.py's.
from tests.unit.compose_check import KAFKA_NODES, REPO_ROOT, raw_model, run_checker


def _with_env(model: dict, service: str, **env: str | None) -> dict:
    """The model with these environment entries set (None: removed) on one service, no mapping shared."""
    svc = model["services"][service]
    merged = {**svc["environment"], **env}
    svc["environment"] = {k: v for k, v in merged.items() if v is not None}
    return model


def _one_broker(model: dict) -> dict:
    """Back to the single broker of old: kafka1 alone, its own quorum, everything pointed at it."""
    for node in ("kafka2", "kafka3"):
        del model["services"][node]
        del model["volumes"][f"{node}-data"]
    for svc in model["services"].values():
        if "depends_on" in svc:
            svc["depends_on"] = {k: v for k, v in svc["depends_on"].items() if k not in ("kafka2", "kafka3")}
        for key in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP"):
            if key in (svc.get("environment") or {}):
                svc["environment"] = {**svc["environment"], key: "kafka1:9092"}
    return _with_env(model, "kafka1", KAFKA_CONTROLLER_QUORUM_VOTERS="1@kafka1:9093")


def _shared_volume(model: dict) -> dict:
    kafka2 = model["services"]["kafka2"]
    kafka2["volumes"] = ["kafka1-data:/var/lib/kafka/data", "./deploy/kafka:/opt/hotline/kafka:ro"]
    return model


KAFKA_BREAKAGES = {
    "one broker": (_one_broker, ["1 broker(s)", "1 KRaft controller(s)", "names 1 voter(s)"]),
    "7-day retention": (lambda m: _with_env(m, "kafka2", KAFKA_LOG_RETENTION_MS="604800000"),
                        ['service "kafka2": KAFKA_LOG_RETENTION_MS must be "-1"']),
    "Kafka's default retention": (lambda m: _with_env(m, "kafka3", KAFKA_LOG_RETENTION_MS=None,
                                                      KAFKA_LOG_RETENTION_BYTES=None),
                                  ['service "kafka3": KAFKA_LOG_RETENTION_MS must be "-1" (it is "")',
                                   'service "kafka3": KAFKA_LOG_RETENTION_BYTES must be "-1"']),
    "retention in hours": (lambda m: _with_env(m, "kafka1", KAFKA_LOG_RETENTION_HOURS="168"),
                           ['service "kafka1": KAFKA_LOG_RETENTION_HOURS is "168"']),
    "replication factor 1": (lambda m: _with_env(m, "kafka1", KAFKA_DEFAULT_REPLICATION_FACTOR="1",
                                                 KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1"),
                             ['service "kafka1": KAFKA_DEFAULT_REPLICATION_FACTOR is 1; at least 3',
                              'service "kafka1": KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR is 1']),
    "min ISR 1": (lambda m: _with_env(m, "kafka2", KAFKA_MIN_INSYNC_REPLICAS="1",
                                      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1"),
                  ['service "kafka2": KAFKA_MIN_INSYNC_REPLICAS is 1; at least 2',
                   'service "kafka2": KAFKA_TRANSACTION_STATE_LOG_MIN_ISR is 1']),
    "min ISR equal to the factor": (lambda m: _with_env(m, "kafka1", KAFKA_MIN_INSYNC_REPLICAS="3"),
                                    ["must be below KAFKA_DEFAULT_REPLICATION_FACTOR 3"]),
    "unclean election": (lambda m: _with_env(m, "kafka3", KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE="true"),
                         ['service "kafka3": KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE must be "false"']),
    "a quorum of two": (lambda m: _with_env(m, "kafka1", KAFKA_CONTROLLER_QUORUM_VOTERS="1@kafka1:9093,2@kafka2:9093"),
                        ["names 2 voter(s)", 'service "kafka3": a controller that is not in',
                         'service "kafka2": KAFKA_CONTROLLER_QUORUM_VOTERS "1@kafka1:9093,2@kafka2:9093,3@kafka3:9093" differs']),
    "a voter that is no node": (lambda m: [_with_env(m, n, KAFKA_CONTROLLER_QUORUM_VOTERS="1@kafka1:9093,2@kafka2:9093,4@kafka4:9093")
                                           for n in KAFKA_NODES][0],
                                ["no controller service has KAFKA_NODE_ID 4",
                                 'service "kafka3": a controller that is not in KAFKA_CONTROLLER_QUORUM_VOTERS']),
    "duplicate node id": (lambda m: _with_env(m, "kafka3", KAFKA_NODE_ID="2"), ["KAFKA_NODE_ID 2 is also the id of"]),
    "shared data volume": (_shared_volume, ['service "kafka2": data volume "kafka1-data" is also "kafka1"\'s']),
    "a bootstrap without kafka3": (lambda m: _with_env(m, "routing", KAFKA_BOOTSTRAP_SERVERS="kafka1:9092,kafka2:9092"),
                                   ['service "routing": KAFKA_BOOTSTRAP_SERVERS "kafka1:9092,kafka2:9092" does not list broker kafka3:9092']),
    "acks 1": (lambda m: _with_env(m, "intake", KAFKA_ACKS="1"), ['service "intake": KAFKA_ACKS must be "all"']),
    "acks unset": (lambda m: _with_env(m, "metrics", KAFKA_ACKS=None), ['service "metrics": KAFKA_ACKS must be "all"']),
    "topics at replication 1": (lambda m: _with_env(m, "topics", KAFKA_REPLICATION_FACTOR="1", KAFKA_MIN_INSYNC_REPLICAS="1"),
                                ['service "topics": KAFKA_REPLICATION_FACTOR must be at least 3',
                                 'service "topics": KAFKA_MIN_INSYNC_REPLICAS must be at least 2']),
}


@pytest.mark.parametrize("breakage", sorted(KAFKA_BREAKAGES))
def test_rejects_a_kafka_that_does_not_keep_the_log(checker: Path, tmp_project, breakage: str) -> None:
    """Each edit that would lose a broker's worth of records, or history, fails the check, naming it."""
    mutate, expected = KAFKA_BREAKAGES[breakage]
    proc = run_checker(checker, tmp_project(mutate(raw_model())))
    assert proc.returncode == 1, proc.stdout
    for message in expected:
        assert message in proc.stderr, proc.stderr


def test_the_old_single_broker_file_fails(checker: Path, tmp_project) -> None:
    """The compose file as it was before three brokers (git history) fails on every count."""
    old = subprocess.run(["git", "show", "4bf104e:docker-compose.yml"], cwd=REPO_ROOT, capture_output=True, text=True)
    if old.returncode != 0:
        pytest.skip("the old revision is not in this clone's history")
    proc = run_checker(checker, tmp_project(yaml.safe_load(old.stdout)))
    assert proc.returncode == 1
    for message in ("1 broker(s)", "KAFKA_DEFAULT_REPLICATION_FACTOR is 1", 'KAFKA_LOG_RETENTION_MS must be "-1"',
                    'KAFKA_ACKS must be "all"', 'service "topics": KAFKA_REPLICATION_FACTOR must be at least 3'):
        assert message in proc.stderr, proc.stderr
