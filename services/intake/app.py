"""Intake's use cases: admit, store, publish, over the store and broker protocols below. `main`
wires the MongoDB store and the Kafka publisher in; a test may pass fakes.

Every channel takes one path: raw records arrive on `hotline.raw` and become `TicketReceived` on
`tickets.received` (`admit`), or a dead letter. The HTTP doors (`POST /v1/tickets`, Open311) check
a record at once with the same rule (`submit`: a refusal is a domain error) and then put its bytes
on `hotline.raw`, so the ticket is made by the consumer like any other. Followup's closes and
reopens update what the Open311 API shows (`record_statuses`), and the public views read only the
tickets that may be shown (`hotline.intake.public`).
"""

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from hotline.contracts import TicketClosed, TicketReceived, TicketReopened, topics
from hotline.contracts.common import Contract
from hotline.domain_errors import Conflict, Invalid, NotFound, TooLarge
from hotline.gazetteer import Gazetteer
from hotline.ingest.admission import IntakePolicy, Rejection, admit, admit_all
from hotline.intake.domain import PriorTicket, StatusChange, Stored, link_repeats, repeat_key, status_change
from hotline.intake.public import is_public

log = logging.getLogger(__name__)

# (topic, message, key): what a publisher sends, dead letters included.
Outgoing = tuple[str, Contract, str | None]
REUSED_SOURCE_ID = "source_id reused with a different body"


class TicketStore(Protocol):
    """Where intake keeps its tickets, the repeat histories and the Open311 status
    (see `hotline.intake.store.IntakeStore`)."""

    async def outbox(self, *, ticket_ids: list[str]) -> dict[str, Stored]: ...

    async def record_received(self, *, tickets: list[TicketReceived], fingerprints: dict[str, str],
                              origins: dict | None = None) -> set[str]: ...

    async def mark_published(self, *, ticket_ids: list[str], records: list | None = None) -> None: ...

    async def histories(self, *, keys: list[str]) -> dict[str, list[PriorTicket]]: ...

    async def remember(self, *, entries: dict[str, list[TicketReceived]]) -> None: ...

    async def record_statuses(self, *, changes: list[StatusChange]) -> None: ...

    async def get_by_ticket_id(self, *, ticket_id: str) -> dict | None: ...

    async def get_by_ticket_ids(self, *, ticket_ids: list[str]) -> list[dict]: ...

    async def find_requests(self, *, received_from: datetime, received_to: datetime,
                            categories: list[str] | None = None, statuses: list[str] | None = None,
                            limit: int = 1000) -> list[dict]: ...


class EventPublisher(Protocol):
    """Publishes events and dead letters, waiting for the broker (`hotline.runtime.kafka.Publisher`)."""

    async def publish_all(self, items: Iterable[Outgoing]) -> None: ...

    def dead_letter(self, record: Any, *, reason: str, field: str | None = None,
                    channel: str | None = None) -> Outgoing: ...


class RawSender(Protocol):
    """Puts a raw record's bytes on `hotline.raw`, keyed by its ticket id."""

    async def send(self, record: bytes, *, key: str) -> None: ...


