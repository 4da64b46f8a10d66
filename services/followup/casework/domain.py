"""Casework for the town's daily dispatch meeting, pure: signing (签收), progress notes, demands
collected on visits, the case library and the daily brief. Documents and commands in, events and
views out; no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

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
from hotline.followup.domain import Refusal, not_in_future
from hotline.gazetteer import Gazetteer

# Contacts in person: residents can raise new demands there, not on a phone call.
IN_PERSON = frozenset({ContactKind.FACE_TO_FACE.value, ContactKind.ON_SITE.value})
VISIT_SOURCE_PREFIX = "visit/"


@dataclass(frozen=True)
class Contact:
    """One contact as followup stored it."""

    contact_id: str
    kind: str
    unit_code: str
    staff_id: str
    contacted_at: datetime


@dataclass(frozen=True)
class TicketDoc:
    """What casework needs of followup's ticket document."""

    ticket_id: str
    unit_code: str
    first_dispatched_at: datetime
    state: str = "open"
    attempt: int = 1
    round: int = 0
    district_code: str | None = None
    co_handlers: tuple[str, ...] = ()
    summoned: tuple[str, ...] = ()
    contacts: tuple[Contact, ...] = ()
    resolutions: tuple[dict, ...] = ()

    def role_of(self, unit_code: str) -> str | None:
        """lead, co_handler, summoned, or None for a unit not on the ticket."""
        if unit_code == self.unit_code:
            return "lead"
        if unit_code in self.co_handlers:
            return "co_handler"
        if unit_code in self.summoned:
            return "summoned"
        return None


def ticket_doc(doc: dict | None) -> TicketDoc | None:
    """The view of a stored followup ticket; None until its dispatch is known."""
    if not doc or "unit_code" not in doc or "first_dispatched_at" not in doc:
        return None
    return TicketDoc(
        ticket_id=doc.get("ticket_id") or doc["_id"],
        unit_code=doc["unit_code"],
        first_dispatched_at=doc["first_dispatched_at"],
        state=doc.get("state", "open"),
        attempt=doc.get("attempt", 1),
        round=doc.get("round", 0),
        district_code=doc.get("district_code"),
        co_handlers=tuple(doc.get("co_handlers", [])),
        summoned=tuple(s["unit_code"] for s in doc.get("summons", [])),
        contacts=tuple(
            Contact(c["contact_id"], c["kind"], c["unit_code"], c.get("staff_id", ""), c["contacted_at"])
            for c in doc.get("contacts", [])
        ),
        resolutions=tuple(doc.get("resolutions", [])),
    )


