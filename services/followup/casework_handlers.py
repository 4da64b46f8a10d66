"""Casework's Kafka handlers: the per-ticket facts the daily brief needs beyond followup's ticket.

`tickets.dispatched` does not carry repeats or the collected-demand origin, so casework reads
`tickets.received` (keeping category, urgency, repeats and origin; never the caller or content),
and the face-to-face visits from `tickets.followup` (followup's ticket keeps contacts, but its
worklist leaves them out, and the brief reads a whole worklist at once).
"""

from hotline.contracts import ContactRecorded, topics
from hotline.followup.casework_store import CaseworkStore
from hotline.runtime.kafka import Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime


def register_casework(runtime: ServiceRuntime, casework: CaseworkStore, publisher: Publisher) -> None:
    """Subscribe casework's fact handlers on the runtime's broker."""

    # `tickets.received` has one subscriber in followup (handlers.register_received), which
    # also feeds casework's facts: two subscribers would split the topic's partitions.

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_FOLLOWUP, publisher=publisher)
    async def on_tickets_followup_casework(records: Records) -> None:
        async with retry_later("followup casework contacts batch"):
            # Only contacts matter here; followup's other events pass by unparsed.
            contacts = [r for r in records
                        if dict(r.headers or ()).get("event_type", b"ContactRecorded") == b"ContactRecorded"]
            events, dead_letters = publisher.parse_all(contacts, ContactRecorded)
            await casework.apply_contacts(contacts=events)
            await publisher.publish_all(dead_letters)
