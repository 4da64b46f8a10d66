"""A ticket's life at followup, pure: what a unit reports (contacts, resolutions, extensions,
on-site reports) checked against the ticket, the events it produces, and the views units read.

Kept free of the store and the broker so each rule is tested by itself; a refusal is a domain
error (`hotline.domain_errors`), which HTTP maps to its status once (`hotline.runtime.errors`) and
a Kafka command turns into a `FollowupCommandRefused` event (`tickets/commands.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from hotline.contracts import (
    CallbackResult,
    ContactRecorded,
    DecideExtension,
    ExtensionDecided,
    ExtensionRequested,
    RecordContact,
    ReportedOnSite,
    ReportOnSite,
    RequestExtension,
    ResolveTicket,
    Satisfaction,
    TicketClosed,
    TicketReceived,
    TicketReopened,
    TicketResolved,
    deterministic_event_id,
    mask_phone,
)
from hotline.contracts.raw import Caller
from hotline.contracts.routing import CategoryCorrected
from hotline.domain_errors import Closed, Conflict, Invalid, NotFound, NotYours
from hotline.runtime.idempotency import KEY_REUSED


class TicketState(StrEnum):
    """Where a ticket is in its life at followup."""

    OPEN = "open"  # being handled (again, after a reopen)
    RESOLVED = "resolved"  # the unit reported it resolved; the callback decides
    CLOSED = "closed"  # the citizen confirmed it: nothing more to do


@dataclass(frozen=True)
class FollowupTicket:
    """What followup knows of a ticket: who holds it and what was done."""

    ticket_id: str
    unit_code: str
    first_dispatched_at: datetime
    contact_ids: frozenset[str] = field(default_factory=frozenset)
    # The request hash of each contact recorded under an idempotency key: contact id -> hash.
    contact_hashes: dict[str, str] = field(default_factory=dict)
    state: TicketState = TicketState.OPEN
    round: int = 0
    round_started_at: datetime | None = None
    # (unit, time) of each contact, to require a contact in the current round before resolving.
    contacts: tuple[tuple[str, datetime], ...] = ()
    callback_ids: frozenset[str] = field(default_factory=frozenset)
    report_back_due_at: datetime | None = None
    extension: Extension | None = None
    # Pending and answered summons: unit -> (summons event id, due, reported_at or None).
    summons: tuple[tuple[str, str, datetime, datetime | None], ...] = ()
    # What the deadline clocks are derived from (see deadlines/domain.py).
    attempt: int = 1
    dispatched_at: datetime | None = None  # of the current attempt
    response_due_at: datetime | None = None  # as the current dispatch says (TicketDispatched v3)
    urgency: str | None = None
    district_code: str | None = None
    resolved_at_by_round: dict[int, datetime] = field(default_factory=dict)
    summoned_at: dict[str, datetime] = field(default_factory=dict)  # summons event id -> when
    # Deadline marks claimed for firing: mark id -> (claimed at, by, sent).
    fired: dict[str, tuple[datetime, str, bool]] = field(default_factory=dict)
    # The current dispatch's trace context (W3C traceparent): deadline spans link to it.
    traceparent: str | None = None


@dataclass(frozen=True)
class Extension:
    """The round's extension request: `requested`, then `approved` or `denied`."""

    state: str
    requested_at: datetime
    requested_due_at: datetime
    decided_at: datetime | None = None
    # The deadline the request meant to move, so a redelivered request gets the same event back.
    current_due_at: datetime | None = None


class KeyReused(Conflict):
    """An idempotency key (a Kafka command's `command_id`) already used for a different request."""

    def __init__(self) -> None:
        super().__init__("Idempotency-Key", KEY_REUSED, location="header")


def same_request(stored_hash: str | None, request_hash: str | None) -> bool:
    """Whether a stored keyed action was this request; one stored before hashes were kept counts."""
    return stored_hash is None or request_hash is None or stored_hash == request_hash


def contact_id_for(ticket_id: str, command: RecordContact, idempotency_key: str | None) -> str:
    """A retried submission (same key, or same content without a key) is the same contact."""
    if idempotency_key:
        return deterministic_event_id("Contact", ticket_id, command.unit_code, idempotency_key)
    return deterministic_event_id(
        "Contact", ticket_id, command.unit_code, command.kind.value,
        command.contacted_at.isoformat(), command.staff_id,
    )


def not_in_future(moment: datetime, field: str, *, now: datetime, clock_skew: timedelta) -> None:
    """Refuse a time further ahead than the clocks of unit and server may differ."""
    if moment > now + clock_skew:
        raise Invalid(field, f"{field} is in the future")


