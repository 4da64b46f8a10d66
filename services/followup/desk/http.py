"""The desk's HTTP API: who is calling, the ticket search, the requests waiting for the centre.
Same bearer tokens as followup's other endpoints; each route hands its request to the use case
(`hotline.followup.desk.app.Desk`), a refusal is a domain error answered by the runtime's one
mapping (`hotline.runtime.errors`)."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from hotline.followup.desk.app import Desk
from hotline.followup.desk.domain import DEFAULT_LIMIT, MAX_LIMIT
from hotline.followup.tickets.domain import TicketState
from hotline.runtime.auth import CredentialStore, Principal, bearer_principal

Day = Annotated[date | None, Query(description="YYYY-MM-DD, the city's day.")]


def desk_router(desk: Desk, credentials: CredentialStore) -> APIRouter:
    """The desk's endpoints; every call carries a unit's or the centre's bearer token."""
    router = APIRouter(prefix="/v1", tags=["desk"])
    Caller = Annotated[Principal, Depends(bearer_principal(credentials))]

    @router.get("/whoami")
    async def get_whoami(caller: Caller) -> dict:
        """The caller's unit code and role (`unit` or `centre`), for the workbench's login."""
        return desk.whoami(caller)

    @router.get("/tickets")
    async def get_tickets(
        caller: Caller,
        ticket_id: Annotated[str | None, Query(max_length=128)] = None,
        unit_code: Annotated[str | None, Query(max_length=64)] = None,
        category: Annotated[str | None, Query(max_length=64)] = None,
        state: TicketState | None = None,
        received_from: Day = None,
        received_to: Day = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> dict:
        """Search tickets, newest received first: the centre any; a unit only tickets it holds or
        held (another unit's code: 403). No caller data, no content."""
        return await desk.search(caller, ticket_id=ticket_id, unit_code=unit_code, category=category, state=state,
                                 received_from=received_from, received_to=received_to, limit=limit)

    @router.get("/exemptions")
    async def get_exemptions(caller: Caller, state: Literal["requested"] = "requested") -> dict:
        """Exemption requests waiting for the centre's decision: the centre's all, a unit's its own."""
        return await desk.waiting_exemptions(caller)

    @router.get("/extensions")
    async def get_extensions(caller: Caller, state: Literal["requested"] = "requested") -> dict:
        """Extension requests waiting for the centre's decision: the centre's all, a unit's its own."""
        return await desk.waiting_extensions(caller)

    return router
