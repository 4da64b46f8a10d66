"""Followup's settings."""

import os
import socket
import uuid
from typing import Literal

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
    routing_url: str = Field(
        default="http://127.0.0.1:8002",
        validation_alias=AliasChoices("FOLLOWUP_ROUTING_URL", "routing_url"),
        description="Where the workbench's page (served here) calls routing; routing's CORS origins must "
        "name this service's address (`HOTLINE_CORS_ORIGINS`).",
    )
    due_soon_hours: int = Field(default=24, description="`due_soon` lists deadlines within this many hours.")
    clock_skew_s: int = Field(
        default=120, description="How far ahead of the server's clock a contact time may be."
    )
    business_clock: Literal["wall", "log"] = Field(
        default="wall",
        validation_alias=AliasChoices("HOTLINE_BUSINESS_CLOCK", "business_clock"),
        description="Deadlines fire on the wall clock (production) or on the business time carried "
        "by `hotline.clock` ticks (simulation and replay).",
    )
    command_dispatch_wait_s: float = Field(
        default=5.0, ge=0,
        description="A `followup.commands` command for a ticket not yet stored as dispatched waits up to this "
        "long for the dispatch before it is refused (404): under load it can overtake the dispatch. HTTP "
        "calls are answered at once.",
    )
    scheduler_interval_s: float = Field(default=1.0, gt=0, description="How often the scheduler looks for due marks.")
    claim_timeout_s: float = Field(
        default=30.0, gt=0,
        description="A claimed deadline mark not confirmed sent within this time is fired by another scheduler.",
    )
    instance_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        description="Names this followup instance in its deadline claims.",
    )
