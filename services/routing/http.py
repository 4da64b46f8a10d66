"""Routing's HTTP API: units return tickets and blow the whistle; the hotline centre dispatches,
reviews returns and corrects categories (its token only); a ticket's units and the centre read its
dispatch history; any unit or the centre reads the reference lists. Each route hands the request
to the use case; a refusal is a domain error, answered by the runtime's one mapping
(`hotline.runtime.errors`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header

from hotline.routing.app import CategoryRequest, DispatchRequest, ReturnRequest, ReviewRequest, Routing, SummonRequest
from hotline.runtime.auth import CredentialStore, Principal, bearer_principal


def http_router(routing: Routing, credentials: CredentialStore) -> APIRouter:
    """Commands are checked, then published on `routing.commands`; the answer comes on
    `tickets.routing` (a refusal too), and on the queues. A unit acts in its own name only."""
    router = APIRouter(prefix="/v1", tags=["routing"])
    Caller = Annotated[Principal, Depends(bearer_principal(credentials))]
    Key = Annotated[str | None, Header(max_length=128)]

    @router.post("/tickets/{ticket_id}/returns", status_code=202)
    async def post_return(
        ticket_id: str, body: ReturnRequest, caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> dict:
        """Return a ticket within the return window (default 2 hours after dispatch); the triage
        desk (`triage`) hands a ticket on so at any time. 404 when routing holds no dispatch for
        the ticket; an `Idempotency-Key` used before for another request: 409."""
        command_id = await routing.request_return(caller, ticket_id, body, idempotency_key)
        return {"command_id": command_id, "status": "accepted"}

    @router.post("/tickets/{ticket_id}/summons", status_code=202)
    async def post_summons(
        ticket_id: str, body: SummonRequest, caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> dict:
        """Summon departments to report on site within 30 minutes (吹哨报到). 404 when routing
        holds no dispatch for the ticket; an `Idempotency-Key` used before for another request: 409."""
        command_id = await routing.request_summons(caller, ticket_id, body, idempotency_key)
        return {"command_id": command_id, "status": "accepted"}

    @router.get("/tickets/{ticket_id}/dispatch")
    async def get_dispatch(ticket_id: str, caller: Caller) -> dict:
        """Who holds the ticket now, and its whole dispatch history (its units and the centre), with
        the return waiting for review (`pending_return`, or null) and whether it is `closed`."""
        return await routing.dispatch_history(caller, ticket_id)

    @router.get("/tickets/{ticket_id}/commands/{command_id}")
    async def get_command(ticket_id: str, command_id: str, caller: Caller) -> dict:
        """What became of a command this API accepted (202): `pending`, `applied` (the events it
        gave) or `refused` (the refusal's `code` and `reason`); the ticket's units and the centre."""
        return await routing.command_outcome(caller, ticket_id, command_id)

    @router.post("/tickets/{ticket_id}/dispatches", status_code=202)
    async def post_dispatch(ticket_id: str, body: DispatchRequest, caller: Caller, idempotency_key: Key = None) -> dict:
        """The centre dispatches (派单) or re-dispatches (改派) the ticket to a unit (centre only:
        403). An unknown unit or the triage desk: 422; routing holds no dispatch: 404; closed: 409."""
        command_id = await routing.request_dispatch(caller, ticket_id, body, idempotency_key)
        return {"command_id": command_id, "status": "accepted"}

    @router.post("/tickets/{ticket_id}/returns/decision", status_code=202)
    async def post_review(ticket_id: str, body: ReviewRequest, caller: Caller, idempotency_key: Key = None) -> dict:
        """The centre approves or rejects the return waiting for review (centre only: 403); none
        waits: 409; routing holds no dispatch: 404."""
        command_id = await routing.request_review(caller, ticket_id, body, idempotency_key)
        return {"command_id": command_id, "status": "accepted"}

    @router.post("/tickets/{ticket_id}/category", status_code=202)
    async def post_category(ticket_id: str, body: CategoryRequest, caller: Caller, idempotency_key: Key = None) -> dict:
        """The centre corrects the ticket's category or urgency class (centre only: 403); an
        unknown category or urgency class: 422; routing re-dispatches when the catalogue gives
        another unit."""
        command_id = await routing.request_correction(caller, ticket_id, body, idempotency_key)
        return {"command_id": command_id, "status": "accepted"}

    @router.get("/returns/pending")
    async def get_pending_returns(caller: Caller) -> dict:
        """The returns waiting for the centre's review, oldest first (centre only)."""
        return await routing.pending_returns(caller)

    @router.get("/reference")
    async def get_reference(caller: Caller) -> dict:
        """Units, categories, urgency classes and reason codes for pickers (any unit or the centre)."""
        return routing.reference()

    return router
