"""Followup's pure domain: validating what a unit reports and the events it produces."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hotline.contracts import ContactRecorded, RecordContact, deterministic_event_id


@dataclass(frozen=True)
class FollowupTicket:
    """What followup knows of a ticket: who holds it and what was done."""

    ticket_id: str
    unit_code: str
    first_dispatched_at: datetime
    contact_ids: frozenset[str] = field(default_factory=frozenset)


class Refusal(Exception):
    """An action that cannot be taken, with an HTTP status, the field and the reason."""

    def __init__(self, status: int, field: str | None, reason: str) -> None:
        super().__init__(f"{status} {field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason


def contact_id_for(ticket_id: str, command: RecordContact, idempotency_key: str | None) -> str:
    """A retried submission (same key, or same content without a key) is the same contact."""
    if idempotency_key:
        return deterministic_event_id("Contact", ticket_id, command.unit_code, idempotency_key)
    return deterministic_event_id(
        "Contact", ticket_id, command.unit_code, command.kind.value,
        command.contacted_at.isoformat(), command.staff_id,
    )


def record_contact(
    ticket: FollowupTicket | None,
    command: RecordContact,
    *,
    ticket_id: str,
    contact_id: str,
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> ContactRecorded:
    """The ContactRecorded event for a valid contact, or a Refusal."""
    if ticket is None:
        raise Refusal(404, "ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
    if command.unit_code != ticket.unit_code:
        raise Refusal(403, "unit_code", "the ticket is not assigned to this unit")
    if command.contacted_at > now + clock_skew:
        raise Refusal(422, "contacted_at", "contact time is in the future")
    if command.contacted_at < ticket.first_dispatched_at:
        raise Refusal(422, "contacted_at", "contact time is before the ticket was dispatched")
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
