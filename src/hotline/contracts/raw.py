"""Inbound records from the hotline platform: raw tickets and callback survey results."""

from enum import StrEnum

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract
from hotline.contracts.text import Text


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


class RequestType(StrEnum):
    """Kinds of request the hotline distinguishes."""

    CONSULTATION = "consultation"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议
    PRAISE = "praise"  # 表扬、感谢


class Caller(Contract):
    """Who called. Personal data: reaches the handling unit only, masked everywhere else."""

    phone: Text | None = Field(default=None, max_length=32, description="Caller's phone number.")
    name: Text | None = Field(default=None, max_length=64, description="Caller's name.")


class CollectedBy(Contract):
    """The unit and staff member who collected a complaint in person (proactive governance)."""

    unit_code: Text = Field(description="Collecting unit's code.")
    staff_id: Text = Field(description="Collecting staff member's id (not a name).")


class RawRecord(Contract):
    """A request as the hotline platform publishes it on `hotline.raw`. No text field may hold a
    character XML 1.0 forbids (control characters other than tab, LF and CR; U+FFFE, U+FFFF)."""

    channel: Channel = Field(description="Channel the request arrived on.")
    source_id: Text = Field(min_length=1, max_length=128, description="Id in the source channel.")
    received_at: AwareDatetime = Field(description="When the hotline received it (ISO 8601, zone).")
    content: Text = Field(min_length=1, max_length=20000, description="What the citizen said.")
    address: Text = Field(default="", max_length=500, description="Address text as given.")
    caller: Caller = Field(default_factory=Caller, description="The caller (personal data).")
    community: Text | None = Field(
        default=None, max_length=200, description="Community (社区) or building, if given."
    )
    district: Text | None = Field(default=None, description="District name or code, if known.")
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude (WGS84).")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude (WGS84).")
    category_hint: Text | None = Field(
        default=None, max_length=100, description="Category code or name suggested by the agent."
    )
    request_type: RequestType | None = Field(
        default=None, description="Kind of request, when the agent or channel says it."
    )
    anonymous: bool = Field(default=False, description="The caller asked not to be identified.")
    answered_directly: bool = Field(
        default=False,
        description="A consultation the hotline answered itself: counted, never dispatched.",
    )
    collected_by: CollectedBy | None = Field(
        default=None, description="Set when town staff collected the complaint themselves."
    )


class Satisfaction(StrEnum):
    """The citizen's answer in the callback survey."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"


class CallbackResult(Contract):
    """A callback survey result published on `hotline.callbacks`: the citizen was reached and
    answered, so it is a valid callback (有效回访) of the rates; an unreachable citizen gives none."""

    ticket_id: str = Field(description="The ticket the citizen was called back about.")
    resolved: bool = Field(description="Whether the citizen says the matter was solved.")
    satisfaction: Satisfaction = Field(description="The citizen's satisfaction.")
    surveyed_at: AwareDatetime = Field(description="When the survey was made.")
    contacted: bool | None = Field(
        default=None,
        description="The citizen's answer to \"did the unit contact you\" (是否联系): the callback response "
                    "rate's numerator (Beijing's definition). Null when the survey did not ask (records "
                    "older than the question, histories replayed without it).")
