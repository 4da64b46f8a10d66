"""Casework's pure domain, for the town's daily dispatch meeting: who may sign (签收) and note
progress, demands collected on visits, marking a typical case, business days. Commands and
what the store holds in, events out; no I/O. A refusal is a domain error
(`hotline.domain_errors`), mapped to its HTTP status once, in the runtime. What the API answers
(the case library, the daily brief) is in `views.py`.

Casework reads followup's ticket: `CaseworkTicket` is the part of it casework decides by. The
records it reads and keeps are typed dicts (`TicketRecord`, `TicketFacts`, `RecordedDemand`):
they are stored and answered field for field as they are, so clients see exactly these fields.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal, TypedDict

from hotline.contracts import (
    BUSINESS_TZ,
    AddProgressNote,
    CaseMarked,
    Channel,
    CollectedBy,
    CollectedDemand,
    ContactKind,
    DemandCollected,
    MarkCase,
    ProgressNoted,
    RawRecord,
    SignTicket,
    TicketSigned,
    deterministic_event_id,
    mask_phone,
    ticket_id_for,
)
from hotline.domain_errors import Closed, Conflict, Invalid, NotFound, NotYours
from hotline.followup.tickets.domain import TicketState, not_in_future
from hotline.gazetteer import Gazetteer

# Contacts in person: residents can raise new demands there, not on a phone call.
IN_PERSON = frozenset({ContactKind.FACE_TO_FACE.value, ContactKind.ON_SITE.value})
VISIT_SOURCE_PREFIX = "visit/"

# How a unit stands on a ticket: it holds it, handles it beside the lead, or was summoned to it.
Role = Literal["lead", "co_handler", "summoned"]


# ---------------------------------------------------------------------------------------------
# The ticket as casework sees it, and the records it reads and keeps


class Resolution(TypedDict, total=False):
    """A round's resolution as followup records it (its note is followup's; casework never reads it)."""

    unit_code: str
    outcome: str
    resolution_code: str
    round: int
    resolved_at: datetime


class TicketRecord(TypedDict, total=False):
    """The fields of followup's stored ticket casework reads (no caller data is there)."""

    _id: str
    ticket_id: str
    unit_code: str
    state: str
    round: int
    attempt: int
    district_code: str | None
    urgency: str | None
    first_dispatched_at: datetime
    dispatched_at: datetime
    report_back_due_at: datetime | None
    co_handlers: list[str]
    summons: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    resolutions: list[Resolution]
    extension: dict[str, Any] | None
    events: list[dict[str, Any]]  # stored events: {"type", "json"}
    timeline: list[dict[str, Any]]  # {"event_id", "type", "at", "data"}


class TicketFacts(TypedDict, total=False):
    """What casework knows of a ticket beyond followup's record (from the received ticket and the
    first face-to-face visit): never the caller or the content."""

    _id: str
    category: str | None
    urgency: str | None
    channel: str
    received_at: datetime
    repeat_of: str | None
    repeat_count: int
    collected_by: str | None
    visit_ticket_id: str | None
    visit_contact_id: str | None
    face_to_face_at: datetime | None


class RecordedDemand(TypedDict):
    """A demand collected on a visit as casework keeps it: no caller data."""

    _id: str  # the new ticket's id
    source_id: str
    visit_ticket_id: str
    contact_id: str
    unit_code: str
    staff_id: str
    description: str
    place: str
    community: str | None
    category_hint: str | None
    collected_at: datetime
    recorded_at: datetime
    day: str  # the city's day it was first recorded, YYYY-MM-DD


@dataclass(frozen=True)
class Contact:
    """One contact with the citizen, as followup recorded it."""

    contact_id: str
    kind: str
    unit_code: str
    staff_id: str
    contacted_at: datetime


