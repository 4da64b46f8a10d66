"""Metrics' pure domain: per-ticket facts from events, and what each unit-month keeps of them.

A ticket's fact is a set of keyed entries (`dispatches.<attempt>`, `contacts.<contact id>`,
`callbacks.<survey id>`, ...). Each event sets one entry to a value that depends on the event
only, so applying events is idempotent and commutative: any order, any duplicates, the same
fact. Everything else (a ticket's summary in its unit-month's part, the part's figures, the
month's figures combined from its parts') is recomputed from the fact, never incremented.
"""

import zlib
from collections.abc import Callable, Iterable
from datetime import datetime
from statistics import median
from typing import Any

from hotline.contracts import (
    BUSINESS_TZ,
    CallbackResult,
    ContactKind,
    ContactRecorded,
    DeadlineBreached,
    TicketDispatched,
    TicketReceived,
    TicketReopened,
)
from hotline.contracts.routing import TicketReturned

# (dispatched_at, urgency) -> when the first contact is due, for a dispatch that does not say
# (older than TicketDispatched v3); see hotline.metrics.deadlines.
ResponseDue = Callable[[datetime, str | None], datetime | None]
MetricsEvent = (
    TicketReceived | TicketDispatched | ContactRecorded | TicketReopened | DeadlineBreached
    | TicketReturned | CallbackResult
)
# Breaches of these clocks count against the unit holding the ticket (on-site clocks are the
# summoned departments').
HOLDER_CLOCKS = frozenset({"response", "report_back"})


def period_of(moment: datetime) -> str:
    """The calendar month (Asia/Shanghai) a moment falls in, as YYYY-MM."""
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m")


def previous_period(period: str) -> str:
    """The month before a YYYY-MM month."""
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def unit_month_id(unit_code: str, period: str) -> str:
    """The `_id` of a unit's figures for a month: the read path's key."""
    return f"{unit_code}:{period}"


def key(text: str) -> str:
    """A map key safe in a MongoDB field path (ids come from outside)."""
    return text.replace(".", "\uff0e").replace("$", "\uff04")


def stored_time(moment: datetime | None) -> datetime | None:
    """Millisecond precision, as MongoDB keeps times: live and rebuilt figures agree."""
    if moment is None or moment.microsecond % 1000 == 0:
        return moment
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def callback_key(result: CallbackResult) -> str:
    """One survey of a ticket at one time is one callback, however often it is delivered."""
    return str(int(result.surveyed_at.timestamp() * 1000))


def fact_update(event: MetricsEvent, *, response_due: ResponseDue) -> tuple[str, dict[str, Any]]:
    """The ticket id and the fact entries (path -> value) an event sets.

    Only what the figures use is kept (a rebuild writes every fact, so each field costs), and
    never personal data: no caller, no content, no address.
    """
    t = stored_time
    match event:
        case ContactRecorded():
            return event.ticket_id, {f"contacts.{key(event.contact_id)}": {
                "unit_code": event.unit_code, "kind": event.kind.value, "contacted_at": t(event.contacted_at),
            }}
        case TicketDispatched():
            return event.ticket_id, {f"dispatches.{event.attempt}": {
                "unit_code": event.unit_code, "district_code": event.district_code,
                "dispatched_at": t(event.dispatched_at), "category": event.category,
                # The dispatch says when (v3); an older record's is worked out as routing does.
                "response_due_at": t(event.response_due_at or response_due(event.dispatched_at, event.urgency)),
            }}
        case TicketReceived():
            loc = event.location
            return event.ticket_id, {"received": {
                "category": event.category, "district_code": loc.district_code,
                "place_unit_code": loc.unit_code, "community": (loc.community or "").strip() or None,
                "repeat": bool(event.repeat_of) or event.repeat_count > 0,
            }}
        case CallbackResult():
            return event.ticket_id, {f"callbacks.{callback_key(event)}": {
                "resolved": event.resolved, "satisfaction": event.satisfaction.value,
                "surveyed_at": t(event.surveyed_at),
            }}
        case TicketReopened():
            return event.ticket_id, {f"reopens.{event.round}": {"unit_code": event.unit_code}}
        case DeadlineBreached():
            breach = {"unit_code": event.unit_code, "clock": event.clock}
            return event.ticket_id, {f"breaches.{key(event.event_id)}": breach}
        case TicketReturned():
            return event.ticket_id, {f"returns.{event.attempt}": {
                "unit_code": event.unit_code, "reason_code": event.reason_code.value,
            }}
    raise TypeError(f"not a metrics event: {type(event).__name__}")


