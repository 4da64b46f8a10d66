"""Routing's pure domain: who handles a ticket by the dispatch catalogue, the events that say so,
returns (and their review by the centre) and whistle summons. The centre's own dispatch and
category correction are in `hotline.routing.desk`; who may ask over HTTP in `hotline.routing.access`."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hotline.business_calendar import BusinessCalendar
from hotline.catalogue import Catalogue, Target
from hotline.contracts import (
    Assignee,
    DispatchDeadline,
    QueueAssignment,
    TicketDispatched,
    TicketReceived,
    deterministic_event_id,
    mask_phone,
)
from hotline.contracts.common import Event
from hotline.contracts.raw import Caller
from hotline.contracts.routing import (
    CommandRefused,
    CorrectCategory,
    DepartmentsSummoned,
    DispatchTicket,
    ReturnRequested,
    ReturnTicket,
    ReviewReturn,
    SummonDepartments,
    TicketEscalated,
    TicketReturned,
)
from hotline.contracts.topics import TRIAGE_QUEUE_CODE
from hotline.deadlines import ClockKind, DeadlinePolicy, default_policy, report_back_due
from hotline.gazetteer import Gazetteer, UnitKind
from hotline.runtime.idempotency import KEY_REUSED, request_hash


class DispatchReason(StrEnum):
    """Why the lead unit got the ticket."""

    STREET_TOWN = "street_town"  # 属地: the street or town where the problem is
    DEPARTMENT = "department"  # a municipal department, by the catalogue
    ENTERPRISE = "enterprise"  # a public-service enterprise, by the catalogue
    DISTRICT_FALLBACK = "district_fallback"  # 兜底: no street or town known, the district owns it
    TRIAGE = "triage"  # not even a district: the hotline centre sorts it out
    ESCALATION = "escalation"  # 督办: returned twice, the district coordinator takes it
    CENTRE = "centre"  # the hotline centre dispatched it itself (派单, 改派)


@dataclass(frozen=True)
class Dispatch:
    """The lead unit, the co-handlers, and the catalogue line behind them."""

    lead: Assignee
    co_handlers: tuple[Assignee, ...]
    district_code: str | None
    reason: DispatchReason
    rule_id: str | None
    catalogue_version: str | None


def _street_town(ticket: TicketReceived, gazetteer: Gazetteer) -> Assignee | None:
    unit = gazetteer.units.get(ticket.location.unit_code or "")
    if unit is None:
        return None
    return Assignee(unit_code=unit.code, unit_name=unit.name, unit_kind=unit.kind.value)


def fallback_owner(district_code: str | None, gazetteer: Gazetteer) -> Assignee:
    """The district's coordination centre (兜底) when the district is known, else triage."""
    district = gazetteer.districts.get(district_code or "")
    if district is not None:
        return Assignee(unit_code=district.code, unit_name=f"{district.name}接诉即办指挥中心",
                        unit_kind=UnitKind.DISTRICT_FALLBACK.value)
    return TRIAGE_DESK


TRIAGE_DESK = Assignee(unit_code=TRIAGE_QUEUE_CODE, unit_name="12345热线分拨", unit_kind="triage")
# The rule id of a dispatch to the triage desk because intake's classifier was unsure.
UNSURE_RULE = "triage-classifier-unsure"


def _resolve(target: Target, street: Assignee | None, catalogue: Catalogue) -> Assignee | None:
    """The unit a catalogue target names for this ticket; None for a street that is unknown."""
    if target.is_street_town:
        if street is None:
            return None
        return street.model_copy(update={
            "office": target.office, "office_name": catalogue.offices.get(target.office or ""),
        })
    unit = catalogue.units_by_code[target.unit]  # type: ignore[index]
    return Assignee(unit_code=unit.code, unit_name=unit.zh, unit_kind=unit.kind)


