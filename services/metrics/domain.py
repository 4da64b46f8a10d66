"""Metrics' pure domain: per-ticket facts from events, and what each unit-month keeps of them.

A ticket's fact is a set of keyed entries (`dispatches.<attempt>`, `contacts.<contact id>`,
`callbacks.<survey id>`, ...). Each event sets one entry to a value that depends on the event
only, so applying events is idempotent and commutative: any order, any duplicates, the same
fact. Everything else (a ticket's summary in its unit-month, the month's figures, in
`hotline.metrics.figures`) is recomputed from the fact, never incremented.

The shapes are typed dicts, not classes: a fact lives only in memory and is touched by every
event, and a summary is compared on every recount and read by every figure pass, so they stay
plain dicts at run time (no conversion per event) while mypy knows each field. None of them is
a store document; the documents are built in `hotline.metrics.store`.
"""

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any, Literal, NamedTuple, NotRequired, TypedDict, cast, overload

from hotline.contracts import (
    BUSINESS_TZ,
    CallbackResult,
    ContactKind,
    ContactRecorded,
    DeadlineBreached,
    ExemptionDecided,
    ExemptionRequested,
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
    | TicketReturned | CallbackResult | ExemptionRequested | ExemptionDecided
)
# Breaches of these clocks count against the unit holding the ticket (on-site clocks are the
# summoned departments').
HOLDER_CLOCKS = frozenset({"response", "report_back"})


# A fact's entries: only what the figures use, never personal data.

class DispatchEntry(TypedDict):
    unit_code: str
    district_code: str | None
    dispatched_at: datetime
    category: str | None
    response_due_at: datetime | None


class ContactEntry(TypedDict):
    unit_code: str
    kind: str
    contacted_at: datetime


class CallbackEntry(TypedDict):
    resolved: bool
    satisfaction: str
    contacted: bool | None  # the citizen's "did the unit contact you"; None: not asked
    surveyed_at: datetime


class ReceivedEntry(TypedDict):
    category: str | None
    district_code: str | None
    place_unit_code: str | None
    community: str | None
    repeat: bool


class UnitEntry(TypedDict):
    """A reopen round, by the unit that holds it."""

    unit_code: str


class BreachEntry(TypedDict):
    unit_code: str
    clock: str


class ReturnEntry(TypedDict):
    unit_code: str
    reason_code: str


class ExemptionAsked(TypedDict):
    """A unit's exemption request (核减), by the unit: the reason code, never the note."""

    reason_code: str


class ExemptionDecision(TypedDict):
    """The centre's decision on a unit's request, by the unit."""

    approved: bool
    reason_code: str


FactEntry = (DispatchEntry | ContactEntry | CallbackEntry | ReceivedEntry | UnitEntry | BreachEntry | ReturnEntry
             | ExemptionAsked | ExemptionDecision)
# path ("dispatches.2", "received") -> the entry an event sets there
Entries = dict[str, FactEntry]


class Fact(TypedDict, total=False):
    """A ticket's entries by kind, each keyed by what identifies its event (attempt, contact id...)."""

    received: ReceivedEntry
    dispatches: dict[str, DispatchEntry]
    contacts: dict[str, ContactEntry]
    callbacks: dict[str, CallbackEntry]
    reopens: dict[str, UnitEntry]
    breaches: dict[str, BreachEntry]
    returns: dict[str, ReturnEntry]
    exemption_requests: dict[str, ExemptionAsked]
    exemption_decisions: dict[str, ExemptionDecision]


class LastWord(TypedDict):
    resolved: bool
    satisfaction: str
    contacted: bool | None


class ExemptionMark(TypedDict):
    """Where the holder's exemption request stands: an approved one takes the ticket out of the
    month's figures (`hotline.metrics.figures`)."""

    state: Literal["requested", "approved", "rejected"]
    reason_code: str


class Summary(TypedDict):
    """What the holder's unit-month keeps of a ticket."""

    dispatched_at: datetime
    response_due_at: datetime | None
    first_contact_at: datetime | None
    response: Literal["in_time", "late", "overdue", "pending"]
    face_to_face: bool
    callback: LastWord | None
    breaches: int
    reopens: int
    repeat: bool
    category: str
    district_code: str | None
    place_unit_code: str | None
    community: str | None
    # Only when the holder asked: a summary without one is unchanged (no month rewritten for it).
    exemption: NotRequired[ExemptionMark]


class Returned(TypedDict):
    """What a unit-month keeps of a ticket its unit returned: the attempts, the reason."""

    attempts: list[int]
    reason_code: str | None


class MonthKey(TypedDict):
    """Which unit-month: the unit and the month (names and kinds come from the directory)."""

    unit_code: str
    period: str


Section = Literal["tickets", "returned"]


