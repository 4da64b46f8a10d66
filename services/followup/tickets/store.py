"""Followup's tickets in MongoDB: one document per ticket, keyed by ticket id (the local server
finds documents fast by `_id` only), and one worklist document per unit.

A ticket's document holds its holder, contacts, resolutions, callbacks and timeline; each action
writes its fact and its timeline entry in one guarded update, so a retry or a redelivery changes
nothing twice. The deadline marks' claims live on the same document (`deadlines/store.py`).
"""

from collections.abc import Sequence
from datetime import tzinfo

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from hotline.contracts import (
    BUSINESS_TZ,
    CallbackResult,
    ContactKind,
    ContactRecorded,
    ExtensionDecided,
    ExtensionRequested,
    ReportedOnSite,
    TicketDispatched,
    TicketReceived,
    TicketResolved,
)
from hotline.contracts.common import Event
from hotline.contracts.routing import DepartmentsSummoned
from hotline.followup.casework.store import received_facts
from hotline.followup.tickets.domain import Extension, FollowupTicket, TicketState, callback_id, masked_for_timeline
from hotline.runtime.mongo import duplicates_only

# A change is (filter, update): run alone with update_one (whose count says whether it matched)
# or with others in one bulk write as UpdateOne(*change).
Change = tuple[dict, dict]


