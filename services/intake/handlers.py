"""Intake's Kafka handler: raw records in, TicketReceived or dead letters out."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from hotline.contracts import TicketClosed, TicketReceived, TicketReopened, topics
from hotline.gazetteer import beijing
from hotline.intake.domain import (
    IntakePolicy,
    PriorTicket,
    Rejection,
    link_repeat,
    normalize,
    repeat_key,
    status_change,
)
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

log = logging.getLogger(__name__)
# The followup events that change what Open311 shows of a ticket (by the `event_type` header).
STATUS_EVENTS = {"TicketClosed": TicketClosed, "TicketReopened": TicketReopened}


def register(
    runtime: ServiceRuntime, store: IntakeStore, publisher: Publisher, policy: IntakePolicy
) -> None:
    """Subscribe intake's handlers on the runtime's broker."""
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    gazetteer = beijing()

    @batch_subscriber(runtime.broker, settings, runtime.name, topics.RAW, publisher=publisher)
    async def on_hotline_raw(records: Records) -> None:
        async with retry_later("intake batch"):
            now = datetime.now(UTC)
            tickets, dead_letters = {}, []
            for record in records:
                outcome = normalize(record.value or b"", now=now, gazetteer=gazetteer, policy=policy)
                if isinstance(outcome, Rejection):
                    log.warning("rejected raw record", extra={"reason": outcome.reason})
                    dead_letters.append(
                        publisher.dead_letter(
                            record, reason=outcome.reason, field=outcome.field, channel=outcome.channel
                        )
                    )
                else:
                    tickets.setdefault(outcome.ticket_id, outcome)
            # Both reads at once: each is one round trip to the store.
            keyed = {t.ticket_id: repeat_key(t, settings.repeat_salt) for t in tickets.values()}
            done, histories = await asyncio.gather(
                store.published_ids(ticket_ids=list(tickets)),
                store.histories(keys=sorted({k for k in keyed.values() if k})),
            )
            fresh = [t for t in tickets.values() if t.ticket_id not in done]
            fresh, entries = _link_repeats(fresh, keyed, histories, policy.repeat_window)
            await publisher.publish_all(
                [(topics.TICKETS_RECEIVED, t, t.ticket_id) for t in fresh] + dead_letters
            )
            # Recorded after the broker's ack: a crash in between republishes the same event
            # (same event id) on redelivery, which consumers drop; it never loses one.
            await asyncio.gather(
                store.record_received(tickets=fresh), store.remember(entries=entries)
            )


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


def _link_repeats(
    tickets: list[TicketReceived],
    keys: dict[str, str | None],
    histories: dict[str, list[PriorTicket]],
    window: timedelta,
) -> tuple[list[TicketReceived], dict[str, list[TicketReceived]]]:
    """Link each ticket to the caller's earlier one on the same place and matter, in time order."""
    keyed = [(keys[t.ticket_id], t) for t in sorted(tickets, key=lambda t: (t.received_at, t.ticket_id))]
    linked, entries = [], {}
    for key, ticket in keyed:
        if key is None:
            linked.append(ticket)
            continue
        ticket = link_repeat(ticket, histories[key], window)
        histories[key].append(PriorTicket(ticket.ticket_id, ticket.received_at))
        entries.setdefault(key, []).append(ticket)
        linked.append(ticket)
    return linked, entries
