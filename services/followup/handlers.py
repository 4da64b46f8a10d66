"""Followup's Kafka handler and HTTP API."""

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse
from faststream.kafka.annotations import KafkaMessage

from hotline.contracts import (
    CallbackResult,
    ContactRecorded,
    DecideExtension,
    ExtensionDecided,
    ExtensionRequested,
    RecordContact,
    ReportedOnSite,
    ReportOnSite,
    RequestExtension,
    ResolveTicket,
    TicketDispatched,
    TicketResolved,
    topics,
)
from hotline.followup.domain import (
    Refusal,
    WorklistView,
    apply_callback,
    contact_id_for,
    decide_extension,
    record_contact,
    report_on_site,
    request_extension,
    resolve,
    select_worklist,
)
from hotline.contracts.routing import DepartmentsSummoned
from hotline.followup.settings import FollowupSettings
from hotline.followup.store import FollowupStore
from hotline.runtime.auth import CredentialStore, principal_dependency
from hotline.runtime.kafka import Publisher, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

log = logging.getLogger(__name__)


def register(runtime: ServiceRuntime, store: FollowupStore, publisher: Publisher) -> None:
    """Subscribe followup's handlers on the runtime's broker."""

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_DISPATCHED)
    async def on_tickets_dispatched(body: list[bytes], msg: KafkaMessage) -> None:
        async with retry_later("followup dispatch batch"):
            events, dead_letters = publisher.parse_all(msg.raw_message, TicketDispatched)
            await store.apply_dispatches(events=events)
            await publisher.publish_all(dead_letters)


def register_summons(runtime: ServiceRuntime, store: FollowupStore, publisher: Publisher) -> None:
    """Whistle summons from routing start each summoned unit's on-site deadline."""

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_ROUTING)
    async def on_tickets_routing(body: list[bytes], msg: KafkaMessage) -> None:
        async with retry_later("followup summons batch"):
            # Routing's other events (returns, refusals) are not followup's business.
            summons = [r for r in msg.raw_message
                       if dict(r.headers or ()).get("event_type") == b"DepartmentsSummoned"]
            events, dead_letters = publisher.parse_all(summons, DepartmentsSummoned)
            await store.apply_summons(events=events)
            await publisher.publish_all(dead_letters)


def register_callbacks(runtime: ServiceRuntime, store: FollowupStore, publisher: Publisher) -> None:
    """Callback survey results reopen or close tickets."""
    settings: FollowupSettings = runtime.settings  # type: ignore[assignment]
    reopen_period = timedelta(hours=settings.reopen_report_back_hours)

    @batch_subscriber(runtime.broker, settings, runtime.name, topics.CALLBACKS)
    async def on_hotline_callbacks(body: list[bytes], msg: KafkaMessage) -> None:
        async with retry_later("followup callback batch"):
            pairs, dead_letters = [], []
            for record in msg.raw_message:
                results, letters = publisher.parse_all([record], CallbackResult)
                dead_letters += letters
                pairs += [(record, r) for r in results]
            tickets = await store.get_many(ticket_ids=sorted({r.ticket_id for _, r in pairs}))
            changes, outgoing = [], []
            for record, result in pairs:
                ticket = tickets.get(result.ticket_id)
                if ticket is None:
                    dead_letters.append(publisher.dead_letter(
                        record, reason="no dispatched ticket with this id", field="ticket_id"))
                    continue
                ticket, event = apply_callback(ticket, result, reopen_period=reopen_period)
                tickets[ticket.ticket_id] = ticket
                changes.append((ticket, event))
                if event is not None:
                    outgoing.append((topics.TICKETS_FOLLOWUP, event, ticket.ticket_id))
            # Published first: a crash before saving recomputes the same events (same ids).
            await publisher.publish_all(outgoing + dead_letters)
            await store.save_callbacks(changes=changes)


