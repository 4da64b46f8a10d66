"""Who may ask routing for what over HTTP, answered at once (before any command is sent): a unit
acts in its own name on tickets it was assigned; the hotline centre's desk (dispatch, return
review, category correction) is the centre's alone."""

from typing import Any

from hotline.catalogue import Catalogue
from hotline.contracts import QueueAssignment
from hotline.contracts.common import Event
from hotline.contracts.routing import CommandRefused
from hotline.contracts.topics import TRIAGE_QUEUE_CODE
from hotline.domain_errors import Closed, Conflict, Invalid, NotFound, NotYours
from hotline.gazetteer import Gazetteer
from hotline.routing.domain import DispatchHistory, known_unit
from hotline.runtime.idempotency import KEY_REUSED
from hotline.taxonomy import Taxonomy


def unknown_unit(field: str, code: str) -> Invalid:
    """The refusal of a unit code no queue has."""
    return Invalid(field, f"unknown unit code {code!r}", location="body")


def check_unit(field: str, code: str | None, gazetteer: Gazetteer, catalogue: Catalogue, *,
               desk: bool = False) -> None:
    """A unit code, when given, must name a unit with a queue; with `desk`, the centre's triage
    desk's too (it holds tickets and hands them on with a return)."""
    if desk and code == TRIAGE_QUEUE_CODE:
        return
    if code is not None and known_unit(code, gazetteer, catalogue) is None:
        raise unknown_unit(field, code)


def check_departments(departments: list[str], catalogue: Catalogue) -> None:
    """Only departments and enterprises are summoned."""
    for code in departments:
        if code not in catalogue.units_by_code:
            raise unknown_unit("departments", code)


def check_acting_for_itself(unit_code: str, *, caller: str, centre: bool) -> None:
    """A unit acts in its own name only; the centre in any unit's."""
    if caller != unit_code and not centre:
        raise NotYours("unit_code", "a unit acts in its own name only", location="body")


def no_dispatch(ticket_id: str) -> NotFound:
    """The refusal of a request about a ticket routing holds no dispatch for."""
    return NotFound("ticket_id", f"routing holds no dispatch for ticket {ticket_id}", location="path")


def check_assigned(history: DispatchHistory | None, ticket_id: str, unit_code: str) -> DispatchHistory:
    """The history of a ticket routing dispatched to this unit at some time; else a refusal at
    once, not only later by a CommandRefused event: a unit learns of a ticket from its queue,
    which routing writes after storing the dispatch."""
    if history is None:
        raise no_dispatch(ticket_id)
    if unit_code not in history.units:
        raise NotYours("ticket_id", "the ticket was never assigned to this unit", location="path")
    return history


def check_readable(history: DispatchHistory | None, *, caller: str, centre: bool) -> DispatchHistory:
    """A ticket's history, for its units (ever) and the centre."""
    if history is None:
        raise NotFound("ticket_id", "routing has not seen this ticket", location="path")
    if caller not in history.units and not centre:
        raise NotYours("ticket_id", "the ticket was never assigned to this unit", location="path")
    return history


def check_same_request(kept_hash: str, asked_hash: str) -> None:
    """An idempotency key names one request: another request under it is refused."""
    if kept_hash != asked_hash:
        raise Conflict("Idempotency-Key", KEY_REUSED, location="header")


def check_centre(*, centre: bool) -> None:
    """The centre's desk: a unit's token is refused."""
    if not centre:
        raise NotYours("authorization", "only the hotline centre may do this", location="header")


def check_lead_unit(field: str, code: str, gazetteer: Gazetteer, catalogue: Catalogue) -> None:
    """A unit the centre dispatches to has a queue and is not the triage desk."""
    if code == TRIAGE_QUEUE_CODE:
        raise Invalid(field, "the triage desk is not a unit to dispatch to", location="body")
    check_unit(field, code, gazetteer, catalogue)


def check_open(history: DispatchHistory) -> None:
    """A closed ticket is not re-dispatched."""
    if history.view.get("closed"):
        raise Closed("ticket_id", "the ticket is closed: it is not re-dispatched", location="path")


def check_pending_return(history: DispatchHistory) -> None:
    """A review needs a return waiting for it."""
    if history.view.get("pending_return") is None:
        raise Conflict("ticket_id", "no return of this ticket waits for review", location="path")


def check_category(category: str, urgency: str | None, taxonomy: Taxonomy) -> None:
    """A category of the taxonomy and, when given, one of the city's urgency classes."""
    if category not in taxonomy.categories:
        raise Invalid("category", f"unknown category {category!r}", location="body")
    if urgency is not None and urgency not in taxonomy.urgency_classes:
        raise Invalid("urgency", f"unknown urgency class {urgency!r}", location="body")


def command_status(command_id: str, events: list[Event] | None) -> dict[str, Any]:
    """What became of a command sent after a 202: `pending` while routing has not applied it,
    `refused` with the refusal's code and reason, or `applied` with the events it gave (queue
    copies left out: they name the units, not what happened)."""
    if events is None:
        return {"command_id": command_id, "status": "pending"}
    refused = next((e for e in events if isinstance(e, CommandRefused)), None)
    if refused is not None:
        return {"command_id": command_id, "status": "refused", "code": refused.code, "reason": refused.reason}
    return {"command_id": command_id, "status": "applied",
            "events": [type(e).__name__ for e in events if not isinstance(e, QueueAssignment)]}
