"""Routing's Kafka side: one handler per subscription (records in, parsed, handed to the use cases;
what does not parse is dead-lettered), and the commands the HTTP API sends on `routing.commands`."""

from faststream.kafka import KafkaBroker
from pydantic import TypeAdapter

from hotline.contracts import TicketReceived, topics
from hotline.contracts.common import Event
from hotline.contracts.followup import TicketClosed, TicketReopened
from hotline.contracts.routing import RoutingCommand
from hotline.routing.app import Outgoing, Routing
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, encode, retry_later
from hotline.runtime.service import ServiceRuntime
from hotline.runtime.settings import ServiceSettings

_COMMANDS = TypeAdapter(RoutingCommand)
# The followup events routing reads (by the `event_type` header): whether a ticket is closed.
CLOSURE_EVENTS: dict[str, type[Event]] = {"TicketClosed": TicketClosed, "TicketReopened": TicketReopened}


def register(runtime: ServiceRuntime, routing: Routing, publisher: Publisher) -> None:
    """Subscribe routing's handlers on the runtime's broker."""

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_RECEIVED, publisher=publisher)
    async def on_tickets_received(records: Records) -> None:
        async with retry_later("routing batch"):
            tickets, origins, rejected = _received(records, publisher)
            await routing.dispatch(tickets, origins=origins, records=records, rejected=rejected)

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.ROUTING_COMMANDS, publisher=publisher)
    async def on_routing_commands(records: Records) -> None:
        async with retry_later("routing command batch"):
            commands, rejected = publisher.parse_all(records, _COMMANDS)
            await routing.apply_commands(commands, rejected=rejected)

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_FOLLOWUP, publisher=publisher)
    async def on_tickets_followup(records: Records) -> None:
        async with retry_later("routing closure batch"):
            events, rejected = _closures(records, publisher)
            await routing.record_closures(events)
            await publisher.publish_all(rejected)


def _closures(records: Records, publisher: Publisher) -> tuple[list[TicketClosed | TicketReopened], list[Outgoing]]:
    """The batch's closes and reopens, and dead letters for those that do not parse; every other
    followup event (contacts, deadlines, ...) is skipped unparsed, never dead-lettered."""
    events: list = []
    rejected: list[Outgoing] = []
    for record in records:
        kind = topics.event_type_of(record.headers)
        if kind not in CLOSURE_EVENTS:
            continue
        parsed, letters = publisher.parse_all([record], CLOSURE_EVENTS[kind])
        events += parsed
        rejected += letters
    return events, rejected


def _received(records: Records, publisher: Publisher) -> tuple[dict[str, TicketReceived], dict, list[Outgoing]]:
    """The batch's tickets to dispatch (the first of each), the record each came from, and dead
    letters for the records that do not parse."""
    tickets: dict[str, TicketReceived] = {}
    origins: dict = {}
    rejected: list[Outgoing] = []
    for record in records:
        parsed, letters = publisher.parse_all([record], TicketReceived)
        rejected += letters
        # Consultations the hotline answered itself are counted, never dispatched.
        for ticket in (t for t in parsed if not t.answered_directly):
            tickets.setdefault(ticket.ticket_id, ticket)
            origins.setdefault(ticket.ticket_id, record)
    return tickets, origins, rejected


class KafkaCommands:
    """Sends commands on `routing.commands`, keyed by ticket id (`app.CommandSender`)."""

    def __init__(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        self._broker = broker
        self._settings = settings

    async def send(self, command: RoutingCommand) -> None:
        await self._broker.publish(encode(command), self._settings.topic(topics.ROUTING_COMMANDS),
                                   key=command.ticket_id.encode())
