"""Routing's Kafka handlers: tickets in, dispatches and queue copies out; unit commands in,
re-dispatches, escalations, summons and refusals out."""

import logging
from datetime import timedelta

from pydantic import TypeAdapter

from hotline.city import deployment_catalogue
from hotline.contracts import QueueAssignment, TicketDispatched, TicketReceived, topics
from hotline.contracts.routing import (
    CommandRefused,
    DepartmentsSummoned,
    ReturnTicket,
    RoutingCommand,
    SummonDepartments,
    TicketEscalated,
    TicketReturned,
)
from hotline.gazetteer import beijing
from hotline.routing.domain import (
    RoutingState,
    command_hash,
    decide,
    dispatch_events,
    handle_return,
    handle_summon,
    refuse_reused_key,
)
from hotline.routing.store import DispatchStore, command_key
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

log = logging.getLogger(__name__)


def register(runtime: ServiceRuntime, store: DispatchStore, publisher: Publisher) -> None:
    """Subscribe routing's handlers on the runtime's broker."""
    gazetteer, catalogue = beijing(), deployment_catalogue(runtime.settings)
    window = timedelta(seconds=runtime.settings.return_window_s)  # type: ignore[attr-defined]

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_RECEIVED, publisher=publisher)
    async def on_tickets_received(records: Records) -> None:
        async with retry_later("routing batch"):
            tickets: dict[str, TicketReceived] = {}
            origins, dead_letters = {}, []
            for record in records:
                parsed, letters = publisher.parse_all([record], TicketReceived)
                dead_letters += letters
                # Consultations the hotline answered itself are counted, never dispatched.
                for ticket in (t for t in parsed if not t.answered_directly):
                    tickets.setdefault(ticket.ticket_id, ticket)
                    origins.setdefault(ticket.ticket_id, record)
            decisions = {tid: decide(t, gazetteer, catalogue) for tid, t in tickets.items()}
            # A redelivered ticket keeps its first decision (and says whether it went out).
            stored = await store.keep_first(decisions={tid: (tickets[tid], d) for tid, d in decisions.items()},
                                            origins=origins)
            outgoing = list(dead_letters)
            to_mark = []
            for tid, ticket in tickets.items():
                dispatch, published = stored.get(tid, (decisions[tid], False))
                if published:
                    continue
                dispatched, assignments = dispatch_events(ticket, dispatch)
                outgoing.append((topics.TICKETS_DISPATCHED, dispatched, tid))
                outgoing.extend((topics.queue_topic(a.unit_code), a, tid) for a in assignments)
                to_mark.append(tid)
            await publisher.publish_all(outgoing)
            await store.mark_published(ticket_ids=to_mark, records=records)

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.ROUTING_COMMANDS, publisher=publisher)
    async def on_routing_commands(records: Records) -> None:
        async with retry_later("routing command batch"):
            commands, dead_letters = publisher.parse_all(records, _COMMANDS)
            states = await store.get_states(ticket_ids=sorted({c.ticket_id for c in commands}))
            outgoing, outcomes = list(dead_letters), []
            for command in commands:
                # No wait for a ticket not stored yet, unlike followup: routing stores a dispatch
                # before any unit can learn of the ticket from its queue.
                state, applied, hashes = states.get(command.ticket_id, (None, {}, {}))
                key, asked = command_key(command.command_id), command_hash(command)
                if key in applied and hashes.get(key, asked) != asked:
                    # The id names another command on this ticket: refused, nothing changes.
                    events = [refuse_reused_key(command)]
                elif key in applied:  # a redelivered or retried command: same events again
                    events = [_event_from(e) for e in applied[key]]
                else:
                    new_state, events = _apply(state, command)
                    changed = new_state if new_state is not state else None
                    stored = [{"type": type(e).__name__, "json": e.model_dump_json()} for e in events]
                    if state is not None:
                        outcomes.append((command.ticket_id, command.command_id, asked, changed, stored))
                        states[command.ticket_id] = (new_state, {**applied, key: stored}, {**hashes, key: asked})
                outgoing.extend((_topic_of(e), e, command.ticket_id) for e in events)
            # Outcomes first: a crash before publishing republishes the stored events.
            await store.save_outcomes(outcomes=outcomes)
            await publisher.publish_all(outgoing)

    def _apply(state: RoutingState | None, command: ReturnTicket | SummonDepartments):
        if isinstance(command, ReturnTicket):
            return handle_return(state, command, window=window, gazetteer=gazetteer, catalogue=catalogue)
        return state, handle_summon(state, command, gazetteer=gazetteer, catalogue=catalogue)


_COMMANDS = TypeAdapter(RoutingCommand)
_EVENT_TYPES = {cls.__name__: cls for cls in (
    TicketReturned, TicketEscalated, DepartmentsSummoned, CommandRefused, TicketDispatched, QueueAssignment,
)}


def _event_from(stored: dict):
    return _EVENT_TYPES[stored["type"]].model_validate_json(stored["json"])


def _topic_of(event) -> str:
    if isinstance(event, TicketDispatched):
        return topics.TICKETS_DISPATCHED
    if isinstance(event, QueueAssignment):
        return topics.queue_topic(event.unit_code)
    return topics.TICKETS_ROUTING
