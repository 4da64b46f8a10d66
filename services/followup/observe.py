"""Followup's business figures for Prometheus: open and overdue tickets, deadline breaches fired."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge
from pymongo.asynchronous.database import AsyncDatabase

from hotline.contracts import DeadlineBreached
from hotline.followup.tickets.domain import TicketState

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 15.0
# A sample reads every ticket (see `sample`): it may keep the store busy this share of the time.
SAMPLE_BUSY_SHARE = 0.1
SERVICE = "followup"


def pause_after(took_s: float, interval_s: float = SAMPLE_INTERVAL_S, busy_share: float = SAMPLE_BUSY_SHARE) -> float:
    """How long to wait before the next sample: the interval, or longer once a sample takes more
    than `busy_share` of it (on the local server a scan of 100,000 tickets took 5 s, a third of
    every 15 s, and the store serves everything else meanwhile)."""
    return max(interval_s, took_s * (1 - busy_share) / busy_share)


class FollowupGauges:
    """Open and overdue tickets sampled from the store; breaches counted as the scheduler sends them."""

    def __init__(self, registry: CollectorRegistry, db: AsyncDatabase,
                 now: Callable[[], Awaitable[datetime | None]]) -> None:
        self._tickets = db["followup_tickets"]
        self._now = now
        self.open = Gauge("hotline_open_tickets", "Tickets being handled (state open), sampled every 15 s or more.",
                          ["service"], registry=registry)
        self.overdue = Gauge("hotline_overdue_tickets",
                             "Open tickets past their report-back deadline (business time), "
                             "sampled every 15 s or more.",
                             ["service"], registry=registry)
        self.breaches = Counter("hotline_deadline_breaches", "Deadline breaches this scheduler fired, by clock.",
                                ["service", "clock"], registry=registry)

    def count_breaches(self, events: Iterable[object]) -> None:
        """Count the breaches among events the scheduler has sent."""
        for event in events:
            if isinstance(event, DeadlineBreached):
                self.breaches.labels(SERVICE, event.clock).inc()

    async def sample(self) -> None:
        """Count open and overdue tickets: one scan (only `_id` queries are fast on the local
        server), which is why this runs on a timer and not on every scrape."""
        now = await self._now() or datetime.now(UTC)
        open_, overdue = 0, 0
        cursor = self._tickets.find({}, {"state": 1, "report_back_due_at": 1, "unit_code": 1})
        async for doc in cursor:
            # A document without a holder is a ticket followup has heard of but not seen dispatched.
            if "unit_code" not in doc or doc.get("state", TicketState.OPEN.value) != TicketState.OPEN.value:
                continue
            open_ += 1
            due = doc.get("report_back_due_at")
            if due is not None and due < now:
                overdue += 1
        self.open.labels(SERVICE).set(open_)
        self.overdue.labels(SERVICE).set(overdue)

    async def sample_forever(self, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        """Sample at each interval (longer when a sample is slow, see `pause_after`) until
        cancelled; a store outage is logged and retried."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # must not end the job
                log.warning("followup gauges sample failed: %r", exc)
            await asyncio.sleep(pause_after(loop.time() - started, interval_s))
