"""Ticket events: received by intake, dispatched by routing, assignments on unit queues."""

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract, Event
from hotline.contracts.raw import Caller, Channel, CollectedBy, RequestType


class Location(Contract):
    """Where the problem is, resolved against the gazetteer."""

    address: str = Field(default="", description="Address text as given.")
    community: str | None = Field(default=None, description="Community (社区) or building.")
    district_code: str | None = Field(default=None, description="6-digit district code.")
    unit_code: str | None = Field(default=None, description="9-digit street/town code.")
    lat: float | None = Field(default=None, description="Latitude (WGS84).")
    lon: float | None = Field(default=None, description="Longitude (WGS84).")
    ambiguous: bool = Field(
        default=False, description="The place name matched units in several districts."
    )


class ClassifiedBy(StrEnum):
    """What decided a ticket's category."""

    HINT = "hint"  # a category_hint that names a category
    MODEL = "model"  # the trained classifier's first-level class, then keywords within it
    KEYWORDS = "keywords"  # the keyword rules: a category outside the classifier's classes, or text it cannot read


class ClassCandidate(Contract):
    """One of the classifier's best first-level classes for a ticket."""

    first_level: str = Field(description="A first-level class (城乡建设, 教育文体, ...).")
    confidence: float = Field(ge=0, le=1, description="The classifier's probability for it.")
    category: str = Field(description="The category the ticket gets if it is of this class.")


class TicketReceived(Event):
    """Intake turned a raw record into a ticket (topic `tickets.received`).

    Version 2 adds how the category was decided (`first_level` to `needs_triage`); a version-1
    record reads with their defaults."""

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: int = Field(default=2, description="Version of this event's schema (1 or 2).")

    channel: Channel = Field(description="Channel the request arrived on.")
    source_id: str = Field(description="Id in the source channel.")
    received_at: AwareDatetime = Field(description="When the hotline received it.")
    content: str = Field(description="What the citizen said.")
    caller: Caller = Field(description="The caller; personal data for the handling unit only.")
    location: Location = Field(description="Resolved location.")
    category_hint: str | None = Field(default=None, description="Category suggested upstream.")
    collected_by: CollectedBy | None = Field(default=None, description="Collecting unit, if any.")
    request_type: RequestType = Field(
        default=RequestType.COMPLAINT, description="Consultation, help, complaint, report, ..."
    )
    category: str = Field(default="other", description="Category code from the taxonomy.")
    urgency: str = Field(
        default="general", description="Urgency class: emergency, utilities, general, complex."
    )
    report_back_due_at: AwareDatetime | None = Field(
        default=None,
        description="When the citizen must hear back: the deadline policy's report-back period for the "
        "urgency class from receipt, the first dispatch's deadline (data/policies/deadlines.yaml).",
    )
    taxonomy_version: str | None = Field(default=None, description="Taxonomy used to classify.")
    anonymous: bool = Field(default=False, description="The caller asked not to be identified.")
    answered_directly: bool = Field(
        default=False, description="Answered by the hotline itself: counted, not dispatched."
    )
    repeat_of: str | None = Field(
        default=None, description="The caller's earlier ticket on the same place and matter."
    )
    repeat_count: int = Field(
        default=0, ge=0, description="How many earlier tickets within the repeat window."
    )
    first_level: str | None = Field(
        default=None, description="The category's first-level class (category tree; v2)."
    )
    classified_by: ClassifiedBy | None = Field(
        default=None, description="What decided the category: hint, model or keywords (v2)."
    )
    confidence: float | None = Field(
        default=None, ge=0, le=1,
        description="The classifier's probability for `first_level` when the model decided it (v2).",
    )
    model_version: str | None = Field(default=None, description="Classifier asked, if any (v2).")
    candidates: list[ClassCandidate] = Field(
        default_factory=list, description="The classifier's best classes, best first (v2)."
    )
    needs_triage: bool = Field(
        default=False, description="The classifier is unsure: the centre's triage desk sorts it (v2)."
    )


class Assignee(Contract):
    """A unit assigned to a ticket, and the office inside it that handles the matter."""

    unit_code: str = Field(description="Unit code: 9-digit street/town, district, m-*, e-*, triage.")
    unit_name: str = Field(description="The unit's Chinese name.")
    unit_kind: str = Field(
        description="street, area, town, township, special_zone, district_fallback, department, "
        "enterprise or triage."
    )
    office: str | None = Field(default=None, description="Office code inside a street or town.")
    office_name: str | None = Field(default=None, description="The office's Chinese name.")


class DispatchDeadline(Contract):
    """A deadline clock a dispatch started for its lead unit, and when it is due."""

    clock: str = Field(description="response (first contact with the citizen) or report_back.")
    due_at: AwareDatetime = Field(description="When the clock is due; it runs from `dispatched_at`.")