class FollowupStore:
    """Tickets as units work on them."""

    def __init__(self, db: AsyncDatabase, *, zone: tzinfo = BUSINESS_TZ) -> None:
        self._tickets = db["followup_tickets"]
        # One document per unit listing its tickets: the local server cannot query by unit.
        self._worklists = db["followup_worklists"]
        # One per unit and month received (the city's, `zone`): the tickets ever dispatched to it.
        self._unit_months = db["followup_unit_months"]
        self._zone = zone

    async def ensure_indexes(self) -> None:
        """Reads are by `_id` only."""

    async def apply_dispatches(self, *, events: list[TicketDispatched],
                               traceparents: dict[str, str | None] | None = None) -> None:
        """Record who holds each ticket: the highest dispatch attempt wins, in any order; each
        dispatch goes on its ticket's timeline. The dispatch's trace context (W3C traceparent) is
        kept for the spans of its deadline marks.

        One document write per dispatch in the usual case: the store rewrites a whole document on
        every update, so a ticket's four facts go in one update, and the other updates are guards
        that match nothing then."""
        ops = []
        traceparents = traceparents or {}
        for e in events:
            ticket_id, entry = timeline_entry(e)
            holder = {"unit_code": e.unit_code, "district_code": e.district_code,
                      "attempt": e.attempt, "report_back_due_at": e.report_back_due_at,
                      "dispatched_at": e.dispatched_at, "urgency": e.urgency,
                      # The response clock's due time as the dispatch says (v3; None before).
                      "response_due_at": e.response_due_at,
                      "co_handlers": [a.unit_code for a in e.co_handlers],
                      "traceparent": traceparents.get(ticket_id)}
            received = masked_for_timeline(e.received) if e.received is not None else None
            start = [timeline_entry(received)[1]] if received is not None else []
            facts = received_facts(received) if received is not None else {}
            # The document, if no event of this ticket came first, whole: the dispatch (and the
            # received ticket it carries) in the one insert; the guarded updates below then
            # match nothing. A no-op when the document exists.
            ops.append(UpdateOne({"_id": ticket_id}, {"$setOnInsert": {
                **_NEW_TICKET, **holder, "first_dispatched_at": e.dispatched_at, "timeline": [*start, entry],
                **({"facts": {k.removeprefix("facts."): v for k, v in facts.items()}} if facts else {})}},
                upsert=True))
            if received is not None:
                # A document that an earlier event created: the received ticket once (a
                # re-dispatch carries it again), each fact alone (see `received_facts`).
                ops.append(UpdateOne(_not_on_timeline(ticket_id, start[0]),
                                     {"$push": {"timeline": start[0]}, "$set": facts}))
            # A document an older version created from a timeline entry or a summons has no state.
            ops.append(UpdateOne({"_id": ticket_id, "state": {"$exists": False}},
                                 {"$set": {"contacts": [], "state": TicketState.OPEN.value, "round": 0,
                                           "extension": None}}))
            first_dispatch = {"first_dispatched_at": e.dispatched_at}
            # The newest attempt so far, not on the timeline yet: holder, timeline and first dispatch at once.
            ops.append(UpdateOne(
                {**_not_on_timeline(ticket_id, entry),
                 "$or": [{"attempt": {"$lt": e.attempt}}, {"attempt": {"$exists": False}}]},
                {"$set": holder, "$min": first_dispatch, "$push": {"timeline": entry}},
            ))
            # An older attempt arriving late: on the timeline only (and its earlier dispatch time).
            ops.append(UpdateOne(_not_on_timeline(ticket_id, entry),
                                 {"$min": first_dispatch, "$push": {"timeline": entry}}))
        if ops:
            # Ordered: each ticket's insert, then the newest-attempt update before the late one.
            await self._tickets.bulk_write(ops, ordered=True)
            # One write per unit a batch dispatched to, not one per dispatch.
            by_unit: dict[str, set[str]] = {}
            for e in events:
                by_unit.setdefault(e.unit_code, set()).add(e.ticket_id)
            await self._worklists.bulk_write(
                [UpdateOne({"_id": unit}, {"$addToSet": {"tickets": {"$each": sorted(ids)}}}, upsert=True)
                 for unit, ids in sorted(by_unit.items())],
                ordered=False,
            )
            # And every ticket a unit was given, by the month received, for ever: what the desk's
            # search by unit finds once the worklist has dropped it (closed, or dispatched on).
            by_month: dict[str, set[str]] = {}
            for e in events:
                received_at = e.received.received_at if e.received is not None else e.dispatched_at
                by_month.setdefault(unit_month_key(e.unit_code, received_at.astimezone(self._zone).strftime("%Y-%m")),
                                    set()).add(e.ticket_id)
            await self._unit_months.bulk_write(
                [UpdateOne({"_id": key}, {"$addToSet": {"tickets": {"$each": sorted(ids)}}}, upsert=True)
                 for key, ids in sorted(by_month.items())],
                ordered=False,
            )

    async def get_by_ticket_id(self, *, ticket_id: str) -> FollowupTicket | None:
        """The ticket, if followup has seen its dispatch."""
        return _ticket_from(await self._tickets.find_one({"_id": ticket_id}, _WITHOUT_TIMELINE))

    async def get_many(self, *, ticket_ids: list[str]) -> dict[str, FollowupTicket]:
        """The known tickets among `ticket_ids`."""
        with_docs = await self.get_many_with_docs(ticket_ids=ticket_ids)
        return {ticket_id: ticket for ticket_id, (ticket, _) in with_docs.items()}

    async def get_many_with_docs(self, *, ticket_ids: list[str]) -> dict[str, tuple[FollowupTicket, dict]]:
        """The known tickets among `ticket_ids`, each with its stored document (without the
        timeline), in one round trip."""
        found = {}
        async for doc in self._tickets.find({"_id": {"$in": ticket_ids}}, _WITHOUT_TIMELINE):
            ticket = _ticket_from(doc)
            if ticket is not None:
                found[ticket.ticket_id] = (ticket, doc)
        return found

    async def save_resolution(self, *, event: TicketResolved, note: str) -> bool:
        """Record the round's resolution once; False when this round was already resolved."""
        result = await self._tickets.update_one(*resolution_change(event, note))
        return result.modified_count == 1

    async def apply_changes(self, changes: list[Change]) -> int:
        """Several tickets' changes in one round trip; how many matched and changed a ticket."""
        if not changes:
            return 0
        result = await self._tickets.bulk_write([UpdateOne(*change) for change in changes], ordered=False)
        return result.modified_count

    async def save_extension_request(self, *, event: ExtensionRequested) -> bool:
        """Record the round's request once; False when one was already recorded."""
        result = await self._tickets.update_one(
            {"_id": event.ticket_id, "extension": None},
            {"$set": {"extension": {"state": "requested", "requested_at": event.occurred_at,
                                    "requested_due_at": event.requested_due_at,
                                    "current_due_at": event.current_due_at}}},
        )
        return result.modified_count == 1

    async def save_extension_decision(self, *, event: ExtensionDecided) -> bool:
        """Record the decision on a pending request; False when none was pending."""
        result = await self._tickets.update_one(
            {"_id": event.ticket_id, "extension.state": "requested"},
            {"$set": {"extension.state": "approved" if event.approved else "denied",
                      "extension.decided_at": event.occurred_at,
                      "report_back_due_at": event.report_back_due_at}},
        )
        return result.modified_count == 1

    async def apply_summons(self, *, events: list[DepartmentsSummoned]) -> None:
        """Note each summoned unit's on-site deadline; a redelivered summons changes nothing."""
        ops = [
            UpdateOne(
                {"_id": e.ticket_id},
                {"$addToSet": {"summons": {"$each": [
                    {"unit_code": code, "summons_event_id": e.event_id, "due_at": e.report_on_site_due_at,
                     "summoned_at": e.occurred_at}
                    for code in e.departments
                ]}}, "$setOnInsert": _NEW_TICKET},
                upsert=True,
            )
            for e in events
        ]
        if ops:
            await self._tickets.bulk_write(ops, ordered=False)

    async def save_on_site(self, *, event: ReportedOnSite) -> bool:
        """Record the arrival once per summons; False when it was already recorded."""
        result = await self._tickets.update_one(
            {"_id": event.ticket_id, "on_site": {"$ne": event.event_id}},
            {"$push": {"on_site": event.event_id,
                       "on_site_reports": {"unit_code": event.unit_code, "summons_event_id": event.summons_event_id,
                                           "reported_at": event.reported_at, "in_time": event.in_time}}},
        )
        return result.modified_count == 1

    async def worklist(self, *, unit_code: str) -> list[dict]:
        """The tickets this unit holds now and that are not closed (entries left behind by a
        re-dispatch or a close are dropped here)."""
        doc = await self._worklists.find_one({"_id": unit_code})
        ids = (doc or {}).get("tickets", [])
        if not ids:
            return []
        held = [t async for t in self._tickets.find({"_id": {"$in": ids}}, {"contacts": 0, "events": 0})
                if t.get("unit_code") == unit_code and t.get("state") != TicketState.CLOSED.value]
        stale = set(ids) - {t["_id"] for t in held}
        if stale:
            await self._worklists.update_one({"_id": unit_code}, {"$pullAll": {"tickets": sorted(stale)}})
        return held

    async def save_callbacks(self, *, changes: Sequence[tuple[FollowupTicket, Event | None, CallbackResult]]) -> None:
        """Store the tickets' new states after callbacks, with the events they caused, and put each
        callback and its event on the ticket's timeline: one update per callback, applied once (a
        redelivered callback is on the timeline already and changes nothing)."""
        ops = []
        for ticket, event, result in changes:
            _, callback_entry = timeline_entry(result)
            entries = [callback_entry, *([timeline_entry(event)[1]] if event is not None else [])]
            ops.append(UpdateOne(
                _not_on_timeline(ticket.ticket_id, callback_entry),
                {"$set": {"state": ticket.state.value, "round": ticket.round,
                          "round_started_at": ticket.round_started_at,
                          "report_back_due_at": ticket.report_back_due_at,
                          "extension": None if ticket.extension is None else vars(ticket.extension),
                          "callback_ids": sorted(ticket.callback_ids)},
                 "$push": {"timeline": {"$each": entries},
                           **({"events": {"type": type(event).__name__, "json": event.model_dump_json()}}
                              if event is not None else {})}},
            ))
        if ops:
            await self._tickets.bulk_write(ops, ordered=True)
        # A closed ticket leaves its unit's worklist now, not at the unit's next read: a unit that
        # follows its Kafka queue instead never reads it, and the list would grow without end.
        closed: dict[str, set[str]] = {}
        for ticket, _, _ in changes:
            if ticket.state is TicketState.CLOSED:
                closed.setdefault(ticket.unit_code, set()).add(ticket.ticket_id)
        if closed:
            await self._worklists.bulk_write(
                [UpdateOne({"_id": unit}, {"$pullAll": {"tickets": sorted(ids)}}) for unit, ids in closed.items()],
                ordered=False,
            )

    async def add_contact(self, *, event: ContactRecorded, details: dict | None = None) -> bool:
        """Append the contact unless it is already there; True when it was new."""
        result = await self._tickets.update_one(*contact_change(event, details))
        return result.modified_count == 1

    async def record_timeline(self, *, events: Sequence[Event | CallbackResult],
                              sets: dict[str, dict] | None = None) -> None:
        """Append events (and callback results) to their tickets' timelines, each once, in any order.
        `sets`: fields to set on a ticket with its entry, in the same write (casework's facts)."""
        await append_to_timelines(self._tickets, events, sets=sets)

    async def timeline(self, *, ticket_id: str) -> dict | None:
        """The ticket document as stored (it holds no personal data)."""
        doc = await self._tickets.find_one({"_id": ticket_id})
        if doc is None:
            return None
        doc["ticket_id"] = doc.pop("_id")
        return doc


