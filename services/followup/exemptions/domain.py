"""Exemptions (核减 / 申诉), pure: the holding unit asks, with a reason code and a note, that a
ticket not count in its monthly figures; the hotline centre approves or rejects.

One request per ticket and unit, and one decision on it: a unit that was refused does not ask
again for the same ticket (the centre's decision stands), and a unit that holds the ticket after
a re-dispatch asks for itself. The same request or decision again (a retried call, a redelivered
command) gets the recorded event back; anything else once there is a 409. A refusal is a domain
error (`hotline.domain_errors`), as in `tickets/domain.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from hotline.contracts import (
    DecideExemption,
    ExemptionDecided,
    ExemptionRequested,
    RequestExemption,
    deterministic_event_id,
)
from hotline.domain_errors import Closed, Conflict, Invalid, NotFound, NotYours
from hotline.exemptions import ExemptionPolicy
from hotline.followup.tickets.domain import KeyReused, not_in_future, same_instant

ExemptionState = Literal["requested", "approved", "rejected"]


@dataclass(frozen=True)
class Exemption:
    """A unit's request on a ticket and the centre's decision on it, as followup keeps them."""

    unit_code: str
    reason_code: str
    note: str
    requested_at: datetime
    state: ExemptionState = "requested"
    decided_at: datetime | None = None
    decision_note: str = ""
    # The hashes of the requests an idempotency key (a Kafka command id) named, if any.
    request_hash: str | None = None
    decision_hash: str | None = None


@dataclass(frozen=True)
class ExemptionTicket:
    """What deciding an exemption needs of a ticket: its holder, its state, its exemptions."""

    ticket_id: str
    unit_code: str
    state: str
    first_dispatched_at: datetime
    exemptions: dict[str, Exemption] = field(default_factory=dict)  # by unit code


def _known(ticket: ExemptionTicket | None, ticket_id: str) -> ExemptionTicket:
    if ticket is None:
        raise NotFound("ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
    return ticket


def requested_event(ticket_id: str, exemption: Exemption) -> ExemptionRequested:
    """The request's event, from what is recorded (the note is not on it)."""
    return ExemptionRequested(
        event_id=deterministic_event_id("ExemptionRequested", ticket_id, exemption.unit_code),
        ticket_id=ticket_id, occurred_at=exemption.requested_at, unit_code=exemption.unit_code,
        reason_code=exemption.reason_code, requested_at=exemption.requested_at,
    )


def decided_event(ticket_id: str, exemption: Exemption) -> ExemptionDecided:
    """The decision's event, from what is recorded (neither note is on it)."""
    if exemption.decided_at is None or exemption.state == "requested":
        raise ValueError("decided_event is for a decided exemption")
    return ExemptionDecided(
        event_id=deterministic_event_id("ExemptionDecided", ticket_id, exemption.unit_code),
        ticket_id=ticket_id, occurred_at=exemption.decided_at, unit_code=exemption.unit_code,
        reason_code=exemption.reason_code, approved=exemption.state == "approved",
        requested_at=exemption.requested_at, decided_at=exemption.decided_at,
    )


def repeated_request(ticket: ExemptionTicket | None, command: RequestExemption,
                     request_hash: str | None) -> ExemptionRequested | None:
    """The unit's recorded request when this command is that request again; None when the unit
    has asked nothing yet. KeyReused when its key named another request."""
    recorded = ticket.exemptions.get(command.unit_code) if ticket is not None else None
    if ticket is None or recorded is None:
        return None
    if request_hash is not None and recorded.request_hash is not None:
        if recorded.request_hash != request_hash:
            raise KeyReused()
        return requested_event(ticket.ticket_id, recorded)
    same = (recorded.reason_code == command.reason_code and recorded.note == command.note.strip()
            and same_instant(recorded.requested_at, command.requested_at))
    return requested_event(ticket.ticket_id, recorded) if same else None


