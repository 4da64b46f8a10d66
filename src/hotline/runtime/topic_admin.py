"""Topics as a deployment wants them: created with their replication factor and per-class
configuration (retention, min.insync.replicas), existing ones converged to it, and a check of
what the cluster really holds (`hotline topics ensure`; docs/production.md "Kafka")."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hotline.contracts.topics import TopicClass, TopicSpec

DAY_MS = 24 * 3600 * 1000
BATCH = 200  # topics per admin request: ~400 queue topics make a few requests, not one huge one
DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source: an override set on the topic itself
MANAGED = ("retention.ms", "retention.bytes", "min.insync.replicas", "unclean.leader.election.enable")


@dataclass(frozen=True)
class TopicPolicy:
    """Replication and per-class configuration of the topics (from `ServiceSettings`)."""

    replication_factor: int = 1
    min_insync_replicas: int = 1
    queue_retention_ms: int = 60 * DAY_MS  # -1: for ever

    @classmethod
    def from_settings(cls, settings) -> "TopicPolicy":
        days = settings.kafka_queue_retention_days
        return cls(
            replication_factor=settings.kafka_replication_factor,
            min_insync_replicas=settings.kafka_min_insync_replicas,
            queue_retention_ms=round(days * DAY_MS) if days > 0 else -1,
        )

    def configs(self, kind: TopicClass) -> dict[str, str]:
        """The topic-level configuration of a class. Explicit on every topic, so a broker
        default (7 days, unless the broker says otherwise) never decides what the log keeps."""
        return {
            "retention.ms": "-1" if kind is TopicClass.LOG else str(self.queue_retention_ms),
            "retention.bytes": "-1",
            "min.insync.replicas": str(self.min_insync_replicas),
            # A replica that missed acknowledged writes never becomes leader (it would drop them).
            "unclean.leader.election.enable": "false",
        }


@dataclass
class Ensured:
    """What `ensure` did and what the cluster holds afterwards."""

    created: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    # topic -> "what is wrong" for topics that still differ from the policy (e.g. too few replicas).
    problems: dict[str, str] = field(default_factory=dict)


async def ensure(admin: AIOKafkaAdminClient, specs: list[TopicSpec], policy: TopicPolicy) -> Ensured:
    """Create the missing topics with the policy; set the policy's configuration on existing
    ones that differ (other overrides on a topic are kept). `verify` says what still differs."""
    result = Ensured()
    existing = set(await admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    created: set[str] = set()
    for chunk in _chunks(missing):
        response = await admin.create_topics([
            NewTopic(s.name, num_partitions=s.partitions, replication_factor=policy.replication_factor,
                     topic_configs=policy.configs(s.kind))
            for s in chunk
        ])
        for name, code, *rest in response.topic_errors:
            if code == 0:
                created.add(name)
            # 36 = TOPIC_ALREADY_EXISTS: another process created it first; converged below.
            elif code != 36:
                message = rest[0] if rest else ""
                raise RuntimeError(f"could not create topic {name}: error code {code} {message or ''}".rstrip())
    result.created = [s.name for s in missing]
    # Just created with the policy: a describe now could still miss their configs.
    others = [s for s in specs if s.name not in created]
    current = await describe_configs(admin, [s.name for s in others])
    replicas = await replication_factors(admin, [s.name for s in others])
    wanted = {s.name: _writable(policy.configs(s.kind), replicas.get(s.name)) for s in others}
    stale = [s for s in others if _differs(current.get(s.name, {}), wanted[s.name])]
    for chunk in _chunks(stale):
        # AlterConfigs replaces a topic's whole set of overrides: send ours with the others kept.
        resources = [ConfigResource(ConfigResourceType.TOPIC, s.name,
                                    {**_overrides(current.get(s.name, {})), **wanted[s.name]})
                     for s in chunk]
        for response in await admin.alter_configs(resources):
            for code, message, _type, name in response.resources:
                if code != 0:
                    raise RuntimeError(f"could not configure topic {name}: error code {code} {message or ''}".rstrip())
    result.altered = [s.name for s in stale]
    return result


async def verify(admin: AIOKafkaAdminClient, specs: list[TopicSpec], policy: TopicPolicy) -> dict[str, str]:
    """topic -> what differs from the policy: a missing topic, a configuration value, or fewer
    replicas than the policy's factor (which alter configs cannot change: see docs/production.md)."""
    problems: dict[str, str] = {}
    configs = await describe_configs(admin, [s.name for s in specs])
    replicas = await replication_factors(admin, [s.name for s in specs])
    for spec in specs:
        if spec.name not in replicas:
            problems[spec.name] = "does not exist"
            continue
        wrong = [f"{key}={configs.get(spec.name, {}).get(key, (None,))[0]} (want {want})"
                 for key, want in policy.configs(spec.kind).items()
                 if configs.get(spec.name, {}).get(key, (None,))[0] != want]
        if replicas[spec.name] < policy.replication_factor:
            wrong.append(f"replication factor {replicas[spec.name]} (want {policy.replication_factor})")
        if wrong:
            problems[spec.name] = ", ".join(wrong)
    return problems


async def describe_configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, tuple[str, int]]]:
    """topic -> config name -> (value, config_source), for the topics that exist."""
    found: dict[str, dict[str, tuple[str, int]]] = {}
    for chunk in _chunks(names):
        for response in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in chunk]):
            for code, _message, _type, name, entries in response.resources:
                if code == 0:
                    found[name] = {e[0]: (e[1], e[3]) for e in entries}
    return found


async def replication_factors(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """topic -> the fewest replicas any of its partitions has, for the topics that exist."""
    found: dict[str, int] = {}
    for chunk in _chunks(names):
        for topic in await admin.describe_topics(chunk):
            if topic["error_code"] == 0 and topic["partitions"]:
                found[topic["topic"]] = min(len(p["replicas"]) for p in topic["partitions"])
    return found


def _writable(configs: dict[str, str], replicas: int | None) -> dict[str, str]:
    """An existing topic with fewer replicas than the policy (created on a smaller cluster) keeps a
    min.insync.replicas it can meet, so its producers are not refused; `verify` reports it."""
    if replicas is not None and int(configs["min.insync.replicas"]) > replicas:
        return {**configs, "min.insync.replicas": str(replicas)}
    return configs


def _differs(current: Mapping[str, tuple[str, int]], wanted: Mapping[str, str]) -> bool:
    # Set on the topic itself, not merely equal to today's broker default.
    return any(current.get(key) != (value, DYNAMIC_TOPIC_CONFIG) for key, value in wanted.items())


def _overrides(current: Mapping[str, tuple[str, int]]) -> dict[str, str]:
    return {key: value for key, (value, source) in current.items()
            if source == DYNAMIC_TOPIC_CONFIG and key not in MANAGED and value is not None}


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
