"""Routing's Kafka side: one handler per subscription (records in, parsed, handed to the use cases;
what does not parse is dead-lettered), and the commands the HTTP API sends on `routing.commands`."""

from faststream.kafka import KafkaBroker
from pydantic import TypeAdapter

from hotline.contracts import TicketReceived, topics
from hotline.contracts.routing import ReturnTicket, RoutingCommand, SummonDepartments
from hotline.routing.app import Outgoing, Routing
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, encode, retry_later
from hotline.runtime.service import ServiceRuntime
from hotline.runtime.settings import ServiceSettings

_COMMANDS = TypeAdapter(RoutingCommand)


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

    async def send(self, command: ReturnTicket | SummonDepartments) -> None:
        await self._broker.publish(encode(command), self._settings.topic(topics.ROUTING_COMMANDS),
                                   key=command.ticket_id.encode())
