"""Followup's deadline scheduler: durable timers that fire each warning, breach and escalation once.
A pass is a query (the due buckets, their tickets), a pure decision (`deadlines/domain.py`) and its
side effects (claim, publish, confirm, file the next marks), over the store protocols below.

Timers live in minute buckets (`deadlines/store.py`: `followup_timer_buckets`, `_id` = the UTC minute
"YYYYMMDDHHMM", then one of `BUCKET_SHARDS` by ticket: "YYYYMMDDHHMM:07"), each listing (ticket, clock, moment)
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
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from hotline.business_calendar import BusinessCalendar
from hotline.contracts import DeadlineMarked
from hotline.contracts.common import Contract, Event
from hotline.deadlines import DeadlinePolicy
from hotline.followup.deadlines.domain import mark_messages, next_mark, plan_firing, span_tickets
from hotline.followup.tickets.domain import FollowupTicket
from hotline.runtime import telemetry

log = logging.getLogger(__name__)

BusinessClock = Literal["wall", "log"]


class TicketReader(Protocol):
    """The tickets the clocks derive from (`hotline.followup.tickets.store.FollowupStore`)."""

    async def get_many(self, *, ticket_ids: list[str]) -> dict[str, FollowupTicket]: ...


class Timers(Protocol):
    """Each ticket's next mark by minute, and business time (`deadlines.store.TimerBuckets`)."""

    async def schedule(self, entries: list[tuple[datetime, str, str]]) -> None: ...

    async def due(self, now: datetime, *, limit: int) -> list[dict]: ...

    async def remove(self, key: str, entries: list[dict], *, whole: list[dict] | None = None) -> None: ...

    async def business_now(self) -> datetime | None: ...

    async def advance(self, now: datetime) -> None: ...


class Claims(Protocol):
    """Which scheduler fires a mark, and that its events went out (`deadlines.store.MarkClaims`)."""

    async def claim_marks(self, *, ticket_id: str, mark_ids: list[str], by: str, now: datetime,
                          stale_before: datetime) -> list[datetime | None | bool]: ...

    async def confirm_sent(self, *, marks: list[tuple[str, str]], events: Sequence[Event] = ()) -> None: ...


class MarkPublisher(Protocol):
    """Publishes the marks' messages under their tickets' traces (`hotline.runtime.kafka.Publisher`)."""

    @property
    def tracer(self) -> Any: ...

    def topic(self, name: str) -> str: ...

    async def publish_all(self, items: Iterable[tuple[str, Contract, str | None]]) -> None: ...


class DeadlineScheduler:
    """Schedules each ticket's next deadline mark and fires the marks business time has reached."""

    def __init__(
        self,
        tickets: TicketReader,
        buckets: Timers,
        claims: Claims,
        publisher: MarkPublisher,
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
        self._tickets = tickets
        self._buckets = buckets
        self._claims = claims
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

    async def schedule_tickets(self, ticket_ids: list[str] | set[str]) -> None:
        """(Re)schedule the next unsent mark of these tickets (the earliest of their live clocks')."""
        tickets = await self._tickets.get_many(ticket_ids=sorted(ticket_ids))
        entries = []
        for ticket in tickets.values():
            if (upcoming := next_mark(ticket, self._policy, self._calendar)) is not None:
                entries.append((upcoming[0], ticket.ticket_id, upcoming[1]))
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
        ticket_ids = {e["ticket_id"] for _, e in wanted}
        tickets = await self._tickets.get_many(ticket_ids=sorted(ticket_ids))
        wall_now = datetime.now(UTC)
        stale_before = wall_now - self._claim_timeout
        firing = plan_firing(ticket_ids, tickets, now=now, policy=self._policy, calendar=self._calendar)
        claims = firing.claims
        # One claim per ticket for all its due marks (one document write), see `claim_marks`.
        won_by_ticket = await asyncio.gather(*(
            self._claims.claim_marks(ticket_id=ticket_id, mark_ids=[m.mark_id for _, _, m in ticket_claims],
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
        with telemetry.linked_spans(self._publisher.tracer, "followup deadline", span_tickets(mine)):
            await self._publisher.publish_all(to_send)
        if self._on_sent is not None:
            self._on_sent([event for _, event, _ in to_send])
        # Sent, and on the timeline, in one write per ticket.
        await self._claims.confirm_sent(marks=[(t.ticket_id, m.mark_id) for t, _, m in mine],
                                        events=[e for _, e, _ in messages if isinstance(e, DeadlineMarked)])
        await self._buckets.schedule(firing.follow_ups)
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
