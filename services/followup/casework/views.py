"""Casework's pure views: what its API answers, from the records casework and followup keep. The
case library's cases (a ticket's course without citizen data) and the agenda of a unit's daily
dispatch meeting. Kept apart from `domain.py`, which decides; nothing here refuses or changes
anything, so the fields clients see are all in one place."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, TypedDict

from hotline.contracts import BUSINESS_TZ, CaseMarked, ContactKind, DemandCollected
from hotline.followup.casework.domain import (
    DemandTicket,
    RecordedDemand,
    TicketFacts,
    TicketRecord,
    day_bounds,
)


class CaseRecord(TypedDict):
    """A case of the library: its description, where it came from, and the ticket's course."""

    _id: str  # the ticket's id
    event_id: str
    title: str
    tags: list[str]
    lesson: str
    category: str | None
    urgency: str | None
    unit_code: str
    district_code: str | None
    outcome: str | None
    marked_by: str
    marked_at: datetime
    summary: dict[str, Any]


def demands_view(ticket_id: str, contact_id: str, planned: list[DemandTicket], events: list[DemandCollected],
                 stored: dict[str, RecordedDemand], new: set[str]) -> dict[str, Any]:
    """The answer to a visit's demands: each demand's ticket, whether it is new, and its event."""
    return {
        "ticket_id": ticket_id, "contact_id": contact_id,
        "demands": [{"ticket_id": d.ticket_id, "source_id": d.source_id, "new": d.ticket_id in new,
                     "recorded_at": stored[d.ticket_id]["recorded_at"], "event_id": e.event_id}
                    for d, e in zip(planned, events)],
    }


def notes_view(ticket_id: str, notes: list[dict[str, Any]]) -> dict[str, Any]:
    """A ticket's progress notes with their texts."""
    return {"ticket_id": ticket_id, "count": len(notes), "notes": notes}


# ---------------------------------------------------------------------------------------------
# The case library


def case_summary(doc: TicketRecord) -> dict[str, Any]:
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


def case_document(event: CaseMarked, doc: TicketRecord, *, urgency: str | None) -> CaseRecord:
    """The case library's document: category, unit, outcome, tags, lesson and the summary."""
    return {
        "_id": event.ticket_id, "event_id": event.event_id, "title": event.title, "tags": event.tags,
        "lesson": event.lesson, "category": event.category, "urgency": urgency, "unit_code": event.unit_code,
        "district_code": doc.get("district_code"), "outcome": event.outcome, "marked_by": event.marked_by,
        "marked_at": event.occurred_at, "summary": case_summary(doc),
    }


def case_event(case: CaseRecord) -> CaseMarked:
    """The CaseMarked event a stored case was made from."""
    return CaseMarked(
        event_id=case["event_id"], ticket_id=case["_id"], occurred_at=case["marked_at"],
        unit_code=case["unit_code"], marked_by=case["marked_by"], tags=case["tags"], title=case["title"],
        lesson=case["lesson"], category=case.get("category"), outcome=case.get("outcome"),
    )


def case_view(case: CaseRecord) -> dict[str, Any]:
    """A case as the API shows it: the ticket's id under `ticket_id`."""
    out: dict[str, Any] = {k: v for k, v in case.items() if k != "_id"}
    out["ticket_id"] = case["_id"]
    return out


def tags_view(counts: dict[str, int]) -> dict[str, Any]:
    """Every tag and how many cases it has, the most used first."""
    return {"tags": [{"tag": t, "count": n} for t, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))]}


def tagged_view(tag: str, cases: list[CaseRecord]) -> dict[str, Any]:
    """The cases of one tag."""
    return {"tag": tag, "count": len(cases), "cases": [case_view(c) for c in cases]}


# ---------------------------------------------------------------------------------------------
# The daily brief


def category_of(ticket: TicketRecord, facts: TicketFacts) -> str | None:
    """The ticket's category: from intake's facts, else from the dispatch on its timeline."""
    if facts.get("category"):
        return facts["category"]
    # Followup's timeline holds the dispatch, which names the category too.
    dispatched = [e for e in ticket.get("timeline", []) if e.get("type") == "TicketDispatched"]
    return (dispatched[-1].get("data") or {}).get("category") if dispatched else None


def _item(ticket: TicketRecord, facts: TicketFacts) -> dict[str, Any]:
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
_DEMAND_FIELDS = ("source_id", "visit_ticket_id", "contact_id", "staff_id", "description", "place", "community",
                  "category_hint", "collected_at", "recorded_at")


def select_brief(tickets: list[TicketRecord], facts: dict[str, TicketFacts], collected: list[RecordedDemand], *,
                 unit_code: str, day: date, zone: tzinfo = BUSINESS_TZ) -> dict[str, Any]:
    """The agenda of the unit's dispatch meeting on `day`, from its worklist (tickets it holds,
    not closed), per-ticket facts (category, repeats, first face-to-face visit) and the demands it
    collected the day before.

    Deadlines are judged against the day's start, so the agenda of a day does not change while
    the meeting runs: `overdue` passed before the day began, `due_today` fall within it. Tickets
    dispatched after the day are not on it.
    """
    start, end = day_bounds(day, zone)
    sections: dict[str, list[dict[str, Any]]] = {name: [] for name in BRIEF_SECTIONS}
    for ticket in tickets:
        if ticket.get("unit_code") != unit_code:
            continue
        dispatched = ticket.get("dispatched_at") or ticket.get("first_dispatched_at")
        if dispatched is None or dispatched >= end:
            continue
        item = _item(ticket, facts.get(ticket["_id"], {}))
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
    far = datetime.max.replace(tzinfo=UTC)
    for items in sections.values():
        items.sort(key=lambda i: (i["report_back_due_at"] or far, i["ticket_id"]))
    demands = sorted(
        ({k: d.get(k) for k in _DEMAND_FIELDS}
         | {"ticket_id": d["_id"], "category": facts.get(d["_id"], {}).get("category")}
         for d in collected if d.get("unit_code") == unit_code),
        key=lambda d: (d["recorded_at"], d["ticket_id"]),
    )
    previous = day - timedelta(days=1)
    return {
        "unit_code": unit_code,
        "date": day.isoformat(),
        "time_zone": str(zone),
        "counts": {**{name: len(items) for name, items in sections.items()}, "collected_yesterday": len(demands)},
        **sections,
        "collected_yesterday": {"date": previous.isoformat(), "demands": demands},
    }
