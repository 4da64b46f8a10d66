"""Intake's store (MongoDB, behind `hotline.intake.app.TicketStore`): which tickets exist, whether
their event was published (an outbox: `hotline.runtime.outbox`), the repeat histories, and what the
Open311 GeoReport API shows of each ticket (never the caller's phone or name)."""

import logging
from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from hotline.contracts import TicketReceived
from hotline.intake.domain import PriorTicket, StatusChange, Stored
from hotline.intake.public import PUBLIC_QUERY, public_text, shown
from hotline.runtime.mongo import duplicates_only
from hotline.runtime.outbox import ORIGIN, PublishedOffsets, mark

log = logging.getLogger(__name__)
# The first slice of a request list's window (see `find_requests`).
FIRST_REQUEST_SLICE = timedelta(days=1)
# For the Open311 request lists; the hot path reads by `_id` only.
_INDEXES = [
    IndexModel([("received_at", DESCENDING)], name="received_at"),
    IndexModel([("category", ASCENDING), ("received_at", DESCENDING)], name="category_received_at"),
    IndexModel([("status", ASCENDING), ("received_at", DESCENDING)], name="status_received_at"),
]


def received_document(t: TicketReceived, *, fingerprint: str | None = None, origin=None) -> dict:
    """What intake keeps of a ticket (besides `_id`): no caller phone or name, ever. The text of a
    public ticket is scrubbed here, while the caller's own name and phone are known."""
    public = shown(t.channel.value, t.anonymous)

    def text(value: str | None) -> str | None:  # a ticket never shown keeps no text at all
        return public_text(value, names=(t.caller.name,), phones=(t.caller.phone,)) if public else None

    return {
        "event_id": t.event_id,
        "channel": t.channel.value,
        "source_id": t.source_id,
        "received_at": t.received_at,
        "district_code": t.location.district_code,
        "unit_code": t.location.unit_code,
        "category": t.category,
        "urgency": t.urgency,
        "request_type": t.request_type.value,
        "repeat_of": t.repeat_of,
        # Whether the Open311 API shows the ticket at all (see hotline.intake.public).
        "anonymous": t.anonymous,
        # What the Open311 API shows of the ticket.
        "content": text(t.content),
        "address": text(t.location.address),
        "community": text(t.location.community),
        "lat": t.location.lat,
        "lon": t.location.lon,
        "report_back_due_at": t.report_back_due_at,
        "status": "open",
        "updated_at": t.received_at,
        # The outbox: stored before the event is published. With the raw record it came from,
        # the batch's one `intake_outbox` write says once it went out; without, a flag on this
        # document does (`mark_published`).
        **({ORIGIN: mark(origin)} if origin is not None else {"published": False}),
        # sha256 of the canonical record (domain.fingerprint): a reused source id with another
        # body is refused, an honest resend is not. A hash of the whole record, not the phone.
        "fingerprint": fingerprint,
    }


