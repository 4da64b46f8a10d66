"""Routing's pure domain: who handles a ticket by the dispatch catalogue, and the events that say so."""

from dataclasses import dataclass
from enum import StrEnum

from hotline.catalogue import Catalogue, Target
from hotline.contracts import (
    Assignee,
    QueueAssignment,
    TicketDispatched,
    TicketReceived,
    deterministic_event_id,
    mask_phone,
)
from hotline.contracts.topics import TRIAGE_QUEUE_CODE
from hotline.gazetteer import Gazetteer, UnitKind


class DispatchReason(StrEnum):
    """Why the lead unit got the ticket."""

    STREET_TOWN = "street_town"  # 属地: the street or town where the problem is
    DEPARTMENT = "department"  # a municipal department, by the catalogue
    ENTERPRISE = "enterprise"  # a public-service enterprise, by the catalogue
    DISTRICT_FALLBACK = "district_fallback"  # 兜底: no street or town known, the district owns it
    TRIAGE = "triage"  # not even a district: the hotline centre sorts it out


@dataclass(frozen=True)
class Dispatch:
    """The lead unit, the co-handlers, and the catalogue line behind them."""

    lead: Assignee
    co_handlers: tuple[Assignee, ...]
    district_code: str | None
    reason: DispatchReason
    rule_id: str | None
    catalogue_version: str | None


def _street_town(ticket: TicketReceived, gazetteer: Gazetteer) -> Assignee | None:
    unit = gazetteer.units.get(ticket.location.unit_code or "")
    if unit is None:
        return None
    return Assignee(unit_code=unit.code, unit_name=unit.name, unit_kind=unit.kind.value)


def fallback_owner(district_code: str | None, gazetteer: Gazetteer) -> Assignee:
    """The district's coordination centre (兜底) when the district is known, else triage."""
    district = gazetteer.districts.get(district_code or "")
    if district is not None:
        return Assignee(unit_code=district.code, unit_name=f"{district.name}接诉即办指挥中心",
                        unit_kind=UnitKind.DISTRICT_FALLBACK.value)
    return Assignee(unit_code=TRIAGE_QUEUE_CODE, unit_name="12345热线分拨", unit_kind="triage")


def _resolve(target: Target, street: Assignee | None, catalogue: Catalogue) -> Assignee | None:
    """The unit a catalogue target names for this ticket; None for a street that is unknown."""
    if target.is_street_town:
        if street is None:
            return None
        return street.model_copy(update={
            "office": target.office, "office_name": catalogue.offices.get(target.office or ""),
        })
    unit = catalogue.units_by_code[target.unit]  # type: ignore[index]
    return Assignee(unit_code=unit.code, unit_name=unit.zh, unit_kind=unit.kind)


def decide(
    ticket: TicketReceived,
    gazetteer: Gazetteer,
    catalogue: Catalogue,
    *,
    skip: frozenset[str] = frozenset(),
) -> Dispatch:
    """Apply the first catalogue rule that fits; fall back to the district, then to triage.

    `skip` holds units that returned the ticket: a rule led by one of them is passed over.
    """
    street = _street_town(ticket, gazetteer)
    district_code = ticket.location.district_code or (street.unit_code[:6] if street else None)
    rule = catalogue.first_rule(
        category=ticket.category, district_code=district_code,
        unit_code=street.unit_code if street else None, content=ticket.content, skip=skip,
    )
    lead = _resolve(rule.lead, street, catalogue)
    if lead is None or lead.unit_code in skip:
        owner = fallback_owner(district_code, gazetteer)
        reason = DispatchReason.TRIAGE if owner.unit_code == TRIAGE_QUEUE_CODE else DispatchReason.DISTRICT_FALLBACK
        return Dispatch(owner, (), district_code, reason, rule.id, catalogue.version)
    co = tuple(
        a for a in (_resolve(t, street, catalogue) for t in rule.co)
        if a is not None and a.unit_code != lead.unit_code
    )
    reason = {"department": DispatchReason.DEPARTMENT, "enterprise": DispatchReason.ENTERPRISE}.get(
        lead.unit_kind, DispatchReason.STREET_TOWN
    )
    return Dispatch(lead, co, district_code, reason, rule.id, catalogue.version)


def dispatch_events(
    ticket: TicketReceived, dispatch: Dispatch, *, attempt: int = 1
) -> tuple[TicketDispatched, list[QueueAssignment]]:
    """The dispatch event and one copy for each assigned unit's queue.

    Automatic dispatch happens as the ticket arrives, so its business time is the ticket's
    receipt time: replaying the log gives the same times.
    """
    dispatched_at = ticket.received_at
    lead = dispatch.lead
    dispatched = TicketDispatched(
        event_id=deterministic_event_id("TicketDispatched", ticket.ticket_id, str(attempt)),
        ticket_id=ticket.ticket_id,
        occurred_at=dispatched_at,
        unit_code=lead.unit_code,
        unit_name=lead.unit_name,
        unit_kind=lead.unit_kind,
        office=lead.office,
        office_name=lead.office_name,
        district_code=dispatch.district_code,
        reason=dispatch.reason.value,
        dispatched_at=dispatched_at,
        co_handlers=list(dispatch.co_handlers),
        rule_id=dispatch.rule_id,
        catalogue_version=dispatch.catalogue_version,
        attempt=attempt,
        category=ticket.category,
        urgency=ticket.urgency,
        report_back_due_at=ticket.report_back_due_at,
    )
    roles = [(lead, "lead"), *((a, "co_handler") for a in dispatch.co_handlers)]
    # An anonymous caller's number stays with the hotline (for the callback), not the unit.
    phone = None if ticket.anonymous else ticket.caller.phone
    assignments = [
        QueueAssignment(
            event_id=deterministic_event_id("QueueAssignment", ticket.ticket_id, str(attempt), a.unit_code),
            ticket_id=ticket.ticket_id,
            occurred_at=dispatched_at,
            unit_code=a.unit_code,
            role=role,
            office=a.office,
            lead_unit_code=lead.unit_code,
            category=ticket.category,
            urgency=ticket.urgency,
            report_back_due_at=ticket.report_back_due_at,
            attempt=attempt,
            content=ticket.content,
            address=ticket.location.address,
            caller_phone=phone,
            caller_phone_masked=mask_phone(phone),
            received_at=ticket.received_at,
            dispatched_at=dispatched_at,
        )
        for a, role in roles
    ]
    return dispatched, assignments
