"""Routing's HTTP API: units return tickets and blow the whistle; a ticket's units and the centre
read its dispatch history. Each route hands the request to the use case; a refusal is a domain
error, answered by the runtime's one mapping (`hotline.runtime.errors`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header

from hotline.routing.app import ReturnRequest, Routing, SummonRequest
from hotline.runtime.auth import CredentialStore, Principal, bearer_principal


def http_router(routing: Routing, credentials: CredentialStore) -> APIRouter:
    """Commands are checked, then published on `routing.commands`; the answer comes on
    `tickets.routing` (a refusal too), and on the queues. A unit acts in its own name only."""
    router = APIRouter(prefix="/v1/tickets", tags=["routing"])
    Caller = Annotated[Principal, Depends(bearer_principal(credentials))]

    @router.post("/{ticket_id}/returns", status_code=202)
    async def post_return(
        ticket_id: str, body: ReturnRequest, caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> dict:
        """Return a ticket within the return window (default 2 hours after dispatch); the triage
        desk (`triage`) hands a ticket on so at any time. 404 when routing holds no dispatch for
        the ticket; an `Idempotency-Key` used before for another request: 409."""
        command_id = await routing.request_return(caller, ticket_id, body, idempotency_key)
        return {"command_id": command_id, "status": "accepted"}

    @router.post("/{ticket_id}/summons", status_code=202)
    async def post_summons(
        ticket_id: str, body: SummonRequest, caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> dict:
        """Summon departments to report on site within 30 minutes (吹哨报到). 404 when routing
        holds no dispatch for the ticket; an `Idempotency-Key` used before for another request: 409."""
        command_id = await routing.request_summons(caller, ticket_id, body, idempotency_key)
        return {"command_id": command_id, "status": "accepted"}

    @router.get("/{ticket_id}/dispatch")
    async def get_dispatch(ticket_id: str, caller: Caller) -> dict:
        """Who holds the ticket now, and its whole dispatch history (its units and the centre)."""
        return await routing.dispatch_history(caller, ticket_id)

    return router
