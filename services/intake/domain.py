"""Intake's pure domain: a raw record's bytes become a TicketReceived event or a Rejection."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from hotline.contracts import (
    Location,
    RawRecord,
    TicketReceived,
    deterministic_event_id,
    ticket_id_for,
)
from hotline.gazetteer import Gazetteer


@dataclass(frozen=True)
class Rejection:
    """Why a record cannot become a ticket; it goes to the dead-letter topic."""

    reason: str
    field: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class IntakePolicy:
    """Limits on what intake accepts."""

    max_record_bytes: int = 64 * 1024
    future_tolerance: timedelta = timedelta(minutes=10)


def normalize(
    payload: bytes, *, now: datetime, gazetteer: Gazetteer, policy: IntakePolicy = IntakePolicy()
) -> TicketReceived | Rejection:
    """Turn a raw record into a ticket, or say why not. Never raises."""
    if len(payload) > policy.max_record_bytes:
        return Rejection(f"record is {len(payload)} bytes, limit {policy.max_record_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(f"not valid UTF-8 at byte {exc.start}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Rejection(f"not JSON: {exc}"[:300])
    if not isinstance(data, dict):
        return Rejection(f"expected a JSON object, got {type(data).__name__}")
    channel = data.get("channel") if isinstance(data.get("channel"), str) else None
    try:
        record = RawRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        return Rejection(first["msg"], field=field, channel=channel)
    if not record.content.strip():
        return Rejection("content is empty", field="content", channel=channel)
    if record.received_at > now + policy.future_tolerance:
        return Rejection("received_at is in the future", field="received_at", channel=channel)
    return _ticket_from(record, gazetteer)


def _ticket_from(record: RawRecord, gazetteer: Gazetteer) -> TicketReceived:
    place = gazetteer.resolve(record.address, record.district)
    ticket_id = ticket_id_for(record.channel, record.source_id)
    return TicketReceived(
        event_id=deterministic_event_id("TicketReceived", ticket_id),
        ticket_id=ticket_id,
        occurred_at=record.received_at,
        channel=record.channel,
        source_id=record.source_id,
        received_at=record.received_at,
        content=record.content.strip(),
        caller=record.caller,
        location=Location(
            address=record.address,
            district_code=place.district_code,
            unit_code=place.unit_code,
            lat=record.lat,
            lon=record.lon,
        ),
        category_hint=record.category_hint,
        collected_by=record.collected_by,
    )