def _open_ticket_of(ticket: FollowupTicket | None, unit_code: str, ticket_id: str) -> FollowupTicket:
    """The ticket, when it exists, is this unit's and is not closed; else a domain error."""
    if ticket is None:
        raise NotFound("ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
    if unit_code != ticket.unit_code:
        raise NotYours("unit_code", "the ticket is not assigned to this unit")
    if ticket.state is TicketState.CLOSED:
        raise Closed("ticket_id", "the ticket is closed")
    return ticket


def record_contact(
    ticket: FollowupTicket | None,
    command: RecordContact,
    *,
    ticket_id: str,
    contact_id: str,
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
    request_hash: str | None = None,
) -> ContactRecorded:
    """The ContactRecorded event for a valid contact, or a domain error (KeyReused when the contact's
    key was used for a different request: its event would carry the first one's id)."""
    ticket = _open_ticket_of(ticket, command.unit_code, ticket_id)
    if not same_request(ticket.contact_hashes.get(contact_id), request_hash):
        raise KeyReused()
    not_in_future(command.contacted_at, "contacted_at", now=now, clock_skew=clock_skew)
    if command.contacted_at < ticket.first_dispatched_at:
        raise Invalid("contacted_at", "contact time is before the ticket was dispatched")
    return ContactRecorded(
        event_id=deterministic_event_id("ContactRecorded", contact_id),
        ticket_id=ticket.ticket_id,
        occurred_at=command.contacted_at,
        contact_id=contact_id,
        unit_code=command.unit_code,
        kind=command.kind,
        contacted_at=command.contacted_at,
        staff_id=command.staff_id,
    )


def resolve(
    ticket: FollowupTicket | None,
    command: ResolveTicket,
    *,
    ticket_id: str,
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> TicketResolved:
    """The lead unit's resolution of the current round; refused without a contact in it."""
    ticket = _open_ticket_of(ticket, command.unit_code, ticket_id)
    if ticket.state is TicketState.RESOLVED:
        raise Conflict("ticket_id", "the ticket is already resolved; the callback decides")
    not_in_future(command.resolved_at, "resolved_at", now=now, clock_skew=clock_skew)
    since = ticket.round_started_at or ticket.first_dispatched_at
    if command.resolved_at < since:
        raise Invalid("resolved_at", "resolution time is before the ticket was (re)opened")
    if not any(unit == ticket.unit_code and since <= at <= command.resolved_at
               for unit, at in ticket.contacts):
        raise Invalid("outcome", "record a contact with the citizen before resolving")
    return TicketResolved(
        event_id=deterministic_event_id("TicketResolved", ticket.ticket_id, str(ticket.round)),
        ticket_id=ticket.ticket_id, occurred_at=command.resolved_at, unit_code=ticket.unit_code,
        outcome=command.outcome, resolution_code=command.resolution_code,
        resolved_at=command.resolved_at, round=ticket.round,
    )


def callback_id(result: CallbackResult) -> str:
    """One survey of a ticket at one time is one callback, however often it is delivered."""
    return deterministic_event_id("Callback", result.ticket_id, result.surveyed_at.isoformat())


def apply_callback(
    ticket: FollowupTicket, result: CallbackResult, *, reopen_period: timedelta
) -> tuple[FollowupTicket, TicketReopened | TicketClosed | None]:
    """Unresolved or dissatisfied reopens the ticket for the same unit; satisfied closes it."""
    cid = callback_id(result)
    if cid in ticket.callback_ids or ticket.state is TicketState.CLOSED:
        return ticket, None
    ticket = replace(ticket, callback_ids=ticket.callback_ids | {cid})
    at = result.surveyed_at
    if not result.resolved or result.satisfaction is Satisfaction.DISSATISFIED:
        round_ = ticket.round + 1
        reopened = TicketReopened(
            event_id=deterministic_event_id("TicketReopened", ticket.ticket_id, str(round_)),
            ticket_id=ticket.ticket_id, occurred_at=at, unit_code=ticket.unit_code,
            reason="unresolved" if not result.resolved else "dissatisfied",
            reopened_at=at, report_back_due_at=at + reopen_period, round=round_,
        )
        reopened_ticket = replace(ticket, state=TicketState.OPEN, round=round_, round_started_at=at,
                                  report_back_due_at=reopened.report_back_due_at, extension=None)
        return reopened_ticket, reopened
    closed = TicketClosed(
        event_id=deterministic_event_id("TicketClosed", ticket.ticket_id),
        ticket_id=ticket.ticket_id, occurred_at=at, unit_code=ticket.unit_code, closed_at=at,
        satisfaction=result.satisfaction.value,
    )
    return replace(ticket, state=TicketState.CLOSED), closed


def request_extension(
    ticket: FollowupTicket | None,
    command: RequestExtension,
    *,
    ticket_id: str,
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> ExtensionRequested:
    """A pending request for more time: once a round, before the deadline, for a later one."""
    ticket = _open_ticket_of(ticket, command.unit_code, ticket_id)
    if ticket.report_back_due_at is None:
        raise Conflict("ticket_id", "the ticket has no report-back deadline to extend")
    not_in_future(command.requested_at, "requested_at", now=now, clock_skew=clock_skew)
    if command.requested_at >= ticket.report_back_due_at:
        raise Conflict("requested_at", "the deadline has already been breached")
    if ticket.extension is not None:
        raise Conflict("ticket_id", "an extension was already requested for this round")
    if command.requested_due_at <= ticket.report_back_due_at:
        raise Invalid("requested_due_at", "an extension must move the deadline later")
    return ExtensionRequested(
        event_id=deterministic_event_id("ExtensionRequested", ticket.ticket_id, str(ticket.round)),
        ticket_id=ticket.ticket_id, occurred_at=command.requested_at, unit_code=ticket.unit_code,
        reason=command.reason, current_due_at=ticket.report_back_due_at,
        requested_due_at=command.requested_due_at,
    )


def same_instant(stored: datetime | None, given: datetime) -> bool:
    """Equal to the millisecond (the store keeps times in milliseconds); nothing stored is not equal."""
    return stored is not None and abs(stored - given) < timedelta(milliseconds=1)


def repeated_extension_request(ticket: FollowupTicket | None, command: RequestExtension) -> ExtensionRequested | None:
    """The round's recorded request when this command is the same request again (a redelivered
    command or a retried call), so it is answered, not refused; None otherwise."""
    if ticket is None or ticket.extension is None:
        return None
    ext = ticket.extension
    if (ext.current_due_at is None or ticket.unit_code != command.unit_code
            or not same_instant(ext.requested_at, command.requested_at)
            or not same_instant(ext.requested_due_at, command.requested_due_at)):
        return None
    return ExtensionRequested(
        event_id=deterministic_event_id("ExtensionRequested", ticket.ticket_id, str(ticket.round)),
        ticket_id=ticket.ticket_id, occurred_at=ext.requested_at, unit_code=ticket.unit_code,
        reason=command.reason, current_due_at=ext.current_due_at,
        requested_due_at=ext.requested_due_at,
    )


def repeated_extension_decision(ticket: FollowupTicket | None, command: DecideExtension) -> ExtensionDecided | None:
    """The round's recorded decision when this command is the same decision again; None otherwise."""
    if ticket is None or ticket.extension is None or ticket.report_back_due_at is None:
        return None
    ext = ticket.extension
    if (ext.state != ("approved" if command.approved else "denied")
            or ext.decided_at is None or not same_instant(ext.decided_at, command.decided_at)):
        return None
    return ExtensionDecided(
        event_id=deterministic_event_id("ExtensionDecided", ticket.ticket_id, str(ticket.round)),
        ticket_id=ticket.ticket_id, occurred_at=ext.decided_at, unit_code=ticket.unit_code,
        approved=command.approved, report_back_due_at=ticket.report_back_due_at, note=command.note,
    )


def decide_extension(
    ticket: FollowupTicket | None, command: DecideExtension, *, ticket_id: str
) -> ExtensionDecided:
    """The centre's decision on the pending request; an approval moves the deadline."""
    if ticket is None:
        raise NotFound("ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
    if ticket.extension is None or ticket.extension.state != "requested":
        raise Conflict("ticket_id", "no extension is waiting for a decision")
    due = ticket.extension.requested_due_at if command.approved else ticket.report_back_due_at
    if due is None:  # a request needs a deadline (request_extension), so only a damaged record lacks it
        raise Conflict("ticket_id", "the ticket has no report-back deadline to extend")
    return ExtensionDecided(
        event_id=deterministic_event_id("ExtensionDecided", ticket.ticket_id, str(ticket.round)),
        ticket_id=ticket.ticket_id, occurred_at=command.decided_at, unit_code=ticket.unit_code,
        approved=command.approved, report_back_due_at=due, note=command.note,
    )


def report_on_site(
    ticket: FollowupTicket | None,
    command: ReportOnSite,
    *,
    ticket_id: str,
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> ReportedOnSite:
    """A summoned unit's arrival on site, against its 30-minute deadline; once per summons."""
    if ticket is None:
        raise NotFound("ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
    pending = [s for s in ticket.summons if s[0] == command.unit_code and s[3] is None]
    if not pending:
        raise NotYours("unit_code", "this unit has no open summons for the ticket")
    not_in_future(command.reported_at, "reported_at", now=now, clock_skew=clock_skew)
    unit_code, summons_id, due, _ = pending[0]
    return ReportedOnSite(
        event_id=deterministic_event_id("ReportedOnSite", summons_id, unit_code),
        ticket_id=ticket.ticket_id, occurred_at=command.reported_at, unit_code=unit_code,
        summons_event_id=summons_id, reported_at=command.reported_at, due_at=due,
        in_time=command.reported_at <= due,
    )


class WorklistView(StrEnum):
    """Which of a unit's tickets to list."""

    OPEN = "open"
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"


def select_worklist(tickets: list[dict], view: WorklistView, *, now: datetime,
                    due_soon: timedelta) -> list[dict]:
    """The unit's tickets for a view, soonest deadline first (those without one last)."""
    def due(t: dict) -> datetime | None:
        return t.get("report_back_due_at")

    if view is WorklistView.OVERDUE:
        chosen = [t for t in tickets if t.get("state") == "open" and (d := due(t)) and d < now]
    elif view is WorklistView.DUE_SOON:
        chosen = [t for t in tickets if t.get("state") == "open" and (d := due(t)) and now <= d <= now + due_soon]
    else:
        chosen = list(tickets)
    return sorted(chosen, key=lambda t: (due(t) is None, due(t) or now))


def masked_for_timeline(received: TicketReceived) -> TicketReceived:
    """The received event as a timeline keeps it: the phone masked, the name dropped."""
    return received.model_copy(update={"caller": Caller(phone=mask_phone(received.caller.phone))})


# Events at the same moment read in the order a ticket lives them.
_TIMELINE_ORDER = {name: rank for rank, name in enumerate([
    "TicketReceived", "TicketDispatched", "ReturnRequested", "ReturnReviewed", "TicketReturned", "TicketEscalated",
    "TicketRedispatched", "CategoryCorrected", "DepartmentsSummoned",
    "TicketSigned", "ContactRecorded", "ReportedOnSite", "ProgressNoted", "DeadlineWarned", "DeadlineBreached",
    "DeadlineEscalated", "ExtensionRequested", "ExtensionDecided", "TicketResolved", "CallbackResult",
    "TicketReopened", "TicketClosed", "ExemptionRequested", "ExemptionDecided",
])}


def corrected_facts(events: Iterable[object]) -> dict[str, dict]:
    """The facts the centre's category corrections set, by ticket (the last correction of a ticket
    wins; an urgency left unchanged, None, is not set)."""
    facts: dict[str, dict] = {}
    for event in events:
        if isinstance(event, CategoryCorrected):
            facts[event.ticket_id] = {"facts.category": event.category,
                                      **({"facts.urgency": event.urgency} if event.urgency is not None else {})}
    return facts


def check_acting_for_itself(unit_code: str, caller: str, why: str) -> None:
    """Over HTTP a unit acts in its own name only (on Kafka the broker's ACLs say who sends)."""
    if unit_code != caller:
        raise NotYours("unit_code", why)


def check_readable(doc: dict | None, ticket_id: str, *, caller: str, centre: bool) -> dict:
    """The ticket's view for one of its units (holder, co-handlers, summoned) or the centre."""
    if doc is None or "unit_code" not in doc:
        raise NotFound("ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
    allowed = {doc.get("unit_code"), *doc.get("co_handlers", []), *(s["unit_code"] for s in doc.get("summons", []))}
    if not centre and caller not in allowed:
        raise NotYours("ticket_id", "the ticket is not assigned to this unit")
    return ticket_view(doc)


def ticket_view(doc: dict) -> dict:
    """A ticket as its units and the centre read it: state, holder, deadlines, and the timeline
    in time order (the scheduler's bookkeeping left out)."""
    view = {k: v for k, v in doc.items() if k not in {"fired", "timeline", "events", "callback_ids", "facts"}}
    if "contacts" in view:  # the keys' request hashes are the store's bookkeeping too
        view["contacts"] = [{k: v for k, v in c.items() if k != "request_hash"} for c in view["contacts"]]
    if "exemptions" in view:  # by unit (exemptions/store.py); listed without the keys' hashes
        view["exemptions"] = [{k: v for k, v in e.items() if k not in ("request_hash", "decision_hash")}
                              for e in view["exemptions"].values()]
    view["timeline"] = sorted(doc.get("timeline", []),
                              key=lambda e: (e["at"], _TIMELINE_ORDER.get(e["type"], len(_TIMELINE_ORDER))))
    return view