def decide(
    ticket: TicketReceived,
    gazetteer: Gazetteer,
    catalogue: Catalogue,
    *,
    skip: frozenset[str] = frozenset(),
) -> Dispatch:
    """Apply the first catalogue rule that fits; fall back to the district, then to triage.

    `skip` holds units that returned the ticket: a rule led by one of them is passed over.
    A ticket intake's classifier was unsure of goes to the triage desk first (`needs_triage`);
    once the desk has handed it on, the catalogue decides on the classifier's best guess.
    """
    street = _street_town(ticket, gazetteer)
    district_code = ticket.location.district_code or (street.unit_code[:6] if street else None)
    if ticket.needs_triage and TRIAGE_QUEUE_CODE not in skip:
        return Dispatch(TRIAGE_DESK, (), district_code, DispatchReason.TRIAGE, UNSURE_RULE, catalogue.version)
    rule = catalogue.first_rule(
        category=ticket.category, district_code=district_code,
        unit_code=street.unit_code if street else None, content=ticket.content, skip=skip,
    )
    lead = _resolve(rule.lead, street, catalogue)
    if lead is None or lead.unit_code in skip:
        owner = fallback_owner(district_code, gazetteer)
        reason = DispatchReason.TRIAGE if owner.unit_code == TRIAGE_QUEUE_CODE else DispatchReason.DISTRICT_FALLBACK
        return Dispatch(owner, (), district_code, reason, rule.id, catalogue.version)
    co = tuple(
        a for a in (_resolve(t, street, catalogue) for t in rule.co)
        if a is not None and a.unit_code != lead.unit_code
    )
    reason = {"department": DispatchReason.DEPARTMENT, "enterprise": DispatchReason.ENTERPRISE}.get(
        lead.unit_kind, DispatchReason.STREET_TOWN
    )
    return Dispatch(lead, co, district_code, reason, rule.id, catalogue.version)


def dispatch_events(
    ticket: TicketReceived, dispatch: Dispatch, *, attempt: int = 1, at: datetime | None = None,
    policy: DeadlinePolicy | None = None, calendar: BusinessCalendar | None = None,
) -> tuple[TicketDispatched, list[QueueAssignment]]:
    """The dispatch event and one copy for each assigned unit's queue.

    The first dispatch happens as the ticket arrives, so its business time is the ticket's
    receipt time; a re-dispatch happens at the return's time. Replaying the log gives the same.
    The dispatch carries the deadlines it starts for the lead unit, by `policy` (the shipped one
    by default) from the dispatch time in the city's `calendar` (China's by default), so no consumer
    works them out again: the first dispatch's report-back deadline is intake's answer (the same
    rule at the same time), a re-dispatch's is the new holder's full period.
    """
    dispatched_at = at or ticket.received_at
    lead = dispatch.lead
    deadlines = (policy or default_policy()).dispatch_deadlines(urgency=ticket.urgency, dispatched_at=dispatched_at,
                                                                calendar=calendar)
    report_back_due_at = deadlines[ClockKind.REPORT_BACK]
    dispatched = TicketDispatched(
        event_id=deterministic_event_id("TicketDispatched", ticket.ticket_id, str(attempt)),
        ticket_id=ticket.ticket_id,
        occurred_at=dispatched_at,
        unit_code=lead.unit_code,
        unit_name=lead.unit_name,
        unit_kind=lead.unit_kind,
        office=lead.office,
        office_name=lead.office_name,
        district_code=dispatch.district_code,
        reason=dispatch.reason.value,
        dispatched_at=dispatched_at,
        co_handlers=list(dispatch.co_handlers),
        rule_id=dispatch.rule_id,
        catalogue_version=dispatch.catalogue_version,
        attempt=attempt,
        category=ticket.category,
        urgency=ticket.urgency,
        report_back_due_at=report_back_due_at,
        # Followup's timeline and brief facts ride on the dispatch (it no longer reads
        # tickets.received): masked as the timeline keeps it.
        received=ticket.model_copy(update={"caller": Caller(phone=mask_phone(ticket.caller.phone))}),
        response_due_at=deadlines[ClockKind.RESPONSE],
        deadlines=[DispatchDeadline(clock=kind.value, due_at=due) for kind, due in deadlines.items()],
    )
    roles = [(lead, "lead"), *((a, "co_handler") for a in dispatch.co_handlers)]
    # An anonymous caller's number stays with the hotline (for the callback), not the unit.
    phone = None if ticket.anonymous else ticket.caller.phone
    assignments = [
        QueueAssignment(
            event_id=deterministic_event_id("QueueAssignment", ticket.ticket_id, str(attempt), a.unit_code),
            ticket_id=ticket.ticket_id,
            occurred_at=dispatched_at,
            unit_code=a.unit_code,
            role=role,
            office=a.office,
            lead_unit_code=lead.unit_code,
            category=ticket.category,
            urgency=ticket.urgency,
            report_back_due_at=report_back_due_at,
            attempt=attempt,
            content=ticket.content,
            address=ticket.location.address,
            caller_phone=phone,
            caller_phone_masked=mask_phone(phone),
            received_at=ticket.received_at,
            dispatched_at=dispatched_at,
            first_level=ticket.first_level,
            confidence=ticket.confidence,
            candidates=ticket.candidates,
        )
        for a, role in roles
    ]
    return dispatched, assignments


