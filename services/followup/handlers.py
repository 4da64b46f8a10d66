"""Followup's Kafka handler and HTTP API."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

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
    deterministic_event_id,
    topics,
)
from hotline.contracts.clock import BusinessTimeTick
from hotline.contracts.common import Event
from hotline.contracts.followup import (
    AddProgressNoteCommand,
    DecideExtensionCommand,
    FollowupCommand,
    FollowupCommandRefused,
    RecordContactCommand,
    ReportOnSiteCommand,
    RequestExtensionCommand,
    ResolveTicketCommand,
    SignTicketCommand,
)
from hotline.contracts.routing import DepartmentsSummoned, TicketEscalated, TicketReturned
from hotline.domain_errors import DomainError
from hotline.followup.actions import FollowupActions
from hotline.followup.domain import (
    FollowupTicket,
    KeyReused,
    Refusal,
    WorklistView,
    apply_callback,
    select_worklist,
    ticket_view,
)
from hotline.followup.scheduler import DeadlineScheduler
from hotline.followup.settings import FollowupSettings
from hotline.followup.store import FollowupStore
from hotline.runtime import telemetry
from hotline.runtime.auth import CredentialStore, Principal, bearer_principal
from hotline.runtime.idempotency import request_hash
from hotline.runtime.kafka import Outgoing, Publisher, Records, batch_subscriber, retry_later
from hotline.runtime.service import ServiceRuntime

log = logging.getLogger(__name__)
FOLLOWUP_COMMAND: TypeAdapter = TypeAdapter(FollowupCommand)
# Tickets whose Kafka commands one batch carries out at once (each ticket's stay in order).
COMMAND_CONCURRENCY = 32


class DispatchWaits:
    """Where a Kafka command that overtook its ticket's dispatch waits for it.

    `tickets.dispatched` and `followup.commands` are consumed side by side, so under load a unit's
    command (sent when the ticket reached its queue) can arrive before followup has stored the
    dispatch. Refusing it would send every unit's system into a retry loop that adds load just
    when followup is behind (a fifth to seven tenths of the bench's saturating tickets had a
    command refused and sent again); instead the dispatch handler of this process says what it
    stored, and the command is carried out then."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future] = {}

    def stored(self, ticket_ids: Iterable[str]) -> None:
        """These tickets' dispatches are in the store: wake the commands waiting for them."""
        for ticket_id in ticket_ids:
            waiter = self._waiting.pop(ticket_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    @contextlib.asynccontextmanager
    async def expecting(self, ticket_ids: set[str]) -> AsyncIterator[Callable[[set[str], float], Awaitable[None]]]:
        """Listen for these tickets' dispatches; yields `arrived(ticket_ids, timeout_s)`, which
        returns once those are all stored or after the timeout. The caller reads the store
        after entering, so a dispatch stored just before is seen there, and one stored after
        wakes it. Another instance may hold the dispatches' partitions: read the store again
        after waiting either way."""
        loop = asyncio.get_running_loop()
        waiters = {t: self._waiting.setdefault(t, loop.create_future()) for t in ticket_ids}

        async def arrived(awaited: set[str], timeout_s: float) -> None:
            pending = [waiters[t] for t in awaited if t in waiters]
            if pending:
                await asyncio.wait(pending, timeout=timeout_s)
        try:
            yield arrived
        finally:
            for ticket_id, waiter in waiters.items():
                if self._waiting.get(ticket_id) is waiter and not waiter.done():
                    del self._waiting[ticket_id]


def register(runtime: ServiceRuntime[FollowupSettings], store: FollowupStore, publisher: Publisher,
             scheduler: DeadlineScheduler, dispatch_waits: DispatchWaits) -> None:
    """Subscribe followup's handlers on the runtime's broker."""

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_DISPATCHED, publisher=publisher)
    async def on_tickets_dispatched(records: Records) -> None:
        async with retry_later("followup dispatch batch"):
            events, dead_letters = publisher.parse_all(records, TicketDispatched)
            # The ticket's trace, so a deadline the scheduler fires later links back to it.
            await store.apply_dispatches(events=events,
                                         traceparents={e.ticket_id: telemetry.traceparent(e.ticket_id) for e in events})
            dispatch_waits.stored(e.ticket_id for e in events)
            await scheduler.schedule_tickets({e.ticket_id for e in events})
            await publisher.publish_all(dead_letters)


