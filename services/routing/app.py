"""Routing's use cases: load, decide (the domain), save, publish, over the store and broker
protocols below. `main` wires the MongoDB store and the Kafka publisher in; a test may pass fakes.

Tickets arrive on `tickets.received` and are dispatched; commands arrive on `routing.commands`
(from the HTTP API or a unit's system) and are answered on `tickets.routing` and the queues.
Over HTTP a request is checked at once (unknown unit, another unit's name, a ticket routing does
not hold, a reused idempotency key: domain errors) before its command is sent.
"""

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field

from hotline.business_calendar import BusinessCalendar, default_calendar
from hotline.catalogue import Catalogue
from hotline.contracts import QueueAssignment, TicketDispatched, TicketReceived, topics
from hotline.contracts.common import AwareDatetime, Contract, Event
from hotline.contracts.routing import ReturnReason, ReturnTicket, SummonDepartments
from hotline.deadlines import DeadlinePolicy
from hotline.gazetteer import Gazetteer
from hotline.routing.domain import (
    Applied,
    CommandOutcome,
    Dispatch,
    DispatchHistory,
    Outcome,
    Routed,
    RoutingCommand,
    RoutingState,
    check_acting_for_itself,
    check_assigned,
    check_departments,
    check_readable,
    check_same_request,
    check_unit,
    command_hash,
    command_key,
    decide,
    dispatch_events,
    handle_return,
    handle_summon,
    no_dispatch,
    refuse_reused_key,
)
from hotline.runtime.auth import Principal
from hotline.runtime.idempotency import request_hash

# (topic, message, key): what a publisher sends, dead letters included.
Outgoing = tuple[str, Contract, str | None]


class RoutingStore(Protocol):
    """Where routing keeps its decisions (see `hotline.routing.store.DispatchStore`)."""

    async def keep_first(self, *, decisions: dict[str, tuple[TicketReceived, Dispatch]],
                         origins: dict | None = None) -> dict[str, tuple[Dispatch, bool]]: ...

    async def mark_published(self, *, ticket_ids: list[str], records: list | None = None) -> None: ...

    async def get_states(self, *, ticket_ids: list[str]) -> dict[str, Routed]: ...

    async def save_outcomes(self, *, outcomes: list[CommandOutcome]) -> None: ...

    async def history(self, *, ticket_id: str) -> DispatchHistory | None: ...

    async def keep_request(self, *, command: RoutingCommand,
                           request_hash: str) -> tuple[str, RoutingCommand] | None: ...


class EventPublisher(Protocol):
    """Publishes events and dead letters, waiting for the broker (`hotline.runtime.kafka.Publisher`)."""

    async def publish_all(self, items: Iterable[Outgoing]) -> None: ...


class CommandSender(Protocol):
    """Sends a command on `routing.commands`."""

    async def send(self, command: RoutingCommand) -> None: ...


@dataclass(frozen=True)
class Reference:
    """The reference data routing decides by: the city's units, the dispatch catalogue, the deadline
    policy and the working-day calendar (the city's)."""

    gazetteer: Gazetteer
    catalogue: Catalogue
    policy: DeadlinePolicy
    calendar: BusinessCalendar = field(default_factory=default_calendar)


class ReturnRequest(BaseModel):
    """A unit hands a ticket back (退单)."""

    unit_code: str = Field(description="The unit returning the ticket.")
    reason_code: ReturnReason = Field(description="Why.")
    suggested_unit: str | None = Field(default=None, description="The unit it belongs to, if known.")
    note: str = Field(default="", max_length=2000)
    returned_at: AwareDatetime | None = Field(default=None, description="Defaults to now.")


class SummonRequest(BaseModel):
    """A street or town summons departments to the site (吹哨)."""

    unit_code: str = Field(description="The street or town blowing the whistle.")
    departments: list[str] = Field(min_length=1, max_length=20)
    note: str = Field(default="", max_length=2000)
    summoned_at: AwareDatetime | None = Field(default=None, description="Defaults to now.")


def topic_of(event: Event) -> str:
    """The topic an event of routing's goes on."""
    if isinstance(event, TicketDispatched):
        return topics.TICKETS_DISPATCHED
    if isinstance(event, QueueAssignment):
        return topics.queue_topic(event.unit_code)
    return topics.TICKETS_ROUTING


