"""Routing's Kafka handler: TicketReceived in, TicketDispatched and queue assignments out."""

import logging

from faststream.kafka.annotations import KafkaMessage

from hotline.catalogue import default_catalogue
from hotline.contracts import TicketReceived, topics
from hotline.gazetteer import beijing
from hotline.routing.domain import decide, dispatch_events
from hotline.routing.store import DispatchStore
from hotline.runtime.kafka import Publisher, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

log = logging.getLogger(__name__)


def register(runtime: ServiceRuntime, store: DispatchStore, publisher: Publisher) -> None:
    """Subscribe routing's handlers on the runtime's broker."""
    gazetteer, catalogue = beijing(), default_catalogue()

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_RECEIVED)
    async def on_tickets_received(body: list[bytes], msg: KafkaMessage) -> None:
        async with retry_later("routing batch"):
            parsed, dead_letters = publisher.parse_all(msg.raw_message, TicketReceived)
            tickets: dict[str, TicketReceived] = {}
            for ticket in parsed:
                # Consultations the hotline answered itself are counted, never dispatched.
                if not ticket.answered_directly:
                    tickets.setdefault(ticket.ticket_id, ticket)
            stored = await store.get_many(ticket_ids=list(tickets))
            new_decisions = {
                tid: decide(t, gazetteer, catalogue) for tid, t in tickets.items() if tid not in stored
            }
            await store.save_new(decisions=new_decisions)
            outgoing = list(dead_letters)
            to_mark = []
            for tid, ticket in tickets.items():
                dispatch, published = stored.get(tid, (new_decisions.get(tid), False))
                if published:
                    continue
                dispatched, assignments = dispatch_events(ticket, dispatch)
                outgoing.append((topics.TICKETS_DISPATCHED, dispatched, tid))
                outgoing.extend((topics.queue_topic(a.unit_code), a, tid) for a in assignments)
                to_mark.append(tid)
            await publisher.publish_all(outgoing)
            await store.mark_published(ticket_ids=to_mark)