class Contribution(NamedTuple):
    """How a ticket counts in one unit-month: the section, its summary there, the month."""

    section: Section
    summary: Summary | Returned
    month: MonthKey


def period_of(moment: datetime, zone: tzinfo = BUSINESS_TZ) -> str:
    """The calendar month a moment falls in, in the city's time zone (Beijing's by default), as YYYY-MM."""
    return moment.astimezone(zone).strftime("%Y-%m")


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


@overload
def stored_time(moment: datetime) -> datetime: ...


@overload
def stored_time(moment: datetime | None) -> datetime | None: ...


def stored_time(moment: datetime | None) -> datetime | None:
    """Millisecond precision, as MongoDB keeps times: live and rebuilt figures agree."""
    if moment is None or moment.microsecond % 1000 == 0:
        return moment
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def callback_key(result: CallbackResult) -> str:
    """One survey of a ticket at one time is one callback, however often it is delivered."""
    return str(int(result.surveyed_at.timestamp() * 1000))


def fact_update(event: MetricsEvent, *, response_due: ResponseDue) -> tuple[str, Entries]:
    """The ticket id and the fact entries (path -> value) an event sets.

    Only what the figures use is kept (a rebuild writes every fact, so each field costs), and
    never personal data: no caller, no content, no address.
    """
    t = stored_time
    match event:
        case ContactRecorded():
            contact: ContactEntry = {
                "unit_code": event.unit_code, "kind": event.kind.value, "contacted_at": t(event.contacted_at),
            }
            return event.ticket_id, {f"contacts.{key(event.contact_id)}": contact}
        case TicketDispatched():
            dispatch: DispatchEntry = {
                "unit_code": event.unit_code, "district_code": event.district_code,
                "dispatched_at": t(event.dispatched_at), "category": event.category,
                # The dispatch says when (v3); an older record's is worked out as routing does.
                "response_due_at": t(event.response_due_at or response_due(event.dispatched_at, event.urgency)),
            }
            return event.ticket_id, {f"dispatches.{event.attempt}": dispatch}
        case TicketReceived():
            loc = event.location
            received: ReceivedEntry = {
                "category": event.category, "district_code": loc.district_code,
                "place_unit_code": loc.unit_code, "community": (loc.community or "").strip() or None,
                "repeat": bool(event.repeat_of) or event.repeat_count > 0,
            }
            return event.ticket_id, {"received": received}
        case CallbackResult():
            callback: CallbackEntry = {
                "resolved": event.resolved, "satisfaction": event.satisfaction.value,
                "contacted": event.contacted, "surveyed_at": t(event.surveyed_at),
            }
            return event.ticket_id, {f"callbacks.{callback_key(event)}": callback}
        case TicketReopened():
            reopen: UnitEntry = {"unit_code": event.unit_code}
            return event.ticket_id, {f"reopens.{event.round}": reopen}
        case DeadlineBreached():
            breach: BreachEntry = {"unit_code": event.unit_code, "clock": event.clock}
            return event.ticket_id, {f"breaches.{key(event.event_id)}": breach}
        case TicketReturned():
            returned: ReturnEntry = {"unit_code": event.unit_code, "reason_code": event.reason_code.value}
            return event.ticket_id, {f"returns.{event.attempt}": returned}
        case ExemptionRequested():
            asked: ExemptionAsked = {"reason_code": event.reason_code}
            return event.ticket_id, {f"exemption_requests.{key(event.unit_code)}": asked}
        case ExemptionDecided():
            decision: ExemptionDecision = {"approved": event.approved, "reason_code": event.reason_code}
            return event.ticket_id, {f"exemption_decisions.{key(event.unit_code)}": decision}
    raise TypeError(f"not a metrics event: {type(event).__name__}")


def apply_entries(fact: Fact, entries: Entries) -> list[str]:
    """Set the entries the in-memory fact does not hold yet, as the store does: the first event
    to set an entry stands, so a second event under its id cannot rewrite what was counted.
    Returns the paths that came again with different content."""
    conflicts = []
    for path, value in entries.items():
        *parents, last = path.split(".")
        target = cast(dict[str, Any], fact)  # walked by path: one or two levels
        for part in parents:
            target = target.setdefault(part, {})
        if last not in target:
            target[last] = value
        elif target[last] != value:
            conflicts.append(path)
    return conflicts


def entry_at(fact: Fact, path: str) -> tuple[bool, Any]:
    """Whether the fact holds the entry at `path`, and its value."""
    target: Any = fact
    for part in path.split("."):
        if not isinstance(target, dict) or part not in target:
            return False, None
        target = target[part]
    return True, target


def holder(fact: Fact) -> tuple[int, DispatchEntry] | None:
    """The highest dispatch attempt and its entry: the unit that owns the ticket now."""
    dispatches = fact.get("dispatches") or {}
    if not dispatches:
        return None
    attempt = max(dispatches, key=int)
    return int(attempt), dispatches[attempt]