# ---------------------------------------------------------------- returns and whistle summons

RETURN_LIMIT = 2  # the second return escalates to the district coordinator
_STREET_KINDS = {k.value for k in UnitKind} - {UnitKind.DISTRICT_FALLBACK.value}


@dataclass(frozen=True)
class RoutingState:
    """What routing knows of a dispatched ticket."""

    ticket: TicketReceived
    dispatch: Dispatch
    attempt: int
    dispatched_at: datetime
    returned_by: frozenset[str] = frozenset()
    returns: int = 0
    escalated: bool = False
    # A unit's return waiting for the centre's review (ROUTING_RETURN_REVIEW); a re-dispatch clears it.
    pending_return: ReturnTicket | None = None
    # Followup closed the ticket (TicketClosed; a TicketReopened clears it): nobody re-dispatches it.
    closed: bool = False


Outcome = list[Event]
RoutingCommand = ReturnTicket | SummonDepartments | DispatchTicket | ReviewReturn | CorrectCategory


@dataclass(frozen=True)
class Applied:
    """A command already applied to a ticket: the hash of what it asked (None when it was stored
    before hashes were kept: it counts as the same) and the events it gave."""

    request_hash: str | None
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Routed:
    """A dispatched ticket's state and the commands applied to it, by `command_key`."""

    state: RoutingState
    applied: dict[str, Applied]


@dataclass(frozen=True)
class CommandOutcome:
    """What applying a command to a known ticket changed: the events it gave, kept under its id,
    and the ticket's new state (None when it stays as it was)."""

    ticket_id: str
    command_id: str
    request_hash: str
    state: RoutingState | None
    events: tuple[Event, ...]
    # Whether the new state is a new dispatch attempt (a history entry), not only a changed state.
    redispatched: bool = True


def command_key(command_id: str) -> str:
    """A command's key among those applied to its ticket: a field name, where the id may hold dots or dollars."""
    return deterministic_event_id("command", command_id)


def command_hash(command: RoutingCommand) -> str:
    """The hash of what a command asks (its id left out): what its command id is kept with."""
    return request_hash(command.command, command.ticket_id, command.model_dump(exclude={"command_id", "command"}))


def command_time(command: RoutingCommand) -> datetime:
    """When the command says it was given."""
    if isinstance(command, ReturnTicket):
        return command.returned_at
    if isinstance(command, SummonDepartments):
        return command.summoned_at
    if isinstance(command, DispatchTicket):
        return command.dispatched_at
    if isinstance(command, ReviewReturn):
        return command.reviewed_at
    return command.corrected_at


def refuse(command: RoutingCommand, code: str, reason: str, at: datetime | None = None) -> CommandRefused:
    """The refusal of a command: nothing changed."""
    return _refuse(command, code, reason, command_time(command) if at is None else at)


def _refuse(command: RoutingCommand, code: str, reason: str, at: datetime) -> CommandRefused:
    return CommandRefused(
        # Named by the request, not the command id alone: a different command refused under a
        # reused id is another refusal.
        event_id=deterministic_event_id("CommandRefused", command.command_id, command_hash(command)),
        ticket_id=command.ticket_id, occurred_at=at, command=command.command,
        command_id=command.command_id, unit_code=command.unit_code, code=code, reason=reason,
    )


def refuse_reused_key(command: RoutingCommand) -> CommandRefused:
    """The refusal of a command whose id was already used on this ticket for a different command."""
    return refuse(command, "key_reused", f"command_id: {KEY_REUSED}")


def known_unit(code: str, gazetteer: Gazetteer, catalogue: Catalogue) -> Assignee | None:
    """The unit with this code, if it has a queue."""
    if code in gazetteer.units:
        place = gazetteer.units[code]
        return Assignee(unit_code=code, unit_name=place.name, unit_kind=place.kind.value)
    if code in catalogue.units_by_code:
        org = catalogue.units_by_code[code]
        return Assignee(unit_code=code, unit_name=org.zh, unit_kind=org.kind)
    if code in gazetteer.districts:
        return fallback_owner(code, gazetteer)
    return None


