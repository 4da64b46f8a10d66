"""Submitting a raw record over HTTP: validate at once, then hand it to the one Kafka path."""

from datetime import datetime

from hotline.contracts import TicketReceived, topics
from hotline.gazetteer import beijing
from hotline.intake.domain import IntakePolicy, Rejection, normalize
from hotline.runtime.service import ServiceRuntime


async def submit_raw(
    runtime: ServiceRuntime, policy: IntakePolicy, body: bytes, *, now: datetime
) -> TicketReceived | Rejection:
    """Normalize `body`; when it is a ticket, publish the bytes on `hotline.raw` keyed by its id.

    The consumer of hotline.raw makes the ticket: one path for every channel, and a resend
    of the same record stays one ticket. The returned ticket is what the consumer will make.
    """
    outcome = normalize(body, now=now, gazetteer=beijing(), policy=policy)
    if not isinstance(outcome, Rejection):
        await runtime.broker.publish(
            body, runtime.settings.topic(topics.RAW), key=outcome.ticket_id.encode()
        )
    return outcome
