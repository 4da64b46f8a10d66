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
from hotline.category_tree import default_tree
from hotline.contracts import QueueAssignment, TicketDispatched, TicketReceived, topics
from hotline.contracts.common import AwareDatetime, Contract, Event
from hotline.contracts.followup import TicketClosed, TicketReopened
from hotline.contracts.routing import (
    CentreDispatchReason,
    CorrectCategory,
    DispatchTicket,
    ReturnReason,
    ReturnTicket,
    ReviewReturn,
    SummonDepartments,
)
from hotline.deadlines import DeadlinePolicy
from hotline.gazetteer import Gazetteer
from hotline.routing.access import (
    check_acting_for_itself,
    check_assigned,
    check_category,
    check_centre,
    check_departments,
    check_lead_unit,
    check_open,
    check_pending_return,
    check_readable,
    check_same_request,
    check_unit,
    command_status,
    no_dispatch,
)
from hotline.routing.desk import handle_correction, handle_dispatch, handle_review
from hotline.routing.domain import (
    Applied,
    CommandOutcome,
    Dispatch,
    DispatchHistory,
    Outcome,
    Routed,
    RoutingCommand,
    RoutingState,
    command_hash,
    command_key,
    decide,
    dispatch_events,
    handle_return,
    handle_summon,
    refuse_reused_key,
)
from hotline.runtime.auth import CENTRE_CODE, Principal
from hotline.runtime.idempotency import request_hash
from hotline.taxonomy import Taxonomy, default_taxonomy

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

    async def command_events(self, *, ticket_id: str, command_id: str) -> list[Event] | None: ...

    async def keep_request(self, *, command: RoutingCommand,
                           request_hash: str) -> tuple[str, RoutingCommand] | None: ...

    async def mark_closed(self, *, changes: list[tuple[str, bool, datetime]]) -> None: ...

    async def pending_returns(self) -> list[dict[str, Any]]: ...


class EventPublisher(Protocol):
    """Publishes events and dead letters, waiting for the broker (`hotline.runtime.kafka.Publisher`)."""

    async def publish_all(self, items: Iterable[Outgoing]) -> None: ...


class CommandSender(Protocol):
    """Sends a command on `routing.commands`."""

    async def send(self, command: RoutingCommand) -> None: ...


@dataclass(frozen=True)
class Reference:
    """The reference data routing decides by: the city's units, the dispatch catalogue, the deadline
    policy, the working-day calendar and the taxonomy (categories, urgency classes; the city's)."""

    gazetteer: Gazetteer
    catalogue: Catalogue
    policy: DeadlinePolicy
    calendar: BusinessCalendar = field(default_factory=default_calendar)
    taxonomy: Taxonomy = field(default_factory=default_taxonomy)


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


class DispatchRequest(BaseModel):
    """The centre dispatches (派单) or re-dispatches (改派) a ticket to a unit."""

    lead_unit: str = Field(min_length=1, description="The unit that is to lead it.")
    co_handlers: list[str] = Field(default_factory=list, max_length=10, description="Cooperating units.")
    reason_code: CentreDispatchReason = Field(description="Why.")
    note: str = Field(default="", max_length=2000)
    dispatched_at: AwareDatetime | None = Field(default=None, description="Defaults to now.")


class ReviewRequest(BaseModel):
    """The centre approves or rejects a return waiting for review (退单审核)."""

    approved: bool = Field(description="True: carried out; false: the unit keeps the ticket.")
    note: str = Field(default="", max_length=2000)
    reviewed_at: AwareDatetime | None = Field(default=None, description="Defaults to now.")


