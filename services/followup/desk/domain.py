"""The centre's desk at followup, pure: who is calling, a ticket search (who may search what, its
filters, the rows it answers) and the requests waiting for the centre's decision.

A unit searches only the tickets it holds or held (its code is forced; another unit's code is a
403); the centre searches every ticket. A search by unit reads the unit's own listings (its
worklist and its months, `desk/store.py`); any other search is a filtered find on the tickets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from hotline.domain_errors import Invalid, NotYours
from hotline.followup.tickets.domain import TicketState
from hotline.runtime.auth import Principal, Role

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Without dates a search by unit looks this many months back (the unit's listings are by month).
MONTHS_BACK = 24


def whoami(caller: Principal) -> dict[str, str]:
    """The caller's unit code and role, as the workbench shows them."""
    return {"unit_code": caller.unit_code, "role": caller.role.value}


@dataclass(frozen=True)
class TicketSearch:
    """A search as the store runs it: each filter None when not given; times are UTC instants,
    `received_before` exclusive."""

    ticket_id: str | None = None
    unit_code: str | None = None
    category: str | None = None
    state: TicketState | None = None
    received_from: datetime | None = None
    received_before: datetime | None = None
    limit: int = DEFAULT_LIMIT


def search_for(caller: Principal, *, ticket_id: str | None = None, unit_code: str | None = None,
               category: str | None = None, state: TicketState | None = None, received_from: date | None = None,
               received_to: date | None = None, limit: int = DEFAULT_LIMIT, zone: tzinfo) -> TicketSearch:
    """The search this caller may run: the centre any; a unit its own tickets only (its code forced,
    another's 403); dates are the city's days (`received_to` included)."""
    if caller.role is Role.PLATFORM:
        raise NotYours("authorization", "a platform token reads no tickets")
    if not caller.is_centre:
        if unit_code is not None and unit_code != caller.unit_code:
            raise NotYours("unit_code", "a unit searches its own tickets only")
        unit_code = caller.unit_code
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("limit", f"limit must be between 1 and {MAX_LIMIT}")
    if received_from is not None and received_to is not None and received_to < received_from:
        raise Invalid("received_to", "received_to is before received_from")
    return TicketSearch(
        ticket_id=ticket_id or None, unit_code=unit_code or None, category=category or None, state=state,
        received_from=_day_start(received_from, zone) if received_from else None,
        received_before=_day_start(received_to + timedelta(days=1), zone) if received_to else None,
        limit=limit)


def _day_start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), zone)


def received_at_of(doc: dict[str, Any]) -> datetime | None:
    """When the ticket was received (the received event's time, kept under `facts`)."""
    return (doc.get("facts") or {}).get("received_at")


def matches(doc: dict[str, Any], search: TicketSearch) -> bool:
    """Whether a stored ticket passes the search's filters (the unit's: `holders` says it held it)."""
    facts = doc.get("facts") or {}
    received = received_at_of(doc)
    return ("unit_code" in doc
            and (search.ticket_id is None or doc.get("_id") == search.ticket_id)
            and (search.category is None or facts.get("category") == search.category)
            and (search.state is None or doc.get("state", TicketState.OPEN.value) == search.state.value)
            and (search.received_from is None or (received is not None and received >= search.received_from))
            and (search.received_before is None or (received is not None and received < search.received_before)))


def store_filter(search: TicketSearch) -> dict[str, Any]:
    """The search as a find on `followup_tickets` (the centre's search without a unit): it scans
    on the local server, which uses no index but `_id`."""
    found: dict[str, Any] = {"unit_code": {"$exists": True}}
    if search.ticket_id is not None:
        found["_id"] = search.ticket_id
    if search.category is not None:
        found["facts.category"] = search.category
    if search.state is not None:
        found["state"] = search.state.value
    received: dict[str, datetime] = {}
    if search.received_from is not None:
        received["$gte"] = search.received_from
    if search.received_before is not None:
        received["$lt"] = search.received_before
    if received:
        found["facts.received_at"] = received
    return found


def holders(doc: dict[str, Any]) -> set[str]:
    """Every unit on the ticket or that held it: its holder, co-handlers and summoned departments
    (who may open it) and each unit a dispatch on its timeline named."""
    return {doc.get("unit_code"), *doc.get("co_handlers", []), *(s.get("unit_code") for s in doc.get("summons", [])),
            *(e["data"].get("unit_code") for e in doc.get("timeline", [])
              if e.get("type") == "TicketDispatched")} - {None}


