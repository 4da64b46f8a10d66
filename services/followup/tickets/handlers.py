"""Followup's ticket side of Kafka: one handler per subscription (records in, parsed, handed to
the use cases; what does not parse is dead-lettered with the batch's own messages)."""

from pydantic import TypeAdapter

from hotline.contracts import CallbackResult, TicketDispatched, topics
from hotline.contracts.followup import FollowupCommand
from hotline.contracts.routing import (
    CategoryCorrected,
    DepartmentsSummoned,
    ReturnRequested,
    ReturnReviewed,
    TicketEscalated,
    TicketRedispatched,
    TicketReturned,
)
from hotline.followup.settings import FollowupSettings
from hotline.followup.tickets.app import FollowupActions, RoutingTimelineEvent
from hotline.followup.tickets.commands import FollowupCommands
from hotline.runtime import telemetry
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

FOLLOWUP_COMMAND: TypeAdapter = TypeAdapter(FollowupCommand)
# Routing's events that go onto the ticket's timeline as they are (each type's in log order, so of
# a ticket's corrections the last one read sets its facts).
TIMELINE_KINDS: tuple[type[RoutingTimelineEvent], ...] = (
    TicketReturned, TicketEscalated, ReturnRequested, ReturnReviewed, TicketRedispatched, CategoryCorrected)


def register(runtime: ServiceRuntime[FollowupSettings], tickets: FollowupActions, commands: FollowupCommands,
             publisher: Publisher) -> None:
    """Subscribe followup's ticket handlers on the runtime's broker."""
    broker, settings, name = runtime.broker, runtime.settings, runtime.name

    @batch_subscriber(broker, settings, name, topics.TICKETS_DISPATCHED, publisher=publisher)
    async def on_tickets_dispatched(records: Records) -> None:
        async with retry_later("followup dispatch batch"):
            events, dead_letters = publisher.parse_all(records, TicketDispatched)
            # The ticket's trace, so a deadline the scheduler fires later links back to it.
            traceparents = {e.ticket_id: telemetry.traceparent(e.ticket_id) for e in events}
            await tickets.apply_dispatches(events, traceparents=traceparents, rejected=dead_letters)

    @batch_subscriber(broker, settings, name, topics.CALLBACKS, publisher=publisher)
    async def on_hotline_callbacks(records: Records) -> None:
        async with retry_later("followup callback batch"):
            pairs, dead_letters = [], []
            for record in records:
                results, letters = publisher.parse_all([record], CallbackResult)
                dead_letters += letters
                pairs += [(record, r) for r in results]
            await tickets.apply_callbacks(pairs, rejected=dead_letters, unknown=lambda record: publisher.dead_letter(
                record, reason="no dispatched ticket with this id", field="ticket_id"))

    @batch_subscriber(broker, settings, name, topics.TICKETS_ROUTING, publisher=publisher)
    async def on_tickets_routing(records: Records) -> None:
        async with retry_later("followup summons batch"):
            by_type: dict[str | None, list] = {}
            for record in records:
                by_type.setdefault(topics.event_type_of(record.headers), []).append(record)
            summons, dead_letters = publisher.parse_all(by_type.get("DepartmentsSummoned", []), DepartmentsSummoned)
            # Returns, escalations and the centre's desk belong on the ticket's timeline; refusals do not.
            others: list[RoutingTimelineEvent] = []
            for kind in TIMELINE_KINDS:
                parsed, letters = publisher.parse_all(by_type.get(kind.__name__, []), kind)
                others += parsed
                dead_letters += letters
            await tickets.apply_routing(summons, others, rejected=dead_letters)

    @batch_subscriber(broker, settings, name, topics.FOLLOWUP_COMMANDS, publisher=publisher)
    async def on_followup_commands(records: Records) -> None:
        """Unit systems may act here instead of over HTTP; a refusal is an event."""
        async with retry_later("followup command batch"):
            parsed, dead_letters = publisher.parse_all(records, FOLLOWUP_COMMAND)
            await publisher.publish_all([*await commands.carry_out(parsed), *dead_letters])
