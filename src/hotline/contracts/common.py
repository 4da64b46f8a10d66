"""Base types shared by every event: deterministic ids, schema versions, aware times."""

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
_EVENT_NAMESPACE = uuid.UUID("5b0c4d0e-12a3-4b45-9e12-345678901234")


# Every time on the wire lies in [WIRE_TIME_FLOOR, now + WIRE_TIME_HORIZON], checked by the
# contract itself so that every service refuses the same records at parse time (a dead letter),
# instead of one failing later: `0001-01-01T00:00:00+14:00` is year 0 in UTC, which BSON cannot
# encode, and it once stalled three consumers for good. The floor predates every city and every
# shipped history (the oldest replayed record, Chicago's, is from 2014; NYC 311 opened in 2003);
# 1970 or year 1 is a client's mistake. The horizon is not a clock skew: deadlines lie ahead of
# now, and a simulated business clock may run a day or two ahead of the wall clock. Observed
# times are held closer where they enter (intake: `received_at` at most minutes ahead).
WIRE_TIME_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)
WIRE_TIME_HORIZON = timedelta(days=366)


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a time zone (ISO 8601 with offset)")
    try:
        instant = value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise ValueError("is out of the range of times this system accepts") from exc
    if instant < WIRE_TIME_FLOOR:
        raise ValueError(f"is before {WIRE_TIME_FLOOR:%Y-%m-%d} (UTC), earlier than any ticket can be")
    if instant > datetime.now(UTC) + WIRE_TIME_HORIZON:
        raise ValueError(f"is in the future (more than {WIRE_TIME_HORIZON.days} days ahead of now)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_require_timezone)]


def _known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)") from exc
    return value


IanaTimeZone = Annotated[str, AfterValidator(_known_time_zone)]


def deterministic_event_id(event_type: str, *parts: str) -> str:
    """The same event type and parts always give the same id, so redelivery is recognisable."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, "|".join((event_type, *parts))))


def ticket_id_for(channel: str, source_id: str) -> str:
    """A ticket's id derives from its channel and source id: a resend maps to the same ticket."""
    digest = hashlib.sha256(f"{channel}\x1f{source_id}".encode()).hexdigest()
    return f"TK{digest[:16].upper()}"


_PHONE_DIGITS = re.compile(r"\d")


@overload
def mask_phone(phone: str) -> str: ...
@overload
def mask_phone(phone: None) -> None: ...
@overload
def mask_phone(phone: str | None) -> str | None: ...


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number as 138****1234: enough for staff to recognise, useless to leak."""
    if not phone:
        return phone
    digits = "".join(_PHONE_DIGITS.findall(phone))
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


class Contract(BaseModel):
    """Base of every message on a topic: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(Contract):
    """Fields every event carries."""

    event_id: str = Field(description="Deterministic id: the same fact always has the same id.")
    # The newest schema version of the event this code reads; a subclass raises it with its schema.
    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = Field(default=1, description="Version of this event's schema.")
    ticket_id: str = Field(description="The ticket this event is about; the Kafka key.")
    occurred_at: AwareDatetime = Field(description="Business time of the fact, with time zone.")

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        # A version from a newer producer may mean what this consumer cannot tell: dead-letter it
        # rather than read it as the old one.
        if not 1 <= value <= cls.SCHEMA_VERSION:
            raise ValueError(f"unknown schema version {value} (this consumer reads 1 to {cls.SCHEMA_VERSION})")
        return value