class IntakeStore:
    """Per-ticket records keyed by ticket id; the caller's phone and name are never stored here."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._tickets = db["intake_tickets"]
        self._repeats = db["intake_repeats"]
        self._published = PublishedOffsets(db["intake_outbox"])
        self._indexed = False

    async def ensure_indexes(self) -> None:
        """Create the request-list indexes (the local MongoDB-protocol server ignores them).

        A store that is down does not keep intake from starting (its health says so); the
        next request list tries again.
        """
        if self._indexed:
            return
        try:
            await self._tickets.create_indexes(_INDEXES)
            self._indexed = True
        except PyMongoError as exc:
            log.warning("intake indexes not created yet: %s", type(exc).__name__)

    async def outbox(self, *, ticket_ids: list[str]) -> dict[str, Stored]:
        """The tickets among `ticket_ids` already stored: published or not, and their fingerprint."""
        if not ticket_ids:
            return {}
        # Only `_id` in the filter: any other field makes the local server scan the collection.
        cursor = self._tickets.find(
            {"_id": {"$in": ticket_ids}}, {"_id": 1, "published": 1, "fingerprint": 1, ORIGIN: 1}
        )
        docs = [doc async for doc in cursor]
        published = await self._published.published(docs)
        return {doc["_id"]: Stored(published[doc["_id"]], doc.get("fingerprint")) for doc in docs}

    async def record_received(self, *, tickets: list[TicketReceived], fingerprints: dict[str, str],
                              origins: dict | None = None) -> set[str]:
        """Record each ticket once, not yet published; a resend leaves the first record as it was.
        `origins`: the raw record each ticket came from (see `mark_published`).
        Returns the ids that were stored already (by another consumer meanwhile)."""
        if not tickets:
            return set()
        # Plain inserts are a third faster than upserts on the local server; a ticket that is
        # already recorded (a redelivered batch) fails with a duplicate key and keeps its record.
        try:
            await self._tickets.insert_many(
                [{"_id": t.ticket_id, **received_document(t, fingerprint=fingerprints.get(t.ticket_id),
                                                          origin=(origins or {}).get(t.ticket_id))}
                 for t in tickets], ordered=False,
            )
        except BulkWriteError as exc:
            return {e["op"]["_id"] for e in duplicates_only(exc)}
        return set()

    async def mark_published(self, *, ticket_ids: list[str], records: list | None = None) -> None:
        """The broker acknowledged the tickets' events. With the consumed batch's `records`, one
        write per partition says so for every ticket they stored; without, a flag per ticket."""
        if records is not None:
            await self._published.advance(records)
        elif ticket_ids:
            # One update per `_id`, as routing does: the local server finds each by its key.
            await self._tickets.bulk_write(
                [UpdateOne({"_id": t}, {"$set": {"published": True}}) for t in ticket_ids], ordered=False)

    async def record_statuses(self, *, changes: list[StatusChange]) -> None:
        """Show closes and reopens on the tickets' Open311 status, in any order and any number of
        times: a close is final, a reopen's notes go only over an earlier round's. A ticket this
        store never recorded is left alone (there is nothing to show)."""
        ops = []
        for c in changes:
            if c.closed:
                ops.append(UpdateOne({"_id": c.ticket_id}, {
                    "$set": {"status": "closed", "status_notes": c.notes}, "$max": {"updated_at": c.at}}))
            else:
                ops.append(UpdateOne(
                    {"_id": c.ticket_id, "status": {"$ne": "closed"},
                     "$or": [{"status_round": {"$lt": c.round}}, {"status_round": {"$exists": False}}]},
                    {"$set": {"status_notes": c.notes, "status_round": c.round}, "$max": {"updated_at": c.at}}))
        if ops:
            await self._tickets.bulk_write(ops, ordered=False)

    async def get_by_ticket_id(self, *, ticket_id: str) -> dict | None:
        """One ticket's record, or None."""
        return await self._tickets.find_one({"_id": ticket_id})

    async def get_by_ticket_ids(self, *, ticket_ids: list[str]) -> list[dict]:
        """The records of the tickets that exist among `ticket_ids`, in the order asked."""
        found = {doc["_id"]: doc async for doc in self._tickets.find({"_id": {"$in": ticket_ids}})}
        return [found[t] for t in dict.fromkeys(ticket_ids) if t in found]

    async def find_requests(
        self,
        *,
        received_from: datetime,
        received_to: datetime,
        categories: list[str] | None = None,
        statuses: list[str] | None = None,
        limit: int = 1000,
    ) -> list[dict]:
        """Public tickets (`hotline.intake.public`) received in [received_from, received_to],
        newest first, at most `limit`. The rule is part of the query, so a page fills with
        public tickets, and the server holds only those in memory.

        Asked for in slices of the window, newest first: a day, then twice as long after each
        slice that did not fill the answer. The local MongoDB-protocol server has no secondary
        index and holds every match of a query in memory to sort it, so one query over 90 busy
        days exhausted its heap (200,000 tickets at 512 MB) and took the whole stack down; a
        slice holds a few days' tickets. A real MongoDB answers each slice from its index.
        """
        await self.ensure_indexes()
        query: dict = dict(PUBLIC_QUERY)
        if categories:
            query["category"] = {"$in": categories}
        wanted = set(statuses or ())
        # Records written before statuses existed count as open.
        if wanted == {"open"}:
            query["status"] = {"$ne": "closed"}
        elif wanted == {"closed"}:
            query["status"] = "closed"
        found: list[dict] = []
        top, up_to, span = received_to, "$lte", FIRST_REQUEST_SLICE
        while len(found) < limit:
            bottom = max(received_from, top - span)
            cursor = self._tickets.find({**query, "received_at": {"$gte": bottom, up_to: top}})
            found += await cursor.sort([("received_at", DESCENDING), ("_id", ASCENDING)]).limit(
                limit - len(found)).to_list()
            if bottom <= received_from:
                break
            # The next slice ends where this one began, that instant excluded (it was in this one).
            top, up_to, span = bottom, "$lt", span * 2
        return found

    async def histories(self, *, keys: list[str]) -> dict[str, list[PriorTicket]]:
        """Earlier tickets for each repeat key (caller, place and category, hashed)."""
        found: dict[str, list[PriorTicket]] = {key: [] for key in keys}
        async for doc in self._repeats.find({"_id": {"$in": keys}}):
            found[doc["_id"]] = [PriorTicket(t["ticket_id"], t["received_at"]) for t in doc["tickets"]]
        return found

    async def remember(self, *, entries: dict[str, list[TicketReceived]]) -> None:
        """Add tickets to their repeat keys' histories; adding one twice changes nothing."""
        ops = [
            UpdateOne(
                {"_id": key},
                {"$addToSet": {"tickets": {"$each": [
                    {"ticket_id": t.ticket_id, "received_at": t.received_at} for t in tickets
                ]}}},
                upsert=True,
            )
            for key, tickets in entries.items()
        ]
        if ops:
            await self._repeats.bulk_write(ops, ordered=False)