def _ms(moment: datetime) -> datetime:
    """A time at the store's precision (milliseconds), so a retry answers exactly what was stored."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _acting_on(ticket: TicketDoc | None, unit_code: str, ticket_id: str, roles: set[str]) -> TicketDoc:
    """The ticket, when it exists, has this unit in one of `roles` and is not closed."""
    if ticket is None:
        raise Refusal(404, "ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
    if ticket.role_of(unit_code) not in roles:
        raise Refusal(403, "unit_code", "the ticket is not assigned to this unit")
    if ticket.state == "closed":
        raise Refusal(409, "ticket_id", "the ticket is closed")
    return ticket


# ---------------------------------------------------------------------------------------------
# Signing and progress notes


def sign(
    ticket: TicketDoc | None, command: SignTicket, *, ticket_id: str, now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> TicketSigned:
    """The lead or a co-handler signs for its assignment; one event per unit and attempt."""
    ticket = _acting_on(ticket, command.unit_code, ticket_id, {"lead", "co_handler"})
    not_in_future(command.signed_at, "signed_at", now=now, clock_skew=clock_skew)
    if command.signed_at < ticket.first_dispatched_at:
        raise Refusal(422, "signed_at", "signing time is before the ticket was dispatched")
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
    ticket: TicketDoc | None, command: AddProgressNote, *, ticket_id: str, note_id: str, now: datetime,
    clock_skew: timedelta = timedelta(minutes=2),
) -> ProgressNoted:
    """A progress note by a unit on the ticket (lead, co-handler or summoned); no text in the event."""
    ticket = _acting_on(ticket, command.unit_code, ticket_id, {"lead", "co_handler", "summoned"})
    not_in_future(command.noted_at, "noted_at", now=now, clock_skew=clock_skew)
    if command.noted_at < ticket.first_dispatched_at:
        raise Refusal(422, "noted_at", "note time is before the ticket was dispatched")
    if not command.text.strip():
        raise Refusal(422, "text", "the note is empty")
    noted_at = _ms(command.noted_at)
    return ProgressNoted(
        event_id=deterministic_event_id("ProgressNoted", note_id), ticket_id=ticket.ticket_id,
        occurred_at=noted_at, note_id=note_id, unit_code=command.unit_code,
        staff_id=command.staff_id, noted_at=noted_at,
    )


# ---------------------------------------------------------------------------------------------
# Demands collected on a visit


def visit_of(ticket: TicketDoc | None, contact_id: str, *, unit_code: str, ticket_id: str) -> Contact:
    """The in-person contact `contact_id` this unit made on the ticket, else a Refusal.

    The visiting unit may record demands even after the ticket moved on or closed: what residents
    raised on the visit does not depend on the visited ticket's later fate.
    """
    if ticket is None:
        raise Refusal(404, "ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
    contact = next((c for c in ticket.contacts if c.contact_id == contact_id), None)
    if contact is None:
        raise Refusal(404, "contact_id", f"no contact {contact_id} on ticket {ticket_id}")
    if contact.unit_code != unit_code:
        raise Refusal(403, "unit_code", "the contact was made by another unit")
    if contact.kind not in IN_PERSON:
        raise Refusal(422, "contact_id", "demands are collected in person (face_to_face or on_site)")
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
    document: dict  # what casework stores: no caller data


def demand_tickets(
    ticket: TicketDoc, contact: Contact, demands: list[CollectedDemand], *, recorded_at: dict[str, datetime],
    now: datetime, gazetteer: Gazetteer,
) -> list[DemandTicket]:
    """One new ticket (channel `collected`) per distinct demand.

    `recorded_at` holds the first recording time of demands already stored, so a retry publishes
    byte-for-byte the same record; a new one starts now (the hotline learns of it now, so its
    report-back clock starts now, not at the visit).
    """
    out: dict[str, DemandTicket] = {}
    for demand in demands:
        if not demand.description.strip():
            raise Refusal(422, "demands.description", "a demand's description is empty")
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
            "day": business_day(at).isoformat(),
        })
    return list(out.values())


def demand_collected(ticket_id: str, demand: DemandTicket, stored: dict) -> DemandCollected:
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


def normalize_tags(tags: list[str]) -> list[str]:
    """Tags trimmed, inner spaces collapsed, Latin letters lower-cased, duplicates dropped, sorted."""
    clean = {" ".join(t.split()).lower() for t in tags}
    clean.discard("")
    if not clean:
        raise Refusal(422, "tags", "at least one non-blank tag is needed")
    if too_long := [t for t in clean if len(t) > 32]:
        raise Refusal(422, "tags", f"tags are at most 32 characters: {too_long[0][:40]!r}")
    return sorted(clean)


def mark_case(
    ticket: TicketDoc | None, command: MarkCase, *, ticket_id: str, caller_unit: str, caller_is_centre: bool,
    category: str | None, now: datetime,
) -> CaseMarked:
    """A resolved or closed ticket becomes a typical case: by the centre or the resolving unit."""
    if ticket is None:
        raise Refusal(404, "ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
    resolving = ticket.resolutions[-1].get("unit_code", ticket.unit_code) if ticket.resolutions else ticket.unit_code
    if not caller_is_centre and caller_unit != resolving:
        raise Refusal(403, "authorization", "only the hotline centre or the resolving unit marks a case")
    if ticket.state not in {"resolved", "closed"}:
        raise Refusal(409, "ticket_id", "only a resolved or closed ticket can be a case")
    tags = normalize_tags(command.tags)
    lesson, title = scrub(command.lesson.strip()), scrub(" ".join(command.title.split()))
    if not lesson:
        raise Refusal(422, "lesson", "the lesson is empty")
    digest = hashlib.sha256("\x1f".join((*tags, title, lesson)).encode()).hexdigest()[:16]
    outcome = ticket.resolutions[-1].get("outcome") if ticket.resolutions else None
    return CaseMarked(
        event_id=deterministic_event_id("CaseMarked", ticket.ticket_id, digest), ticket_id=ticket.ticket_id,
        occurred_at=_ms(now), unit_code=resolving, marked_by="centre" if caller_is_centre else caller_unit,
        tags=tags, title=title, lesson=lesson, category=category,
        outcome=str(outcome) if outcome is not None else None,
    )


def case_summary(doc: dict) -> dict:
    """The ticket's course without citizen data: kinds and times of contacts, resolutions'
    outcomes and codes (not their notes), rounds, extension, satisfaction, and the timeline's
    event types and times."""
    contacts = sorted(doc.get("contacts", []), key=lambda c: c["contacted_at"])
    closed = [e for e in doc.get("events", []) if e.get("type") == "TicketClosed"]
    satisfaction = json.loads(closed[-1]["json"]).get("satisfaction") if closed else None
    return {
        "dispatched_at": doc.get("first_dispatched_at"),
        "rounds": doc.get("round", 0) + 1,
        "state": doc.get("state"),
        "contacts": [{"kind": c["kind"], "at": c["contacted_at"]} for c in contacts],
        "face_to_face": sum(c["kind"] == ContactKind.FACE_TO_FACE.value for c in contacts),
        "resolutions": [{"outcome": r.get("outcome"), "resolution_code": r.get("resolution_code"),
                         "round": r.get("round"), "at": r.get("resolved_at")} for r in doc.get("resolutions", [])],
        "extension": (doc.get("extension") or {}).get("state"),
        "satisfaction": satisfaction,
        "timeline": [{"type": e.get("type"), "at": e.get("at")} for e in doc.get("timeline", [])],
    }


def case_document(event: CaseMarked, doc: dict, *, urgency: str | None) -> dict:
    """The case library's document: category, unit, outcome, tags, lesson and the summary."""
    return {
        "_id": event.ticket_id, "event_id": event.event_id, "title": event.title, "tags": event.tags,
        "lesson": event.lesson, "category": event.category, "urgency": urgency, "unit_code": event.unit_code,
        "district_code": doc.get("district_code"), "outcome": event.outcome, "marked_by": event.marked_by,
        "marked_at": event.occurred_at, "summary": case_summary(doc),
    }


