"""Intake's Kafka side: one handler per subscription (records in, handed to the use cases; what
does not parse is dead-lettered), and the sender the HTTP doors put raw records on `hotline.raw` with."""

from faststream.kafka import KafkaBroker

from hotline.contracts import TicketClosed, TicketReopened, topics
from hotline.contracts.common import Event
from hotline.intake.app import Intake, Outgoing
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime
from hotline.runtime.settings import ServiceSettings

# The followup events that change what Open311 shows of a ticket (by the `event_type` header).
STATUS_EVENTS: dict[str, type[Event]] = {"TicketClosed": TicketClosed, "TicketReopened": TicketReopened}


def register(runtime: ServiceRuntime, intake: Intake, publisher: Publisher) -> None:
    """Subscribe intake's handlers on the runtime's broker."""

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.RAW, publisher=publisher)
    async def on_hotline_raw(records: Records) -> None:
        async with retry_later("intake batch"):
            await intake.admit(records)  # parsing is the admission rule's: it names the field refused

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_FOLLOWUP, publisher=publisher)
    async def on_tickets_followup(records: Records) -> None:
        async with retry_later("intake status batch"):
            events, rejected = _status_events(records, publisher)
            await intake.record_statuses(events, rejected=rejected)


def _status_events(records: Records, publisher: Publisher) -> tuple[list[TicketClosed | TicketReopened],
                                                                    list[Outgoing]]:
    """The batch's closes and reopens, and dead letters for those that do not parse; contacts,
    warnings, extensions...: not the citizen's status, skipped unparsed."""
    events: list = []
    rejected: list[Outgoing] = []
    for record in records:
        kind = topics.event_type_of(record.headers)
        if kind not in STATUS_EVENTS:
            continue
        parsed, letters = publisher.parse_all([record], STATUS_EVENTS[kind])
        events += parsed
        rejected += letters
    return events, rejected


class KafkaRaw:
    """Puts raw records on `hotline.raw`, keyed by ticket id (`app.RawSender`)."""

    def __init__(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        self._broker = broker
        self._settings = settings

    async def send(self, record: bytes, *, key: str) -> None:
        await self._broker.publish(record, self._settings.topic(topics.RAW), key=key.encode())
