"""Intake's pure domain: the admission rule, repeat linking, and a followup event as an Open311 status.

The admission rule (a raw record's bytes -> TicketReceived or Rejection) lives in the shared
`hotline.ingest.admission`, because the bulk import and the replay check records with it too; it is
re-exported here as intake's own.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline.contracts import TicketClosed, TicketReceived, TicketReopened
from hotline.ingest.admission import (
    IntakePolicy,
    Rejection,
    admit,
    admit_all,
    fingerprint,
    normalize,
    parse_record,
)

__all__ = [
    "IntakePolicy", "PriorTicket", "Rejection", "StatusChange", "admit", "admit_all", "fingerprint",
    "link_repeat", "normalize", "parse_record", "repeat_key", "status_change",
]


@dataclass(frozen=True)
class PriorTicket:
    """An earlier ticket of the same caller, place and matter."""

    ticket_id: str
    received_at: datetime


_SPACES = re.compile(r"\s+")


def repeat_key(ticket: TicketReceived, salt: str) -> str | None:
    """A salted hash of caller, place and category; None when the caller left no phone.

    Hashed so that the intake store never holds the phone number itself.
    """
    digits = "".join(ch for ch in ticket.caller.phone or "" if ch.isdigit())
    if not digits:
        return None
    location = ticket.location
    unit = location.unit_code or location.district_code or "-"
    spot = _SPACES.sub("", location.community or location.address).lower()
    material = "|".join((salt, digits, unit, spot, ticket.category))
    return hashlib.sha256(material.encode()).hexdigest()


def link_repeat(
    ticket: TicketReceived, history: list[PriorTicket], window: timedelta
) -> TicketReceived:
    """Link a ticket to the latest earlier one within the window, and count those."""
    me = (ticket.received_at, ticket.ticket_id)
    earlier = {
        p.ticket_id: p
        for p in history
        if (p.received_at, p.ticket_id) < me and ticket.received_at - p.received_at <= window
    }
    if not earlier:
        return ticket
    latest = max(earlier.values(), key=lambda p: (p.received_at, p.ticket_id))
    return ticket.model_copy(update={"repeat_of": latest.ticket_id, "repeat_count": len(earlier)})


# What a GeoReport client reads in `status_notes` (the platform's language is Chinese).
_SATISFACTION_NOTES = {"satisfied": "满意", "basically_satisfied": "基本满意"}
_REOPEN_NOTES = {"unresolved": "回访问题未解决", "dissatisfied": "回访市民不满意"}


@dataclass(frozen=True)
class StatusChange:
    """What the Open311 API shows of a ticket after a followup event: closing is final; a
    reopen only updates the notes, and only over an earlier round's."""

    ticket_id: str
    closed: bool
    round: int
    notes: str
    at: datetime


def status_change(event: TicketClosed | TicketReopened) -> StatusChange:
    """A followup event as a change of the ticket's Open311 status (no personal data in it)."""
    if isinstance(event, TicketClosed):
        satisfaction = _SATISFACTION_NOTES.get(event.satisfaction, event.satisfaction)
        return StatusChange(event.ticket_id, True, 0, f"已办结，回访市民{satisfaction}", event.closed_at)
    reason = _REOPEN_NOTES.get(event.reason, event.reason)
    return StatusChange(event.ticket_id, False, event.round, f"{reason}，第{event.round + 1}轮重新办理",
                        event.reopened_at)
