"""The hotline centre's desk, pure: its own dispatch (派单, 改派), its review of a unit's return
(退单审核) and its correction of a ticket's category or urgency class. Each gives the events of
`hotline.routing.domain` a re-dispatch gives, so followup, metrics and the queues follow it alike."""

from dataclasses import replace

from hotline.business_calendar import BusinessCalendar
from hotline.catalogue import Catalogue
from hotline.category_tree import first_level_of
from hotline.contracts import Assignee, deterministic_event_id
from hotline.contracts.routing import (
    CategoryCorrected,
    CorrectCategory,
    DispatchTicket,
    ReturnReviewed,
    ReviewReturn,
    TicketRedispatched,
)
from hotline.contracts.topics import TRIAGE_QUEUE_CODE
from hotline.deadlines import DeadlinePolicy
from hotline.gazetteer import Gazetteer
from hotline.routing.domain import (
    Dispatch,
    DispatchReason,
    Outcome,
    RoutingState,
    carry_out_return,
    decide,
    dispatch_events,
    known_unit,
    refuse,
)
from hotline.taxonomy import Taxonomy

_UNKNOWN = "routing has not dispatched this ticket"


def _centre_unit(code: str, gazetteer: Gazetteer, catalogue: Catalogue) -> Assignee | None:
    """A unit the centre may dispatch to: one with a queue, not the triage desk itself."""
    return None if code == TRIAGE_QUEUE_CODE else known_unit(code, gazetteer, catalogue)


def _district_of(unit: Assignee, gazetteer: Gazetteer, before: str | None) -> str | None:
    if unit.unit_code in gazetteer.units:
        return gazetteer.units[unit.unit_code].district_code
    if unit.unit_code in gazetteer.districts:
        return unit.unit_code
    return before  # a department or enterprise: the place's district stays


def handle_dispatch(
    state: RoutingState | None,
    command: DispatchTicket,
    *,
    gazetteer: Gazetteer,
    catalogue: Catalogue,
    policy: DeadlinePolicy | None = None,
    calendar: BusinessCalendar | None = None,
) -> tuple[RoutingState | None, Outcome]:
    """The centre sends a ticket that is not closed to a unit: a new attempt, the new holder's full
    periods from `dispatched_at`; a waiting return is cleared; returns counted stay as they were."""
    if state is None:
        return state, [refuse(command, "unknown_ticket", _UNKNOWN)]
    if state.closed:
        return state, [refuse(command, "closed", "the ticket is closed: it is not re-dispatched")]
    lead = _centre_unit(command.lead_unit, gazetteer, catalogue)
    if lead is None:
        return state, [refuse(command, "not_a_unit", f"lead_unit: {command.lead_unit!r} is not a unit with a queue")]
    co: list[Assignee] = []
    for code in dict.fromkeys(command.co_handlers):
        unit = _centre_unit(code, gazetteer, catalogue)
        if unit is None:
            return state, [refuse(command, "not_a_unit", f"co_handlers: {code!r} is not a unit with a queue")]
        if unit.unit_code != lead.unit_code:
            co.append(unit)
    current = state.dispatch
    if (lead.unit_code == current.lead.unit_code
            and {a.unit_code for a in co} == {a.unit_code for a in current.co_handlers}):
        return state, [refuse(command, "same_holder", "the ticket already has this lead and these co-handlers")]
    attempt, at = state.attempt + 1, command.dispatched_at
    dispatch = Dispatch(lead, tuple(co), _district_of(lead, gazetteer, current.district_code), DispatchReason.CENTRE,
                        f"centre:{command.reason_code.value}", catalogue.version)
    redispatched = TicketRedispatched(
        event_id=deterministic_event_id("TicketRedispatched", command.ticket_id, str(attempt)),
        ticket_id=command.ticket_id, occurred_at=at, from_unit_code=current.lead.unit_code,
        unit_code=lead.unit_code, co_handlers=[a.unit_code for a in co], reason_code=command.reason_code,
        note=command.note, attempt=attempt, dispatched_by=command.unit_code,
    )
    dispatched, assignments = dispatch_events(state.ticket, dispatch, attempt=attempt, at=at, policy=policy,
                                              calendar=calendar)
    new_state = replace(state, dispatch=dispatch, attempt=attempt, dispatched_at=at, pending_return=None)
    return new_state, [redispatched, dispatched, *assignments]