def request_exemption(
    ticket: ExemptionTicket | None,
    command: RequestExemption,
    *,
    ticket_id: str,
    policy: ExemptionPolicy,
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> ExemptionRequested:
    """A new request by the ticket's holder, or a domain error: another unit's ticket (403), a
    request of this unit already there or a closed ticket (409), an unknown reason, an empty note
    or a time out of range (422)."""
    ticket = _known(ticket, ticket_id)
    if command.unit_code != ticket.unit_code:
        raise NotYours("unit_code", "the ticket is not assigned to this unit")
    recorded = ticket.exemptions.get(command.unit_code)
    if recorded is not None:
        done = "requested" if recorded.state == "requested" else f"{recorded.state} already"
        raise Conflict("ticket_id", f"this unit's exemption for the ticket was {done}; one request per ticket")
    if ticket.state == "closed":
        raise Closed("ticket_id", "the ticket is closed: the citizen was satisfied, nothing to exempt")
    if not policy.knows(command.reason_code):
        raise Invalid("reason_code", f"unknown reason code {command.reason_code!r}; "
                      f"one of {', '.join(sorted(policy.reasons))}")
    if not command.note.strip():
        raise Invalid("note", "the note is empty: say why the ticket should not count")
    not_in_future(command.requested_at, "requested_at", now=now, clock_skew=clock_skew)
    if command.requested_at < ticket.first_dispatched_at:
        raise Invalid("requested_at", "request time is before the ticket was dispatched")
    return requested_event(ticket.ticket_id, Exemption(
        unit_code=command.unit_code, reason_code=command.reason_code, note=command.note.strip(),
        requested_at=command.requested_at))


def _asked(ticket: ExemptionTicket, command: DecideExemption) -> Exemption:
    """The request the decision is about: the named unit's, else the holder's."""
    recorded = ticket.exemptions.get(command.unit_code or ticket.unit_code)
    if recorded is None:
        raise Conflict("ticket_id", "no exemption request of this unit is waiting for a decision")
    return recorded


def repeated_decision(ticket: ExemptionTicket | None, command: DecideExemption,
                      request_hash: str | None) -> ExemptionDecided | None:
    """The recorded decision when this command is that decision again; None when none is
    recorded or this one differs. KeyReused when its key named another decision."""
    if ticket is None:
        return None
    recorded = ticket.exemptions.get(command.unit_code or ticket.unit_code)
    if recorded is None or recorded.state == "requested":
        return None
    if request_hash is not None and recorded.decision_hash is not None:
        if recorded.decision_hash != request_hash:
            raise KeyReused()
        return decided_event(ticket.ticket_id, recorded)
    same = ((recorded.state == "approved") == command.approved and recorded.decision_note == command.note.strip()
            and same_instant(recorded.decided_at, command.decided_at))
    return decided_event(ticket.ticket_id, recorded) if same else None


def decide_exemption(
    ticket: ExemptionTicket | None,
    command: DecideExemption,
    *,
    ticket_id: str,
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> ExemptionDecided:
    """The centre's decision on a pending request, or a domain error: none pending or already
    decided (409), a time out of range (422). Who may decide is the caller's to check (the centre)."""
    ticket = _known(ticket, ticket_id)
    asked = _asked(ticket, command)
    if asked.state != "requested":
        raise Conflict("ticket_id", f"the exemption was already decided ({asked.state})")
    not_in_future(command.decided_at, "decided_at", now=now, clock_skew=clock_skew)
    if command.decided_at < asked.requested_at:
        raise Invalid("decided_at", "decision time is before the request")
    decided = Exemption(
        unit_code=asked.unit_code, reason_code=asked.reason_code, note=asked.note, requested_at=asked.requested_at,
        state="approved" if command.approved else "rejected", decided_at=command.decided_at,
        decision_note=command.note.strip())
    return decided_event(ticket.ticket_id, decided)
