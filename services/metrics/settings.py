"""Metrics' settings."""

from pydantic import AliasChoices, Field

from hotline.runtime.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    """Metrics: live per-unit projections."""

    http_port: int = Field(
        default=8004, validation_alias=AliasChoices("METRICS_HTTP_PORT", "http_port")
    )