def handle_review(
    state: RoutingState | None,
    command: ReviewReturn,
    *,
    gazetteer: Gazetteer,
    catalogue: Catalogue,
    policy: DeadlinePolicy | None = None,
    calendar: BusinessCalendar | None = None,
) -> tuple[RoutingState | None, Outcome]:
    """The centre's review of a waiting return: approved, the return is carried out (re-dispatched
    at the review's time); rejected, the unit keeps the ticket and its clocks."""
    if state is None:
        return state, [refuse(command, "unknown_ticket", _UNKNOWN)]
    pending = state.pending_return
    if pending is None:
        return state, [refuse(command, "no_pending_return", "no return of this ticket waits for review")]
    if command.approved and state.closed:
        return state, [refuse(command, "closed", "the ticket is closed: it is not re-dispatched")]
    reviewed = ReturnReviewed(
        event_id=deterministic_event_id("ReturnReviewed", command.ticket_id, command.command_id),
        ticket_id=command.ticket_id, occurred_at=command.reviewed_at, unit_code=pending.unit_code,
        attempt=state.attempt, approved=command.approved, note=command.note, reviewed_by=command.unit_code,
    )
    if not command.approved:
        return replace(state, pending_return=None), [reviewed]
    new_state, events = carry_out_return(state, pending, at=command.reviewed_at, gazetteer=gazetteer,
                                         catalogue=catalogue, policy=policy, calendar=calendar)
    return new_state, [reviewed, *events]


def handle_correction(
    state: RoutingState | None,
    command: CorrectCategory,
    *,
    gazetteer: Gazetteer,
    catalogue: Catalogue,
    taxonomy: Taxonomy,
    policy: DeadlinePolicy | None = None,
    calendar: BusinessCalendar | None = None,
) -> tuple[RoutingState | None, Outcome]:
    """The ticket takes the centre's category (and urgency class), no longer needs triage, and the
    catalogue decides again (passing over the units that returned it): another lead than the
    holder, and the ticket not closed, is a new attempt at `corrected_at`."""
    if state is None:
        return state, [refuse(command, "unknown_ticket", _UNKNOWN)]
    if command.category not in taxonomy.categories:
        return state, [refuse(command, "unknown_category", f"category: {command.category!r} is not a category")]
    if command.urgency is not None and command.urgency not in taxonomy.urgency_classes:
        return state, [refuse(command, "unknown_category", f"urgency: {command.urgency!r} is not an urgency class")]
    before = state.ticket
    ticket = before.model_copy(update={
        "category": command.category, "first_level": first_level_of(command.category),
        "urgency": command.urgency or before.urgency, "needs_triage": False,
    })
    decided = decide(ticket, gazetteer, catalogue, skip=state.returned_by)
    moves = decided.lead.unit_code != state.dispatch.lead.unit_code and not state.closed
    attempt, at = state.attempt + (1 if moves else 0), command.corrected_at
    corrected = CategoryCorrected(
        event_id=deterministic_event_id("CategoryCorrected", command.ticket_id, command.command_id),
        ticket_id=command.ticket_id, occurred_at=at, from_category=before.category, category=ticket.category,
        from_urgency=before.urgency, urgency=ticket.urgency, note=command.note, redispatched=moves,
        attempt=attempt, corrected_by=command.unit_code,
    )
    if not moves:
        return replace(state, ticket=ticket), [corrected]
    dispatched, assignments = dispatch_events(ticket, decided, attempt=attempt, at=at, policy=policy,
                                              calendar=calendar)
    new_state = replace(state, ticket=ticket, dispatch=decided, attempt=attempt, dispatched_at=at,
                        pending_return=None)
    return new_state, [corrected, dispatched, *assignments]
