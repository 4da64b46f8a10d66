"""Intake's HTTP API: the canonical ticket submission."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hotline.intake.domain import IntakePolicy, Rejection
from hotline.intake.submit import submit_raw
from hotline.runtime.service import ServiceRuntime


def http_router(runtime: ServiceRuntime, policy: IntakePolicy) -> APIRouter:
    """`POST /v1/tickets`: validate at once, then hand the record to the same Kafka path."""
    router = APIRouter(prefix="/v1", tags=["intake"])

    @router.post(
        "/tickets",
        status_code=202,
        summary="Submit a request in the canonical raw-record format",
        responses={413: {"description": "Body over the size limit"},
                   422: {"description": "A field is missing or invalid"}},
    )
    async def post_ticket(request: Request) -> JSONResponse:
        """Accept a raw record; 202 with the ticket id, or a 4xx naming the field and the reason."""
        body = await request.body()
        outcome = await submit_raw(runtime, policy, body, now=datetime.now(UTC))
        if isinstance(outcome, Rejection):
            status = 413 if len(body) > policy.max_record_bytes else 422
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