_ANSWER_ORDER = {None: 0, False: 1, True: 2}  # ties of two surveys at one time: by content, not arrival


def latest_callback(fact: Fact) -> LastWord | None:
    """The citizen's last word: the latest survey (ties settled by content, not arrival)."""
    callbacks = list((fact.get("callbacks") or {}).values())
    if not callbacks:
        return None
    last = max(callbacks, key=lambda c: (c["surveyed_at"], c["resolved"], c["satisfaction"],
                                         _ANSWER_ORDER[c.get("contacted")]))
    return {"resolved": last["resolved"], "satisfaction": last["satisfaction"], "contacted": last.get("contacted")}


def held_summary(fact: Fact) -> Summary:
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
    response: Literal["in_time", "late", "overdue", "pending"]
    if first_contact is not None:
        response = "in_time" if due is None or first_contact <= due else "late"
    elif any(b["clock"] == "response" for b in breaches):
        response = "overdue"
    else:
        response = "pending"
    received = fact.get("received") or cast(ReceivedEntry, {})
    summary: Summary = {
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
    if (exemption := exemption_of(fact, unit)) is not None:
        summary["exemption"] = exemption
    return summary


def exemption_of(fact: Fact, unit_code: str) -> ExemptionMark | None:
    """The unit's exemption on the ticket: decided, else requested, else None. A decision that
    arrived before its request (another partition's order) stands alone."""
    decision = (fact.get("exemption_decisions") or {}).get(key(unit_code))
    if decision is not None:
        return {"state": "approved" if decision["approved"] else "rejected", "reason_code": decision["reason_code"]}
    asked = (fact.get("exemption_requests") or {}).get(key(unit_code))
    return {"state": "requested", "reason_code": asked["reason_code"]} if asked is not None else None


def contributions(fact: Fact, zone: tzinfo = BUSINESS_TZ) -> dict[str, Contribution]:
    """Each unit-month a ticket counts in: month id -> (section, summary, month meta), the
    months in the city's time zone (`zone`, the deployment's city; Beijing's by default).

    The holder's month keeps the ticket in `tickets`; each unit that held an earlier attempt
    returned it (a re-dispatch follows only a return), and keeps it in `returned`. Attempts only
    ever add months, so a ticket never has to leave a month it was counted in.
    """
    found = holder(fact)
    if found is None:
        return {}
    top, dispatch = found

    def meta(d: DispatchEntry) -> MonthKey:
        # Only the code and month: names and kinds come from the directory, whatever an
        # event said, so the first event to reach a month does not decide them.
        return {"unit_code": d["unit_code"], "period": period_of(d["dispatched_at"], zone)}

    held_meta = meta(dispatch)
    held_id = unit_month_id(held_meta["unit_code"], held_meta["period"])
    result: dict[str, Contribution] = {}
    dispatches = fact.get("dispatches") or {}
    for attempt in sorted(int(a) for a in dispatches):
        if attempt == top:
            continue
        d = dispatches[str(attempt)]
        m = meta(d)
        month_id = unit_month_id(m["unit_code"], m["period"])
        if month_id == held_id:
            continue
        returned = (fact.get("returns") or {}).get(str(attempt))
        before = cast(Returned, result[month_id].summary)["attempts"] if month_id in result else []
        result[month_id] = Contribution("returned", {
            "attempts": [*before, attempt], "reason_code": returned["reason_code"] if returned else None}, m)
    result[held_id] = Contribution("tickets", held_summary(fact), held_meta)
    return result


def fact_as_of(fact: Fact, recorded: dict[str, datetime], moment: datetime) -> Fact:
    """The fact as it stood at `moment`: only the entries recorded by then (`recorded`: path ->
    when its record came, see `hotline.metrics.settle`; an entry without a time counts)."""
    kept: dict[str, Any] = {}
    for kind, value in fact.items():
        if kind in recorded or not isinstance(value, dict):
            # One entry at the kind's own path (`received`), not a map of entries by id.
            at = recorded.get(kind)
            if at is None or at <= moment:
                kept[kind] = value
            continue
        entries = {k: v for k, v in cast(dict[str, Any], value).items()
                   if (at := recorded.get(f"{kind}.{k}")) is None or at <= moment}
        if entries:
            kept[kind] = entries
    return cast(Fact, kept)


def fold(events: list[MetricsEvent], *, response_due: ResponseDue) -> dict[str, Fact]:
    """Every ticket's fact from a sequence of events, in memory (rebuild, tests)."""
    facts: dict[str, Fact] = {}
    for event in events:
        ticket_id, entries = fact_update(event, response_due=response_due)
        apply_entries(facts.setdefault(ticket_id, {}), entries)
    return facts