def case_event(case: dict) -> CaseMarked:
    """The CaseMarked event a stored case was made from."""
    return CaseMarked(
        event_id=case["event_id"], ticket_id=case["_id"], occurred_at=case["marked_at"],
        unit_code=case["unit_code"], marked_by=case["marked_by"], tags=case["tags"], title=case["title"],
        lesson=case["lesson"], category=case.get("category"), outcome=case.get("outcome"),
    )


# ---------------------------------------------------------------------------------------------
# The daily brief


def business_day(moment: datetime) -> date:
    """The Asia/Shanghai calendar day of a moment."""
    return moment.astimezone(BUSINESS_TZ).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of an Asia/Shanghai day."""
    start = datetime.combine(day, time(0), tzinfo=BUSINESS_TZ)
    return start, start + timedelta(days=1)


def category_of(ticket: dict, facts: dict) -> str | None:
    """The ticket's category: from intake's facts, else from the dispatch on its timeline."""
    if facts.get("category"):
        return facts["category"]
    # Followup's timeline holds the dispatch, which names the category too.
    dispatched = [e for e in ticket.get("timeline", []) if e.get("type") == "TicketDispatched"]
    return (dispatched[-1].get("data") or {}).get("category") if dispatched else None


def _item(ticket: dict, facts: dict) -> dict:
    return {
        "ticket_id": ticket["_id"],
        "category": category_of(ticket, facts),
        "urgency": facts.get("urgency") or ticket.get("urgency"),
        "state": ticket.get("state", "open"),
        "round": ticket.get("round", 0),
        "dispatched_at": ticket.get("dispatched_at") or ticket.get("first_dispatched_at"),
        "report_back_due_at": ticket.get("report_back_due_at"),
        "face_to_face": facts.get("face_to_face_at") is not None,
        "repeat_of": facts.get("repeat_of"),
        "repeat_count": facts.get("repeat_count", 0),
    }


BRIEF_SECTIONS = ("new", "due_today", "overdue", "awaiting_visit", "reopened", "repeats")


def select_brief(tickets: list[dict], facts: dict[str, dict], collected: list[dict], *, unit_code: str,
                 day: date) -> dict:
    """The agenda of the unit's dispatch meeting on `day`, from its worklist (tickets it holds,
    not closed), per-ticket facts (category, repeats, first face-to-face visit) and the demands it
    collected the day before.

    Deadlines are judged against the day's start, so the agenda of a day does not change while
    the meeting runs: `overdue` passed before the day began, `due_today` fall within it. Tickets
    dispatched after the day are not on it.
    """
    start, end = day_bounds(day)
    sections: dict[str, list[dict]] = {name: [] for name in BRIEF_SECTIONS}
    for ticket in tickets:
        if ticket.get("unit_code") != unit_code:
            continue
        dispatched = ticket.get("dispatched_at") or ticket.get("first_dispatched_at")
        if dispatched is None or dispatched >= end:
            continue
        fact = facts.get(ticket["_id"], {})
        item = _item(ticket, fact)
        is_open = item["state"] == "open"
        due = item["report_back_due_at"]
        if start <= dispatched < end:
            sections["new"].append(item)
        if is_open and due is not None and start <= due < end:
            sections["due_today"].append(item)
        if is_open and due is not None and due < start:
            sections["overdue"].append(item)
        if is_open and not item["face_to_face"]:
            sections["awaiting_visit"].append(item)
        if is_open and item["round"] > 0:
            sections["reopened"].append(item)
        if item["repeat_count"] > 0:
            sections["repeats"].append(item)
    far = datetime.max.replace(tzinfo=BUSINESS_TZ)
    for items in sections.values():
        items.sort(key=lambda i: (i["report_back_due_at"] or far, i["ticket_id"]))
    demands = sorted(
        ({k: d.get(k) for k in ("source_id", "visit_ticket_id", "contact_id", "staff_id", "description",
                                 "place", "community", "category_hint", "collected_at", "recorded_at")}
         | {"ticket_id": d["_id"], "category": facts.get(d["_id"], {}).get("category")}
         for d in collected if d.get("unit_code") == unit_code),
        key=lambda d: (d["recorded_at"], d["ticket_id"]),
    )
    previous = day - timedelta(days=1)
    return {
        "unit_code": unit_code,
        "date": day.isoformat(),
        "time_zone": str(BUSINESS_TZ),
        "counts": {**{name: len(items) for name, items in sections.items()}, "collected_yesterday": len(demands)},
        **sections,
        "collected_yesterday": {"date": previous.isoformat(), "demands": demands},
    }