class Routing:
    """Routing's use cases."""

    def __init__(self, store: RoutingStore, publisher: EventPublisher, commands: CommandSender, reference: Reference, *,
                 return_window: timedelta, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._publisher = publisher
        self._commands = commands
        self._reference = reference
        self._window = return_window
        self._clock = clock

    # ------------------------------------------------------------ tickets.received

    async def dispatch(self, tickets: Mapping[str, TicketReceived], *, origins: dict[str, Any],
                       records: list, rejected: Sequence[Outgoing] = ()) -> None:
        """Dispatch each ticket by the catalogue and publish its dispatch and queue copies.

        A redelivered ticket keeps its first decision, and is not published again when it went
        out (the outbox: `origins` are the consumed records the tickets came from, `records` the
        whole batch's). `rejected`: the batch's dead letters, sent with its events.
        """
        ref = self._reference
        decisions = {tid: decide(t, ref.gazetteer, ref.catalogue) for tid, t in tickets.items()}
        stored = await self._store.keep_first(decisions={tid: (tickets[tid], d) for tid, d in decisions.items()},
                                              origins=origins)
        outgoing: list[Outgoing] = list(rejected)
        to_mark = []
        for tid, ticket in tickets.items():
            dispatch, published = stored.get(tid, (decisions[tid], False))
            if published:
                continue
            dispatched, assignments = dispatch_events(ticket, dispatch, policy=ref.policy, calendar=ref.calendar)
            outgoing.append((topics.TICKETS_DISPATCHED, dispatched, tid))
            outgoing.extend((topics.queue_topic(a.unit_code), a, tid) for a in assignments)
            to_mark.append(tid)
        await self._publisher.publish_all(outgoing)
        await self._store.mark_published(ticket_ids=to_mark, records=records)

    # ------------------------------------------------------------ routing.commands

    async def apply_commands(self, commands: Sequence[RoutingCommand], *, rejected: Sequence[Outgoing] = ()) -> None:
        """Apply returns and summons in order, and publish what each gave.

        A redelivered or retried command (its id applied before to the same request) gives the
        same events again; its id reused for another request is refused, and nothing changes.
        Outcomes are saved before publishing: a crash in between republishes the stored events.
        """
        states = await self._store.get_states(ticket_ids=sorted({c.ticket_id for c in commands}))
        outgoing: list[Outgoing] = list(rejected)
        outcomes: list[CommandOutcome] = []
        for command in commands:
            # No wait for a ticket not stored yet, unlike followup: routing stores a dispatch
            # before any unit can learn of the ticket from its queue.
            routed = states.get(command.ticket_id)
            key, asked = command_key(command.command_id), command_hash(command)
            before = routed.applied.get(key) if routed is not None else None
            events: tuple[Event, ...]
            if before is not None and before.request_hash not in (None, asked):
                events = (refuse_reused_key(command),)
            elif before is not None:
                events = before.events
            else:
                state = routed.state if routed is not None else None
                new_state, outcome = self._decide(state, command)
                events = tuple(outcome)
                if routed is not None and new_state is not None:
                    changed = new_state if new_state is not state else None
                    outcomes.append(CommandOutcome(command.ticket_id, command.command_id, asked, changed, events))
                    states[command.ticket_id] = Routed(new_state, {**routed.applied, key: Applied(asked, events)})
            outgoing.extend((topic_of(e), e, command.ticket_id) for e in events)
        await self._store.save_outcomes(outcomes=outcomes)
        await self._publisher.publish_all(outgoing)

    def _decide(self, state: RoutingState | None, command: RoutingCommand) -> tuple[RoutingState | None, Outcome]:
        ref = self._reference
        if isinstance(command, ReturnTicket):
            return handle_return(state, command, window=self._window, gazetteer=ref.gazetteer,
                                 catalogue=ref.catalogue, policy=ref.policy, calendar=ref.calendar)
        return state, handle_summon(state, command, gazetteer=ref.gazetteer, catalogue=ref.catalogue, policy=ref.policy)

    # ------------------------------------------------------------ HTTP: checked at once, then sent

    async def request_return(self, caller: Principal, ticket_id: str, request: ReturnRequest,
                             idempotency_key: str | None) -> str:
        """Check a return and send it; its command id. The triage desk hands a ticket on so."""
        ref = self._reference
        check_unit("unit_code", request.unit_code, ref.gazetteer, ref.catalogue, desk=True)
        check_acting_for_itself(request.unit_code, caller=caller.unit_code, centre=caller.is_centre)
        check_unit("suggested_unit", request.suggested_unit, ref.gazetteer, ref.catalogue)
        check_assigned(await self._store.history(ticket_id=ticket_id), ticket_id, request.unit_code)
        return await self._send(ReturnTicket(
            command_id=idempotency_key or uuid.uuid4().hex, ticket_id=ticket_id,
            unit_code=request.unit_code, reason_code=request.reason_code,
            suggested_unit=request.suggested_unit, note=request.note,
            returned_at=request.returned_at or self._clock(),
        ), request, idempotency_key)

    async def request_summons(self, caller: Principal, ticket_id: str, request: SummonRequest,
                              idempotency_key: str | None) -> str:
        """Check a summons and send it; its command id."""
        ref = self._reference
        check_unit("unit_code", request.unit_code, ref.gazetteer, ref.catalogue)
        check_acting_for_itself(request.unit_code, caller=caller.unit_code, centre=caller.is_centre)
        check_departments(request.departments, ref.catalogue)
        check_assigned(await self._store.history(ticket_id=ticket_id), ticket_id, request.unit_code)
        return await self._send(SummonDepartments(
            command_id=idempotency_key or uuid.uuid4().hex, ticket_id=ticket_id,
            unit_code=request.unit_code, departments=request.departments, note=request.note,
            summoned_at=request.summoned_at or self._clock(),
        ), request, idempotency_key)

    async def _send(self, command: RoutingCommand, request: BaseModel, idempotency_key: str | None) -> str:
        """Send this command, or under a key used before for the same request the very command
        sent then (a time the server filled in included); another request under the key: Conflict."""
        if idempotency_key:
            # The request as sent (a time left out stays out), not the command the server filled in.
            asked = request_hash(command.command, command.ticket_id, request)
            kept = await self._store.keep_request(command=command, request_hash=asked)
            if kept is None:
                raise no_dispatch(command.ticket_id)
            kept_hash, command = kept
            check_same_request(kept_hash, asked)
        await self._commands.send(command)
        return command.command_id

    async def dispatch_history(self, caller: Principal, ticket_id: str) -> dict[str, Any]:
        """Who holds the ticket now and its whole dispatch history, for its units and the centre."""
        history = await self._store.history(ticket_id=ticket_id)
        return check_readable(history, caller=caller.unit_code, centre=caller.is_centre).view