async def append_to_timelines(tickets: AsyncCollection, events: Sequence[Event | CallbackResult],
                              sets: dict[str, dict] | None = None) -> None:
    """`FollowupStore.record_timeline` on the tickets' collection (the deadline marks' store
    falls back on it too)."""
    entries = [timeline_entry(e) for e in events]
    if not entries:
        return
    sets = sets or {}
    # One update per entry: appended unless there already, and the ticket's document created
    # if this is its first event (a ticket's events arrive in any order). Where the entry is
    # there already the guard fails and the upsert collides with the document; those entries
    # are tried once more without the upsert, which also settles two first events racing.
    appends = [(_not_on_timeline(ticket_id, entry),
                {"$push": {"timeline": entry}, **({"$set": sets[ticket_id]} if sets.get(ticket_id) else {})})
               for ticket_id, entry in entries]
    try:
        await tickets.bulk_write(
            [UpdateOne(match, {**change, "$setOnInsert": _NEW_TICKET}, upsert=True) for match, change in appends],
            ordered=False)
    except BulkWriteError as error:
        collided = [failure["index"] for failure in duplicates_only(error)]
        await tickets.bulk_write([UpdateOne(*appends[i]) for i in collided], ordered=False)


def contact_change(event: ContactRecorded, details: dict | None = None) -> Change:
    """Append the contact, and the event to the timeline, unless the contact is already there
    (one update: a crash cannot leave one without the other)."""
    ticket_id, entry = timeline_entry(event)
    return (
        {"_id": ticket_id, "contacts.contact_id": {"$ne": event.contact_id}},
        {"$push": {"contacts": {
            "contact_id": event.contact_id,
            "kind": event.kind.value,
            "contacted_at": event.contacted_at,
            "staff_id": event.staff_id,
            "unit_code": event.unit_code,
            # Notes and place may hold personal data: the store keeps them, events do not.
            **(details or {}),
        }, "timeline": entry},
         # The daily brief's first face-to-face visit, in the same write (casework.store.facts_for).
         **({"$min": {"facts.face_to_face_at": event.contacted_at}} if event.kind is ContactKind.FACE_TO_FACE else {})},
    )


