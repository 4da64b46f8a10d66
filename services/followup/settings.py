"""Followup's settings."""

from pydantic import AliasChoices, Field

from hotline.runtime.settings import ServiceSettings


class FollowupSettings(ServiceSettings):
    """Followup: what units do for each ticket."""

    http_port: int = Field(
        default=8003, validation_alias=AliasChoices("FOLLOWUP_HTTP_PORT", "http_port")
    )
    reopen_report_back_hours: int = Field(
        default=72, description="After a reopen, the unit reports back within this many hours."
    )
    due_soon_hours: int = Field(default=24, description="`due_soon` lists deadlines within this many hours.")
    clock_skew_s: int = Field(
        default=120, description="How far ahead of the server's clock a contact time may be."
    )
