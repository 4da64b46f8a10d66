"""Inbound records from the hotline platform: raw tickets and callback survey results."""

from enum import StrEnum

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract


class Channel(StrEnum):
    """Where a request came from."""

    PHONE = "phone"
    WEB = "web"
    APP = "app"
    WECHAT = "wechat"
    WEIBO = "weibo"
    ENTERPRISE = "enterprise"
    LEADER_BOARD = "leader_board"
    COLLECTED = "collected"
    OPEN311 = "open311"


class Caller(Contract):
    """Who called. Personal data: reaches the handling unit only, masked everywhere else."""

    phone: str | None = Field(default=None, max_length=32, description="Caller's phone number.")
    name: str | None = Field(default=None, max_length=64, description="Caller's name.")


class CollectedBy(Contract):
    """The unit and staff member who collected a complaint in person (proactive governance)."""

    unit_code: str = Field(description="Collecting unit's code.")
    staff_id: str = Field(description="Collecting staff member's id (not a name).")


class RawRecord(Contract):
    """A request as the hotline platform publishes it on `hotline.raw`."""

    channel: Channel = Field(description="Channel the request arrived on.")
    source_id: str = Field(min_length=1, max_length=128, description="Id in the source channel.")
    received_at: AwareDatetime = Field(description="When the hotline received it (ISO 8601, zone).")
    content: str = Field(min_length=1, max_length=20000, description="What the citizen said.")
    address: str = Field(default="", max_length=500, description="Address text as given.")
    caller: Caller = Field(default_factory=Caller, description="The caller (personal data).")
    district: str | None = Field(default=None, description="District name or code, if known.")
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude (WGS84).")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude (WGS84).")
    category_hint: str | None = Field(default=None, description="Category suggested by the agent.")
    collected_by: CollectedBy | None = Field(
        default=None, description="Set when town staff collected the complaint themselves."
    )


class Satisfaction(StrEnum):
    """The citizen's answer in the callback survey."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


class CallbackResult(Contract):
    """A callback survey result published on `hotline.callbacks`."""

    ticket_id: str = Field(description="The ticket the citizen was called back about.")
    resolved: bool = Field(description="Whether the citizen says the matter was solved.")
    satisfaction: Satisfaction = Field(description="The citizen's satisfaction.")
    surveyed_at: AwareDatetime = Field(description="When the survey was made.")
