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