def resolution_change(event: TicketResolved, note: str) -> Change:
    """Record the round's resolution, and the event on the timeline, unless the round is
    resolved already."""
    ticket_id, entry = timeline_entry(event)
    return (
        {"_id": ticket_id, "state": {"$ne": TicketState.RESOLVED.value}, "round": event.round},
        {"$set": {"state": TicketState.RESOLVED.value},
         "$push": {"resolutions": {**event.model_dump(mode="python", exclude={"schema_version"}), "note": note},
                   "timeline": entry}},
    )


def recorded_resolution(doc: dict | None) -> TicketResolved | None:
    """The latest resolution the stored ticket holds, as its event."""
    last = ((doc or {}).get("resolutions") or [None])[-1]
    if last is None:
        return None
    return TicketResolved.model_validate({k: v for k, v in last.items() if k != "note"})


def unit_month_key(unit_code: str, month: str) -> str:
    """The `_id` of a unit's listing of a month (`YYYY-MM`): `<unit>:<month>`."""
    return f"{unit_code}:{month}"


# A ticket's document as its first event (any of them) creates it.
_NEW_TICKET = {"contacts": [], "attempt": 0, "state": TicketState.OPEN.value, "round": 0, "extension": None}


def _not_on_timeline(ticket_id: str, entry: dict) -> dict:
    """The ticket, unless the entry is on its timeline already: what keeps each entry once."""
    return {"_id": ticket_id, "timeline.event_id": {"$ne": entry["event_id"]}}