def register_clock(runtime: ServiceRuntime[FollowupSettings], publisher: Publisher,
                   scheduler: DeadlineScheduler) -> None:
    """In simulation and replay, business time comes from the ticks on `hotline.clock`."""

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.CLOCK, publisher=publisher)
    async def on_hotline_clock(records: Records) -> None:
        async with retry_later("followup clock batch"):
            ticks, dead_letters = publisher.parse_all(records, BusinessTimeTick)
            if ticks:
                await scheduler.advance(max(t.now for t in ticks))
            await publisher.publish_all(dead_letters)


def register_summons(runtime: ServiceRuntime[FollowupSettings], store: FollowupStore, publisher: Publisher,
                     scheduler: DeadlineScheduler) -> None:
    """Whistle summons from routing start each summoned unit's on-site deadline."""

    @batch_subscriber(runtime.broker, runtime.settings, runtime.name, topics.TICKETS_ROUTING, publisher=publisher)
    async def on_tickets_routing(records: Records) -> None:
        async with retry_later("followup summons batch"):
            by_type: dict[str | None, list] = {}
            for record in records:
                by_type.setdefault(topics.event_type_of(record.headers), []).append(record)
            summons, dead_letters = publisher.parse_all(by_type.get("DepartmentsSummoned", []), DepartmentsSummoned)
            await store.apply_summons(events=summons)
            # Returns and escalations belong on the ticket's timeline; refusals do not.
            returns, more_letters = publisher.parse_all(by_type.get("TicketReturned", []), TicketReturned)
            escalations, letters = publisher.parse_all(by_type.get("TicketEscalated", []), TicketEscalated)
            more_letters += letters
            await store.record_timeline(events=[*summons, *returns, *escalations])
            await scheduler.schedule_tickets({e.ticket_id for e in summons})
            await publisher.publish_all(dead_letters + more_letters)


def register_callbacks(runtime: ServiceRuntime[FollowupSettings], store: FollowupStore, publisher: Publisher,
                       scheduler: DeadlineScheduler) -> None:
    """Callback survey results reopen or close tickets."""
    settings = runtime.settings
    reopen_period = timedelta(hours=settings.reopen_report_back_hours)

    @batch_subscriber(runtime.broker, settings, runtime.name, topics.CALLBACKS, publisher=publisher)
    async def on_hotline_callbacks(records: Records) -> None:
        async with retry_later("followup callback batch"):
            pairs, dead_letters = [], []
            for record in records:
                results, letters = publisher.parse_all([record], CallbackResult)
                dead_letters += letters
                pairs += [(record, r) for r in results]
            tickets = await store.get_many(ticket_ids=sorted({r.ticket_id for _, r in pairs}))
            changes: list[tuple[FollowupTicket, Event | None, CallbackResult]] = []
            outgoing: list[Outgoing] = []
            for record, result in pairs:
                ticket = tickets.get(result.ticket_id)
                if ticket is None:
                    dead_letters.append(publisher.dead_letter(
                        record, reason="no dispatched ticket with this id", field="ticket_id"))
                    continue
                ticket, event = apply_callback(ticket, result, reopen_period=reopen_period)
                tickets[ticket.ticket_id] = ticket
                changes.append((ticket, event, result))
                if event is not None:
                    outgoing.append((topics.TICKETS_FOLLOWUP, event, ticket.ticket_id))
            # Published first: a crash before saving recomputes the same events (same ids).
            await publisher.publish_all([*outgoing, *dead_letters])
            await store.save_callbacks(changes=changes)
            await scheduler.schedule_tickets({t.ticket_id for t, e, _ in changes if e is not None})


