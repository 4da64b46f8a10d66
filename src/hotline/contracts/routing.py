"""Routing commands (returns, whistle summons) and the events routing answers them with.

Commands travel on `routing.commands`, keyed by ticket id; routing's answers on `tickets.routing`.
A re-dispatch is a new `TicketDispatched` (next `attempt`) on `tickets.dispatched`.
"""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract, Event


class ReturnReason(StrEnum):
    """Why a unit returns a ticket (退单)."""

    NOT_OUR_JURISDICTION = "not_our_jurisdiction"
    WRONG_ADDRESS = "wrong_address"
    BELONGS_TO_UNIT = "belongs_to_unit"


class ReturnTicket(Contract):
    """Command: the lead unit hands a ticket back within the return window."""

    command: Literal["return_ticket"] = Field(default="return_ticket", description="What is asked.")
    command_id: str = Field(min_length=1, max_length=128, description="Client's id; a retry reuses it.")
    ticket_id: str = Field(min_length=1, description="The ticket returned.")
    unit_code: str = Field(min_length=1, description="The unit returning it.")
    reason_code: ReturnReason = Field(description="Why it is returned.")
    suggested_unit: str | None = Field(default=None, description="The unit it belongs to, if known.")
    note: str = Field(default="", max_length=2000, description="Explanation for the hotline centre.")
    returned_at: AwareDatetime = Field(description="When it was returned.")


class SummonDepartments(Contract):
    """Command: a street or town blows the whistle (吹哨) and summons departments to a ticket."""

    command: Literal["summon_departments"] = Field(default="summon_departments", description="What is asked.")
    command_id: str = Field(min_length=1, max_length=128, description="Client's id; a retry reuses it.")
    ticket_id: str = Field(min_length=1, description="The ticket the departments are summoned to.")
    unit_code: str = Field(min_length=1, description="The street or town that blows the whistle.")
    departments: list[str] = Field(min_length=1, max_length=20, description="Units summoned.")
    note: str = Field(default="", max_length=2000, description="What is needed on site.")
    summoned_at: AwareDatetime = Field(description="When the whistle was blown.")


RoutingCommand = Annotated[ReturnTicket | SummonDepartments, Field(discriminator="command")]


class TicketReturned(Event):
    """A unit returned a ticket; routing re-dispatches or escalates it."""

    unit_code: str = Field(description="The unit that returned it.")
    attempt: int = Field(description="The dispatch attempt that was returned.")
    reason_code: ReturnReason = Field(description="Why.")
    suggested_unit: str | None = Field(default=None, description="Suggested owner.")
    note: str = Field(default="", description="The unit's explanation.")
    returns: int = Field(description="Returns so far that count toward escalation (a triage desk's hand-off does not).")


class TicketEscalated(Event):
    """After the second return the district's coordination centre owns the ticket (督办)."""

    district_code: str | None = Field(description="The district, when known.")
    to_unit_code: str = Field(description="The coordinator's queue code (district or triage).")
    returns: int = Field(description="Returns that led here.")


class DepartmentsSummoned(Event):
    """A street or town summoned departments; each must report on site by the deadline."""

    unit_code: str = Field(description="The street or town that blew the whistle.")
    departments: list[str] = Field(description="Units summoned.")
    note: str = Field(default="", description="What is needed on site.")
    report_on_site_due_at: AwareDatetime = Field(description="Summoned time + 30 minutes.")


class CommandRefused(Event):
    """A command that routing refused, with a code and the reason; nothing changed."""

    command: str = Field(description="return_ticket or summon_departments.")
    command_id: str = Field(description="The refused command's id.")
    unit_code: str = Field(description="The unit that sent it.")
    code: str = Field(
        description="unknown_ticket, window_passed, co_handler, not_holder, escalated, "
        "unknown_unit, not_street_town or key_reused (the command_id was already used on this "
        "ticket for a different command)."
    )
    reason: str = Field(description="Why, in words.")


# --- The centre's desk (issue #28): the events routing answers the centre's commands with. Added
# here by followup-desk, exactly as SPEC28 section 1 gives them, so followup can read them before the
# routing-desk branch (which owns these contracts) is merged.


class CentreDispatchReason(StrEnum):
    """Why the hotline centre dispatches a ticket itself."""

    TRIAGE_SORTED = "triage_sorted"  # 分拨: a triage or district-fallback ticket sent on
    WRONG_UNIT = "wrong_unit"  # 改派: moved to another unit
    SUPERVISION = "supervision"  # 督办


class ReturnRequested(Event):
    """A unit's return waiting for the centre's review (with `ROUTING_RETURN_REVIEW`)."""

    unit_code: str = Field(description="The unit returning the ticket.")
    attempt: int = Field(description="The dispatch attempt being returned.")
    reason_code: ReturnReason = Field(description="Why.")
    suggested_unit: str | None = Field(default=None, description="Suggested owner.")
    note: str = Field(default="", description="The unit's explanation.")
    command_id: str = Field(description="The return command's id.")


class ReturnReviewed(Event):
    """The centre approved (the return is carried out) or rejected (the ticket stays) a waiting return."""

    unit_code: str = Field(description="The returning unit.")
    attempt: int = Field(description="The attempt whose return was reviewed.")
    approved: bool = Field(description="Whether the return is carried out.")
    note: str = Field(default="", description="The centre's reasoning.")
    reviewed_by: str = Field(description="Who reviewed it (the sender).")


class TicketRedispatched(Event):
    """The centre dispatched a ticket to another unit (分拨 / 改派 / 督办): a new attempt."""

    from_unit_code: str = Field(description="The holder before.")
    unit_code: str = Field(description="The new lead unit.")
    co_handlers: list[str] = Field(default_factory=list, description="The new co-handlers.")
    reason_code: CentreDispatchReason = Field(description="Why the centre dispatched it.")
    note: str = Field(default="", description="The centre's note.")
    attempt: int = Field(description="The new attempt.")
    dispatched_by: str = Field(description="Who dispatched it (the sender).")


class CategoryCorrected(Event):
    """The centre corrected a ticket's category (and urgency class); re-dispatched when the unit changes."""

    from_category: str | None = Field(description="The category before.")
    category: str = Field(description="The corrected category.")
    from_urgency: str | None = Field(description="The urgency class before.")
    urgency: str | None = Field(description="The urgency class after.")
    note: str = Field(default="", description="The centre's note.")
    redispatched: bool = Field(description="Whether the correction gave another unit (a new attempt).")
    attempt: int = Field(description="The attempt current after the correction.")
    corrected_by: str = Field(description="Who corrected it (the sender).")
