"""Intake's HTTP API: `POST /v1/tickets`, the canonical submission, for citizens and the hotline's
channel platforms. The route reads who is calling and what they sent, and hands the record to the
use case; its refusals are domain errors, answered by the runtime's one mapping (`hotline.runtime.errors`).

Two answers keep a shape of their own, as clients have always seen them: a citizen's body naming
platform-only fields is refused field by field in one 403 (a domain error names one field), and a
store that cannot be asked is a 503 (no refusal of the request, the hotline is briefly down); both
are raised as HTTP errors, which the runtime answers as FastAPI does.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pymongo.errors import PyMongoError

from hotline.intake.app import Intake
from hotline.intake.domain import Refusal, citizen_record
from hotline.runtime.auth import CredentialStore, Principal, Role


def unauthorized(msg: str) -> HTTPException:
    """401 with `WWW-Authenticate: Bearer`, naming the header."""
    return HTTPException(401, detail=[{"loc": ["header", "authorization"], "msg": msg}],
                         headers={"WWW-Authenticate": "Bearer"})


def unavailable(loc: list[str], msg: str) -> HTTPException:
    """503: what the answer depends on cannot be checked right now."""
    return HTTPException(503, detail=[{"loc": loc, "msg": msg}])


def platform_caller(credentials: CredentialStore) -> Callable[[Request], Awaitable[Principal | None]]:
    """A FastAPI dependency: None for an anonymous citizen, the principal for a valid token.

    Any Authorization header that is not a known, unrevoked bearer token is a 401: a gateway with
    a revoked token must hear so, not be served as a citizen.
    """

    async def platform_principal(request: Request) -> Principal | None:
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("a bearer token is required when Authorization is sent")
        try:
            principal = await credentials.verify(token=token.strip())
        except PyMongoError:
            raise unavailable(["header", "authorization"], "the token cannot be checked right now; try again") from None
        if principal is None:
            raise unauthorized("unknown or revoked token")
        return principal

    return platform_principal


def is_platform(principal: Principal | None) -> bool:
    """Whether the caller may set the platform's fields."""
    return principal is not None and principal.role is Role.PLATFORM


def http_router(intake: Intake, credentials: CredentialStore) -> APIRouter:
    """`POST /v1/tickets`: validate at once, then hand the record to the same Kafka path."""
    router = APIRouter(prefix="/v1", tags=["intake"])
    Caller = Annotated[Principal | None, Depends(platform_caller(credentials))]

    @router.post(
        "/tickets",
        status_code=202,
        summary="Submit a request: a citizen's (intake sets channel, source id and time) or, "
                "with a platform token, a raw record in the canonical format",
        responses={401: {"description": "An Authorization header with an unknown or revoked token"},
                   403: {"description": "A platform-only field without a platform token"},
                   409: {"description": "A platform's source id already used with a different body"},
                   413: {"description": "Body over the size limit"},
                   422: {"description": "A field is missing or invalid"}},
    )
    async def post_ticket(request: Request, caller: Caller) -> dict:
        """Accept a record; 202 with the ticket id, or a 4xx naming the field and the reason."""
        body = await request.body()
        now = datetime.now(UTC)
        platform = is_platform(caller)
        # A citizen says what, where and who; intake sets the channel, source id and time.
        record = body if platform else citizen_record(body, now=now)
        if isinstance(record, Refusal):
            raise HTTPException(403, detail=record.detail())
        try:
            ticket = await intake.submit(record, now=now, check_source_id=platform, sent_bytes=len(body))
        except PyMongoError:
            raise unavailable(["body", "source_id"], "the hotline cannot check the source id right now; "
                              "try again") from None
        return {
            "ticket_id": ticket.ticket_id,
            "category": ticket.category,
            "request_type": ticket.request_type.value,
            "urgency": ticket.urgency,
            "report_back_due_at": ticket.report_back_due_at.isoformat() if ticket.report_back_due_at else None,
            "district_code": ticket.location.district_code,
            "unit_code": ticket.location.unit_code,
            "ambiguous_place": ticket.location.ambiguous,
        }

    return router
