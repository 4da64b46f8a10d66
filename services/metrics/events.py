"""Which records of which topics metrics reads, and how they parse (live and rebuild alike)."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from hotline.contracts import (
    BusinessTimeTick,
    CallbackResult,
    ContactRecorded,
    DeadlineBreached,
    ExemptionDecided,
    ExemptionRequested,
    TicketDispatched,
    TicketReceived,
    TicketReopened,
    topics,
)
from hotline.contracts.routing import TicketReturned
from hotline.metrics.domain import MetricsEvent

# Topic -> the event types metrics needs there (by the `event_type` header); None: every record.
TOPIC_EVENTS: dict[str, dict[str, type[MetricsEvent]] | None] = {
    topics.TICKETS_RECEIVED: None,
    topics.TICKETS_DISPATCHED: None,
    topics.TICKETS_FOLLOWUP: {
        "ContactRecorded": ContactRecorded,
        "TicketReopened": TicketReopened,
        "DeadlineBreached": DeadlineBreached,
        "ExemptionRequested": ExemptionRequested,
        "ExemptionDecided": ExemptionDecided,
    },
    topics.TICKETS_ROUTING: {"TicketReturned": TicketReturned},
    topics.CALLBACKS: None,
}
_WHOLE_TOPIC: dict[str, type[MetricsEvent]] = {
    topics.TICKETS_RECEIVED: TicketReceived,
    topics.TICKETS_DISPATCHED: TicketDispatched,
    topics.CALLBACKS: CallbackResult,
}
# Records on tickets.followup from before headers named the event type were contacts.
_UNNAMED = {topics.TICKETS_FOLLOWUP: "ContactRecorded", topics.TICKETS_ROUTING: None}


@dataclass(frozen=True)
class Rejected:
    """A record that should have parsed and did not."""

    record: ConsumerRecord
    reason: str
    field: str | None


def parse(topic: str, records: Iterable[ConsumerRecord]) -> Iterator[MetricsEvent | Rejected]:
    """Each record of `topic` (without prefix) that metrics uses, parsed or rejected, one at a time
    (a fold drops each event once its entries are taken; see `hotline.metrics.app.fold_records`)."""
    wanted = TOPIC_EVENTS[topic]
    for record in records:
        if wanted is None:
            model = _WHOLE_TOPIC[topic]
        else:
            name = topics.event_type_of(record.headers) or _UNNAMED[topic]
            if name not in wanted:
                continue  # another service's business (warnings, extensions, refusals...)
            model = wanted[name]
        try:
            event = model.model_validate_json(record.value or b"")
        except ValidationError as exc:
            first = exc.errors()[0]
            yield Rejected(record, first["msg"], ".".join(str(p) for p in first["loc"]) or None)
            continue
        yield event


def decode(topic: str, records: Iterable[ConsumerRecord]) -> tuple[list[MetricsEvent], list[Rejected]]:
    """The events metrics uses among `records` of `topic` (without prefix); others are skipped."""
    events: list[MetricsEvent] = []
    rejected: list[Rejected] = []
    for item in parse(topic, records):
        if isinstance(item, Rejected):
            rejected.append(item)
        else:
            events.append(item)
    return events, rejected


def decode_ticks(records: Iterable[ConsumerRecord]) -> list[BusinessTimeTick]:
    """The business-time ticks among records of `hotline.clock` (a bad one is skipped: followup,
    which subscribes to the topic, sends its dead letter)."""
    ticks = []
    for record in records:
        try:
            ticks.append(BusinessTimeTick.model_validate_json(record.value or b""))
        except ValidationError:
            continue
    return ticks
