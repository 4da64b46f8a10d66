"""Casework's HTTP API: signing, progress notes, demands collected on visits, the case library and
the daily brief. Same bearer tokens and rules as followup's other endpoints. Each route hands the
request to the use case (`hotline.followup.casework.app.Casework`); a refusal is a domain error,
answered by the runtime's one mapping (`hotline.runtime.errors`)."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from hotline.contracts import AddProgressNote, MarkCase, ProgressNoted, RecordCollectedDemands, SignTicket, TicketSigned
from hotline.followup.casework.app import Casework
from hotline.runtime.auth import CredentialStore, Principal, bearer_principal


def _answered(response: Response, is_new: bool) -> None:
    """201 for a new action, 200 for one done before (a retry)."""
    if not is_new:
        response.status_code = 200


def casework_router(casework: Casework, credentials: CredentialStore) -> APIRouter:
    """The casework endpoints; every call carries the unit's (or the centre's) bearer token."""
    router = APIRouter(prefix="/v1", tags=["casework"])
    Caller = Annotated[Principal, Depends(bearer_principal(credentials))]

    @router.post("/tickets/{ticket_id}/sign", status_code=201)
    async def post_sign(ticket_id: str, command: SignTicket, response: Response, caller: Caller) -> TicketSigned:
        """Sign for the ticket (签收): once per unit and dispatch; a retry answers 200 with the first."""
        event, is_new = await casework.sign(caller, ticket_id, command)
        _answered(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/notes", status_code=201)
    async def post_note(
        ticket_id: str, command: AddProgressNote, response: Response, caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> ProgressNoted:
        """Note progress; the text stays in followup's store (never on the topic or in logs). The
        same `Idempotency-Key` with the same request answers 200 with the note; with a different one, 409."""
        event, is_new = await casework.note(caller, ticket_id, command, idempotency_key)
        _answered(response, is_new)
        return event

    @router.get("/tickets/{ticket_id}/notes")
    async def get_notes(ticket_id: str, caller: Caller) -> dict:
        """The ticket's progress notes with their texts: its units and the centre only."""
        return await casework.notes(caller, ticket_id)

    @router.post("/tickets/{ticket_id}/contacts/{contact_id}/demands", status_code=201)
    async def post_demands(
        ticket_id: str, contact_id: str, command: RecordCollectedDemands, response: Response, caller: Caller,
    ) -> dict:
        """Demands residents raised on a face-to-face visit: each becomes a new ticket through
        intake (channel `collected`), linked to the visit; a retry makes no second ticket."""
        view, is_new = await casework.record_demands(caller, ticket_id, contact_id, command)
        _answered(response, is_new)
        return view

    @router.post("/tickets/{ticket_id}/case", status_code=201)
    async def post_case(ticket_id: str, command: MarkCase, response: Response, caller: Caller) -> dict:
        """Mark a resolved or closed ticket a typical case (the centre or the resolving unit);
        200 when the case existed (repeated, or re-described)."""
        view, is_new = await casework.mark_case(caller, ticket_id, command)
        _answered(response, is_new)
        return view

    @router.get("/cases")
    async def get_cases(
        caller: Caller, tag: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict:
        """Cases for training: those with `tag`, newest first; without a tag, every tag and its count."""
        return await casework.cases(tag, limit=limit)

    @router.get("/cases/{ticket_id}")
    async def get_case(ticket_id: str, caller: Caller) -> dict:
        """One case."""
        return await casework.case(ticket_id)

    @router.get("/units/{unit_code}/brief")
    async def get_brief(
        unit_code: str, caller: Caller,
        day: Annotated[
            date | None, Query(alias="date", description="YYYY-MM-DD in the city's time zone; default today.")
        ] = None,
    ) -> dict:
        """The agenda of the unit's daily dispatch meeting."""
        return await casework.brief(caller, unit_code, day)

    return router
