"""Followup's ticket API for the handling units: contacts, resolutions, extensions, on-site reports,
worklists and the ticket itself. Each route hands the request to the use cases; a refusal is a
domain error, answered by the runtime's one mapping (`hotline.runtime.errors`)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from hotline.contracts import (
    ContactRecorded,
    DecideExtension,
    ExtensionDecided,
    ExtensionRequested,
    RecordContact,
    ReportedOnSite,
    ReportOnSite,
    RequestExtension,
    ResolveTicket,
    TicketResolved,
)
from hotline.domain_errors import NotYours
from hotline.followup.tickets.app import FollowupActions
from hotline.followup.tickets.domain import WorklistView, check_acting_for_itself
from hotline.runtime.auth import CredentialStore, Principal, bearer_principal


def http_router(actions: FollowupActions, credentials: CredentialStore) -> APIRouter:
    """The handling units' API: every call carries the unit's own bearer token."""
    router = APIRouter(prefix="/v1", tags=["units"])
    Caller = Annotated[Principal, Depends(bearer_principal(credentials))]

    def created(response: Response, is_new: bool) -> None:
        response.status_code = 201 if is_new else 200

    @router.post("/tickets/{ticket_id}/contacts", status_code=201)
    async def post_contact(
        ticket_id: str,
        command: RecordContact,
        response: Response,
        caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> ContactRecorded:
        """Record a contact (phone, face to face, WeChat, on site) with the citizen. The same
        `Idempotency-Key` with the same request answers 200 with the recorded event; with a
        different request, 409."""
        check_acting_for_itself(command.unit_code, caller.unit_code, "a unit records contacts for itself only")
        event, is_new = await actions.record_contact(ticket_id, command, idempotency_key=idempotency_key,
                                                     now=datetime.now(UTC))
        created(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/resolution", status_code=201)
    async def post_resolution(
        ticket_id: str, command: ResolveTicket, response: Response, caller: Caller,
    ) -> TicketResolved:
        """Report the ticket resolved (an outcome and a resolution code); the callback decides."""
        check_acting_for_itself(command.unit_code, caller.unit_code, "a unit resolves its own tickets only")
        event, is_new = await actions.resolve(ticket_id, command, now=datetime.now(UTC))
        created(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/extensions", status_code=201)
    async def post_extension(ticket_id: str, command: RequestExtension, caller: Caller,
                             response: Response) -> ExtensionRequested:
        """Ask the hotline centre for more time (延期), once a round and before the deadline; the
        same request again answers 200 with the recorded event."""
        check_acting_for_itself(command.unit_code, caller.unit_code, "a unit asks for its own tickets only")
        event, is_new = await actions.request_extension(ticket_id, command, now=datetime.now(UTC))
        created(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/extensions/decision", status_code=201)
    async def post_extension_decision(ticket_id: str, command: DecideExtension, caller: Caller,
                                      response: Response) -> ExtensionDecided:
        """The hotline centre approves (the deadline moves) or denies the pending extension; the
        same decision again answers 200 with the recorded event."""
        if not caller.is_centre:
            raise NotYours("authorization", "only the hotline centre decides extensions")
        event, is_new = await actions.decide_extension(ticket_id, command)
        created(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/on-site", status_code=201)
    async def post_on_site(ticket_id: str, command: ReportOnSite, response: Response, caller: Caller) -> ReportedOnSite:
        """A summoned department reports on site (报到), against its 30-minute deadline."""
        check_acting_for_itself(command.unit_code, caller.unit_code, "a unit reports for itself only")
        return (await actions.report_on_site(ticket_id, command, now=datetime.now(UTC)))[0]

    @router.get("/units/{unit_code}/tickets")
    async def get_worklist(unit_code: str, caller: Caller, state: WorklistView = WorklistView.OPEN) -> dict:
        """A unit's worklist: open tickets, the overdue ones, or those due within a day."""
        return await actions.worklist(caller, unit_code, state, now=datetime.now(UTC))

    @router.get("/tickets/{ticket_id}")
    async def get_ticket(ticket_id: str, caller: Caller) -> dict:
        """The ticket as followup knows it: holder and contacts (its units and the centre only)."""
        return await actions.ticket(caller, ticket_id)

    return router
