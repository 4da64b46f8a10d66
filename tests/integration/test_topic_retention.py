"""`hotline topics ensure` on the real local broker: each topic class gets its retention set on the
topic itself (the log unlimited, unit queues 60 days), an existing topic converges to it, and a
cluster that cannot hold the settings (one broker, three replicas wanted) fails the command."""

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from typer.testing import CliRunner

from hotline.cli import app
from hotline.contracts import topics
from hotline.devkit import Namespace
from hotline.runtime.kafka import ensure_topics_report
from hotline.runtime.topic_admin import DAY_MS, DYNAMIC_TOPIC_CONFIG, TopicPolicy, describe_configs

pytestmark = pytest.mark.stack

UNIT = "110111008"  # 良乡地区, Fangshan
SIXTY_DAYS_MS = str(60 * DAY_MS)


async def _configs(kafka: str, names: list[str]) -> dict[str, dict[str, tuple[str, int]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        return await describe_configs(admin, names)
    finally:
        await admin.close()


async def test_topics_ensure_states_and_sets_each_class_retention(namespace):
    prefix = namespace.prefix
    # In a thread: the command runs its own event loop, as from a shell.
    result = await asyncio.to_thread(CliRunner().invoke, app, ["topics", "ensure", "--prefix", prefix])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("topics: ") and "reconfigured" in lines[0], result.output
    log_line = next(line for line in lines if line.split()[:1] == ["log"])
    queue_line = next(line for line in lines if line.split()[:1] == ["queue"])
    assert "retention unlimited (retention.ms=-1, retention.bytes=-1)" in log_line
    assert f"retention 60 days (retention.ms={SIXTY_DAYS_MS}, retention.bytes=-1)" in queue_line
    assert "replication factor 1, min.insync.replicas 1" in log_line  # the local stack's one broker
    assert lines[-1].startswith("verified: all")

    log_topics = [prefix + name for name in (topics.TICKETS_RECEIVED, topics.TICKETS_FOLLOWUP, topics.RAW,
                                             topics.ROUTING_COMMANDS, topics.FOLLOWUP_COMMANDS)]
    queue = prefix + topics.queue_topic(UNIT)
    found = await _configs(namespace.kafka, [*log_topics, queue])
    for name in log_topics:
        # Set on the topic itself, not inherited from the broker's default.
        assert found[name]["retention.ms"] == ("-1", DYNAMIC_TOPIC_CONFIG), name
        assert found[name]["retention.bytes"][0] == "-1", name
        assert found[name]["unclean.leader.election.enable"][0] == "false", name
    assert found[queue]["retention.ms"] == (SIXTY_DAYS_MS, DYNAMIC_TOPIC_CONFIG)
    assert found[queue]["retention.bytes"][0] == "-1"


async def test_an_existing_topic_converges_and_keeps_its_other_overrides(stack):
    specs = [topics.TopicSpec(topics.TICKETS_RECEIVED, 1), *topics.queue_topics([UNIT])]
    async with Namespace.fresh(stack, "ret").created(specs) as space:
        received, queue = (s.prefixed(space.prefix) for s in specs)
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka)
        await admin.start()
        try:
            # A topic as an older `topics ensure` (or an operator) left it: Kafka's default week.
            await admin.alter_configs([
                ConfigResource(ConfigResourceType.TOPIC, received.name,
                               {"retention.ms": str(7 * DAY_MS), "max.message.bytes": "2000000"}),
                ConfigResource(ConfigResourceType.TOPIC, queue.name, {"retention.ms": str(7 * DAY_MS)}),
            ])
        finally:
            await admin.close()

        result = await ensure_topics_report(stack.kafka, [received, queue], policy=TopicPolicy())
        assert result.created == [] and sorted(result.altered) == sorted([received.name, queue.name])
        assert result.problems == {}
        found = await _configs(stack.kafka, [received.name, queue.name])
        assert found[received.name]["retention.ms"][0] == "-1"
        assert found[received.name]["max.message.bytes"][0] == "2000000"  # not ours: kept
        assert found[queue.name]["retention.ms"][0] == SIXTY_DAYS_MS

        # Wanting three replicas of a one-broker cluster: reported, and the topics stay writable.
        wanted = TopicPolicy(replication_factor=3, min_insync_replicas=2)
        result = await ensure_topics_report(stack.kafka, [received, queue], policy=wanted)
        assert set(result.problems) == {received.name, queue.name}
        assert "replication factor 1 (want 3)" in result.problems[received.name]
        assert "min.insync.replicas=1 (want 2)" in result.problems[received.name]
        found = await _configs(stack.kafka, [received.name])
        assert found[received.name]["min.insync.replicas"][0] == "1"


async def test_topics_ensure_fails_when_the_cluster_cannot_hold_the_settings(namespace):
    runner = CliRunner(env={"KAFKA_REPLICATION_FACTOR": "3", "KAFKA_MIN_INSYNC_REPLICAS": "2"})
    result = await asyncio.to_thread(runner.invoke, app, ["topics", "ensure", "--prefix", namespace.prefix])
    assert result.exit_code == 1, result.output
    assert "NOT verified" in result.output
    assert "... and" in result.output  # ~400 topics, the first ten shown
    assert "replication factor 1 (want 3)" in result.output
    assert "partition reassignment" in result.output
