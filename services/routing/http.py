"""Routing's HTTP API: units return tickets and blow the whistle; anyone may read the history."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException
from pydantic import BaseModel, Field

from hotline.city import deployment_catalogue
from hotline.contracts import topics
from hotline.contracts.common import AwareDatetime
from hotline.contracts.routing import ReturnReason, ReturnTicket, SummonDepartments
from hotline.gazetteer import beijing
from hotline.routing.domain import known_unit
from hotline.routing.store import DispatchStore
from hotline.runtime.auth import CredentialStore, Principal, principal_dependency
from hotline.runtime.idempotency import KEY_REUSED, request_hash
from hotline.runtime.kafka import encode
from hotline.runtime.service import ServiceRuntime


class ReturnRequest(BaseModel):
    """A unit hands a ticket back (退单)."""

    unit_code: str = Field(description="The unit returning the ticket.")
    reason_code: ReturnReason = Field(description="Why.")
    suggested_unit: str | None = Field(default=None, description="The unit it belongs to, if known.")
    note: str = Field(default="", max_length=2000)
    returned_at: AwareDatetime | None = Field(default=None, description="Defaults to now.")


class SummonRequest(BaseModel):
    """A street or town summons departments to the site (吹哨)."""

    unit_code: str = Field(description="The street or town blowing the whistle.")
    departments: list[str] = Field(min_length=1, max_length=20)
    note: str = Field(default="", max_length=2000)
    summoned_at: AwareDatetime | None = Field(default=None, description="Defaults to now.")


def _unknown(field: str, code: str) -> HTTPException:
    return HTTPException(422, detail=[{"loc": ["body", field], "msg": f"unknown unit code {code!r}"}])


def http_router(runtime: ServiceRuntime, store: DispatchStore, credentials: CredentialStore) -> APIRouter:
    """Commands are checked, then published on `routing.commands`; the answer comes on
    `tickets.routing` (a refusal too), and on the queues. A unit acts in its own name only."""
    router = APIRouter(prefix="/v1/tickets", tags=["routing"])
    gazetteer, catalogue = beijing(), deployment_catalogue(runtime.settings)
    Caller = principal_dependency(credentials)

    def acting_for_itself(caller: Principal, unit_code: str) -> None:
        if caller.unit_code != unit_code and not caller.is_centre:
            raise HTTPException(403, detail=[{"loc": ["body", "unit_code"],
                                              "msg": "a unit acts in its own name only"}])

    def involved(doc: dict) -> set[str]:
        history = doc.get("history", [])
        return {h["unit_code"] for h in history} | {c for h in history for c in h.get("co_handlers", [])}

    def unknown_ticket(ticket_id: str) -> HTTPException:
        return HTTPException(404, detail=[{"loc": ["path", "ticket_id"],
                                           "msg": f"routing holds no dispatch for ticket {ticket_id}"}])

    async def on_the_ticket(ticket_id: str, unit_code: str) -> None:
        # A ticket routing holds no dispatch for is refused at once (404), and a unit never
        # assigned the ticket too (403), not only later by a CommandRefused event: a unit learns
        # of a ticket from its queue, which routing writes after storing the dispatch.
        doc = await store.history(ticket_id=ticket_id)
        if doc is None:
            raise unknown_ticket(ticket_id)
        if unit_code not in involved(doc):
            raise HTTPException(403, detail=[{"loc": ["path", "ticket_id"],
                                              "msg": "the ticket was never assigned to this unit"}])

    async def the_keys_command(command: ReturnTicket | SummonDepartments, body: BaseModel,
                               idempotency_key: str | None) -> ReturnTicket | SummonDepartments:
        """The command to send: this one, or under a key used before for the same request the
        very command sent then (a time filled in by the server included); 409 for another request."""
        if not idempotency_key:
            return command
        # The body as sent (a time left out stays out), not the command the server filled in.
        asked = request_hash(command.command, command.ticket_id, body)
        kept = await store.keep_request(ticket_id=command.ticket_id, command_id=command.command_id,
                                        request_hash=asked, command=command.model_dump(mode="json"))
        if kept is None:
            raise unknown_ticket(command.ticket_id)
        if kept["hash"] != asked:
            raise HTTPException(409, detail=[{"loc": ["header", "Idempotency-Key"], "msg": KEY_REUSED}])
        return type(command).model_validate(kept["command"])

    def check_unit(field: str, code: str | None, *, desk: bool = False) -> None:
        # The centre's triage desk holds tickets too (`desk`): it hands them on with a return.
        if desk and code == topics.TRIAGE_QUEUE_CODE:
            return
        if code is not None and known_unit(code, gazetteer, catalogue) is None:
            raise _unknown(field, code)

    async def send(command: ReturnTicket | SummonDepartments) -> dict:
        await runtime.broker.publish(
            encode(command), runtime.settings.topic(topics.ROUTING_COMMANDS),
            key=command.ticket_id.encode(),
        )
        return {"command_id": command.command_id, "status": "accepted"}

    @router.post("/{ticket_id}/returns", status_code=202)
    async def post_return(
        ticket_id: str, body: ReturnRequest, caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> dict:
        """Return a ticket within the return window (default 2 hours after dispatch); the triage
        desk (`triage`) hands a ticket on so at any time. 404 when routing holds no dispatch for
        the ticket; an `Idempotency-Key` used before for another request: 409."""
        check_unit("unit_code", body.unit_code, desk=True)
        acting_for_itself(caller, body.unit_code)
        check_unit("suggested_unit", body.suggested_unit)
        await on_the_ticket(ticket_id, body.unit_code)
        return await send(await the_keys_command(ReturnTicket(
            command_id=idempotency_key or uuid.uuid4().hex, ticket_id=ticket_id,
            unit_code=body.unit_code, reason_code=body.reason_code,
            suggested_unit=body.suggested_unit, note=body.note,
            returned_at=body.returned_at or datetime.now(UTC),
        ), body, idempotency_key))

    @router.post("/{ticket_id}/summons", status_code=202)
    async def post_summons(
        ticket_id: str, body: SummonRequest, caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> dict:
        """Summon departments to report on site within 30 minutes (吹哨报到). 404 when routing
        holds no dispatch for the ticket; an `Idempotency-Key` used before for another request: 409."""
        check_unit("unit_code", body.unit_code)
        acting_for_itself(caller, body.unit_code)
        for code in body.departments:
            if code not in catalogue.units_by_code:
                raise _unknown("departments", code)
        await on_the_ticket(ticket_id, body.unit_code)
        return await send(await the_keys_command(SummonDepartments(
            command_id=idempotency_key or uuid.uuid4().hex, ticket_id=ticket_id,
            unit_code=body.unit_code, departments=body.departments, note=body.note,
            summoned_at=body.summoned_at or datetime.now(UTC),
        ), body, idempotency_key))

    @router.get("/{ticket_id}/dispatch")
    async def get_dispatch(ticket_id: str, caller: Caller) -> dict:
        """Who holds the ticket now, and its whole dispatch history (its units and the centre)."""
        doc = await store.history(ticket_id=ticket_id)
        if doc is None:
            raise HTTPException(404, detail=[{"loc": ["path", "ticket_id"], "msg": "routing has not seen this ticket"}])
        if caller.unit_code not in involved(doc) and not caller.is_centre:
            raise HTTPException(403, detail=[{"loc": ["path", "ticket_id"],
                                              "msg": "the ticket was never assigned to this unit"}])
        return doc

    return router