def register_commands(runtime: ServiceRuntime[FollowupSettings], actions: FollowupActions, publisher: Publisher,
                      dispatch_waits: DispatchWaits) -> None:
    """Unit systems may act through `followup.commands` instead of HTTP; a refusal is an event.
    A command that overtook its ticket's dispatch waits for it (`command_dispatch_wait_s`)."""
    settings = runtime.settings

    @batch_subscriber(runtime.broker, settings, runtime.name, topics.FOLLOWUP_COMMANDS, publisher=publisher)
    async def on_followup_commands(records: Records) -> None:
        async with retry_later("followup command batch"):
            commands, dead_letters = publisher.parse_all(records, FOLLOWUP_COMMAND)
            refused = await _carry_out_in_order(actions, commands)
            early = [c for c, r in refused if _not_dispatched_yet(r)]
            if early and settings.command_dispatch_wait_s > 0:
                awaited = {c.ticket_id for c in early}
                async with dispatch_waits.expecting(awaited) as arrived:
                    known = await actions.store.get_many(ticket_ids=sorted(awaited))
                    await arrived(awaited - set(known), settings.command_dispatch_wait_s)
                refused = [(c, r) for c, r in refused if not _not_dispatched_yet(r)]
                refused += await _carry_out_in_order(actions, early)
            await publisher.publish_all([*(_refused_event(c, r) for c, r in refused), *dead_letters])


def _not_dispatched_yet(refusal: Refusal) -> bool:
    return refusal.status == 404 and refusal.field == "ticket_id"


async def _carry_out_in_order(actions: FollowupActions, commands: list) -> list[tuple]:
    """Carry out commands wave by wave (see `command_waves`); the refused ones with their refusals."""
    refused: list[tuple] = []
    for wave in command_waves(commands):
        refused += await _carry_out(actions, wave, now=datetime.now(UTC))
    return refused


def _refused_event(command, refusal: Refusal) -> tuple[str, FollowupCommandRefused, str]:
    # The id names the request, not the command id alone: a different request refused under a
    # reused command id is another refusal, not a copy of the first one's.
    request = request_hash(command.action, command.ticket_id, command.payload)
    return topics.TICKETS_FOLLOWUP, FollowupCommandRefused(
        event_id=deterministic_event_id("FollowupCommandRefused", command.command_id, request),
        ticket_id=command.ticket_id, occurred_at=datetime.now(UTC),
        command_id=command.command_id, action=command.action,
        unit_code=getattr(command.payload, "unit_code", None), status=refusal.status,
        # On Kafka the key is the command's id.
        field="command_id" if isinstance(refusal, KeyReused) else refusal.field, reason=refusal.reason,
    ), command.ticket_id


def command_waves(commands: list) -> list[list]:
    """Each ticket's commands in their order: the first wave holds every ticket's first command,
    the next their second, and so on (a ticket's later command sees what its earlier one did)."""
    by_ticket: dict[str, list] = {}
    for command in commands:
        by_ticket.setdefault(command.ticket_id, []).append(command)
    waves: list[list] = []
    for ticket_commands in by_ticket.values():
        for depth, command in enumerate(ticket_commands):
            if depth == len(waves):
                waves.append([])
            waves[depth].append(command)
    return waves


async def _carry_out(actions: FollowupActions, wave: list, *, now: datetime) -> list[tuple]:
    """One wave (one command per ticket): contacts and resolutions, most of the traffic, together
    in a few round trips; the rarer commands side by side as their HTTP forms. Returns the
    refused commands with their refusals."""
    batched = [c for c in wave if isinstance(c, RecordContactCommand | ResolveTicketCommand)]
    others = [c for c in wave if not isinstance(c, RecordContactCommand | ResolveTicketCommand)]
    outcomes = await actions.contacts_and_resolutions(
        [(c.ticket_id, c.command_id, c.payload) for c in batched], now=now) if batched else []
    refused: list[tuple] = [(c, r) for c, r in zip(batched, outcomes, strict=True) if r is not None]
    gate = asyncio.Semaphore(COMMAND_CONCURRENCY)

    async def one(command) -> None:
        async with gate:
            try:
                await perform(actions, command, now=now)
            except (Refusal, DomainError) as refusal:  # casework's signing and notes raise domain errors
                refused.append((command, refusal))

    # A command waits on a few store round trips and an acknowledged publish; different tickets
    # touch different documents, as concurrent HTTP requests do. Any other error cancels the rest
    # and the whole batch is redelivered (commands are idempotent).
    async with asyncio.TaskGroup() as group:
        for command in others:
            group.create_task(one(command))
    return refused


