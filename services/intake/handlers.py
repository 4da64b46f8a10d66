"""Intake's Kafka handler: raw records in, TicketReceived or dead letters out."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord

from hotline.contracts import TicketClosed, TicketReceived, TicketReopened, topics
from hotline.contracts.common import Event
from hotline.gazetteer import beijing
from hotline.intake.domain import (
    IntakePolicy,
    PriorTicket,
    Rejection,
    admit_all,
    link_repeat,
    repeat_key,
    status_change,
)
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.kafka import Outgoing, Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

log = logging.getLogger(__name__)
# The followup events that change what Open311 shows of a ticket (by the `event_type` header).
STATUS_EVENTS: dict[str, type[Event]] = {"TicketClosed": TicketClosed, "TicketReopened": TicketReopened}
REUSED_SOURCE_ID = "source_id reused with a different body"


def register(
    runtime: ServiceRuntime[IntakeSettings], store: IntakeStore, publisher: Publisher, policy: IntakePolicy
) -> None:
    """Subscribe intake's handlers on the runtime's broker."""
    settings = runtime.settings
    gazetteer = beijing()

    @batch_subscriber(runtime.broker, settings, runtime.name, topics.RAW, publisher=publisher)
    async def on_hotline_raw(records: Records) -> None:
        async with retry_later("intake batch"):
            now = datetime.now(UTC)
            tickets: dict[str, TicketReceived] = {}
            prints: dict[str, str] = {}  # ticket id -> fingerprint of its body
            firsts: dict[str, ConsumerRecord] = {}  # ticket id -> its first record
            dead_letters: list[Outgoing] = []
            outcomes = admit_all([r.value or b"" for r in records], now=now, gazetteer=gazetteer, policy=policy)
            for record, outcome in zip(records, outcomes):
                if isinstance(outcome, Rejection):
                    log.warning("rejected raw record", extra={"reason": outcome.reason})
                    dead_letters.append(
                        publisher.dead_letter(
                            record, reason=outcome.reason, field=outcome.field, channel=outcome.channel
                        )
                    )
                    continue
                ticket, fingerprint = outcome
                if prints.setdefault(ticket.ticket_id, fingerprint) != fingerprint:
                    dead_letters.append(_reused(publisher, record, ticket))
                    continue
                tickets.setdefault(ticket.ticket_id, ticket)  # the same body again: a resend
                firsts.setdefault(ticket.ticket_id, record)
            # Both reads at once: each is one round trip to the store.
            keyed = {t.ticket_id: repeat_key(t, settings.repeat_salt) for t in tickets.values()}
            stored, histories = await asyncio.gather(
                store.outbox(ticket_ids=list(tickets)),
                store.histories(keys=sorted({k for k in keyed.values() if k})),
            )
            new, unpublished = [], []
            for t in tickets.values():
                known = stored.get(t.ticket_id)
                if known is None:
                    new.append(t)
                elif known.fingerprint not in (None, prints[t.ticket_id]):
                    dead_letters.append(_reused(publisher, firsts[t.ticket_id], t))
                elif not known.published:
                    unpublished.append(t)  # stored, but its event may not have gone out
            fresh, entries = _link_repeats(new + unpublished, keyed, histories, policy.repeat_window)
            # Stored before published (the outbox): a store that fails lets nothing out, and the
            # redelivered batch publishes what is stored but not yet covered, with the same event
            # id, which consumers drop if it did go out before.
            raced, _ = await asyncio.gather(
                store.record_received(tickets=[t for t in fresh if t.ticket_id not in stored],
                                      fingerprints=prints, origins=firsts),
                store.remember(entries=entries),
            )
            if raced:  # stored meanwhile by another consumer (records of one id on two partitions)
                stored = await store.outbox(ticket_ids=sorted(raced))
                for t in [t for t in fresh if t.ticket_id in stored]:
                    if stored[t.ticket_id].fingerprint not in (None, prints[t.ticket_id]):
                        fresh.remove(t)
                        dead_letters.append(_reused(publisher, firsts[t.ticket_id], t))
            await publisher.publish_all(
                [*((topics.TICKETS_RECEIVED, t, t.ticket_id) for t in fresh), *dead_letters]
            )
            await store.mark_published(ticket_ids=[t.ticket_id for t in fresh], records=records)


    @batch_subscriber(runtime.broker, settings, runtime.name, topics.TICKETS_FOLLOWUP, publisher=publisher)
    async def on_tickets_followup(records: Records) -> None:
        async with retry_later("intake status batch"):
            changes, dead_letters = [], []
            for record in records:
                kind = topics.event_type_of(record.headers)
                if kind not in STATUS_EVENTS:
                    continue  # contacts, warnings, extensions...: not the citizen's status
                events, letters = publisher.parse_all([record], STATUS_EVENTS[kind])
                changes += [status_change(e) for e in events]
                dead_letters += letters
            await publisher.publish_all(dead_letters)
            await store.record_statuses(changes=changes)


def _reused(publisher: Publisher, record, ticket: TicketReceived):
    """A record whose ticket id already holds another body: whoever guessed a platform's next
    source id must not silently drop the real caller's complaint, so it is dead-lettered."""
    log.warning("source id reused with a different body", extra={"ticket_id": ticket.ticket_id})
    return publisher.dead_letter(record, reason=REUSED_SOURCE_ID, field="source_id",
                                 channel=ticket.channel.value)


def _link_repeats(
    tickets: list[TicketReceived],
    keys: dict[str, str | None],
    histories: dict[str, list[PriorTicket]],
    window: timedelta,
) -> tuple[list[TicketReceived], dict[str, list[TicketReceived]]]:
    """Link each ticket to the caller's earlier one on the same place and matter, in time order."""
    keyed = [(keys[t.ticket_id], t) for t in sorted(tickets, key=lambda t: (t.received_at, t.ticket_id))]
    linked: list[TicketReceived] = []
    entries: dict[str, list[TicketReceived]] = {}
    for key, ticket in keyed:
        if key is None:
            linked.append(ticket)
            continue
        ticket = link_repeat(ticket, histories[key], window)
        histories[key].append(PriorTicket(ticket.ticket_id, ticket.received_at))
        entries.setdefault(key, []).append(ticket)
        linked.append(ticket)
    return linked, entries
