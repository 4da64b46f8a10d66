"""Followup's deadline bookkeeping in MongoDB: the timer buckets (each ticket's next mark, by
minute), the business time the ticks reached, and the claims of the marks being fired.

The claims sit on the ticket's own document (`followup_tickets`, `fired.<mark>`), so one atomic
update decides which scheduler fires a mark and the confirmation writes the marks' timeline
entries with it; see `deadlines/app.py` for why firing goes claim, publish, confirm.
"""

import hashlib
import zlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from hotline.contracts.common import Event
from hotline.followup.tickets.store import append_to_timelines, timeline_entry

# Enough to keep a busy minute's documents small; each pass reads at most this many per minute.
BUCKET_SHARDS = 16


def bucket_key(at: datetime) -> str:
    """The minute a moment falls in (UTC, sortable as text)."""
    return at.astimezone(UTC).strftime("%Y%m%d%H%M")


def bucket_id(at: datetime, ticket_id: str) -> str:
    """The bucket of a ticket's timer: its minute, then the ticket's shard (stable across processes)."""
    return f"{bucket_key(at)}:{zlib.crc32(ticket_id.encode()) % BUCKET_SHARDS:02d}"


def due_by(now: datetime) -> dict:
    """The filter of every bucket whose minute has begun by `now`: each shard of it sorts after the
    bare minute and before the minute followed by ';' (the character after ':'). Buckets written
    before the shards, the bare minute, match too."""
    return {"_id": {"$lt": bucket_key(now) + ";"}}


