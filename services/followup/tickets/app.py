"""A ticket's life at followup, the use cases: a dispatch names its holder, routing's summons,
returns and escalations join its timeline, a callback reopens or closes it, and what a unit (or
the centre) does to it, whether over HTTP or as a Kafka command: read the ticket, decide in the
pure domain (`tickets/domain.py`), store (its timeline entry in the same write), publish.

Each unit action returns its event and whether it was new; a retry returns the same event, and
the event is published again (same id) so a crash between the store write and the publish is
healed by the retry, while consumers drop the copy. The store, publisher and scheduler are the
protocols below; `main` wires the MongoDB store, the Kafka publisher and the deadline scheduler in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from hotline.contracts import (
    AddProgressNote,
    CallbackResult,
    ContactRecorded,
    DecideExtension,
    ExtensionDecided,
    ExtensionRequested,
    ProgressNoted,
    RecordContact,
    ReportedOnSite,
    ReportOnSite,
    RequestExtension,
    ResolveTicket,
    SignTicket,
    TicketDispatched,
    TicketResolved,
    TicketSigned,
    topics,
)
from hotline.contracts.common import Contract, Event
from hotline.contracts.routing import (
    CategoryCorrected,
    DepartmentsSummoned,
    ReturnRequested,
    ReturnReviewed,
    TicketEscalated,
    TicketRedispatched,
    TicketReturned,
)
from hotline.domain_errors import Conflict, DomainError, NotYours
from hotline.followup.casework.domain import casework_ticket as ticket_doc
from hotline.followup.casework.domain import note_id_for, note_progress, sign
from hotline.followup.casework.store import CaseworkStore
from hotline.followup.tickets.domain import (
    FollowupTicket,
    KeyReused,
    TicketState,
    WorklistView,
    apply_callback,
    check_readable,
    contact_id_for,
    corrected_facts,
    decide_extension,
    record_contact,
    repeated_extension_decision,
    repeated_extension_request,
    report_on_site,
    request_extension,
    resolve,
    same_request,
    select_worklist,
)
from hotline.followup.tickets.store import Change, contact_change, recorded_resolution, resolution_change
from hotline.runtime.auth import Principal
from hotline.runtime.idempotency import request_hash

# (topic, message, key): what a publisher sends, dead letters included.
Outgoing = tuple[str, Contract, str | None]

_CHANGED_MEANWHILE = "the ticket changed meanwhile; read it and try again"

# Routing's events that followup puts on the ticket's timeline as they are.
RoutingTimelineEvent = (TicketReturned | TicketEscalated | ReturnRequested | ReturnReviewed | TicketRedispatched
                        | CategoryCorrected)


class TicketStore(Protocol):
    """Where followup keeps its tickets (`hotline.followup.tickets.store.FollowupStore`)."""

    async def apply_dispatches(self, *, events: list[TicketDispatched],
                               traceparents: dict[str, str | None] | None = None) -> None: ...

    async def apply_summons(self, *, events: list[DepartmentsSummoned]) -> None: ...

    async def get_by_ticket_id(self, *, ticket_id: str) -> FollowupTicket | None: ...

    async def get_many(self, *, ticket_ids: list[str]) -> dict[str, FollowupTicket]: ...

    async def get_many_with_docs(self, *, ticket_ids: list[str]) -> dict[str, tuple[FollowupTicket, dict]]: ...

    async def add_contact(self, *, event: ContactRecorded, details: dict | None = None) -> bool: ...

    async def save_resolution(self, *, event: TicketResolved, note: str) -> bool: ...

    async def apply_changes(self, changes: list[Change]) -> int: ...

    async def save_extension_request(self, *, event: ExtensionRequested) -> bool: ...

    async def save_extension_decision(self, *, event: ExtensionDecided) -> bool: ...

    async def save_on_site(self, *, event: ReportedOnSite) -> bool: ...

    async def save_callbacks(self, *,
                             changes: Sequence[tuple[FollowupTicket, Event | None, CallbackResult]]) -> None: ...

    async def record_timeline(self, *, events: Sequence[Event | CallbackResult],
                              sets: dict[str, dict] | None = None) -> None: ...

    async def worklist(self, *, unit_code: str) -> list[dict]: ...

    async def timeline(self, *, ticket_id: str) -> dict | None: ...


class WaitingExtensions(Protocol):
    """The list of requests waiting for the centre (`hotline.followup.desk.store.DeskStore`)."""

    async def keep_extension(self, *, event: ExtensionRequested) -> None: ...

    async def drop_extension(self, *, ticket_id: str) -> None: ...


class EventPublisher(Protocol):
    """Publishes events and dead letters, waiting for the broker (`hotline.runtime.kafka.Publisher`)."""

    async def publish_all(self, items: Iterable[Outgoing]) -> None: ...


class DispatchListener(Protocol):
    """Learns which tickets' dispatches are stored (`hotline.followup.tickets.commands.DispatchWaits`)."""

    def stored(self, ticket_ids: Iterable[str]) -> None: ...


