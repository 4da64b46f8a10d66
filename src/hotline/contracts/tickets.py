"""Ticket events: received by intake, dispatched by routing, assignments on unit queues."""

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract, Event
from hotline.contracts.raw import Caller, Channel, CollectedBy


class Location(Contract):
    """Where the problem is, resolved against the gazetteer."""

    address: str = Field(default="", description="Address text as given.")
    district_code: str | None = Field(default=None, description="6-digit district code.")
    unit_code: str | None = Field(default=None, description="9-digit street/town code.")
    lat: float | None = Field(default=None, description="Latitude (WGS84).")
    lon: float | None = Field(default=None, description="Longitude (WGS84).")


class TicketReceived(Event):
    """Intake turned a raw record into a ticket (topic `tickets.received`)."""

    channel: Channel = Field(description="Channel the request arrived on.")
    source_id: str = Field(description="Id in the source channel.")
    received_at: AwareDatetime = Field(description="When the hotline received it.")
    content: str = Field(description="What the citizen said.")
    caller: Caller = Field(description="The caller; personal data for the handling unit only.")
    location: Location = Field(description="Resolved location.")
    category_hint: str | None = Field(default=None, description="Category suggested upstream.")
    collected_by: CollectedBy | None = Field(default=None, description="Collecting unit, if any.")


class TicketDispatched(Event):
    """Routing assigned a ticket to its owning unit (topic `tickets.dispatched`)."""

    unit_code: str = Field(description="Code of the unit that owns the ticket.")
    unit_name: str = Field(description="Name of the owning unit.")
    district_code: str | None = Field(default=None, description="District of the owning unit.")
    reason: str = Field(description="Why this unit: street_town, district_fallback or triage.")
    dispatched_at: AwareDatetime = Field(description="Business time of the dispatch.")


class QueueAssignment(Event):
    """A copy of an assignment on the unit's own queue topic `queue.<unit_code>`."""

    unit_code: str = Field(description="The unit whose queue this is.")
    content: str = Field(description="What the citizen said.")
    address: str = Field(description="Address text.")
    caller_phone: str | None = Field(default=None, description="Caller's phone, for this unit only.")
    caller_phone_masked: str | None = Field(default=None, description="Masked phone for display.")
    received_at: AwareDatetime = Field(description="When the hotline received it.")
    dispatched_at: AwareDatetime = Field(description="When it was dispatched.")