class CategoryRequest(BaseModel):
    """The centre corrects a ticket's category (and urgency class)."""

    category: str = Field(min_length=1, description="A taxonomy category code.")
    urgency: str | None = Field(default=None, description="An urgency class code; unset: unchanged.")
    note: str = Field(default="", max_length=2000)
    corrected_at: AwareDatetime | None = Field(default=None, description="Defaults to now.")


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
                 return_window: timedelta, return_review: bool = False,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._review = return_review
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
                    redispatched = changed is not None and state is not None and changed.attempt != state.attempt
                    outcomes.append(CommandOutcome(command.ticket_id, command.command_id, asked, changed, events,
                                                   redispatched))
                    states[command.ticket_id] = Routed(new_state, {**routed.applied, key: Applied(asked, events)})
            outgoing.extend((topic_of(e), e, command.ticket_id) for e in events)
        await self._store.save_outcomes(outcomes=outcomes)
        await self._publisher.publish_all(outgoing)

    def _decide(self, state: RoutingState | None, command: RoutingCommand) -> tuple[RoutingState | None, Outcome]:
        ref = self._reference
        gazetteer, catalogue, policy, calendar = ref.gazetteer, ref.catalogue, ref.policy, ref.calendar
        if isinstance(command, ReturnTicket):
            return handle_return(state, command, window=self._window, gazetteer=gazetteer, catalogue=catalogue,
                                 policy=policy, calendar=calendar, review=self._review)
        if isinstance(command, DispatchTicket):
            return handle_dispatch(state, command, gazetteer=gazetteer, catalogue=catalogue, policy=policy,
                                   calendar=calendar)
        if isinstance(command, ReviewReturn):
            return handle_review(state, command, gazetteer=gazetteer, catalogue=catalogue, policy=policy,
                                 calendar=calendar)
        if isinstance(command, CorrectCategory):
            return handle_correction(state, command, gazetteer=gazetteer, catalogue=catalogue,
                                     taxonomy=ref.taxonomy, policy=policy, calendar=calendar)
        return state, handle_summon(state, command, gazetteer=gazetteer, catalogue=catalogue, policy=policy)

    # ------------------------------------------------------------ tickets.followup

    async def record_closures(self, events: Sequence[TicketClosed | TicketReopened]) -> None:
        """Keep whether each ticket is closed (a close sets it, a reopen clears it), the latest by
        business time winning, so a redelivered or late event changes nothing."""
        changes = [(e.ticket_id, True, e.closed_at) if isinstance(e, TicketClosed)
                   else (e.ticket_id, False, e.reopened_at) for e in events]
        await self._store.mark_closed(changes=changes)

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

    async def request_dispatch(self, caller: Principal, ticket_id: str, request: DispatchRequest,
                               idempotency_key: str | None) -> str:
        """The centre's dispatch (派单, 改派), checked and sent; its command id."""
        ref = self._reference
        check_centre(centre=caller.is_centre)
        check_lead_unit("lead_unit", request.lead_unit, ref.gazetteer, ref.catalogue)
        for code in request.co_handlers:
            check_lead_unit("co_handlers", code, ref.gazetteer, ref.catalogue)
        check_open(self._known(await self._store.history(ticket_id=ticket_id), ticket_id))
        return await self._send(DispatchTicket(
            command_id=idempotency_key or uuid.uuid4().hex, ticket_id=ticket_id, unit_code=CENTRE_CODE,
            lead_unit=request.lead_unit, co_handlers=request.co_handlers, reason_code=request.reason_code,
            note=request.note, dispatched_at=request.dispatched_at or self._clock(),
        ), request, idempotency_key)

    async def request_review(self, caller: Principal, ticket_id: str, request: ReviewRequest,
                             idempotency_key: str | None) -> str:
        """The centre's review of a waiting return, checked and sent; its command id."""
        check_centre(centre=caller.is_centre)
        check_pending_return(self._known(await self._store.history(ticket_id=ticket_id), ticket_id))
        return await self._send(ReviewReturn(
            command_id=idempotency_key or uuid.uuid4().hex, ticket_id=ticket_id, unit_code=CENTRE_CODE,
            approved=request.approved, note=request.note, reviewed_at=request.reviewed_at or self._clock(),
        ), request, idempotency_key)

    async def request_correction(self, caller: Principal, ticket_id: str, request: CategoryRequest,
                                 idempotency_key: str | None) -> str:
        """The centre's category correction, checked and sent; its command id."""
        check_centre(centre=caller.is_centre)
        check_category(request.category, request.urgency, self._reference.taxonomy)
        self._known(await self._store.history(ticket_id=ticket_id), ticket_id)
        return await self._send(CorrectCategory(
            command_id=idempotency_key or uuid.uuid4().hex, ticket_id=ticket_id, unit_code=CENTRE_CODE,
            category=request.category, urgency=request.urgency, note=request.note,
            corrected_at=request.corrected_at or self._clock(),
        ), request, idempotency_key)

    @staticmethod
    def _known(history: DispatchHistory | None, ticket_id: str) -> DispatchHistory:
        if history is None:
            raise no_dispatch(ticket_id)
        return history

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

    async def command_outcome(self, caller: Principal, ticket_id: str, command_id: str) -> dict[str, Any]:
        """What became of a command sent after a 202 (pending, applied or refused, with the
        refusal's reason), for the ticket's units and the centre: a workbench shows a refusal
        instead of waiting for a change that will not come."""
        check_readable(await self._store.history(ticket_id=ticket_id), caller=caller.unit_code, centre=caller.is_centre)
        return command_status(command_id, await self._store.command_events(ticket_id=ticket_id, command_id=command_id))

    async def pending_returns(self, caller: Principal) -> dict[str, Any]:
        """The returns waiting for the centre's review, oldest first (the centre only)."""
        check_centre(centre=caller.is_centre)
        returns = await self._store.pending_returns()
        return {"count": len(returns), "returns": returns}

    def reference(self) -> dict[str, Any]:
        """The units, categories, urgency classes and reason codes, for a workbench's pickers."""
        return reference_lists(self._reference, return_review=self._review)


def reference_lists(ref: Reference, *, return_review: bool) -> dict[str, Any]:
    """Every unit with a queue (streets and towns, district coordinators, departments and
    enterprises), the taxonomy's categories with their first-level class, the urgency classes."""
    gazetteer, catalogue = ref.gazetteer, ref.catalogue
    units: list[dict[str, str | None]] = [
        {"code": u.code, "name": u.name, "kind": u.kind.value, "district_code": u.district_code}
        for u in gazetteer.units.values()]
    units += [{"code": d.code, "name": f"{d.name}接诉即办指挥中心", "kind": "district_fallback",
               "district_code": d.code} for d in gazetteer.districts.values()]
    units += [{"code": o.code, "name": o.zh, "kind": o.kind, "district_code": None}
              for o in catalogue.units_by_code.values()]
    tree = default_tree()
    categories = [{"code": c.code, "zh": c.zh, "en": c.en, "first_level": tree.first_level.get(c.code)}
                  for c in ref.taxonomy.categories.values()]
    # Urgency classes have Chinese names only; their codes are English words.
    urgency = [{"code": u.code, "zh": u.zh, "en": u.code} for u in ref.taxonomy.urgency_classes.values()]
    return {"units": units, "categories": categories, "urgency": urgency,
            "return_reasons": [r.value for r in ReturnReason],
            "dispatch_reasons": [r.value for r in CentreDispatchReason], "return_review": return_review}