class Intake:
    """Intake's use cases."""

    def __init__(self, store: TicketStore, publisher: EventPublisher, raw: RawSender, policy: IntakePolicy, *,
                 gazetteer: Gazetteer, repeat_salt: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._publisher = publisher
        self._raw = raw
        self._policy = policy
        self._gazetteer = gazetteer
        self._salt = repeat_salt
        self._clock = clock

    # ------------------------------------------------------------ hotline.raw

    async def admit(self, records: list) -> None:
        """Make tickets of a batch of raw records (consumed records: their bytes, topic and offset)
        and publish them; what cannot be a ticket is dead-lettered with its original bytes.

        A ticket id is channel and source id: the same body again is a resend and publishes
        nothing new; another body under a stored id is dead-lettered, the first ticket kept.
        """
        tickets: dict[str, TicketReceived] = {}
        prints: dict[str, str] = {}  # ticket id -> fingerprint of its body
        firsts: dict[str, Any] = {}  # ticket id -> its first record
        dead_letters: list[Outgoing] = []
        outcomes = admit_all([r.value or b"" for r in records], now=self._clock(), gazetteer=self._gazetteer,
                             policy=self._policy)
        for record, outcome in zip(records, outcomes):
            if isinstance(outcome, Rejection):
                log.warning("rejected raw record", extra={"reason": outcome.reason})
                dead_letters.append(self._publisher.dead_letter(
                    record, reason=outcome.reason, field=outcome.field, channel=outcome.channel))
                continue
            ticket, fingerprint = outcome
            if prints.setdefault(ticket.ticket_id, fingerprint) != fingerprint:
                dead_letters.append(self._reused(record, ticket))
                continue
            tickets.setdefault(ticket.ticket_id, ticket)  # the same body again: a resend
            firsts.setdefault(ticket.ticket_id, record)
        # Both reads at once: each is one round trip to the store.
        keyed = {t.ticket_id: repeat_key(t, self._salt) for t in tickets.values()}
        stored, histories = await asyncio.gather(
            self._store.outbox(ticket_ids=list(tickets)),
            self._store.histories(keys=sorted({k for k in keyed.values() if k})),
        )
        new, unpublished = [], []
        for t in tickets.values():
            known = stored.get(t.ticket_id)
            if known is None:
                new.append(t)
            elif known.fingerprint not in (None, prints[t.ticket_id]):
                dead_letters.append(self._reused(firsts[t.ticket_id], t))
            elif not known.published:
                unpublished.append(t)  # stored, but its event may not have gone out
        fresh, entries = link_repeats(new + unpublished, keyed, histories, self._policy.repeat_window)
        # Stored before published (the outbox): a store that fails lets nothing out, and the
        # redelivered batch publishes what is stored but not yet covered, with the same event
        # id, which consumers drop if it did go out before.
        raced, _ = await asyncio.gather(
            self._store.record_received(tickets=[t for t in fresh if t.ticket_id not in stored],
                                        fingerprints=prints, origins=firsts),
            self._store.remember(entries=entries),
        )
        if raced:  # stored meanwhile by another consumer (records of one id on two partitions)
            stored = await self._store.outbox(ticket_ids=sorted(raced))
            for t in [t for t in fresh if t.ticket_id in stored]:
                if stored[t.ticket_id].fingerprint not in (None, prints[t.ticket_id]):
                    fresh.remove(t)
                    dead_letters.append(self._reused(firsts[t.ticket_id], t))
        await self._publisher.publish_all(
            [*((topics.TICKETS_RECEIVED, t, t.ticket_id) for t in fresh), *dead_letters])
        await self._store.mark_published(ticket_ids=[t.ticket_id for t in fresh], records=records)

    def _reused(self, record: Any, ticket: TicketReceived) -> Outgoing:
        """A record whose ticket id already holds another body: whoever guessed a platform's next
        source id must not silently drop the real caller's complaint, so it is dead-lettered."""
        log.warning("source id reused with a different body", extra={"ticket_id": ticket.ticket_id})
        return self._publisher.dead_letter(record, reason=REUSED_SOURCE_ID, field="source_id",
                                           channel=ticket.channel.value)

    # ------------------------------------------------------------ tickets.followup

    async def record_statuses(self, events: Sequence[TicketClosed | TicketReopened], *,
                              rejected: Sequence[Outgoing] = ()) -> None:
        """Show followup's closes and reopens as the tickets' Open311 status. `rejected`: the
        batch's dead letters, sent first."""
        await self._publisher.publish_all(rejected)
        await self._store.record_statuses(changes=[status_change(e) for e in events])

    # ------------------------------------------------------------ HTTP: checked at once, then sent

    async def submit(self, record: bytes, *, now: datetime, check_source_id: bool = False,
                     sent_bytes: int | None = None) -> TicketReceived:
        """Check a raw record with the rule the consumer applies, then put its bytes on
        `hotline.raw`; the ticket the consumer will make of it. A resend of the same record stays
        one ticket.

        Refused: Invalid naming the field (TooLarge when the client sent over `sent_bytes` the
        record limit). `check_source_id`, for a platform's own source ids: a stored ticket of that
        id with another body is a Conflict, and nothing is sent.
        """
        outcome = admit(record, now=now, gazetteer=self._gazetteer, policy=self._policy)
        if isinstance(outcome, Rejection):
            too_large = sent_bytes is not None and sent_bytes > self._policy.max_record_bytes
            raise (TooLarge if too_large else Invalid)(outcome.field or None, outcome.reason, location="body")
        ticket, fingerprint = outcome
        if check_source_id:
            known = (await self._store.outbox(ticket_ids=[ticket.ticket_id])).get(ticket.ticket_id)
            if known is not None and known.fingerprint not in (None, fingerprint):
                raise Conflict("source_id", f"source_id {ticket.source_id!r} of channel {ticket.channel.value} is "
                               f"already ticket {ticket.ticket_id} with a different body", location="body")
        await self._raw.send(record, key=ticket.ticket_id)
        return ticket

    # ------------------------------------------------------------ the public views (Open311)

    async def public_request(self, ticket_id: str) -> dict:
        """One public ticket's record; any other ticket is NotFound, as if unknown."""
        doc = await self._store.get_by_ticket_id(ticket_id=ticket_id)
        if doc is None or not is_public(doc):
            raise NotFound("service_request_id", f"{ticket_id!r} not found", location="path")
        return doc

    async def public_requests(self, ticket_ids: Sequence[str]) -> list[dict]:
        """The public tickets among `ticket_ids`, in the order asked."""
        docs = await self._store.get_by_ticket_ids(ticket_ids=list(ticket_ids))
        return [d for d in docs if is_public(d)]

    async def public_requests_between(self, received_from: datetime, received_to: datetime, *,
                                      categories: Sequence[str] = (), statuses: Sequence[str] = (),
                                      limit: int) -> list[dict]:
        """Public tickets received in the window, newest first, at most `limit`."""
        docs = await self._store.find_requests(received_from=received_from, received_to=received_to,
                                               categories=list(categories), statuses=list(statuses), limit=limit)
        return [d for d in docs if is_public(d)]