class TimerBuckets:
    """Pending timer entries by minute, and the business time ticks have reached."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._buckets = db["followup_timer_buckets"]
        self._state = db["followup_scheduler"]

    async def schedule(self, entries: list[tuple[datetime, str, str]]) -> None:
        """Add (moment, ticket id, clock id) entries; adding one twice keeps one."""
        by_bucket: dict[str, list[dict]] = defaultdict(list)
        for at, ticket_id, clock_id in entries:
            by_bucket[bucket_id(at, ticket_id)].append({"at": at, "ticket_id": ticket_id, "clock_id": clock_id})
        ops = [UpdateOne({"_id": key}, {"$addToSet": {"entries": {"$each": items}}}, upsert=True)
               for key, items in sorted(by_bucket.items())]
        if ops:
            await self._buckets.bulk_write(ops, ordered=False)

    async def due(self, now: datetime, *, limit: int) -> list[dict]:
        """The earliest buckets whose minute has begun by `now`."""
        cursor = self._buckets.find(due_by(now)).sort("_id", 1).limit(limit)
        return [doc async for doc in cursor]

    async def remove(self, key: str, entries: list[dict], *, whole: list[dict] | None = None) -> None:
        """Drop handled entries; the bucket goes when empty (an entry added meanwhile keeps it).
        `whole`: the bucket's entries as read, all handled: the bucket is deleted in one write
        if it still holds exactly those, rather than emptied and then deleted."""
        if whole is not None and (await self._buckets.delete_one({"_id": key, "entries": whole})).deleted_count:
            return
        await self._buckets.update_one({"_id": key}, {"$pullAll": {"entries": entries}})
        await self._buckets.delete_one({"_id": key, "entries": {"$size": 0}})

    async def pending_count(self) -> int:
        """How many entries wait in all buckets (for tests and ops)."""
        return sum([len(d.get("entries", [])) async for d in self._buckets.find({}, {"entries": 1})])

    async def business_now(self) -> datetime | None:
        """The business time the ticks have reached, if any."""
        doc = await self._state.find_one({"_id": "business_time"})
        return doc["now"] if doc else None

    async def advance(self, now: datetime) -> None:
        """Business time moves forward only."""
        await self._state.update_one({"_id": "business_time"}, {"$max": {"now": now}}, upsert=True)



class MarkClaims:
    """The deadline marks claimed for firing, and confirmed sent, on their tickets' documents."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._tickets = db["followup_tickets"]

    async def claim_mark(self, *, ticket_id: str, mark_id: str, by: str, now: datetime,
                         stale_before: datetime) -> datetime | None | bool:
        """Claim a due deadline mark for firing in one atomic update; only one claimant wins.
        True: a first claim. A datetime: a stale claim taken over (its holder never confirmed
        the sending), with the old claim's time, from which the broker must be checked.
        None: someone else holds it."""
        slot = f"fired.{_slot(mark_id)}"
        claim = {"mark_id": mark_id, "by": by, "claimed_at": now, "sent": False}
        first = await self._tickets.update_one({"_id": ticket_id, slot: {"$exists": False}}, {"$set": {slot: claim}})
        if first.modified_count == 1:
            return True
        doc = await self._tickets.find_one({"_id": ticket_id}, {slot: 1})
        held = ((doc or {}).get("fired") or {}).get(_slot(mark_id))
        if not held or held["sent"] or held["claimed_at"] >= stale_before:
            return None
        # Compare-and-set on the old claim's time: of several late claimants, one wins.
        takeover = await self._tickets.update_one(
            {"_id": ticket_id, f"{slot}.sent": False, f"{slot}.claimed_at": held["claimed_at"]},
            {"$set": {f"{slot}.by": by, f"{slot}.claimed_at": now}},
        )
        return held["claimed_at"] if takeover.modified_count == 1 else None

    async def claim_marks(self, *, ticket_id: str, mark_ids: list[str], by: str, now: datetime,
                          stale_before: datetime) -> list[datetime | None | bool]:
        """`claim_mark` for each of a ticket's due marks, in one write when none of them is
        claimed yet (the usual case: a ticket's marks due together are claimed together); else
        one by one."""
        if len(mark_ids) > 1:
            slots = {f"fired.{_slot(m)}": {"mark_id": m, "by": by, "claimed_at": now, "sent": False} for m in mark_ids}
            first = await self._tickets.update_one({"_id": ticket_id, **{s: {"$exists": False} for s in slots}},
                                                   {"$set": slots})
            if first.modified_count == 1:
                return [True] * len(mark_ids)
        return [await self.claim_mark(ticket_id=ticket_id, mark_id=m, by=by, now=now, stale_before=stale_before)
                for m in mark_ids]

    async def confirm_sent(self, *, marks: list[tuple[str, str]], events: Sequence[Event] = ()) -> None:
        """The claimed marks' events are on the broker: nobody sends them again. `events` (those
        marks' events) go on their tickets' timelines in the same write, one per ticket."""
        by_ticket: dict[str, tuple[dict, list[dict]]] = {}
        for ticket_id, mark_id in marks:
            by_ticket.setdefault(ticket_id, ({}, []))[0][f"fired.{_slot(mark_id)}.sent"] = True
        for event in events:
            ticket_id, entry = timeline_entry(event)
            by_ticket.setdefault(ticket_id, ({}, []))[1].append(entry)
        ops = [UpdateOne({"_id": ticket_id, **({"timeline.event_id": {"$nin": [e["event_id"] for e in entries]}}
                                                 if entries else {})},
                         {**({"$set": sent} if sent else {}), **({"$push": {"timeline": {"$each": entries}}}
                                                                 if entries else {})})
               for ticket_id, (sent, entries) in by_ticket.items()]
        if not ops:
            return
        result = await self._tickets.bulk_write(ops, ordered=False)
        if result.matched_count < len(ops):
            # Some entry was on its timeline already (a firing redone): each fact on its own.
            sent_ops = [UpdateOne({"_id": t}, {"$set": sent}) for t, (sent, _) in by_ticket.items() if sent]
            if sent_ops:
                await self._tickets.bulk_write(sent_ops, ordered=False)
            await append_to_timelines(self._tickets, list(events))


def _slot(mark_id: str) -> str:
    """A mark's key under `fired`: field names may not hold the dots a mark id can."""
    return hashlib.sha1(mark_id.encode()).hexdigest()[:20]