@dataclass(frozen=True)
class CaseworkTicket:
    """What casework decides by: who is on the ticket, where it is, its contacts and resolutions."""

    ticket_id: str
    unit_code: str
    first_dispatched_at: datetime
    state: TicketState = TicketState.OPEN
    attempt: int = 1
    round: int = 0
    district_code: str | None = None
    co_handlers: tuple[str, ...] = ()
    summoned: tuple[str, ...] = ()
    contacts: tuple[Contact, ...] = ()
    resolutions: tuple[Resolution, ...] = ()

    def role_of(self, unit_code: str) -> Role | None:
        """lead, co_handler, summoned, or None for a unit not on the ticket."""
        if unit_code == self.unit_code:
            return "lead"
        if unit_code in self.co_handlers:
            return "co_handler"
        if unit_code in self.summoned:
            return "summoned"
        return None

    @property
    def resolving_unit(self) -> str:
        """The unit that resolved the latest round (the holder until one did)."""
        return self.resolutions[-1].get("unit_code", self.unit_code) if self.resolutions else self.unit_code


def casework_ticket(record: Mapping[str, Any] | None) -> CaseworkTicket | None:
    """The ticket casework decides by, from followup's record (a `TicketRecord`, or the document
    as followup's store reads it); None until its dispatch is known."""
    if not record or "unit_code" not in record or "first_dispatched_at" not in record:
        return None
    return CaseworkTicket(
        ticket_id=record.get("ticket_id") or record["_id"],
        unit_code=record["unit_code"],
        first_dispatched_at=record["first_dispatched_at"],
        state=TicketState(record.get("state", TicketState.OPEN.value)),
        attempt=record.get("attempt", 1),
        round=record.get("round", 0),
        district_code=record.get("district_code"),
        co_handlers=tuple(record.get("co_handlers", [])),
        summoned=tuple(s["unit_code"] for s in record.get("summons", [])),
        contacts=tuple(
            Contact(c["contact_id"], c["kind"], c["unit_code"], c.get("staff_id", ""), c["contacted_at"])
            for c in record.get("contacts", [])
        ),
        resolutions=tuple(record.get("resolutions", [])),
    )


