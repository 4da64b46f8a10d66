"""Followup's deadline scheduler: durable timers that fire each warning, breach and escalation once.

Timers live in minute buckets (`followup_timer_buckets`, `_id` = the UTC minute "YYYYMMDDHHMM",
then one of `BUCKET_SHARDS` by ticket: "YYYYMMDDHHMM:07"), each listing (ticket, clock, moment)
entries: the local MongoDB-protocol server can only find documents fast by `_id`, and buckets are
deleted once empty, so "every bucket up to now" is a small read. The shards keep each document
small: tickets dispatched in one minute share their deadlines' minutes, and the store rewrites a
whole document (and compares every entry for `$addToSet`) at each write; unsharded, a
1,300-entry minute made the timer writes followup's slowest store commands. Only a ticket's next
mark (the earliest of its clocks') is in a bucket; when it comes up, every due mark of the
ticket fires and the ticket's next mark is filed: one entry per ticket, not one per clock, since
each entry costs a bucket write to file and another to drop. Stopped or replaced clocks are not
removed: when their entry comes up, the ticket shows there is nothing to fire. (An entry of an
older version names one clock; it fires the whole ticket the same way.)

Firing a mark: claim it on the ticket's document in one atomic update (so two schedulers, or a
restarted one, never both fire it), publish its events, confirm them sent, then drop the entry.
A crash after the claim leaves the entry, and a claim that was never confirmed is taken over once
stale: the new claimant first reads the topics since the old claim and sends only what the dead
one did not, so each mark's events reach the broker once.

Business time is the wall clock in production, or the time carried by `hotline.clock` ticks in
simulation and replay: the same log then fires the same marks, with the same ids and times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from hotline.business_calendar import BusinessCalendar
from hotline.contracts import DeadlineMarked
from hotline.deadline_clocks import Clock, Mark, live_marks
from hotline.deadline_policy import DeadlinePolicy
from hotline.followup.clocks import live_clocks, mark_messages
from hotline.followup.domain import FollowupTicket
from hotline.followup.store import FollowupStore
from hotline.runtime import telemetry
from hotline.runtime.kafka import Publisher

log = logging.getLogger(__name__)

BusinessClock = Literal["wall", "log"]


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


class DeadlineScheduler:
    """Schedules each ticket's next deadline mark and fires the marks business time has reached."""

    def __init__(
        self,
        store: FollowupStore,
        buckets: TimerBuckets,
        publisher: Publisher,
        policy: DeadlinePolicy,
        calendar: BusinessCalendar,
        *,
        instance: str,
        business_clock: BusinessClock,
        claim_timeout: timedelta,
        interval_s: float,
        already_published: Callable[[set[str], datetime], Awaitable[set[str]]],
        on_sent: Callable[[list], None] | None = None,
    ) -> None:
        self._store = store
        self._buckets = buckets
        self._publisher = publisher
        self._policy = policy
        self._calendar = calendar
        self._instance = instance
        self._business_clock = business_clock
        self._claim_timeout = claim_timeout
        self._interval_s = interval_s
        self._already_published = already_published
        self._on_sent = on_sent  # sees the events once the broker has them (breach counter)
        self._wake = asyncio.Event()
        self.fired_total = 0

    def _marks(self, clock: Clock) -> list[Mark]:
        return live_marks(clock, warnings=self._policy.warnings, escalation=self._policy.escalation_policy)

    async def schedule_tickets(self, ticket_ids: list[str] | set[str]) -> None:
        """(Re)schedule the next unsent mark of these tickets (the earliest of their live clocks')."""
        tickets = await self._store.get_many(ticket_ids=sorted(ticket_ids))
        entries = []
        for ticket in tickets.values():
            pending = [(m.at, clock.clock_id) for clock in live_clocks(ticket, self._policy, self._calendar)
                       for m in self._marks(clock) if not _sent(ticket, m)]
            if pending:
                at, clock_id = min(pending)
                entries.append((at, ticket.ticket_id, clock_id))
        await self._buckets.schedule(entries)
        if self._business_clock == "log" or any(at <= datetime.now(UTC) for at, _, _ in entries):
            # On the wall clock a mark still ahead waits for its pass: a pass reads the store.
            self.wake()

    def wake(self) -> None:
        """Look for due marks now rather than at the next interval."""
        self._wake.set()

    async def business_now(self) -> datetime | None:
        """Now, in business time."""
        if self._business_clock == "wall":
            return datetime.now(UTC)
        return await self._buckets.business_now()

    async def advance(self, now: datetime) -> None:
        """A tick from the event log moves business time (log mode)."""
        await self._buckets.advance(now)
        self.wake()

    async def run_once(self, *, page: int = 200) -> int:
        """Fire every mark due by business time; the number fired."""
        now = await self.business_now()
        if now is None:
            return 0
        fired = 0
        while True:
            buckets = await self._buckets.due(now, limit=page)
            if not buckets:
                return fired
            count, progressed = await self._fire_page(buckets, now)
            fired += count
            if not progressed:
                return fired

    async def _fire_page(self, buckets: list[dict], now: datetime) -> tuple[int, bool]:
        wanted = [(b["_id"], e) for b in buckets for e in b.get("entries", []) if e["at"] <= now]
        if not wanted:
            return 0, False
        tickets = await self._store.get_many(ticket_ids=sorted({e["ticket_id"] for _, e in wanted}))
        wall_now = datetime.now(UTC)
        stale_before = wall_now - self._claim_timeout
        claims: defaultdict[str, list[tuple[FollowupTicket, Clock, Mark]]] = defaultdict(list)
        follow_ups: list[tuple[datetime, str, str]] = []  # (at, ticket id, clock id)
        # The whole ticket, whichever clock its entry names: every due mark fires, and the
        # earliest mark still ahead is filed (a closed or unknown ticket has none).
        for ticket_id in sorted({e["ticket_id"] for _, e in wanted}):
            ticket = tickets.get(ticket_id)
            if ticket is None:
                continue
            upcoming = []
            for clock in live_clocks(ticket, self._policy, self._calendar):
                marks_ = self._marks(clock)
                for mark in (m for m in marks_ if m.at <= now and not _sent(ticket, m)):
                    claims[ticket_id].append((ticket, clock, mark))
                upcoming += [(m.at, clock.clock_id) for m in marks_ if m.at > now]
            if upcoming:
                at, clock_id = min(upcoming)
                follow_ups.append((at, ticket_id, clock_id))
        # One claim per ticket for all its due marks (one document write), see `claim_marks`.
        won_by_ticket = await asyncio.gather(*(
            self._store.claim_marks(ticket_id=ticket_id, mark_ids=[m.mark_id for _, _, m in ticket_claims],
                                    by=self._instance, now=wall_now, stale_before=stale_before)
            for ticket_id, ticket_claims in claims.items()))
        flat = [c for ticket_claims in claims.values() for c in ticket_claims]
        won = [ok for oks in won_by_ticket for ok in oks]
        mine = [c for c, ok in zip(flat, won, strict=True) if ok is not None]
        held_elsewhere = {t.ticket_id for (t, _, _), ok in zip(flat, won, strict=True) if ok is None}
        messages = [msg for t, c, m in mine for msg in mark_messages(t, c, m)]
        taken_over = [ok for ok in won if isinstance(ok, datetime)]
        if taken_over:
            # A claimant died between claiming and confirming: send only what it did not.
            since = min(taken_over) - timedelta(seconds=5)
            sent = await self._already_published({self._publisher.topic(topic) for topic, _, _ in messages}, since)
            to_send = [msg for msg in messages if msg[1].event_id not in sent]
        else:
            to_send = messages
        # A timer, not a record, starts this work: each ticket's marks get a new trace linked to the
        # ticket's (the dispatch's traceparent), and are published under it.
        with telemetry.linked_spans(self._publisher.tracer, "followup deadline", _span_tickets(mine)):
            await self._publisher.publish_all(to_send)
        if self._on_sent is not None:
            self._on_sent([event for _, event, _ in to_send])
        # Sent, and on the timeline, in one write per ticket.
        await self._store.confirm_sent(marks=[(t.ticket_id, m.mark_id) for t, _, m in mine],
                                       events=[e for _, e, _ in messages if isinstance(e, DeadlineMarked)])
        await self._buckets.schedule(follow_ups)
        # Entries whose mark another scheduler is firing right now stay until it confirms.
        done: dict[str, list[dict]] = defaultdict(list)
        for key, entry in wanted:
            if entry["ticket_id"] not in held_elsewhere:
                done[key].append(entry)
        read = {b["_id"]: b.get("entries", []) for b in buckets}
        for key, entries in done.items():
            await self._buckets.remove(key, entries, whole=read[key] if len(entries) == len(read[key]) else None)
        if mine:
            log.info("deadline marks fired", extra={"count": len(mine)})
        self.fired_total += len(mine)
        return len(mine), bool(done)

    async def run_forever(self) -> None:
        """Fire due marks at every interval, or sooner when woken; errors are logged and retried."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store or broker outage must not end the scheduler
                log.exception("deadline scheduler pass failed; retrying")
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that arrives as
            # the wait ends, and the scheduler would then outlive its service's shutdown.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._wake.wait()
            self._wake.clear()


def _span_tickets(mine: list[tuple[FollowupTicket, Clock, Mark]]) -> list[tuple[str, str | None, dict]]:
    """Per ticket: its traceparent and the span's attributes (ids and kinds, no personal data)."""
    by_ticket: dict[str, tuple[FollowupTicket, list[tuple[Clock, Mark]]]] = {}
    for ticket, clock, mark in mine:
        by_ticket.setdefault(ticket.ticket_id, (ticket, []))[1].append((clock, mark))
    return [
        (ticket_id, ticket.traceparent, {
            telemetry.UNIT_CODE: marks[0][0].unit_code,
            "hotline.deadline.marks": [m.label for _, m in marks],
            "hotline.deadline.clocks": [c.kind.value for c, _ in marks],
            "hotline.deadline.kinds": [m.kind.value for _, m in marks],
        })
        for ticket_id, (ticket, marks) in by_ticket.items()
    ]


def _sent(ticket: FollowupTicket, mark: Mark) -> bool:
    return ticket.fired.get(mark.mark_id, (None, None, False))[2]
