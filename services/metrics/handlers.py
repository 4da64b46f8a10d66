"""Metrics' Kafka handlers and HTTP API."""

import logging
import re

from fastapi import APIRouter, HTTPException
from faststream.kafka.annotations import KafkaMessage

from hotline.contracts import ContactRecorded, TicketDispatched, topics
from hotline.metrics.store import MetricsStore
from hotline.runtime.kafka import Publisher, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

log = logging.getLogger(__name__)


def register(runtime: ServiceRuntime, store: MetricsStore, publisher: Publisher) -> None:
    """Subscribe metrics' handlers on the runtime's broker."""

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_DISPATCHED)
    async def on_tickets_dispatched(body: list[bytes], msg: KafkaMessage) -> None:
        async with retry_later("metrics dispatch batch"):
            events, dead_letters = publisher.parse_all(msg.raw_message, TicketDispatched)
            touched = await store.apply(dispatched=events, contacts=[])
            await store.project(ticket_ids=touched)
            await publisher.publish_all(dead_letters)

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_FOLLOWUP)
    async def on_tickets_followup(body: list[bytes], msg: KafkaMessage) -> None:
        async with retry_later("metrics followup batch"):
            # Only contacts count here so far; followup's other events are for later projections.
            contacts = [r for r in msg.raw_message
                        if dict(r.headers or ()).get("event_type", b"ContactRecorded") == b"ContactRecorded"]
            events, dead_letters = publisher.parse_all(contacts, ContactRecorded)
            touched = await store.apply(dispatched=[], contacts=events)
            await store.project(ticket_ids=touched)
            await publisher.publish_all(dead_letters)


_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def http_router(store: MetricsStore) -> APIRouter:
    """Read side of the projections."""
    router = APIRouter(prefix="/v1", tags=["metrics"])

    @router.get("/units/{unit_code}/months/{period}")
    async def get_unit_month(
        unit_code: str, period: str
    ) -> dict:
        """A unit's figures for one month (YYYY-MM, Asia/Shanghai)."""
        if not _PERIOD.match(period):
            raise HTTPException(422, detail=[{"loc": ["path", "period"], "msg": "expected YYYY-MM"}])
        doc = await store.unit_month(unit_code=unit_code, period=period)
        if doc is None:
            raise HTTPException(
                404, detail=[{"loc": ["path", "unit_code"], "msg": "no figures for this unit and month"}]
            )
        doc.pop("_id", None)
        return doc

    return router
