"""Intake's Kafka handler: raw records in, TicketReceived or dead letters out."""

import logging
from datetime import UTC, datetime, timedelta

from faststream.kafka.annotations import KafkaMessage

from hotline.contracts import TicketReceived, topics
from hotline.gazetteer import beijing
from hotline.intake.domain import (
    IntakePolicy,
    PriorTicket,
    Rejection,
    link_repeat,
    normalize,
    repeat_key,
)
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.kafka import Publisher, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

log = logging.getLogger(__name__)


def register(
    runtime: ServiceRuntime, store: IntakeStore, publisher: Publisher, policy: IntakePolicy
) -> None:
    """Subscribe intake's handlers on the runtime's broker."""
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    gazetteer = beijing()

    @batch_subscriber(runtime.broker, settings, runtime.name, topics.RAW)
    async def on_hotline_raw(body: list[bytes], msg: KafkaMessage) -> None:
        async with retry_later("intake batch"):
            now = datetime.now(UTC)
            tickets, dead_letters = {}, []
            for record in msg.raw_message:
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
            done = await store.published_ids(ticket_ids=list(tickets))
            fresh = [t for t in tickets.values() if t.ticket_id not in done]
            fresh = await _link_repeats(fresh, store, settings.repeat_salt, policy.repeat_window)
            await store.record_received(tickets=fresh)
            await publisher.publish_all(
                [(topics.TICKETS_RECEIVED, t, t.ticket_id) for t in fresh] + dead_letters
            )
            await store.mark_published(ticket_ids=[t.ticket_id for t in fresh])


async def _link_repeats(
    tickets: list[TicketReceived], store: IntakeStore, salt: str, window: timedelta
) -> list[TicketReceived]:
    """Link each ticket to the caller's earlier one on the same place and matter."""
    keyed = [(repeat_key(t, salt), t) for t in sorted(tickets, key=lambda t: (t.received_at, t.ticket_id))]
    histories = await store.histories(keys=sorted({k for k, _ in keyed if k}))
    linked, entries = [], {}
    for key, ticket in keyed:
        if key is None:
            linked.append(ticket)
            continue
        ticket = link_repeat(ticket, histories[key], window)
        histories[key].append(PriorTicket(ticket.ticket_id, ticket.received_at))
        entries.setdefault(key, []).append(ticket)
        linked.append(ticket)
    # Remembered before publishing: a crash in between only repeats this same linking.
    await store.remember(entries=entries)
    return linked