def _ms(moment: datetime) -> datetime:
    """A time at the store's precision (milliseconds), so a retry answers exactly what was stored."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def unknown_ticket(ticket_id: str) -> NotFound:
    """The refusal for a ticket followup has not seen dispatched."""
    return NotFound("ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")


def acting_for_itself(unit_code: str, *, caller: str, why: str) -> None:
    """A unit acts in its own name only (`why` says what it may not do for another)."""
    if unit_code != caller:
        raise NotYours("unit_code", why)


def readable_by(ticket: CaseworkTicket | None, ticket_id: str, *, caller: str, centre: bool) -> CaseworkTicket:
    """The ticket, for one of its units or the centre."""
    if ticket is None:
        raise NotFound("ticket_id", f"ticket {ticket_id} is unknown")
    if not centre and ticket.role_of(caller) is None:
        raise NotYours("ticket_id", "the ticket is not assigned to this unit")
    return ticket


def _acting_on(ticket: CaseworkTicket | None, unit_code: str, ticket_id: str, roles: set[Role]) -> CaseworkTicket:
    """The ticket, when it exists, has this unit in one of `roles` and is not closed."""
    if ticket is None:
        raise unknown_ticket(ticket_id)
    if ticket.role_of(unit_code) not in roles:
        raise NotYours("unit_code", "the ticket is not assigned to this unit")
    if ticket.state == TicketState.CLOSED:
        raise Closed("ticket_id", "the ticket is closed")
    return ticket


# ---------------------------------------------------------------------------------------------
# Signing and progress notes


def sign(
    ticket: CaseworkTicket | None, command: SignTicket, *, ticket_id: str, now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> TicketSigned:
    """The lead or a co-handler signs for its assignment; one event per unit and attempt."""
    ticket = _acting_on(ticket, command.unit_code, ticket_id, {"lead", "co_handler"})
    not_in_future(command.signed_at, "signed_at", now=now, clock_skew=clock_skew)
    if command.signed_at < ticket.first_dispatched_at:
        raise Invalid("signed_at", "signing time is before the ticket was dispatched")
    signed_at = _ms(command.signed_at)
    return TicketSigned(
        event_id=deterministic_event_id("TicketSigned", ticket.ticket_id, command.unit_code, str(ticket.attempt)),
        ticket_id=ticket.ticket_id, occurred_at=signed_at, unit_code=command.unit_code,
        staff_id=command.staff_id, signed_at=signed_at, attempt=ticket.attempt,
        role=ticket.role_of(command.unit_code) or "lead",
    )


def note_id_for(ticket_id: str, command: AddProgressNote, idempotency_key: str | None) -> str:
    """A retried note (same key, or the same note without a key) is the same note."""
    if idempotency_key:
        return deterministic_event_id("Note", ticket_id, command.unit_code, idempotency_key)
    digest = hashlib.sha256(command.text.encode()).hexdigest()[:16]
    return deterministic_event_id("Note", ticket_id, command.unit_code, command.staff_id,
                                  command.noted_at.isoformat(), digest)


def note_progress(
    ticket: CaseworkTicket | None, command: AddProgressNote, *, ticket_id: str, note_id: str, now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> ProgressNoted:
    """A progress note by a unit on the ticket (lead, co-handler or summoned); no text in the event."""
    ticket = _acting_on(ticket, command.unit_code, ticket_id, {"lead", "co_handler", "summoned"})
    not_in_future(command.noted_at, "noted_at", now=now, clock_skew=clock_skew)
    if command.noted_at < ticket.first_dispatched_at:
        raise Invalid("noted_at", "note time is before the ticket was dispatched")
    if not command.text.strip():
        raise Invalid("text", "the note is empty")
    noted_at = _ms(command.noted_at)
    return ProgressNoted(
        event_id=deterministic_event_id("ProgressNoted", note_id), ticket_id=ticket.ticket_id,
        occurred_at=noted_at, note_id=note_id, unit_code=command.unit_code,
        staff_id=command.staff_id, noted_at=noted_at,
    )


# ---------------------------------------------------------------------------------------------
# Demands collected on a visit


def visit_of(ticket: CaseworkTicket | None, contact_id: str, *, unit_code: str, ticket_id: str) -> Contact:
    """The in-person contact `contact_id` this unit made on the ticket, else a refusal.

    The visiting unit may record demands even after the ticket moved on or closed: what residents
    raised on the visit does not depend on the visited ticket's later fate.
    """
    if ticket is None:
        raise unknown_ticket(ticket_id)
    contact = next((c for c in ticket.contacts if c.contact_id == contact_id), None)
    if contact is None:
        raise NotFound("contact_id", f"no contact {contact_id} on ticket {ticket_id}")
    if contact.unit_code != unit_code:
        raise NotYours("unit_code", "the contact was made by another unit")
    if contact.kind not in IN_PERSON:
        raise Invalid("contact_id", "demands are collected in person (face_to_face or on_site)")
    return contact


def _spaced(text: str | None) -> str:
    return " ".join((text or "").split())


def demand_source_id(ticket_id: str, contact_id: str, demand: CollectedDemand) -> str:
    """`visit/<ticket>/<contact>/<digest>`: the same demand of the same visit is the same ticket,
    however often it is submitted, and the id names the visit it came from."""
    material = "\x1f".join((_spaced(demand.description), _spaced(demand.place), _spaced(demand.community)))
    digest = hashlib.sha256(material.encode()).hexdigest()[:12]
    return f"{VISIT_SOURCE_PREFIX}{ticket_id}/{contact_id}/{digest}"


def visit_of_source(source_id: str) -> tuple[str, str] | None:
    """(visited ticket id, contact id) named by a collected demand's source id, else None."""
    if not source_id.startswith(VISIT_SOURCE_PREFIX):
        return None
    parts = source_id[len(VISIT_SOURCE_PREFIX):].split("/")
    return (parts[0], parts[1]) if len(parts) == 3 and all(parts) else None