def handle_return(
    state: RoutingState | None,
    command: ReturnTicket,
    *,
    window: timedelta,
    gazetteer: Gazetteer,
    catalogue: Catalogue,
    policy: DeadlinePolicy | None = None,
    calendar: BusinessCalendar | None = None,
    review: bool = False,
) -> tuple[RoutingState | None, Outcome]:
    """Accept a return by the lead within the window and re-dispatch, or escalate; else refuse.
    With `review`, a unit's return (not the triage desk's hand-off) waits for the centre's review."""
    at = command.returned_at
    if state is None:
        return state, [_refuse(command, "unknown_ticket", "routing has not dispatched this ticket", at)]
    refusal = _return_refusal(state, command, window)
    if refusal is not None:
        return state, [refusal]
    if review and state.dispatch.lead.unit_code != TRIAGE_QUEUE_CODE:
        requested = ReturnRequested(
            # By the command: after a rejection the unit may ask again on the same attempt.
            event_id=deterministic_event_id("ReturnRequested", command.ticket_id, command.command_id),
            ticket_id=command.ticket_id, occurred_at=at, unit_code=command.unit_code, attempt=state.attempt,
            reason_code=command.reason_code, suggested_unit=command.suggested_unit, note=command.note,
            command_id=command.command_id,
        )
        return replace(state, pending_return=command), [requested]
    return carry_out_return(state, command, at=at, gazetteer=gazetteer, catalogue=catalogue, policy=policy,
                            calendar=calendar)


def _return_refusal(state: RoutingState, command: ReturnTicket, window: timedelta) -> CommandRefused | None:
    """Why this return is refused now, if it is (the window judged at the return's own time)."""
    at = command.returned_at
    lead = state.dispatch.lead
    if state.escalated:
        return _refuse(command, "escalated", "the district coordinator owns this ticket now", at)
    if command.unit_code in {a.unit_code for a in state.dispatch.co_handlers}:
        return _refuse(command, "co_handler", "a co-handler cooperates and cannot return the ticket (首接负责)", at)
    if command.unit_code != lead.unit_code:
        return _refuse(command, "not_holder", "this unit does not hold the ticket", at)
    if state.pending_return is not None:
        return _refuse(command, "return_pending", "a return of this ticket waits for the centre's review", at)
    # The triage desk hands a ticket on (its return names the unit): its job, at any time, and
    # not a return that brings the ticket nearer escalation.
    if lead.unit_code != TRIAGE_QUEUE_CODE and at - state.dispatched_at > window:
        return _refuse(command, "window_passed", f"returns are accepted within {window} of dispatch", at)
    return None


def carry_out_return(
    state: RoutingState, command: ReturnTicket, *, at: datetime, gazetteer: Gazetteer, catalogue: Catalogue,
    policy: DeadlinePolicy | None = None, calendar: BusinessCalendar | None = None,
) -> tuple[RoutingState, Outcome]:
    """The return's events and the re-dispatch (or escalation) at `at`: the return's time, or
    the time the centre approved it."""
    hand_off = state.dispatch.lead.unit_code == TRIAGE_QUEUE_CODE
    returns = state.returns + (0 if hand_off else 1)
    returned_by = state.returned_by | {command.unit_code}
    returned = TicketReturned(
        event_id=deterministic_event_id("TicketReturned", command.ticket_id, str(state.attempt)),
        ticket_id=command.ticket_id, occurred_at=at, unit_code=command.unit_code,
        attempt=state.attempt, reason_code=command.reason_code,
        suggested_unit=command.suggested_unit, note=command.note, returns=returns,
    )
    attempt = state.attempt + 1
    if returns >= RETURN_LIMIT:
        owner = fallback_owner(state.dispatch.district_code, gazetteer)
        dispatch = Dispatch(owner, (), state.dispatch.district_code, DispatchReason.ESCALATION,
                            "escalation", catalogue.version)
        escalated = TicketEscalated(
            event_id=deterministic_event_id("TicketEscalated", command.ticket_id),
            ticket_id=command.ticket_id, occurred_at=at, district_code=state.dispatch.district_code,
            to_unit_code=owner.unit_code, returns=returns,
        )
        events: Outcome = [returned, escalated]
    else:
        dispatch = _redispatch(state.ticket, command, returned_by, gazetteer, catalogue)
        events = [returned]
    new_state = replace(state, dispatch=dispatch, attempt=attempt, dispatched_at=at, returned_by=returned_by,
                        returns=returns, escalated=returns >= RETURN_LIMIT, pending_return=None)
    dispatched, assignments = dispatch_events(state.ticket, dispatch, attempt=attempt, at=at, policy=policy,
                                              calendar=calendar)
    return new_state, [*events, dispatched, *assignments]