class Scheduler(Protocol):
    """Files each ticket's next deadline mark (`hotline.followup.deadlines.app.DeadlineScheduler`)."""

    async def schedule_tickets(self, ticket_ids: list[str] | set[str]) -> None: ...


@dataclass
class FollowupActions:
    """Followup's use cases for a ticket's life."""

    store: TicketStore
    publisher: EventPublisher
    scheduler: Scheduler
    clock_skew: timedelta
    casework: CaseworkStore
    # `main` passes the settings' (`REOPEN_REPORT_BACK_HOURS`, `DUE_SOON_HOURS`); these are their defaults.
    reopen_period: timedelta = timedelta(hours=72)
    due_soon: timedelta = timedelta(hours=24)
    # Told of each stored dispatch: the Kafka commands that overtook it wait there (`tickets/commands.py`).
    dispatch_waits: DispatchListener | None = None
    # Kept in step with each extension request and decision, after the ticket's own write.
    waiting: WaitingExtensions | None = None

    async def _done(self, event: Event) -> None:
        await self.store.record_timeline(events=[event])
        await self.publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, event.ticket_id)])

    async def _publish(self, events: Sequence[Event]) -> None:
        await self.publisher.publish_all([(topics.TICKETS_FOLLOWUP, e, e.ticket_id) for e in events])

    # ------------------------------------------------------------ what other services tell followup

    async def apply_dispatches(self, events: list[TicketDispatched], *, traceparents: dict[str, str | None],
                               rejected: Sequence[Outgoing] = ()) -> None:
        """Record who holds each ticket (the highest attempt) and file its deadlines. `traceparents`:
        each ticket's trace, so a deadline fired later links back to it; `rejected`: dead letters."""
        await self.store.apply_dispatches(events=events, traceparents=traceparents)
        if self.dispatch_waits is not None:
            self.dispatch_waits.stored(e.ticket_id for e in events)
        await self.scheduler.schedule_tickets({e.ticket_id for e in events})
        await self.publisher.publish_all(rejected)

    async def apply_routing(self, summons: list[DepartmentsSummoned], others: Sequence[RoutingTimelineEvent], *,
                            rejected: Sequence[Outgoing] = ()) -> None:
        """Summons start the summoned units' on-site deadlines; they, returns, escalations and the
        centre's reviews, re-dispatches and corrections belong on the ticket's timeline. A
        correction also sets the ticket's `facts.category` / `facts.urgency`, in the same write."""
        await self.store.apply_summons(events=summons)
        await self.store.record_timeline(events=[*summons, *others], sets=corrected_facts(others))
        await self.scheduler.schedule_tickets({e.ticket_id for e in summons})
        await self.publisher.publish_all(rejected)

    async def apply_callbacks(self, results: Sequence[tuple[Any, CallbackResult]], *, rejected: Sequence[Outgoing],
                              unknown: Callable[[Any], Outgoing]) -> None:
        """Callback survey results reopen or close their tickets. `results` are (origin, result):
        the result of a ticket followup never had dispatched is dead-lettered as `unknown(origin)`."""
        tickets = await self.store.get_many(ticket_ids=sorted({r.ticket_id for _, r in results}))
        changes: list[tuple[FollowupTicket, Event | None, CallbackResult]] = []
        outgoing: list[Outgoing] = []
        dead_letters = list(rejected)
        for origin, result in results:
            ticket = tickets.get(result.ticket_id)
            if ticket is None:
                dead_letters.append(unknown(origin))
                continue
            ticket, event = apply_callback(ticket, result, reopen_period=self.reopen_period)
            tickets[ticket.ticket_id] = ticket
            changes.append((ticket, event, result))
            if event is not None:
                outgoing.append((topics.TICKETS_FOLLOWUP, event, ticket.ticket_id))
        # Published first: a crash before saving recomputes the same events (same ids).
        await self.publisher.publish_all([*outgoing, *dead_letters])
        await self.store.save_callbacks(changes=changes)
        await self.scheduler.schedule_tickets({t.ticket_id for t, e, _ in changes if e is not None})

    # ------------------------------------------------------------ what units do (HTTP and Kafka)

    async def record_contact(self, ticket_id: str, command: RecordContact, *, idempotency_key: str | None,
                             now: datetime) -> tuple[ContactRecorded, bool]:
        """A contact (phone, face to face, WeChat, on site) with the citizen."""
        ticket = await self.store.get_by_ticket_id(ticket_id=ticket_id)
        keyed = _keyed_hash("record_contact", ticket_id, command, idempotency_key)
        event = self._contact(ticket, ticket_id, command, idempotency_key=idempotency_key, now=now,
                              request_hash=keyed)
        # The timeline entry is written with the contact.
        is_new = await self.store.add_contact(event=event, details=_contact_details(command, keyed))
        if not is_new and keyed is not None:
            # A concurrent request may have taken the key since the read: answer for the same one only.
            stored = await self.store.get_by_ticket_id(ticket_id=ticket_id)
            if stored is None or not same_request(stored.contact_hashes.get(event.contact_id), keyed):
                raise KeyReused()
        await self._publish([event])
        return event, is_new

    async def resolve(self, ticket_id: str, command: ResolveTicket, *, now: datetime) -> tuple[TicketResolved, bool]:
        """The round's resolution; the same resolution again is answered with the first."""
        ticket, doc = (await self.store.get_many_with_docs(ticket_ids=[ticket_id])).get(ticket_id, (None, None))
        if (again := _repeated_resolution(ticket, doc, command)) is not None:
            return again, False
        event = resolve(ticket, command, ticket_id=ticket_id, now=now, clock_skew=self.clock_skew)
        if not await self.store.save_resolution(event=event, note=command.note):
            raise Conflict("ticket_id", _CHANGED_MEANWHILE)
        await self._publish([event])
        return event, True

    async def contacts_and_resolutions(self, commands: list[tuple[str, str, RecordContact | ResolveTicket]], *,
                                       now: datetime) -> list[DomainError | None]:
        """Many tickets' contacts and resolutions (at most one per ticket) as one read, one write
        and one publish: the store answers a bulk write of many changes about as fast as one
        change, so a command batch no longer costs three round trips a command.

        `commands` are (ticket id, command id, body); the answer is each one's refusal or None.
        A redelivered command has the same outcome as its first delivery, as over HTTP."""
        found = await self.store.get_many_with_docs(ticket_ids=sorted({t for t, _, _ in commands}))
        outcomes: list[DomainError | None] = []
        changes: list[Change] = []
        events: list[Event] = []
        resolutions: dict[int, TicketResolved] = {}  # by the command's place in `commands`
        contacts: dict[int, tuple[ContactRecorded, str | None]] = {}
        for ticket_id, command_id, command in commands:
            ticket, doc = found.get(ticket_id, (None, None))
            event: Event
            try:
                if isinstance(command, RecordContact):
                    keyed = _keyed_hash("record_contact", ticket_id, command, command_id)
                    contact = self._contact(ticket, ticket_id, command, idempotency_key=command_id, now=now,
                                            request_hash=keyed)
                    changes.append(contact_change(contact, _contact_details(command, keyed)))
                    contacts[len(outcomes)] = (contact, keyed)
                    event = contact
                elif (repeated := _repeated_resolution(ticket, doc, command)) is not None:
                    event = repeated
                else:
                    resolution = resolve(ticket, command, ticket_id=ticket_id, now=now, clock_skew=self.clock_skew)
                    changes.append(resolution_change(resolution, command.note))
                    resolutions[len(outcomes)] = resolution
                    event = resolution
            except DomainError as refusal:
                outcomes.append(refusal)
                continue
            outcomes.append(None)
            events.append(event)
        changed = await self.store.apply_changes(changes)
        if changed < len(changes):
            # Some guarded change did not apply: a resolution that lost a race (another instance,
            # an HTTP call) is refused, as `resolve` would refuse it; a contact whose key another
            # request took meanwhile is refused, as `record_contact` would refuse it.
            stored = await self.store.get_many_with_docs(ticket_ids=sorted(
                {e.ticket_id for e in resolutions.values()} | {e.ticket_id for e, _ in contacts.values()}))
            for index, event in resolutions.items():
                if not _same_resolution(recorded_resolution(stored.get(event.ticket_id, (None, {}))[1]), event):
                    outcomes[index] = Conflict("ticket_id", _CHANGED_MEANWHILE)
                    events.remove(event)
            for index, (event, keyed) in contacts.items():
                ticket = stored.get(event.ticket_id, (None, None))[0]
                if ticket is None or not same_request(ticket.contact_hashes.get(event.contact_id), keyed):
                    outcomes[index] = KeyReused()
                    events.remove(event)
        await self._publish(events)
        return outcomes

    def _contact(self, ticket: FollowupTicket | None, ticket_id: str, command: RecordContact, *,
                 idempotency_key: str | None, now: datetime, request_hash: str | None) -> ContactRecorded:
        return record_contact(ticket, command, ticket_id=ticket_id,
                              contact_id=contact_id_for(ticket_id, command, idempotency_key),
                              now=now, clock_skew=self.clock_skew, request_hash=request_hash)

    async def request_extension(self, ticket_id: str, command: RequestExtension, *,
                                now: datetime) -> tuple[ExtensionRequested, bool]:
        """Ask the centre for more time (延期)."""
        ticket = await self.store.get_by_ticket_id(ticket_id=ticket_id)
        if (again := repeated_extension_request(ticket, command)) is not None:
            if ticket is not None and ticket.extension is not None and ticket.extension.state == "requested":
                await self._keep_waiting(again)  # healed, if a crash came between the two writes
            return again, False
        event = request_extension(ticket, command, ticket_id=ticket_id, now=now, clock_skew=self.clock_skew)
        if not await self.store.save_extension_request(event=event):
            raise Conflict("ticket_id", "an extension was already requested for this round")
        await self._keep_waiting(event)
        await self._done(event)
        return event, True

    async def _keep_waiting(self, event: ExtensionRequested) -> None:
        if self.waiting is not None:
            await self.waiting.keep_extension(event=event)

    async def _decided(self, ticket_id: str) -> None:
        if self.waiting is not None:
            await self.waiting.drop_extension(ticket_id=ticket_id)

    async def decide_extension(self, ticket_id: str, command: DecideExtension) -> tuple[ExtensionDecided, bool]:
        """The centre's decision; an approval moves the deadline, so the timers are rescheduled."""
        ticket = await self.store.get_by_ticket_id(ticket_id=ticket_id)
        if (again := repeated_extension_decision(ticket, command)) is not None:
            await self._decided(ticket_id)
            return again, False
        event = decide_extension(ticket, command, ticket_id=ticket_id)
        if not await self.store.save_extension_decision(event=event):
            raise Conflict("ticket_id", "no extension is waiting for a decision")
        await self._decided(ticket_id)
        await self._done(event)
        await self.scheduler.schedule_tickets([ticket_id])
        return event, True

    async def report_on_site(self, ticket_id: str, command: ReportOnSite, *,
                             now: datetime) -> tuple[ReportedOnSite, bool]:
        """A summoned unit's arrival on site (报到)."""
        event = report_on_site(await self.store.get_by_ticket_id(ticket_id=ticket_id), command,
                               ticket_id=ticket_id, now=now, clock_skew=self.clock_skew)
        is_new = await self.store.save_on_site(event=event)
        await self._done(event)
        return event, is_new

    async def sign(self, ticket_id: str, command: SignTicket, *, now: datetime) -> tuple[TicketSigned, bool]:
        """Sign for the ticket (签收), once per unit and dispatch."""
        ticket = ticket_doc(await self.store.timeline(ticket_id=ticket_id))
        event, is_new = await self.casework.add_signature(
            event=sign(ticket, command, ticket_id=ticket_id, now=now, clock_skew=self.clock_skew))
        await self._done(event)
        return event, is_new

    async def note(self, ticket_id: str, command: AddProgressNote, *, idempotency_key: str | None,
                   now: datetime) -> tuple[ProgressNoted, bool]:
        """A progress note; its text stays in followup's store."""
        ticket = ticket_doc(await self.store.timeline(ticket_id=ticket_id))
        event = note_progress(ticket, command, ticket_id=ticket_id,
                              note_id=note_id_for(ticket_id, command, idempotency_key), now=now,
                              clock_skew=self.clock_skew)
        keyed = _keyed_hash("note_progress", ticket_id, command, idempotency_key)
        event, is_new, stored_hash = await self.casework.add_note(event=event, text=command.text.strip(),
                                                                  request_hash=keyed)
        if not same_request(stored_hash, keyed):
            raise KeyReused()
        await self._done(event)
        return event, is_new

    # ------------------------------------------------------------ what units read

    async def worklist(self, caller: Principal, unit_code: str, view: WorklistView, *, now: datetime) -> dict:
        """A unit's worklist (its own, or any for the centre): open, overdue or due soon."""
        if caller.unit_code != unit_code and not caller.is_centre:
            raise NotYours("unit_code", "a unit reads its own worklist only")
        tickets = select_worklist(await self.store.worklist(unit_code=unit_code), view, now=now,
                                  due_soon=self.due_soon)
        for ticket in tickets:
            ticket["ticket_id"] = ticket.pop("_id")
        return {"unit_code": unit_code, "state": view.value, "count": len(tickets), "tickets": tickets}

    async def ticket(self, caller: Principal, ticket_id: str) -> dict:
        """The ticket as followup knows it, for its units and the centre."""
        doc = await self.store.timeline(ticket_id=ticket_id)
        return check_readable(doc, ticket_id, caller=caller.unit_code, centre=caller.is_centre)


