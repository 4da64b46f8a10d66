"""Every Kafka topic the system uses, with its partition count, in one place."""

from dataclasses import dataclass, replace
from enum import StrEnum

RAW = "hotline.raw"
CALLBACKS = "hotline.callbacks"
CLOCK = "hotline.clock"  # business time in simulation and replay
DLQ = "hotline.dlq"
TICKETS_RECEIVED = "tickets.received"
TICKETS_DISPATCHED = "tickets.dispatched"
TICKETS_FOLLOWUP = "tickets.followup"
TICKETS_ROUTING = "tickets.routing"
ROUTING_COMMANDS = "routing.commands"
FOLLOWUP_COMMANDS = "followup.commands"

QUEUE_PREFIX = "queue."
TRIAGE_QUEUE_CODE = "triage"


# Ticket topics are keyed by ticket_id; several partitions let consumer groups scale out
# while each ticket's events stay in order.
TICKET_PARTITIONS = 4


class TopicClass(StrEnum):
    """How long a topic keeps its records (`hotline topics ensure` sets it; docs/production.md)."""

    LOG = "log"  # the source of truth: every projection and replay is rebuilt from it; kept for ever
    QUEUE = "queue"  # a unit's copy of its assignments, derived from tickets.*; kept for a while


@dataclass(frozen=True)
class TopicSpec:
    """A topic's name, partition count and retention class (the log unless said otherwise)."""

    name: str
    partitions: int
    kind: TopicClass = TopicClass.LOG

    def prefixed(self, prefix: str) -> "TopicSpec":
        """The same topic under a deployment's prefix."""
        return replace(self, name=prefix + self.name)


def event_type_of(headers) -> str | None:
    """The `event_type` header of a record's headers (every event carries one), or None."""
    for name, value in headers or ():
        if name == "event_type":
            return value.decode(errors="replace") if value else None
    return None


def queue_topic(unit_code: str) -> str:
    """The queue topic a unit (street, town, department, fallback or triage) subscribes to."""
    return f"{QUEUE_PREFIX}{unit_code}"


def core_topics() -> list[TopicSpec]:
    """Topics shared by the services (without the per-unit queues)."""
    return [
        TopicSpec(RAW, TICKET_PARTITIONS),
        TopicSpec(CALLBACKS, TICKET_PARTITIONS),
        TopicSpec(CLOCK, 1),
        TopicSpec(DLQ, 1),
        TopicSpec(TICKETS_RECEIVED, TICKET_PARTITIONS),
        TopicSpec(TICKETS_DISPATCHED, TICKET_PARTITIONS),
        TopicSpec(TICKETS_FOLLOWUP, TICKET_PARTITIONS),
        TopicSpec(TICKETS_ROUTING, TICKET_PARTITIONS),
        TopicSpec(ROUTING_COMMANDS, TICKET_PARTITIONS),
        TopicSpec(FOLLOWUP_COMMANDS, TICKET_PARTITIONS),
    ]


def queue_topics(unit_codes: list[str]) -> list[TopicSpec]:
    """One single-partition queue per unit: a unit's assignments stay in dispatch order."""
    return [TopicSpec(queue_topic(code), 1, TopicClass.QUEUE) for code in unit_codes]