def search_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A ticket as the search lists it: no caller, no content, no notes."""
    facts = doc.get("facts") or {}
    return {"ticket_id": doc["_id"], "unit_code": doc.get("unit_code"),
            "state": doc.get("state", TicketState.OPEN.value), "category": facts.get("category"),
            "urgency": facts.get("urgency") or doc.get("urgency"), "received_at": received_at_of(doc),
            "dispatched_at": doc.get("dispatched_at"), "report_back_due_at": doc.get("report_back_due_at"),
            "attempt": doc.get("attempt")}


def newest_first(rows: Iterable[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Rows newest received first (those without a received time last, by id), at most `limit`."""
    ordered = sorted(rows, key=lambda r: r["ticket_id"], reverse=True)
    ordered.sort(key=lambda r: (r["received_at"] is not None, r["received_at"] or datetime.min), reverse=True)
    return ordered[:limit]


def month_of(moment: datetime, zone: tzinfo) -> str:
    """The city's month of a moment, `YYYY-MM`: a unit's listings are by the month received."""
    return moment.astimezone(zone).strftime("%Y-%m")


def months_searched(search: TicketSearch, *, now: datetime, zone: tzinfo) -> list[str]:
    """The months whose listings a search by unit reads, newest first: those of its dates, else
    `MONTHS_BACK` back from now (and the next, for a clock running ahead)."""
    last = (search.received_before - timedelta(microseconds=1)) if search.received_before else now + timedelta(days=31)
    first = search.received_from or (now - timedelta(days=31 * MONTHS_BACK))
    year, month = int(month_of(last, zone)[:4]), int(month_of(last, zone)[5:])
    stop = month_of(first, zone)
    months = []
    while True:
        months.append(f"{year:04d}-{month:02d}")
        if months[-1] <= stop:
            return months
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)


# ------------------------------------------------------------------ requests waiting for the centre


def waiting_exemptions(entries: Iterable[dict[str, Any]], docs: dict[str, dict[str, Any]], *,
                       unit_code: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, stale entries): the listed exemption requests that the tickets still hold as waiting,
    oldest first (for one unit only with `unit_code`), and the entries whose request was decided."""
    rows, stale = [], []
    for entry in entries:
        doc = docs.get(entry["ticket_id"]) or {}
        asked = next((e for e in (doc.get("exemptions") or {}).values() if e.get("unit_code") == entry["unit_code"]),
                     None)
        if asked is None or asked.get("state") != "requested":
            if doc:  # listed after its ticket's write: gone from the ticket means decided
                stale.append(entry)
            continue
        if unit_code is None or asked["unit_code"] == unit_code:
            rows.append({"ticket_id": entry["ticket_id"], "unit_code": asked["unit_code"],
                         "reason_code": asked.get("reason_code"), "note": asked.get("note", ""),
                         "requested_at": asked.get("requested_at")})
    return sorted(rows, key=lambda r: (r["requested_at"], r["ticket_id"])), stale


def waiting_extensions(entries: Iterable[dict[str, Any]], docs: dict[str, dict[str, Any]], *,
                       unit_code: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, stale entries): the listed extension requests still waiting on their tickets (not
    decided, not dropped by a reopen, the ticket not closed), oldest first, and the stale entries."""
    rows, stale = [], []
    for entry in entries:
        doc = docs.get(entry["ticket_id"]) or {}
        extension = doc.get("extension") or {}
        waiting = (extension.get("state") == "requested" and doc.get("state") != TicketState.CLOSED.value
                   and extension.get("requested_at") == entry["requested_at"])
        if not waiting:
            if doc:
                stale.append(entry)
            continue
        if unit_code is None or entry["unit_code"] == unit_code:
            rows.append({"ticket_id": entry["ticket_id"], "unit_code": entry["unit_code"],
                         "reason": entry.get("reason", ""), "requested_at": extension["requested_at"],
                         "current_due_at": extension.get("current_due_at"),
                         "requested_due_at": extension.get("requested_due_at")})
    return sorted(rows, key=lambda r: (r["requested_at"], r["ticket_id"])), stale
