"""Exemptions' use cases (核减 / 申诉), shared by the HTTP routes and the Kafka commands: read the
ticket, decide in the pure domain (`exemptions/domain.py`), store (the timeline entry in the same
update), publish on `tickets.followup`, where metrics reads them.

Each returns its event and whether it was new. A retry returns the recorded event and publishes
it again (same id): a crash between the store write and the publish is healed by the retry, and
consumers drop the copy. The store and publisher are the protocols below; `main` wires them in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from hotline.contracts import DecideExemption, ExemptionDecided, ExemptionRequested, RequestExemption, topics
from hotline.contracts.common import Contract, Event
from hotline.domain_errors import Conflict
from hotline.exemptions import ExemptionPolicy
from hotline.followup.exemptions.domain import (
    ExemptionTicket,
    decide_exemption,
    repeated_decision,
    repeated_request,
    request_exemption,
)
from hotline.runtime.idempotency import request_hash

Outgoing = tuple[str, Contract, str | None]


class ExemptionRecords(Protocol):
    """Where the exemptions are kept (`hotline.followup.exemptions.store.ExemptionStore`)."""

    async def get(self, *, ticket_id: str) -> ExemptionTicket | None: ...

    async def save_request(self, *, event: ExemptionRequested, note: str, request_hash: str | None) -> bool: ...

    async def save_decision(self, *, event: ExemptionDecided, note: str, request_hash: str | None) -> bool: ...


class WaitingExemptions(Protocol):
    """The list of requests waiting for the centre (`hotline.followup.desk.store.DeskStore`)."""

    async def keep_exemption(self, *, event: ExemptionRequested) -> None: ...

    async def drop_exemption(self, *, ticket_id: str, unit_code: str) -> None: ...


class EventPublisher(Protocol):
    """Publishes events, waiting for the broker (`hotline.runtime.kafka.Publisher`)."""

    async def publish_all(self, items: Iterable[Outgoing]) -> None: ...


@dataclass
class Exemptions:
    """A unit's request that a ticket not count, and the centre's decision."""

    store: ExemptionRecords
    publisher: EventPublisher
    policy: ExemptionPolicy
    clock_skew: timedelta = timedelta(minutes=2)
    # Kept in step with each request and decision (after the ticket's write, so the ticket is the truth).
    waiting: WaitingExemptions | None = None

    async def _publish(self, event: Event) -> None:
        await self.publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, event.ticket_id)])

    def reasons(self) -> dict:
        """The reason codes a unit may give, with their labels and sources."""
        return self.policy.listing()

    async def request(self, ticket_id: str, command: RequestExemption, *, idempotency_key: str | None,
                      now: datetime) -> tuple[ExemptionRequested, bool]:
        """The holder asks that the ticket not count in its figures (核减)."""
        keyed = request_hash("request_exemption", ticket_id, command) if idempotency_key else None
        ticket = await self.store.get(ticket_id=ticket_id)
        if (again := repeated_request(ticket, command, keyed)) is not None:
            if ticket is not None and ticket.exemptions[command.unit_code].state == "requested":
                await self._keep_waiting(again)  # healed, if a crash came between the two writes
            await self._publish(again)
            return again, False
        event = request_exemption(ticket, command, ticket_id=ticket_id, policy=self.policy, now=now,
                                  clock_skew=self.clock_skew)
        if not await self.store.save_request(event=event, note=command.note.strip(), request_hash=keyed):
            # Another call got there since the read: the same request is answered, another refused.
            if (again := repeated_request(await self.store.get(ticket_id=ticket_id), command, keyed)) is not None:
                return again, False
            raise Conflict("ticket_id", "this unit's exemption for the ticket was requested meanwhile")
        await self._keep_waiting(event)
        await self._publish(event)
        return event, True

    async def _keep_waiting(self, event: ExemptionRequested) -> None:
        if self.waiting is not None:
            await self.waiting.keep_exemption(event=event)

    async def _decided(self, event: ExemptionDecided) -> None:
        if self.waiting is not None:
            await self.waiting.drop_exemption(ticket_id=event.ticket_id, unit_code=event.unit_code)

    async def decide(self, ticket_id: str, command: DecideExemption, *, idempotency_key: str | None,
                     now: datetime) -> tuple[ExemptionDecided, bool]:
        """The centre approves (the ticket leaves the unit's figures of its month) or rejects."""
        keyed = request_hash("decide_exemption", ticket_id, command) if idempotency_key else None
        ticket = await self.store.get(ticket_id=ticket_id)
        if (again := repeated_decision(ticket, command, keyed)) is not None:
            await self._decided(again)
            await self._publish(again)
            return again, False
        event = decide_exemption(ticket, command, ticket_id=ticket_id, now=now, clock_skew=self.clock_skew)
        if not await self.store.save_decision(event=event, note=command.note.strip(), request_hash=keyed):
            if (again := repeated_decision(await self.store.get(ticket_id=ticket_id), command, keyed)) is not None:
                return again, False
            raise Conflict("ticket_id", "the exemption was decided meanwhile")
        await self._decided(event)
        await self._publish(event)
        return event, True