def apply_entries(fact: dict[str, Any], entries: dict[str, Any]) -> list[str]:
    """Set the entries the in-memory fact does not hold yet, as the store does: the first event
    to set an entry stands, so a second event under its id cannot rewrite what was counted.
    Returns the paths that came again with different content."""
    conflicts = []
    for path, value in entries.items():
        *parents, last = path.split(".")
        target = fact
        for part in parents:
            target = target.setdefault(part, {})
        if last not in target:
            target[last] = value
        elif target[last] != value:
            conflicts.append(path)
    return conflicts


def entry_at(fact: dict[str, Any], path: str) -> tuple[bool, Any]:
    """Whether the fact holds the entry at `path`, and its value."""
    target: Any = fact
    for part in path.split("."):
        if not isinstance(target, dict) or part not in target:
            return False, None
        target = target[part]
    return True, target


def holder(fact: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The highest dispatch attempt and its entry: the unit that owns the ticket now."""
    dispatches = fact.get("dispatches") or {}
    if not dispatches:
        return None
    attempt = max(dispatches, key=int)
    return int(attempt), dispatches[attempt]


def latest_callback(fact: dict[str, Any]) -> dict[str, Any] | None:
    """The citizen's last word: the latest survey (ties settled by content, not arrival)."""
    callbacks = list((fact.get("callbacks") or {}).values())
    if not callbacks:
        return None
    last = max(callbacks, key=lambda c: (c["surveyed_at"], c["resolved"], c["satisfaction"]))
    return {"resolved": last["resolved"], "satisfaction": last["satisfaction"]}


def held_summary(fact: dict[str, Any]) -> dict[str, Any]:
    """What the holder's unit-month keeps of a ticket: times, response, callback, flags."""
    found = holder(fact)
    if found is None:
        raise ValueError("held_summary is for a dispatched ticket")
    _, dispatch = found
    unit = dispatch["unit_code"]
    # A contact stored before contacts named their unit counts for the holder.
    contacts = [c for c in (fact.get("contacts") or {}).values() if c.get("unit_code", unit) == unit]
    first_contact = min((c["contacted_at"] for c in contacts), default=None)
    due = dispatch.get("response_due_at")
    breaches = [b for b in (fact.get("breaches") or {}).values()
                if b["unit_code"] == unit and b["clock"] in HOLDER_CLOCKS]
    if first_contact is not None:
        response = "in_time" if due is None or first_contact <= due else "late"
    elif any(b["clock"] == "response" for b in breaches):
        response = "overdue"
    else:
        response = "pending"
    received = fact.get("received") or {}
    return {
        "dispatched_at": dispatch["dispatched_at"],
        "response_due_at": due,
        "first_contact_at": first_contact,
        "response": response,
        "face_to_face": any(c["kind"] == ContactKind.FACE_TO_FACE.value for c in contacts),
        "callback": latest_callback(fact),
        "breaches": len(breaches),
        "reopens": sum(1 for r in (fact.get("reopens") or {}).values() if r["unit_code"] == unit),
        "repeat": bool(received.get("repeat")),
        "category": received.get("category") or dispatch.get("category") or "other",
        "district_code": received.get("district_code") or dispatch.get("district_code"),
        "place_unit_code": received.get("place_unit_code"),
        "community": received.get("community"),
    }


def contributions(fact: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """Each unit-month a ticket counts in: month id -> (section, summary, month meta).

    The holder's month keeps the ticket in `tickets`; each unit that held an earlier attempt
    returned it (a re-dispatch follows only a return), and keeps it in `returned`. Attempts only
    ever add months, so a ticket never has to leave a month it was counted in.
    """
    found = holder(fact)
    if found is None:
        return {}
    top, dispatch = found

    def meta(d: dict[str, Any]) -> dict[str, Any]:
        # Only the code and month: names and kinds come from the directory, whatever an
        # event said, so the first event to reach a month does not decide them.
        return {"unit_code": d["unit_code"], "period": period_of(d["dispatched_at"])}

    held_meta = meta(dispatch)
    held_id = unit_month_id(held_meta["unit_code"], held_meta["period"])
    result: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    for attempt in sorted(int(a) for a in fact["dispatches"]):
        if attempt == top:
            continue
        d = fact["dispatches"][str(attempt)]
        m = meta(d)
        month_id = unit_month_id(m["unit_code"], m["period"])
        if month_id == held_id:
            continue
        returned = (fact.get("returns") or {}).get(str(attempt)) or {}
        attempts = result[month_id][1]["attempts"] + [attempt] if month_id in result else [attempt]
        result[month_id] = ("returned", {"attempts": attempts, "reason_code": returned.get("reason_code")}, m)
    result[held_id] = ("tickets", held_summary(fact), held_meta)
    return result


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# A month's tickets are spread over this many part documents (by a hash of the ticket id): each
# update rewrites only its part, and a month stays far below MongoDB's 16 MB document limit up to
# about 700,000 tickets (a whole city's 311 agency), not about 45,000.
PARTS = 16
# Figures a month's parts simply add up to; the rest are derived from them or merged (below).
ADDITIVE = (
    "dispatched", "contacted", "contacted_in_time", "contacted_late", "response_overdue", "face_to_face",
    "callbacks", "resolved", "unresolved", "satisfied", "basically_satisfied", "dissatisfied",
    "breaches", "returns", "reopens", "repeats",
)


def month_part_id(month_id: str, ticket_key: str) -> str:
    """The `_id` of the part of a unit-month that keeps a ticket (a stable hash, not Python's)."""
    return month_part_ids(month_id)[zlib.crc32(ticket_key.encode()) % PARTS]


def month_part_ids(month_id: str) -> list[str]:
    """The `_id`s of every part a unit-month may have."""
    return [f"{month_id}#{n}" for n in range(PARTS)]


def month_of_part(part_id: str) -> str:
    """The unit-month a part belongs to."""
    return part_id.rpartition("#")[0]


def partial_figures(
    tickets: dict[str, dict[str, Any]], returned: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What some of a unit-month's tickets add to its figures (see `combine`): the counts, the
    first-contact delays in minutes (a median does not add up), category and community tallies."""
    held = list(tickets.values())
    contacted = [t for t in held if t.get("first_contact_at") is not None]
    callbacks = [t["callback"] for t in held if t.get("callback")]

    def count(predicate) -> int:
        return sum(1 for t in held if predicate(t))

    categories: dict[tuple[str, str], int] = {}
    communities: dict[tuple[str, str, str], list[int]] = {}
    for t in held:
        district = t.get("district_code") or ""
        category = t.get("category") or "other"
        categories[(district, category)] = categories.get((district, category), 0) + 1
        if t.get("community"):
            place = t.get("place_unit_code") or district
            tally = communities.setdefault((place, t["community"], category), [0, 0])
            tally[0] += 1
            tally[1] += 1 if t.get("repeat") else 0
    return {
        "dispatched": len(held),
        "contacted": len(contacted),
        "contacted_in_time": count(lambda t: t.get("response") == "in_time"),
        "contacted_late": count(lambda t: t.get("response") == "late"),
        "response_overdue": count(lambda t: t.get("response") == "overdue"),
        "face_to_face": count(lambda t: t.get("face_to_face")),
        "callbacks": len(callbacks),
        "resolved": sum(1 for c in callbacks if c["resolved"]),
        "unresolved": sum(1 for c in callbacks if not c["resolved"]),
        "satisfied": sum(1 for c in callbacks if c["satisfaction"] == "satisfied"),
        "basically_satisfied": sum(1 for c in callbacks if c["satisfaction"] == "basically_satisfied"),
        "dissatisfied": sum(1 for c in callbacks if c["satisfaction"] == "dissatisfied"),
        "breaches": sum(t.get("breaches", 0) for t in held),
        "returns": sum(len(r.get("attempts", [])) for r in (returned or {}).values()),
        "reopens": sum(t.get("reopens", 0) for t in held),
        "repeats": count(lambda t: t.get("repeat")),
        "delays": sorted((t["first_contact_at"] - t["dispatched_at"]).total_seconds() / 60 for t in contacted),
        # Lists, not maps: community names are free text, unsafe as field names.
        "categories": [[d, c, n] for (d, c), n in sorted(categories.items())],
        "communities": [[p, c, cat, n, r] for (p, c, cat), (n, r) in sorted(communities.items())],
    }


def combine(partials: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A unit-month's figures from its parts' partial figures (see docs/metrics.md)."""
    totals = dict.fromkeys(ADDITIVE, 0)
    delays: list[float] = []
    categories: dict[tuple[str, str], int] = {}
    communities: dict[tuple[str, str, str], list[int]] = {}
    for partial in partials:
        for name in ADDITIVE:
            totals[name] += partial[name]
        delays += partial["delays"]
        for d, c, n in partial["categories"]:
            categories[(d, c)] = categories.get((d, c), 0) + n
        for p, c, cat, n, r in partial["communities"]:
            tally = communities.setdefault((p, c, cat), [0, 0])
            tally[0] += n
            tally[1] += r
    delays.sort()
    return {
        **{n: totals[n] for n in ADDITIVE[:6]},
        "face_to_face_share": _share(totals["face_to_face"], totals["dispatched"]),
        "median_first_contact_minutes": round(median(delays), 3) if delays else None,
        **{n: totals[n] for n in ADDITIVE[6:]},
        "categories": [[d, c, n] for (d, c), n in sorted(categories.items())],
        "communities": [[p, c, cat, n, r] for (p, c, cat), (n, r) in sorted(communities.items())],
    }


def unit_month_figures(
    tickets: dict[str, dict[str, Any]], returned: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A unit-month's figures from its held and returned tickets' summaries (see docs/metrics.md)."""
    return combine([partial_figures(tickets, returned)])


def month_parts(month: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """A unit-month's held and returned tickets split into its parts: part id -> sections."""
    month_id = unit_month_id(month["unit_code"], month["period"])
    parts: dict[str, dict[str, dict[str, Any]]] = {}
    for section in ("tickets", "returned"):
        for ticket, summary in month[section].items():
            part = parts.setdefault(month_part_id(month_id, ticket), {"tickets": {}, "returned": {}})
            part[section][ticket] = summary
    return parts


FIGURE_NAMES = tuple(unit_month_figures({}).keys())


def project_facts(facts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every unit-month from every fact at once (rebuild, tests): id -> meta, sections, figures."""
    months: dict[str, dict[str, Any]] = {}
    for ticket_id in sorted(facts):
        for month_id, (section, summary, meta) in contributions(facts[ticket_id]).items():
            month = months.setdefault(month_id, {**meta, "tickets": {}, "returned": {}})
            month[section][key(ticket_id)] = summary
    for month in months.values():
        month.update(unit_month_figures(month["tickets"], month["returned"]))
    return months


def fold(events: list[MetricsEvent], *, response_due: ResponseDue) -> dict[str, dict[str, Any]]:
    """Every ticket's fact from a sequence of events, in memory (rebuild, tests)."""
    facts: dict[str, dict[str, Any]] = {}
    for event in events:
        ticket_id, entries = fact_update(event, response_due=response_due)
        apply_entries(facts.setdefault(ticket_id, {}), entries)
    return facts
