"""Routing's settings."""

from pydantic import AliasChoices, Field

from hotline.runtime.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    """Routing: tickets in, dispatches and unit queues out."""

    http_port: int = Field(
        default=8002, validation_alias=AliasChoices("ROUTING_HTTP_PORT", "http_port")
    )
    return_window_s: int = Field(
        default=7200, description="How long after dispatch the lead unit may return a ticket."
    )
