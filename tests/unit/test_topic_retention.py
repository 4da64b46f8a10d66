"""What each topic class keeps, and the settings that decide replication, min ISR and acks
(docs/production.md "Kafka"). The broker side is tests/integration/test_topic_retention.py."""

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from hotline.contracts import topics
from hotline.contracts.topics import TopicClass
from hotline.runtime.settings import ServiceSettings
from hotline.runtime.topic_admin import DAY_MS, TopicPolicy, _writable
from hotline.topic_report import retention_text, summary
from hotline.topology import all_topic_specs

REPO_ROOT = Path(__file__).resolve().parents[2]
# The topics the projections, a metrics rebuild and a replay are rebuilt from.
LOG_TOPICS = {topics.RAW, topics.CALLBACKS, topics.CLOCK, topics.DLQ, topics.TICKETS_RECEIVED,
              topics.TICKETS_DISPATCHED, topics.TICKETS_FOLLOWUP, topics.TICKETS_ROUTING,
              topics.ROUTING_COMMANDS, topics.FOLLOWUP_COMMANDS}


def test_every_hotline_tickets_and_command_topic_is_log_class_and_only_queues_are_not():
    specs = all_topic_specs("p-")
    by_kind = {kind: {s.name.removeprefix("p-") for s in specs if s.kind is kind} for kind in TopicClass}
    assert by_kind[TopicClass.LOG] == LOG_TOPICS
    assert by_kind[TopicClass.QUEUE] and all(n.startswith(topics.QUEUE_PREFIX) for n in by_kind[TopicClass.QUEUE])
    # The prefix keeps the class (a test space or staging gets production's retention).
    assert topics.TopicSpec("x", 1).kind is TopicClass.LOG
    assert topics.queue_topics(["110111008"])[0].prefixed("p-") == topics.TopicSpec("p-queue.110111008", 1,
                                                                                    TopicClass.QUEUE)


def test_log_topics_keep_everything_whatever_the_settings():
    for days in (0, 1, 60):
        policy = TopicPolicy.from_settings(ServiceSettings(kafka_queue_retention_days=days))
        assert policy.configs(TopicClass.LOG) == {"retention.ms": "-1", "retention.bytes": "-1",
                                                   "min.insync.replicas": "1",
                                                   "unclean.leader.election.enable": "false"}


def test_queue_retention_defaults_to_sixty_days_and_zero_keeps_for_ever():
    assert TopicPolicy.from_settings(ServiceSettings()).configs(TopicClass.QUEUE)["retention.ms"] == str(60 * DAY_MS)
    assert TopicPolicy().queue_retention_ms == 60 * DAY_MS
    assert TopicPolicy.from_settings(ServiceSettings(kafka_queue_retention_days=0)).queue_retention_ms == -1
    assert TopicPolicy.from_settings(ServiceSettings(kafka_queue_retention_days=0.5)).queue_retention_ms == DAY_MS // 2
    with pytest.raises(ValidationError, match="kafka_queue_retention_days"):
        ServiceSettings(kafka_queue_retention_days=-1)


def test_replication_and_min_insync_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("KAFKA_MIN_INSYNC_REPLICAS", "2")
    policy = TopicPolicy.from_settings(ServiceSettings())
    assert (policy.replication_factor, policy.min_insync_replicas) == (3, 2)
    assert policy.configs(TopicClass.QUEUE)["min.insync.replicas"] == "2"
    # Locally (no variables): one replica, as the single local broker has.
    monkeypatch.delenv("KAFKA_REPLICATION_FACTOR")
    monkeypatch.delenv("KAFKA_MIN_INSYNC_REPLICAS")
    assert TopicPolicy.from_settings(ServiceSettings()) == TopicPolicy()


def test_a_min_insync_above_the_replication_factor_is_refused():
    with pytest.raises(ValidationError, match=r"kafka_min_insync_replicas \(2\) exceeds kafka_replication_factor \(1\)"):
        ServiceSettings(kafka_min_insync_replicas=2)


def test_producers_wait_for_all_replicas_and_nothing_less_is_accepted(monkeypatch):
    assert ServiceSettings().kafka_acks == "all"
    assert ServiceSettings().kafka_producer_options()["acks"] == "all"
    monkeypatch.setenv("KAFKA_ACKS", "1")
    with pytest.raises(ValidationError, match="kafka_acks"):
        ServiceSettings()


def test_every_producer_in_the_product_takes_its_acks_from_the_settings():
    """No AIOKafkaProducer or KafkaBroker in src/ or services/ states its own acks other than
    from ServiceSettings (kafka_acks / kafka_producer_options) or as "all"."""
    calls = 0
    for path in [*REPO_ROOT.glob("src/hotline/**/*.py"), *REPO_ROOT.glob("services/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
                    in ("AIOKafkaProducer", "KafkaBroker")):
                continue
            if path.name == "asyncapi.py":
                continue  # a document's broker, never connected
            calls += 1
            source = ast.unparse(node)
            acks = [k for k in node.keywords if k.arg == "acks"]
            assert ("kafka_producer_options()" in source or "'acks': 'all'" in source
                    or (acks and ast.unparse(acks[0].value) in ("settings.kafka_acks", "'all'"))), f"{path}: {source}"
    assert calls >= 6


def test_an_existing_topic_with_too_few_replicas_keeps_a_min_insync_it_can_meet():
    configs = TopicPolicy(replication_factor=3, min_insync_replicas=2).configs(TopicClass.LOG)
    assert _writable(configs, 1)["min.insync.replicas"] == "1"
    assert _writable(configs, 3)["min.insync.replicas"] == "2"
    assert _writable(configs, None) == configs


def test_topics_ensure_states_each_class():
    specs = all_topic_specs()
    lines = summary(specs, TopicPolicy(replication_factor=3, min_insync_replicas=2))
    assert lines[0].split()[:3] == ["log", "10", "topics:"]
    assert "retention unlimited (retention.ms=-1, retention.bytes=-1)" in lines[0]
    assert "replication factor 3, min.insync.replicas 2" in lines[0]
    assert lines[1].split()[0] == "queue" and "retention 60 days (retention.ms=5184000000" in lines[1]
    assert (retention_text("-1"), retention_text(str(30 * DAY_MS)), retention_text("1234")) == (
        "unlimited", "30 days", "1234 ms")
