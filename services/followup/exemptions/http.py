"""Exemptions' HTTP API (核减 / 申诉): the reason codes, a unit's request, the centre's decision.
Same bearer tokens and rules as followup's other endpoints; a refusal is a domain error,
answered by the runtime's one mapping (`hotline.runtime.errors`)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from hotline.contracts import DecideExemption, ExemptionDecided, ExemptionRequested, RequestExemption
from hotline.domain_errors import NotYours
from hotline.followup.exemptions.app import Exemptions
from hotline.followup.tickets.domain import check_acting_for_itself
from hotline.runtime.auth import CredentialStore, Principal, bearer_principal


def exemptions_router(exemptions: Exemptions, credentials: CredentialStore) -> APIRouter:
    """The exemption endpoints; every call carries a unit's or the centre's bearer token."""
    router = APIRouter(prefix="/v1", tags=["exemptions"])
    Caller = Annotated[Principal, Depends(bearer_principal(credentials))]
    Key = Annotated[str | None, Header(max_length=128)]

    def created(response: Response, is_new: bool) -> None:
        response.status_code = 201 if is_new else 200

    @router.get("/exemption-reasons")
    async def get_reasons(caller: Caller) -> dict:
        """The reason codes a unit may give (policies/exemptions.yaml), with labels and sources."""
        return exemptions.reasons()

    @router.post("/tickets/{ticket_id}/exemptions", status_code=201)
    async def post_exemption(ticket_id: str, command: RequestExemption, caller: Caller, response: Response,
                             idempotency_key: Key = None) -> ExemptionRequested:
        """The holder asks that the ticket not count in its figures (核减): once per ticket; the
        same request again (or the same `Idempotency-Key` with it) answers 200 with the recorded
        event, the key with a different request 409. The note stays in followup's store."""
        check_acting_for_itself(command.unit_code, caller.unit_code, "a unit asks for its own tickets only")
        event, is_new = await exemptions.request(ticket_id, command, idempotency_key=idempotency_key,
                                                 now=datetime.now(UTC))
        created(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/exemptions/decision", status_code=201)
    async def post_exemption_decision(ticket_id: str, command: DecideExemption, caller: Caller,
                                      response: Response, idempotency_key: Key = None) -> ExemptionDecided:
        """The hotline centre approves (the ticket leaves the unit's figures of its month) or
        rejects the pending request; the same decision again answers 200, another 409."""
        if not caller.is_centre:
            raise NotYours("authorization", "only the hotline centre decides exemptions")
        event, is_new = await exemptions.decide(ticket_id, command, idempotency_key=idempotency_key,
                                                now=datetime.now(UTC))
        created(response, is_new)
        return event

    return router
