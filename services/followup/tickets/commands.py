"""Units' systems act through `followup.commands` as they would over HTTP; this carries a batch of
commands out and answers each refused one with a `FollowupCommandRefused` event (its status,
field and reason, as the HTTP answer would say them).

Apart from `tickets/app.py` because a batch has its own concerns: a ticket's commands in order,
many tickets at once, and commands that overtook their ticket's dispatch waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime

from hotline.contracts import deterministic_event_id, topics
from hotline.contracts.followup import (
    AddProgressNoteCommand,
    DecideExemptionCommand,
    DecideExtensionCommand,
    FollowupCommand,
    FollowupCommandRefused,
    RecordContactCommand,
    ReportOnSiteCommand,
    RequestExemptionCommand,
    RequestExtensionCommand,
    ResolveTicketCommand,
    SignTicketCommand,
)
from hotline.domain_errors import DomainError, NotFound
from hotline.followup.exemptions.app import Exemptions
from hotline.followup.tickets.app import FollowupActions
from hotline.followup.tickets.domain import KeyReused
from hotline.runtime.idempotency import request_hash

# Tickets whose Kafka commands one batch carries out at once (each ticket's stay in order).
COMMAND_CONCURRENCY = 32

Refused = tuple[FollowupCommand, DomainError]


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


class FollowupCommands:
    """Carries out `followup.commands` batches with the ticket use cases.

    A command that overtook its ticket's dispatch waits for it (`dispatch_wait_s`, 0: refused at once).
    Exemption commands go to `exemptions` (without it they are refused as unknown here, 404)."""

    def __init__(self, actions: FollowupActions, waits: DispatchWaits, *, dispatch_wait_s: float,
                 exemptions: Exemptions | None = None) -> None:
        self._actions = actions
        self._exemptions = exemptions
        self._waits = waits
        self._wait_s = dispatch_wait_s

    async def carry_out(self, commands: list[FollowupCommand]) -> list[tuple[str, FollowupCommandRefused, str]]:
        """Carry the batch out; the refusal events to publish."""
        refused = await _carry_out_in_order(self._actions, commands, self._exemptions)
        early = [c for c, r in refused if _not_dispatched_yet(r)]
        if early and self._wait_s > 0:
            awaited = {c.ticket_id for c in early}
            async with self._waits.expecting(awaited) as arrived:
                known = await self._actions.store.get_many(ticket_ids=sorted(awaited))
                await arrived(awaited - set(known), self._wait_s)
            refused = [(c, r) for c, r in refused if not _not_dispatched_yet(r)]
            refused += await _carry_out_in_order(self._actions, early, self._exemptions)
        return [_refused_event(c, r) for c, r in refused]


def _not_dispatched_yet(refusal: DomainError) -> bool:
    return refusal.status == 404 and refusal.field == "ticket_id"


async def _carry_out_in_order(actions: FollowupActions, commands: list[FollowupCommand],
                              exemptions: Exemptions | None) -> list[Refused]:
    """Carry out commands wave by wave (see `command_waves`); the refused ones with their refusals."""
    refused: list[Refused] = []
    for wave in command_waves(commands):
        refused += await _carry_out(actions, wave, exemptions, now=datetime.now(UTC))
    return refused


def _refused_event(command: FollowupCommand, refusal: DomainError) -> tuple[str, FollowupCommandRefused, str]:
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


def command_waves(commands: list[FollowupCommand]) -> list[list[FollowupCommand]]:
    """Each ticket's commands in their order: the first wave holds every ticket's first command,
    the next their second, and so on (a ticket's later command sees what its earlier one did)."""
    by_ticket: dict[str, list[FollowupCommand]] = {}
    for command in commands:
        by_ticket.setdefault(command.ticket_id, []).append(command)
    waves: list[list[FollowupCommand]] = []
    for ticket_commands in by_ticket.values():
        for depth, command in enumerate(ticket_commands):
            if depth == len(waves):
                waves.append([])
            waves[depth].append(command)
    return waves


async def _carry_out(actions: FollowupActions, wave: list[FollowupCommand], exemptions: Exemptions | None, *,
                     now: datetime) -> list[Refused]:
    """One wave (one command per ticket): contacts and resolutions, most of the traffic, together
    in a few round trips; the rarer commands side by side as their HTTP forms. Returns the
    refused commands with their refusals."""
    batched = [c for c in wave if isinstance(c, RecordContactCommand | ResolveTicketCommand)]
    others = [c for c in wave if not isinstance(c, RecordContactCommand | ResolveTicketCommand)]
    outcomes = await actions.contacts_and_resolutions(
        [(c.ticket_id, c.command_id, c.payload) for c in batched], now=now) if batched else []
    refused: list[Refused] = [(c, r) for c, r in zip(batched, outcomes, strict=True) if r is not None]
    gate = asyncio.Semaphore(COMMAND_CONCURRENCY)

    async def one(command: FollowupCommand) -> None:
        async with gate:
            try:
                await perform(actions, command, now=now, exemptions=exemptions)
            except DomainError as refusal:
                refused.append((command, refusal))

    # A command waits on a few store round trips and an acknowledged publish; different tickets
    # touch different documents, as concurrent HTTP requests do. Any other error cancels the rest
    # and the whole batch is redelivered (commands are idempotent).
    async with asyncio.TaskGroup() as group:
        for command in others:
            group.create_task(one(command))
    return refused


async def perform(actions: FollowupActions, command: FollowupCommand, *, now: datetime,
                  exemptions: Exemptions | None = None) -> None:
    """Carry out one Kafka command as its HTTP form would."""
    match command:
        case RequestExemptionCommand():
            await _served(exemptions, command.action).request(command.ticket_id, command.payload,
                                                              idempotency_key=command.command_id, now=now)
        case DecideExemptionCommand():
            await _served(exemptions, command.action).decide(command.ticket_id, command.payload,
                                                             idempotency_key=command.command_id, now=now)
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


def _served(exemptions: Exemptions | None, action: str) -> Exemptions:
    """The exemption use cases, when this process was given them."""
    if exemptions is None:
        raise NotFound("action", f"{action} is not served by this followup")
    return exemptions
