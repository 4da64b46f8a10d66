"""Intake's pure domain: what a citizen may send at the public door, repeat linking, and a followup
event as an Open311 status.

The admission rule itself (a raw record's bytes -> `TicketReceived` or `Rejection`, and its
fingerprint) is shared, `hotline.ingest.admission`: the bulk import and the replay check records
with it too, so it is imported from there, not kept here.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline.contracts import BUSINESS_TZ, Channel, TicketClosed, TicketReceived, TicketReopened

# ------------------------------------------------------------------ the public door

# Back-dating makes a ticket overdue on arrival (a breach charged to the unit); `channel`,
# `collected_by` and `answered_directly` forge a unit's collected work or keep a ticket from
# dispatch; a guessed `source_id` squats another caller's ticket id; the category hint is the
# agent's call. A citizen (no token) gives the content, the place and who they are; a channel
# gateway sets these with a bearer token of role `platform` (`hotline platform token`).
PLATFORM_FIELDS = ("channel", "source_id", "received_at", "collected_by", "answered_directly", "category_hint")
CITIZEN_CHANNEL = Channel.WEB


@dataclass(frozen=True)
class Refusal:
    """A citizen's submission names fields only a platform may set (answered 403)."""

    fields: tuple[str, ...]

    def detail(self) -> list[dict]:
        """The usual `loc`/`msg` list, one entry per field."""
        return [{"loc": ["body", f], "msg": f"{f} is set by the hotline, not by the submitter: "
                 "only a channel platform's token (role platform) may send it"} for f in self.fields]


def citizen_record(body: bytes, *, now: datetime) -> bytes | Refusal:
    """The raw record for a citizen's body: intake's channel, source id and time added.

    A body that is not a JSON object in UTF-8 is returned as it is, for the normalizer to refuse
    with its usual reason.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return body
    if not isinstance(data, dict):
        return body
    if given := tuple(f for f in PLATFORM_FIELDS if f in data):
        return Refusal(given)
    data.update(channel=CITIZEN_CHANNEL.value, source_id=f"web-{uuid.uuid4().hex}",
                received_at=now.astimezone(BUSINESS_TZ).isoformat())
    text = json.dumps(data, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): kept as its JSON escape
        return json.dumps(data).encode()


# ------------------------------------------------------------------ the stored tickets, the repeats

@dataclass(frozen=True)
class Stored:
    """What a redelivered record, or a platform's resend, needs to know of its stored ticket."""

    published: bool
    fingerprint: str | None  # None for tickets stored before fingerprints were


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


def link_repeats(
    tickets: list[TicketReceived],
    keys: dict[str, str | None],
    histories: dict[str, list[PriorTicket]],
    window: timedelta,
) -> tuple[list[TicketReceived], dict[str, list[TicketReceived]]]:
    """Link each ticket to the caller's earlier one on the same place and matter, in time order:
    the tickets linked, and those to add to each key's history. `histories` grows as it goes, so
    a batch's second ticket of a key sees its first."""
    keyed = [(keys[t.ticket_id], t) for t in sorted(tickets, key=lambda t: (t.received_at, t.ticket_id))]
    linked: list[TicketReceived] = []
    entries: dict[str, list[TicketReceived]] = {}
    for key, ticket in keyed:
        if key is None:
            linked.append(ticket)
            continue
        ticket = link_repeat(ticket, histories[key], window)
        histories[key].append(PriorTicket(ticket.ticket_id, ticket.received_at))
        entries.setdefault(key, []).append(ticket)
        linked.append(ticket)
    return linked, entries


# ------------------------------------------------------------------ the Open311 status

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