def _contact_details(command: RecordContact, keyed: str | None) -> dict:
    """What the store keeps of a contact beyond its event (it may hold personal data), and the
    hash of the request that recorded it under a key."""
    details = command.model_dump(include={"notes", "place", "participants", "met_with", "attachments"})
    return {**details, "request_hash": keyed} if keyed else details


def _keyed_hash(action: str, ticket_id: str, command: Contract, idempotency_key: str | None) -> str | None:
    """The request's hash when an idempotency key (a command id) names it; None without a key
    (the action's id then derives from its content)."""
    return request_hash(action, ticket_id, command) if idempotency_key else None


def _repeated_resolution(ticket: FollowupTicket | None, doc: dict | None,
                         command: ResolveTicket) -> TicketResolved | None:
    """The round's recorded resolution when this command is the same one again; None otherwise."""
    if ticket is None or ticket.state is not TicketState.RESOLVED or command.unit_code != ticket.unit_code:
        return None
    recorded = recorded_resolution(doc)
    return recorded if recorded is not None and recorded.resolution_code == command.resolution_code else None


def _same_resolution(recorded: TicketResolved | None, event: TicketResolved) -> bool:
    """Whether the store holds this resolution (to the millisecond the store keeps), not a rival's."""
    return (recorded is not None and recorded.event_id == event.event_id
            and recorded.resolution_code == event.resolution_code
            and abs(recorded.resolved_at - event.resolved_at) < timedelta(milliseconds=1))