class TicketDispatched(Event):
    """Routing assigned a ticket to its lead unit and co-handlers (topic `tickets.dispatched`).

    The first unit leads and coordinates (首接负责); co-handlers cooperate and cannot return it.
    A re-dispatch after a return is a new event with the next `attempt`.

    Version 2 adds `received`, the ticket as received (phone masked, name dropped), so followup
    starts a ticket's timeline from its dispatch alone (one store write, not one per event); a
    version-1 record reads without it.

    Version 3 adds the deadlines the dispatch started (`response_due_at`, `deadlines`), worked out
    by routing from the shared policy (`hotline.deadlines`), so followup and metrics read them
    instead of working them out again; an older record reads without them.
    """

    SCHEMA_VERSION: ClassVar[int] = 3
    schema_version: int = Field(default=3, description="Version of this event's schema (1 to 3).")

    unit_code: str = Field(description="Code of the lead unit, which owns the ticket.")
    unit_name: str = Field(description="Name of the lead unit.")
    district_code: str | None = Field(default=None, description="District of the lead unit.")
    reason: str = Field(
        description="Why this unit: street_town, department, enterprise, district_fallback, "
        "triage, escalation or centre (the hotline centre dispatched it; `rule_id` centre:<reason>)."
    )
    dispatched_at: AwareDatetime = Field(description="Business time of the dispatch.")
    unit_kind: str | None = Field(default=None, description="Kind of the lead unit.")
    office: str | None = Field(default=None, description="Office of the lead street or town.")
    office_name: str | None = Field(default=None, description="Name of that office.")
    co_handlers: list[Assignee] = Field(default_factory=list, description="Cooperating units.")
    rule_id: str | None = Field(default=None, description="Catalogue rule that matched.")
    catalogue_version: str | None = Field(default=None, description="Catalogue version used.")
    attempt: int = Field(default=1, ge=1, description="1 for the first dispatch, +1 per re-dispatch.")
    category: str | None = Field(default=None, description="The ticket's category.")
    urgency: str | None = Field(default=None, description="The ticket's urgency class.")
    report_back_due_at: AwareDatetime | None = Field(
        default=None,
        description="When the lead unit must report back to the citizen: by the deadline policy from "
        "`dispatched_at` (since issue #27; earlier records carry the ticket's deadline from receipt).",
    )
    received: TicketReceived | None = Field(
        default=None,
        description="The ticket as received, the caller's phone masked and name dropped, for the "
        "ticket's timeline (v2).",
    )
    response_due_at: AwareDatetime | None = Field(
        default=None, description="When the lead unit's first contact with the citizen is due (v3)."
    )
    deadlines: list[DispatchDeadline] = Field(
        default_factory=list,
        description="Every deadline clock this dispatch started for the lead unit: response and report_back (v3).",
    )


class QueueAssignment(Event):
    """A copy of an assignment on the unit's own queue topic `queue.<unit_code>`.

    Version 2 adds the ticket's first-level class and the classifier's candidates, which the
    triage desk sorts a ticket by; a version-1 record reads with their defaults."""

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: int = Field(default=2, description="Version of this event's schema (1 or 2).")

    unit_code: str = Field(description="The unit whose queue this is.")
    role: str = Field(default="lead", description="lead, co_handler or summoned.")
    office: str | None = Field(default=None, description="Office that handles it, in a street.")
    lead_unit_code: str | None = Field(default=None, description="The lead unit (for co-handlers).")
    category: str | None = Field(default=None, description="The ticket's category.")
    urgency: str | None = Field(default=None, description="The ticket's urgency class.")
    report_back_due_at: AwareDatetime | None = Field(
        default=None, description="When the citizen must hear back."
    )
    attempt: int = Field(default=1, ge=1, description="Dispatch attempt this assignment belongs to.")
    on_site_due_at: AwareDatetime | None = Field(
        default=None, description="For a summoned department: report on site by then (30 min)."
    )
    content: str = Field(description="What the citizen said.")
    address: str = Field(description="Address text.")
    caller_phone: str | None = Field(default=None, description="Caller's phone, for this unit only.")
    caller_phone_masked: str | None = Field(default=None, description="Masked phone for display.")
    received_at: AwareDatetime = Field(description="When the hotline received it.")
    dispatched_at: AwareDatetime = Field(description="When it was dispatched.")
    first_level: str | None = Field(default=None, description="The category's first-level class (v2).")
    confidence: float | None = Field(
        default=None, ge=0, le=1, description="The classifier's probability for it, if the model decided (v2)."
    )
    candidates: list[ClassCandidate] = Field(
        default_factory=list, description="The classifier's best classes, best first (v2)."
    )