def demand_place(demand: CollectedDemand, *, unit_code: str, district_code: str | None,
                 gazetteer: Gazetteer) -> tuple[str, str | None]:
    """(address, district) for the new ticket. A place naming a street or town stands as said;
    one naming none is in the visited unit's area, so the demand reaches that unit's queue and
    not triage."""
    place = demand.place.strip()
    text = f"{place} {demand.community or ''}"
    if gazetteer.resolve(text).unit_code is not None:
        return place, None
    district = district_code or (unit_code[:6] if unit_code in gazetteer.units else None)
    # A name several districts share is settled by the visited unit's district.
    if gazetteer.resolve(text, district).unit_code is not None:
        return place, district
    unit = gazetteer.units.get(unit_code)
    return (f"{unit.name}{place}" if unit is not None else place), district


@dataclass(frozen=True)
class DemandTicket:
    """A collected demand on its way to intake: the record to publish and what casework keeps."""

    ticket_id: str
    source_id: str
    record: RawRecord
    document: RecordedDemand


def demand_tickets(
    ticket: CaseworkTicket, contact: Contact, demands: list[CollectedDemand], *, recorded_at: dict[str, datetime],
    now: datetime, gazetteer: Gazetteer, zone: tzinfo = BUSINESS_TZ,
) -> list[DemandTicket]:
    """One new ticket (channel `collected`) per distinct demand.

    `recorded_at` holds the first recording time of demands already stored, so a retry publishes
    byte-for-byte the same record; a new one starts now (the hotline learns of it now, so its
    report-back clock starts now, not at the visit).
    """
    out: dict[str, DemandTicket] = {}
    for demand in demands:
        if not demand.description.strip():
            raise Invalid("demands.description", "a demand's description is empty")
        source_id = demand_source_id(ticket.ticket_id, contact.contact_id, demand)
        new_id = ticket_id_for(Channel.COLLECTED.value, source_id)
        if new_id in out:
            continue
        at = _ms(recorded_at.get(new_id, now))
        address, district = demand_place(demand, unit_code=contact.unit_code,
                                         district_code=ticket.district_code, gazetteer=gazetteer)
        caller: dict[str, Any] = {"caller": demand.caller} if demand.caller else {}  # else the default
        record = RawRecord(
            channel=Channel.COLLECTED, source_id=source_id, received_at=at, content=demand.description.strip(),
            address=address, community=demand.community, district=district, category_hint=demand.category_hint,
            request_type=demand.request_type, **caller,
            collected_by=CollectedBy(unit_code=contact.unit_code, staff_id=contact.staff_id),
        )
        out[new_id] = DemandTicket(new_id, source_id, record, {
            "_id": new_id, "source_id": source_id, "visit_ticket_id": ticket.ticket_id,
            "contact_id": contact.contact_id, "unit_code": contact.unit_code, "staff_id": contact.staff_id,
            "description": record.content, "place": address, "community": demand.community,
            "category_hint": demand.category_hint, "collected_at": contact.contacted_at, "recorded_at": at,
            "day": business_day(at, zone).isoformat(),
        })
    return list(out.values())


def demand_collected(ticket_id: str, demand: DemandTicket, stored: RecordedDemand) -> DemandCollected:
    """The event on the visited ticket that links it to the new ticket."""
    return DemandCollected(
        event_id=deterministic_event_id("DemandCollected", demand.ticket_id), ticket_id=ticket_id,
        occurred_at=stored["recorded_at"], contact_id=stored["contact_id"], unit_code=stored["unit_code"],
        staff_id=stored["staff_id"], demand_ticket_id=demand.ticket_id, source_id=demand.source_id,
        category_hint=stored.get("category_hint"), collected_at=stored["collected_at"],
        recorded_at=stored["recorded_at"],
    )


