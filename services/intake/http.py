"""Intake's HTTP API: the canonical ticket submission."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from hotline.intake.domain import IntakePolicy, Rejection
from hotline.intake.door import Refusal, citizen_record, is_platform, platform_caller
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.intake.submit import Reused, submit_raw
from hotline.runtime.auth import CredentialStore, Principal
from hotline.runtime.service import ServiceRuntime


def http_router(
    runtime: ServiceRuntime[IntakeSettings], policy: IntakePolicy, store: IntakeStore, credentials: CredentialStore
) -> APIRouter:
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
    async def post_ticket(request: Request, caller: Caller) -> JSONResponse:
        """Accept a record; 202 with the ticket id, or a 4xx naming the field and the reason."""
        body = await request.body()
        now = datetime.now(UTC)
        platform = is_platform(caller)
        record = body if platform else citizen_record(body, now=now)
        if isinstance(record, Refusal):
            return JSONResponse({"detail": record.detail()}, status_code=403)
        try:
            outcome = await submit_raw(runtime, policy, record, now=now, store=store if platform else None)
        except PyMongoError:
            return JSONResponse({"detail": [{"loc": ["body", "source_id"], "msg": "the hotline cannot "
                                             "check the source id right now; try again"}]}, status_code=503)
        if isinstance(outcome, Rejection):
            status = 409 if isinstance(outcome, Reused) else 413 if len(body) > policy.max_record_bytes else 422
            return JSONResponse(
                {"detail": [{"loc": ["body", outcome.field] if outcome.field else ["body"],
                             "msg": outcome.reason}]},
                status_code=status,
            )
        return JSONResponse(
            {
                "ticket_id": outcome.ticket_id,
                "category": outcome.category,
                "request_type": outcome.request_type.value,
                "urgency": outcome.urgency,
                "report_back_due_at": outcome.report_back_due_at.isoformat()
                if outcome.report_back_due_at else None,
                "district_code": outcome.location.district_code,
                "unit_code": outcome.location.unit_code,
                "ambiguous_place": outcome.location.ambiguous,
            },
            status_code=202,
        )

    return router
