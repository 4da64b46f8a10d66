"""Routing's pure domain: who owns a ticket, and the events that say so."""

from dataclasses import dataclass
from enum import StrEnum

from hotline.contracts import (
    QueueAssignment,
    TicketDispatched,
    TicketReceived,
    deterministic_event_id,
    mask_phone,
)
from hotline.contracts.topics import TRIAGE_QUEUE_CODE
from hotline.gazetteer import Gazetteer


class DispatchReason(StrEnum):
    """Why a unit got the ticket."""

    STREET_TOWN = "street_town"  # 属地: the street or town where the problem is
    DISTRICT_FALLBACK = "district_fallback"  # 兜底: no unit identified, the district owns it
    TRIAGE = "triage"  # not even a district: the hotline centre sorts it out


@dataclass(frozen=True)
class Dispatch:
    """The owning unit of a ticket."""

    unit_code: str
    unit_name: str
    district_code: str | None
    reason: DispatchReason


def decide(ticket: TicketReceived, gazetteer: Gazetteer) -> Dispatch:
    """The unit of the ticket's street or town, else its district's fallback, else triage."""
    unit = gazetteer.units.get(ticket.location.unit_code or "")
    if unit:
        return Dispatch(unit.code, unit.name, unit.district_code, DispatchReason.STREET_TOWN)
    district = gazetteer.districts.get(ticket.location.district_code or "")
    if district:
        return Dispatch(
            district.code, f"{district.name}接诉即办指挥中心", district.code,
            DispatchReason.DISTRICT_FALLBACK,
        )
    return Dispatch(TRIAGE_QUEUE_CODE, "12345热线分拨", None, DispatchReason.TRIAGE)


def dispatch_events(
    ticket: TicketReceived, dispatch: Dispatch
) -> tuple[TicketDispatched, QueueAssignment]:
    """The dispatch event and the copy for the unit's queue.

    Routing is automatic, so the dispatch's business time is the ticket's receipt time:
    replaying the log gives the same times.
    """
    dispatched_at = ticket.received_at
    dispatched = TicketDispatched(
        event_id=deterministic_event_id("TicketDispatched", ticket.ticket_id, dispatch.unit_code),
        ticket_id=ticket.ticket_id,
        occurred_at=dispatched_at,
        unit_code=dispatch.unit_code,
        unit_name=dispatch.unit_name,
        district_code=dispatch.district_code,
        reason=dispatch.reason.value,
        dispatched_at=dispatched_at,
    )
    assignment = QueueAssignment(
        event_id=deterministic_event_id("QueueAssignment", ticket.ticket_id, dispatch.unit_code),
        ticket_id=ticket.ticket_id,
        occurred_at=dispatched_at,
        unit_code=dispatch.unit_code,
        content=ticket.content,
        address=ticket.location.address,
        caller_phone=ticket.caller.phone,
        caller_phone_masked=mask_phone(ticket.caller.phone),
        received_at=ticket.received_at,
        dispatched_at=dispatched_at,
    )
    return dispatched, assignment
