"""Routing commands (returns, whistle summons, and the centre's dispatch, return review and
category correction) and the events routing answers them with.

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


class CentreDispatchReason(StrEnum):
    """Why the hotline centre sends a ticket to a unit itself."""

    TRIAGE_SORTED = "triage_sorted"  # 分拨: the triage desk sorted it out
    WRONG_UNIT = "wrong_unit"  # 改派: the unit that holds it is the wrong one
    SUPERVISION = "supervision"  # 督办: the centre moves it under supervision


class DispatchTicket(Contract):
    """Command: the hotline centre dispatches (派单) or re-dispatches (改派) a ticket to a unit."""

    command: Literal["dispatch_ticket"] = Field(default="dispatch_ticket", description="What is asked.")
    command_id: str = Field(min_length=1, max_length=128, description="Client's id; a retry reuses it.")
    ticket_id: str = Field(min_length=1, description="The ticket dispatched.")
    unit_code: str = Field(min_length=1, description="The sender (over HTTP always `centre`).")
    lead_unit: str = Field(min_length=1, description="The unit that is to lead it.")
    co_handlers: list[str] = Field(default_factory=list, max_length=10, description="Cooperating units.")
    reason_code: CentreDispatchReason = Field(description="Why the centre dispatches it.")
    note: str = Field(default="", max_length=2000, description="The centre's explanation for the unit.")
    dispatched_at: AwareDatetime = Field(description="When it was dispatched.")


class ReviewReturn(Contract):
    """Command: the hotline centre approves or rejects a unit's return waiting for review (退单审核)."""

    command: Literal["review_return"] = Field(default="review_return", description="What is asked.")
    command_id: str = Field(min_length=1, max_length=128, description="Client's id; a retry reuses it.")
    ticket_id: str = Field(min_length=1, description="The ticket whose return is reviewed.")
    unit_code: str = Field(min_length=1, description="The sender (over HTTP always `centre`).")
    approved: bool = Field(description="True: the return is carried out; false: the unit keeps the ticket.")
    note: str = Field(default="", max_length=2000, description="The centre's reasoning.")
    reviewed_at: AwareDatetime = Field(description="When it was reviewed.")


class CorrectCategory(Contract):
    """Command: the hotline centre corrects a ticket's category or urgency class."""

    command: Literal["correct_category"] = Field(default="correct_category", description="What is asked.")
    command_id: str = Field(min_length=1, max_length=128, description="Client's id; a retry reuses it.")
    ticket_id: str = Field(min_length=1, description="The ticket corrected.")
    unit_code: str = Field(min_length=1, description="The sender (over HTTP always `centre`).")
    category: str = Field(min_length=1, description="The right category (a taxonomy code).")
    urgency: str | None = Field(default=None, description="The right urgency class code; None: unchanged.")
    note: str = Field(default="", max_length=2000, description="The centre's explanation.")
    corrected_at: AwareDatetime = Field(description="When it was corrected.")


RoutingCommand = Annotated[
    ReturnTicket | SummonDepartments | DispatchTicket | ReviewReturn | CorrectCategory,
    Field(discriminator="command"),
]


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


class ReturnRequested(Event):
    """A unit's return waits for the hotline centre's review (with ROUTING_RETURN_REVIEW on)."""

    unit_code: str = Field(description="The unit returning it.")
    attempt: int = Field(description="The dispatch attempt it returns.")
    reason_code: ReturnReason = Field(description="Why.")
    suggested_unit: str | None = Field(default=None, description="Suggested owner.")
    note: str = Field(default="", description="The unit's explanation.")
    command_id: str = Field(description="The return's command id.")


class ReturnReviewed(Event):
    """The centre reviewed a waiting return. Approved: the return's usual `TicketReturned` (and
    `TicketEscalated`) and re-dispatch follow; rejected: the unit keeps the ticket, its clocks unmoved."""

    unit_code: str = Field(description="The returning unit.")
    attempt: int = Field(description="The dispatch attempt it returned.")
    approved: bool = Field(description="Whether the return is carried out.")
    note: str = Field(default="", description="The centre's reasoning.")
    reviewed_by: str = Field(description="Who reviewed it (the sender).")


class TicketRedispatched(Event):
    """The hotline centre dispatched the ticket to a unit (派单, 改派); a `TicketDispatched` follows."""

    from_unit_code: str = Field(description="The unit that held it.")
    unit_code: str = Field(description="The new lead unit.")
    co_handlers: list[str] = Field(default_factory=list, description="The new cooperating units.")
    reason_code: CentreDispatchReason = Field(description="Why.")
    note: str = Field(default="", description="The centre's explanation.")
    attempt: int = Field(description="The new dispatch attempt.")
    dispatched_by: str = Field(description="Who dispatched it (the sender).")


class CategoryCorrected(Event):
    """The hotline centre corrected the ticket's category or urgency class; routing re-dispatches
    when the catalogue gives another unit (a `TicketDispatched` follows)."""

    from_category: str | None = Field(description="The category before.")
    category: str = Field(description="The category now.")
    from_urgency: str | None = Field(description="The urgency class before.")
    urgency: str | None = Field(description="The urgency class now.")
    note: str = Field(default="", description="The centre's explanation.")
    redispatched: bool = Field(description="Whether the correction sent it to another unit.")
    attempt: int = Field(description="The dispatch attempt current after the correction.")
    corrected_by: str = Field(description="Who corrected it (the sender).")


class CommandRefused(Event):
    """A command that routing refused, with a code and the reason; nothing changed."""

    command: str = Field(description="return_ticket, summon_departments, dispatch_ticket, review_return or "
                         "correct_category.")
    command_id: str = Field(description="The refused command's id.")
    unit_code: str = Field(description="The unit that sent it.")
    code: str = Field(
        description="unknown_ticket, window_passed, co_handler, not_holder, escalated, "
        "unknown_unit, not_street_town, closed, no_pending_return, return_pending, same_holder, "
        "not_a_unit, unknown_category or key_reused (the command_id was already used on this "
        "ticket for a different command)."
    )
    reason: str = Field(description="Why, in words.")
