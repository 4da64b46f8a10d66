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
    return_review: bool = Field(
        default=False, validation_alias=AliasChoices("ROUTING_RETURN_REVIEW", "return_review"),
        description="A unit's return waits for the hotline centre's approval (退单审核) before routing re-dispatches.",
    )