async def perform(actions: FollowupActions, command, *, now: datetime) -> None:
    """Carry out one Kafka command as its HTTP form would."""
    match command:
        case RecordContactCommand():
            await actions.record_contact(command.ticket_id, command.payload, idempotency_key=command.command_id,
                                         now=now)
        case ResolveTicketCommand():
            await actions.resolve(command.ticket_id, command.payload, now=now)
        case RequestExtensionCommand():
            await actions.request_extension(command.ticket_id, command.payload, now=now)
        case DecideExtensionCommand():
            await actions.decide_extension(command.ticket_id, command.payload)
        case ReportOnSiteCommand():
            await actions.report_on_site(command.ticket_id, command.payload, now=now)
        case SignTicketCommand():
            await actions.sign(command.ticket_id, command.payload, now=now)
        case AddProgressNoteCommand():
            await actions.note(command.ticket_id, command.payload, idempotency_key=command.command_id, now=now)


def http_router(
    runtime: ServiceRuntime[FollowupSettings], store: FollowupStore, actions: FollowupActions,
    credentials: CredentialStore,
) -> APIRouter:
    """The handling units' API: every call carries the unit's own bearer token."""
    settings = runtime.settings
    router = APIRouter(prefix="/v1", tags=["units"])
    Caller = Annotated[Principal, Depends(bearer_principal(credentials))]

    def created(response: Response, is_new: bool) -> None:
        response.status_code = 201 if is_new else 200

    @router.post("/tickets/{ticket_id}/contacts", status_code=201)
    async def post_contact(
        ticket_id: str,
        command: RecordContact,
        response: Response,
        caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> ContactRecorded:
        """Record a contact (phone, face to face, WeChat, on site) with the citizen. The same
        `Idempotency-Key` with the same request answers 200 with the recorded event; with a
        different request, 409."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit records contacts for itself only")
        event, is_new = await actions.record_contact(ticket_id, command, idempotency_key=idempotency_key,
                                                     now=datetime.now(UTC))
        created(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/resolution", status_code=201)
    async def post_resolution(
        ticket_id: str, command: ResolveTicket, response: Response, caller: Caller,
    ) -> TicketResolved:
        """Report the ticket resolved (an outcome and a resolution code); the callback decides."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit resolves its own tickets only")
        event, is_new = await actions.resolve(ticket_id, command, now=datetime.now(UTC))
        created(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/extensions", status_code=201)
    async def post_extension(ticket_id: str, command: RequestExtension, caller: Caller,
                             response: Response) -> ExtensionRequested:
        """Ask the hotline centre for more time (延期), once a round and before the deadline; the
        same request again answers 200 with the recorded event."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit asks for its own tickets only")
        event, is_new = await actions.request_extension(ticket_id, command, now=datetime.now(UTC))
        created(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/extensions/decision", status_code=201)
    async def post_extension_decision(ticket_id: str, command: DecideExtension, caller: Caller,
                                      response: Response) -> ExtensionDecided:
        """The hotline centre approves (the deadline moves) or denies the pending extension; the
        same decision again answers 200 with the recorded event."""
        if not caller.is_centre:
            raise Refusal(403, "authorization", "only the hotline centre decides extensions")
        event, is_new = await actions.decide_extension(ticket_id, command)
        created(response, is_new)
        return event

    @router.post("/tickets/{ticket_id}/on-site", status_code=201)
    async def post_on_site(ticket_id: str, command: ReportOnSite, response: Response, caller: Caller) -> ReportedOnSite:
        """A summoned department reports on site (报到), against its 30-minute deadline."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit reports for itself only")
        return (await actions.report_on_site(ticket_id, command, now=datetime.now(UTC)))[0]

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
        if doc is None or "unit_code" not in doc:
            raise Refusal(404, "ticket_id", f"ticket {ticket_id} is unknown or not dispatched yet")
        allowed = {doc.get("unit_code"), *doc.get("co_handlers", []),
                   *(s["unit_code"] for s in doc.get("summons", []))}
        if not caller.is_centre and caller.unit_code not in allowed:
            raise Refusal(403, "ticket_id", "the ticket is not assigned to this unit")
        return ticket_view(doc)

    return router


async def refusal_response(_request, exc: Refusal) -> JSONResponse:
    """A refused action as a 4xx naming the field and the reason."""
    loc = [exc.location, exc.field] if exc.location else [exc.field]
    return JSONResponse({"detail": [{"loc": loc, "msg": exc.reason}]}, status_code=exc.status)