# Decisions never read the timeline, the largest part of a ticket (every event's data), which
# grows with each event: leaving it at the store spares most of the bytes a ticket read decodes.
_WITHOUT_TIMELINE = {"timeline": 0}


def timeline_entry(e: Event | CallbackResult) -> tuple[str, dict]:
    """(ticket id, entry): how an event (or a callback result) sits on its ticket's timeline."""
    if isinstance(e, CallbackResult):
        return e.ticket_id, {"event_id": callback_id(e), "type": "CallbackResult", "at": e.surveyed_at,
                             "data": e.model_dump(mode="json", exclude={"schema_version"})}
    at = e.received_at if isinstance(e, TicketReceived) else e.occurred_at
    return e.ticket_id, {"event_id": e.event_id, "type": type(e).__name__, "at": at,
                         "data": e.model_dump(mode="json", exclude={"schema_version"})}


def _ticket_from(doc: dict | None) -> FollowupTicket | None:
    if not doc or "unit_code" not in doc:
        return None
    contacts = doc.get("contacts", [])
    reported = {(r["summons_event_id"], r["unit_code"]): r["reported_at"] for r in doc.get("on_site_reports", [])}
    return FollowupTicket(
        ticket_id=doc["_id"],
        unit_code=doc["unit_code"],
        first_dispatched_at=doc["first_dispatched_at"],
        contact_ids=frozenset(c["contact_id"] for c in contacts),
        contact_hashes={c["contact_id"]: c["request_hash"] for c in contacts if c.get("request_hash")},
        state=TicketState(doc.get("state", TicketState.OPEN.value)),
        round=doc.get("round", 0),
        round_started_at=doc.get("round_started_at"),
        contacts=tuple((c["unit_code"], c["contacted_at"]) for c in contacts),
        callback_ids=frozenset(doc.get("callback_ids", [])),
        report_back_due_at=doc.get("report_back_due_at"),
        extension=Extension(**doc["extension"]) if doc.get("extension") else None,
        summons=tuple(
            (s["unit_code"], s["summons_event_id"], s["due_at"], reported.get((s["summons_event_id"], s["unit_code"])))
            for s in doc.get("summons", [])
        ),
        attempt=doc.get("attempt") or 1,
        dispatched_at=doc.get("dispatched_at") or doc["first_dispatched_at"],
        response_due_at=doc.get("response_due_at"),
        urgency=doc.get("urgency"),
        district_code=doc.get("district_code"),
        resolved_at_by_round={r["round"]: r["resolved_at"] for r in doc.get("resolutions", [])},
        summoned_at={s["summons_event_id"]: s["summoned_at"] for s in doc.get("summons", []) if "summoned_at" in s},
        fired={f["mark_id"]: (f["claimed_at"], f["by"], f["sent"]) for f in (doc.get("fired") or {}).values()},
        traceparent=doc.get("traceparent"),
    )