def http_router(
    runtime: ServiceRuntime, store: FollowupStore, publisher: Publisher, credentials: CredentialStore
) -> APIRouter:
    """The handling units' API: every call carries the unit's own bearer token."""
    settings: FollowupSettings = runtime.settings  # type: ignore[assignment]
    router = APIRouter(prefix="/v1", tags=["units"])
    Caller = principal_dependency(credentials)

    @router.post("/tickets/{ticket_id}/contacts", status_code=201)
    async def post_contact(
        ticket_id: str,
        command: RecordContact,
        response: Response,
        caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> ContactRecorded:
        """Record a contact (phone, face to face, WeChat, on site) with the citizen."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit records contacts for itself only")
        ticket = await store.get_by_ticket_id(ticket_id=ticket_id)
        contact_id = contact_id_for(ticket_id, command, idempotency_key)
        event = record_contact(
            ticket, command, ticket_id=ticket_id, contact_id=contact_id,
            now=datetime.now(UTC), clock_skew=timedelta(seconds=settings.clock_skew_s),
        )
        is_new = await store.add_contact(event=event)
        # Published on retries too (same event id): a crash between the write and the
        # publish is healed by the client's retry, and consumers drop the duplicate.
        await publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, ticket_id)])
        if not is_new:
            response.status_code = 200
        return event

    @router.post("/tickets/{ticket_id}/resolution", status_code=201)
    async def post_resolution(
        ticket_id: str, command: ResolveTicket, response: Response, caller: Caller,
    ) -> TicketResolved:
        """Report the ticket resolved (an outcome and a resolution code); the callback decides."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit resolves its own tickets only")
        ticket = await store.get_by_ticket_id(ticket_id=ticket_id)
        if ticket is not None and ticket.state.value == "resolved" and command.unit_code == ticket.unit_code:
            # A retried submission of this round's resolution: the same answer again.
            current = await store.timeline(ticket_id=ticket_id)
            last = (current or {}).get("resolutions", [])[-1:]
            if last and last[0].get("resolution_code") == command.resolution_code:
                response.status_code = 200
                return TicketResolved.model_validate({k: v for k, v in last[0].items() if k != "note"})
        event = resolve(ticket, command, ticket_id=ticket_id, now=datetime.now(UTC),
                        clock_skew=timedelta(seconds=settings.clock_skew_s))
        if not await store.save_resolution(event=event, note=command.note):
            raise Refusal(409, "ticket_id", "the ticket changed meanwhile; read it and try again")
        await publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, ticket_id)])
        return event

    @router.post("/tickets/{ticket_id}/extensions", status_code=201)
    async def post_extension(ticket_id: str, command: RequestExtension, caller: Caller) -> ExtensionRequested:
        """Ask the hotline centre for more time (延期), once a round and before the deadline."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit asks for its own tickets only")
        ticket = await store.get_by_ticket_id(ticket_id=ticket_id)
        event = request_extension(ticket, command, ticket_id=ticket_id, now=datetime.now(UTC),
                                  clock_skew=timedelta(seconds=settings.clock_skew_s))
        if not await store.save_extension_request(event=event):
            raise Refusal(409, "ticket_id", "an extension was already requested for this round")
        await publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, ticket_id)])
        return event

    @router.post("/tickets/{ticket_id}/extensions/decision", status_code=201)
    async def post_extension_decision(ticket_id: str, command: DecideExtension, caller: Caller) -> ExtensionDecided:
        """The hotline centre approves (the deadline moves) or denies the pending extension."""
        if not caller.is_centre:
            raise Refusal(403, "authorization", "only the hotline centre decides extensions")
        event = decide_extension(await store.get_by_ticket_id(ticket_id=ticket_id), command, ticket_id=ticket_id)
        if not await store.save_extension_decision(event=event):
            raise Refusal(409, "ticket_id", "no extension is waiting for a decision")
        await publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, ticket_id)])
        return event

    @router.post("/tickets/{ticket_id}/on-site", status_code=201)
    async def post_on_site(ticket_id: str, command: ReportOnSite, response: Response, caller: Caller) -> ReportedOnSite:
        """A summoned department reports on site (报到), against its 30-minute deadline."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit reports for itself only")
        event = report_on_site(await store.get_by_ticket_id(ticket_id=ticket_id), command,
                               ticket_id=ticket_id, now=datetime.now(UTC),
                               clock_skew=timedelta(seconds=settings.clock_skew_s))
        await store.save_on_site(event=event)
        await publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, ticket_id)])
        return event

    @router.get("/units/{unit_code}/tickets")
    async def get_worklist(unit_code: str, caller: Caller, state: WorklistView = WorklistView.OPEN) -> dict:
        """A unit's worklist: open tickets, the overdue ones, or those due within a day."""
        if caller.unit_code != unit_code and not caller.is_centre:
            raise Refusal(403, "unit_code", "a unit reads its own worklist only")
        tickets = select_worklist(await store.worklist(unit_code=unit_code), state, now=datetime.now(UTC),
                                  due_soon=timedelta(hours=settings.due_soon_hours))
        for ticket in tickets:
            ticket["ticket_id"] = ticket.pop("_id")
        return {"unit_code": unit_code, "state": state.value, "count": len(tickets), "tickets": tickets}

    @router.get("/tickets/{ticket_id}")
    async def get_ticket(ticket_id: str, caller: Caller) -> dict:
        """The ticket as followup knows it: holder and contacts (its units and the centre only)."""
        doc = await store.timeline(ticket_id=ticket_id)
        if doc is None:
            raise Refusal(404, "ticket_id", f"ticket {ticket_id} is unknown")
        allowed = {doc.get("unit_code"), *doc.get("co_handlers", []),
                   *(s["unit_code"] for s in doc.get("summons", []))}
        if not caller.is_centre and caller.unit_code not in allowed:
            raise Refusal(403, "ticket_id", "the ticket is not assigned to this unit")
        return doc

    return router


async def refusal_response(_request, exc: Refusal) -> JSONResponse:
    """A refused action as a 4xx naming the field and the reason."""
    return JSONResponse({"detail": [{"loc": [exc.field], "msg": exc.reason}]}, status_code=exc.status)
