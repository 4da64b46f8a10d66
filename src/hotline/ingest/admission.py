"""The admission rule: a raw record's bytes become a TicketReceived event, or a Rejection saying why not.

Pure. Intake applies it to every record it takes in (`hotline.intake.app`); the bulk import checks
a file's rows with `parse_record`, and the replay plans a history with `normalize`, so what they
accept, and the deadline a ticket gets, is what intake would give.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from hotline.business_calendar import BusinessCalendar
from hotline.contracts import Location, RawRecord, TicketReceived, deterministic_event_id, ticket_id_for
from hotline.deadlines import DeadlinePolicy, report_back_due
from hotline.gazetteer import Gazetteer
from hotline.ingest.classify import Classification, Classifier, classify_all, needs_triage, shipped_classifier
from hotline.taxonomy import Taxonomy, default_taxonomy


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
    repeat_window: timedelta = timedelta(days=30)
    # The category classifier; None: the one shipped in the package (loaded on first use).
    classifier: Classifier | None = None
    # Categories and the city's urgency classes (`City.taxonomy`); None: the shipped, Beijing's.
    taxonomy: Taxonomy | None = None
    # The deadline policy and working-day calendar the report-back answer comes from (the city's,
    # as routing's dispatch uses); None: the shipped ones.
    deadlines: DeadlinePolicy | None = None
    calendar: BusinessCalendar | None = None


def normalize(
    payload: bytes,
    *,
    now: datetime,
    gazetteer: Gazetteer,
    policy: IntakePolicy = IntakePolicy(),
    taxonomy: Taxonomy | None = None,
) -> TicketReceived | Rejection:
    """Turn a raw record into a ticket, or say why not. Never raises."""
    outcome = admit(payload, now=now, gazetteer=gazetteer, policy=policy, taxonomy=taxonomy)
    return outcome if isinstance(outcome, Rejection) else outcome[0]


def admit(
    payload: bytes,
    *,
    now: datetime,
    gazetteer: Gazetteer,
    policy: IntakePolicy = IntakePolicy(),
    taxonomy: Taxonomy | None = None,
) -> tuple[TicketReceived, str] | Rejection:
    """`normalize`, with the record's fingerprint: tells an honest resend from a reused source id."""
    return admit_all([payload], now=now, gazetteer=gazetteer, policy=policy, taxonomy=taxonomy)[0]


def admit_all(
    payloads: list[bytes],
    *,
    now: datetime,
    gazetteer: Gazetteer,
    policy: IntakePolicy = IntakePolicy(),
    taxonomy: Taxonomy | None = None,
) -> list[tuple[TicketReceived, str] | Rejection]:
    """`admit` for each payload, in order; the classifier reads the batch's messages at once."""
    taxonomy = taxonomy or policy.taxonomy or default_taxonomy()
    records = [parse_record(p, now=now, policy=policy) for p in payloads]
    valid = [r for r in records if not isinstance(r, Rejection)]
    classified = iter(classify_all([(r.content.strip(), r.category_hint) for r in valid],
                                   policy.classifier or shipped_classifier(), taxonomy) if valid else [])
    outcomes: list[tuple[TicketReceived, str] | Rejection] = []
    for r in records:
        if isinstance(r, Rejection):
            outcomes.append(r)
        else:
            outcomes.append((_ticket_from(r, gazetteer, taxonomy, next(classified), policy), fingerprint(r)))
    return outcomes


def fingerprint(record: RawRecord) -> str:
    """sha256 of the parsed record in a canonical form: key order, spacing, escapes, defaults
    written out or left implicit and the received time's zone do not change it."""
    # pydantic's JSON writes the fields in the model's order, whatever the order they came in.
    canonical = record.model_dump_json(exclude={"received_at"}).encode()
    moment = record.received_at.astimezone(UTC).isoformat().encode()
    return hashlib.sha256(canonical + b"\x1f" + moment).hexdigest()


def parse_record(payload: bytes, *, now: datetime, policy: IntakePolicy = IntakePolicy()) -> RawRecord | Rejection:
    """The raw record in `payload`, or why it is not one. Never raises."""
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
    return record


def _ticket_from(record: RawRecord, gazetteer: Gazetteer, taxonomy: Taxonomy,
                 classified: Classification, policy: IntakePolicy) -> TicketReceived:
    # The community sharpens the place: "云景台小区" alone says nothing of the town.
    place = gazetteer.resolve(f"{record.address} {record.community or ''}", record.district)
    ticket_id = ticket_id_for(record.channel, record.source_id)
    content = record.content.strip()
    category = classified.category
    urgency = taxonomy.urgency(content, category)
    return TicketReceived(
        event_id=deterministic_event_id("TicketReceived", ticket_id),
        ticket_id=ticket_id,
        occurred_at=record.received_at,
        channel=record.channel,
        source_id=record.source_id,
        received_at=record.received_at,
        content=content,
        caller=record.caller,
        location=Location(
            address=record.address,
            community=record.community,
            district_code=place.district_code,
            unit_code=place.unit_code,
            lat=record.lat,
            lon=record.lon,
            ambiguous=place.ambiguous,
        ),
        category_hint=record.category_hint,
        collected_by=record.collected_by,
        request_type=taxonomy.request_type(content, record.request_type),
        category=category,
        urgency=urgency.code,
        # The answer at receipt, by the rule the first dispatch's clock follows (deadlines.yaml).
        report_back_due_at=report_back_due(urgency.code, record.received_at, policy=policy.deadlines,
                                           calendar=policy.calendar),
        taxonomy_version=taxonomy.version,
        anonymous=record.anonymous,
        answered_directly=record.answered_directly,
        first_level=classified.first_level,
        classified_by=classified.classified_by,
        confidence=classified.confidence,
        model_version=classified.model_version,
        candidates=list(classified.candidates),
        needs_triage=needs_triage(classified, urgency=urgency.code, answered_directly=record.answered_directly),
    )
