"""`hotline topics ensure`: what each topic class keeps, said and checked against the cluster."""

import asyncio
from collections.abc import Callable

from hotline.contracts.topics import TopicClass, TopicSpec
from hotline.runtime.settings import ServiceSettings
from hotline.runtime.topic_admin import DAY_MS, TopicPolicy

SHOWN_PROBLEMS = 10  # a cluster off by one setting would otherwise print ~400 lines


def retention_text(ms: str) -> str:
    """`retention.ms` in words: "unlimited" or whole days."""
    value = int(ms)
    if value < 0:
        return "unlimited"
    return f"{value / DAY_MS:g} days" if value % (DAY_MS // 24) == 0 else f"{value} ms"


def summary(specs: list[TopicSpec], policy: TopicPolicy) -> list[str]:
    """One line per topic class: how many topics, what they keep, replication and min ISR."""
    lines = []
    for kind in TopicClass:
        count = sum(1 for s in specs if s.kind is kind)
        if not count:
            continue
        configs = policy.configs(kind)
        lines.append(
            f"  {kind.value:<5} {count:>4} topics: retention {retention_text(configs['retention.ms'])} "
            f"(retention.ms={configs['retention.ms']}, retention.bytes={configs['retention.bytes']}), "
            f"replication factor {policy.replication_factor}, min.insync.replicas {configs['min.insync.replicas']}"
        )
    return lines


def ensure_and_report(settings: ServiceSettings, specs: list[TopicSpec], echo: Callable[[str], None]) -> int:
    """Ensure the topics, print what each class keeps and whether the cluster holds it; the exit code."""
    from hotline.runtime.kafka import ensure_topics_report

    policy = TopicPolicy.from_settings(settings)
    result = asyncio.run(ensure_topics_report(settings.kafka_client_options(), specs, policy=policy))
    echo(f"topics: {len(specs)} in all, {len(result.created)} created, {len(result.altered)} reconfigured")
    for line in summary(specs, policy):
        echo(line)
    if not result.problems:
        echo(f"verified: all {len(specs)} topics hold these settings on the cluster")
        return 0
    echo(f"NOT verified: {len(result.problems)} topics differ from these settings:")
    for name, problem in sorted(result.problems.items())[:SHOWN_PROBLEMS]:
        echo(f"  {name}: {problem}")
    if len(result.problems) > SHOWN_PROBLEMS:
        echo(f"  ... and {len(result.problems) - SHOWN_PROBLEMS} more")
    echo("A topic with too few replicas needs a partition reassignment (docs/production.md, \"Kafka\").")
    return 1