# ---------------------------------------------------------------------------------------------
# The case library


# Phone-like numbers in free text: mobiles, landlines with an area code, any run of 7+ digits
# (also ID card numbers). Lessons are for training: no citizen's number may end up there.
_PHONE_LIKE = re.compile(r"(?<!\d)(?:1\d{2}[- ]?\d{4}[- ]?\d{4}|0\d{2,3}[- ]?\d{7,8}|\d{7,}[\dXx]?)(?!\d)")


def scrub(text: str) -> str:
    """Mask phone-like numbers (138****1234) in free text."""
    return _PHONE_LIKE.sub(lambda m: mask_phone(m.group(0)) or "", text)


def normalize_tag(tag: str) -> str:
    """A tag trimmed, inner spaces collapsed, Latin letters lower-cased."""
    return " ".join(tag.split()).lower()


def normalize_tags(tags: list[str]) -> list[str]:
    """Tags normalized (`normalize_tag`), duplicates and blanks dropped, sorted."""
    clean = {normalize_tag(t) for t in tags}
    clean.discard("")
    if not clean:
        raise Invalid("tags", "at least one non-blank tag is needed")
    if too_long := [t for t in clean if len(t) > 32]:
        raise Invalid("tags", f"tags are at most 32 characters: {too_long[0][:40]!r}")
    return sorted(clean)


def mark_case(
    ticket: CaseworkTicket | None, command: MarkCase, *, ticket_id: str, caller_unit: str, caller_is_centre: bool,
    category: str | None, now: datetime,
) -> CaseMarked:
    """A resolved or closed ticket becomes a typical case: by the centre or the resolving unit."""
    if ticket is None:
        raise unknown_ticket(ticket_id)
    resolving = ticket.resolving_unit
    if not caller_is_centre and caller_unit != resolving:
        raise NotYours("authorization", "only the hotline centre or the resolving unit marks a case")
    if ticket.state not in {TicketState.RESOLVED, TicketState.CLOSED}:
        raise Conflict("ticket_id", "only a resolved or closed ticket can be a case")
    tags = normalize_tags(command.tags)
    lesson, title = scrub(command.lesson.strip()), scrub(" ".join(command.title.split()))
    if not lesson:
        raise Invalid("lesson", "the lesson is empty")
    digest = hashlib.sha256("\x1f".join((*tags, title, lesson)).encode()).hexdigest()[:16]
    outcome = ticket.resolutions[-1].get("outcome") if ticket.resolutions else None
    return CaseMarked(
        event_id=deterministic_event_id("CaseMarked", ticket.ticket_id, digest), ticket_id=ticket.ticket_id,
        occurred_at=_ms(now), unit_code=resolving, marked_by="centre" if caller_is_centre else caller_unit,
        tags=tags, title=title, lesson=lesson, category=category,
        outcome=str(outcome) if outcome is not None else None,
    )


def not_a_case(ticket_id: str) -> NotFound:
    """The refusal for a ticket the library holds no case of."""
    return NotFound("ticket_id", f"ticket {ticket_id} is not a case")


# ---------------------------------------------------------------------------------------------
# Business days


def business_day(moment: datetime, zone: tzinfo = BUSINESS_TZ) -> date:
    """The calendar day of a moment in the city's time zone (Beijing's by default)."""
    return moment.astimezone(zone).date()


def day_bounds(day: date, zone: tzinfo = BUSINESS_TZ) -> tuple[datetime, datetime]:
    """[start, end) of a day in the city's time zone (Beijing's by default)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, start + timedelta(days=1)


def brief_readable(unit_code: str, *, caller: str, centre: bool) -> None:
    """A unit reads its own brief; the centre every unit's."""
    if caller != unit_code and not centre:
        raise NotYours("unit_code", "a unit reads its own brief only")
