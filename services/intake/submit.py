"""Submitting a raw record over HTTP: validate at once, then hand it to the one Kafka path."""

from dataclasses import dataclass
from datetime import datetime

from hotline.contracts import TicketReceived, topics
from hotline.gazetteer import beijing
from hotline.intake.domain import IntakePolicy, Rejection, admit
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.service import ServiceRuntime


@dataclass(frozen=True)
class Reused(Rejection):
    """The ticket id (channel and source id) already holds another body: answered 409."""


async def submit_raw(
    runtime: ServiceRuntime[IntakeSettings], policy: IntakePolicy, body: bytes, *, now: datetime,
    store: IntakeStore | None = None,
) -> TicketReceived | Rejection:
    """Normalize `body`; when it is a ticket, publish the bytes on `hotline.raw` keyed by its id.

    The consumer of hotline.raw makes the ticket: one path for every channel, and a resend
    of the same record stays one ticket. The returned ticket is what the consumer will make.
    With `store` (a platform's own source ids), a stored ticket of that id with another body is
    a `Reused`, and nothing is published.
    """
    outcome = admit(body, now=now, gazetteer=beijing(), policy=policy)
    if isinstance(outcome, Rejection):
        return outcome
    ticket, fingerprint = outcome
    if store is not None:
        known = (await store.outbox(ticket_ids=[ticket.ticket_id])).get(ticket.ticket_id)
        if known is not None and known.fingerprint not in (None, fingerprint):
            return Reused(f"source_id {ticket.source_id!r} of channel {ticket.channel.value} is already "
                          f"ticket {ticket.ticket_id} with a different body", field="source_id",
                          channel=ticket.channel.value)
    await runtime.broker.publish(
        body, runtime.settings.topic(topics.RAW), key=ticket.ticket_id.encode()
    )
    return ticket
