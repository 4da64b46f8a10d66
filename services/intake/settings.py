"""Intake's settings."""

from pydantic import AliasChoices, Field

from hotline.runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Intake: raw records in, tickets out."""

    http_port: int = Field(
        default=8001, validation_alias=AliasChoices("INTAKE_HTTP_PORT", "http_port")
    )
    max_record_bytes: int = Field(default=64 * 1024, description="Larger records are rejected.")
    future_tolerance_s: int = Field(
        default=600, description="A received time further ahead than this is rejected."
    )
    repeat_window_days: int = Field(
        default=30, description="A caller's earlier ticket on the same place and matter within "
        "this many days makes a new one a repeat."
    )
    repeat_salt: str = Field(
        default="hotline-local",
        validation_alias="INTAKE_REPEAT_SALT",
        description="Secret mixed into the hashed repeat keys; set it in production.",
    )