def _redispatch(ticket: TicketReceived, command: ReturnTicket, returned_by: frozenset[str],
                gazetteer: Gazetteer, catalogue: Catalogue) -> Dispatch:
    """The suggested unit when it has a queue and has not returned it; else the catalogue again."""
    suggested = known_unit(command.suggested_unit or "", gazetteer, catalogue)
    decided = decide(ticket, gazetteer, catalogue, skip=returned_by)
    if suggested is None or suggested.unit_code in returned_by:
        return decided
    reason = {"department": DispatchReason.DEPARTMENT, "enterprise": DispatchReason.ENTERPRISE,
              "district_fallback": DispatchReason.DISTRICT_FALLBACK}.get(
        suggested.unit_kind, DispatchReason.STREET_TOWN)
    co = tuple(a for a in decided.co_handlers if a.unit_code != suggested.unit_code)
    return Dispatch(suggested, co, decided.district_code, reason,
                    f"suggested-by:{command.unit_code}", catalogue.version)


def handle_summon(
    state: RoutingState | None,
    command: SummonDepartments,
    *,
    gazetteer: Gazetteer,
    catalogue: Catalogue,
    policy: DeadlinePolicy | None = None,
) -> Outcome:
    """A street or town on the ticket summons departments; each gets it on its queue, due on site
    by the policy (吹哨报到, 30 minutes) and reporting back when the holder's dispatch says."""
    at = command.summoned_at
    if state is None:
        return [_refuse(command, "unknown_ticket", "routing has not dispatched this ticket", at)]
    on_ticket = {state.dispatch.lead.unit_code: state.dispatch.lead,
                 **{a.unit_code: a for a in state.dispatch.co_handlers}}
    caller = on_ticket.get(command.unit_code)
    if caller is None:
        return [_refuse(command, "not_holder", "only a unit handling the ticket can blow the whistle", at)]
    if caller.unit_kind not in _STREET_KINDS:
        return [_refuse(command, "not_street_town", "only a street or town blows the whistle (吹哨)", at)]
    unknown = [d for d in command.departments if d not in catalogue.units_by_code]
    if unknown:
        return [_refuse(command, "unknown_unit", f"not a department or enterprise: {', '.join(unknown)}", at)]
    policy = policy or default_policy()
    due = policy.due_at(kind=ClockKind.ON_SITE, urgency="any", started_at=at)
    summoned = DepartmentsSummoned(
        event_id=deterministic_event_id("DepartmentsSummoned", command.ticket_id, command.command_id),
        ticket_id=command.ticket_id, occurred_at=at, unit_code=command.unit_code,
        departments=list(dict.fromkeys(command.departments)), note=command.note,
        report_on_site_due_at=due,
    )
    ticket = state.ticket
    report_back_due_at = report_back_due(ticket.urgency, state.dispatched_at, policy=policy)
    copies = [
        QueueAssignment(
            event_id=deterministic_event_id("QueueAssignment", command.ticket_id, command.command_id, code),
            ticket_id=ticket.ticket_id, occurred_at=at, unit_code=code, role="summoned",
            lead_unit_code=state.dispatch.lead.unit_code, category=ticket.category,
            urgency=ticket.urgency, report_back_due_at=report_back_due_at,
            attempt=state.attempt, on_site_due_at=due, content=ticket.content,
            address=ticket.location.address, caller_phone=None, caller_phone_masked=None,
            received_at=ticket.received_at, dispatched_at=at,
        )
        for code in summoned.departments
    ]
    return [summoned, *copies]


@dataclass(frozen=True)
class DispatchHistory:
    """A ticket's dispatch history as routing answers it (`view`, without the caller), and every
    unit it was ever assigned to, as lead or co-handler."""

    units: frozenset[str]
    view: dict[str, Any]
