"""What a unit (or the centre) does to a ticket, whether it came over HTTP or as a Kafka command:
read the ticket, decide in the pure domain, store, put it on the timeline, publish.

Each action returns its event and whether it was new; a retry returns the same event, and the
event is published again (same id) so a crash between the store write and the publish is healed
by the retry, while consumers drop the copy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline.contracts import (
    AddProgressNote,
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
    TicketResolved,
    TicketSigned,
    topics,
)
from hotline.contracts.common import Event
from hotline.followup.casework.domain import casework_ticket as ticket_doc
from hotline.followup.casework.domain import note_id_for, note_progress, sign
from hotline.followup.casework.store import CaseworkStore
from hotline.followup.domain import (
    FollowupTicket,
    KeyReused,
    Refusal,
    TicketState,
    contact_id_for,
    decide_extension,
    record_contact,
    repeated_extension_decision,
    repeated_extension_request,
    report_on_site,
    request_extension,
    resolve,
    same_request,
)
from hotline.followup.scheduler import DeadlineScheduler
from hotline.followup.store import Change, FollowupStore, contact_change, recorded_resolution, resolution_change
from hotline.runtime.idempotency import request_hash
from hotline.runtime.kafka import Publisher

_CHANGED_MEANWHILE = "the ticket changed meanwhile; read it and try again"


@dataclass
class FollowupActions:
    """The unit-facing use cases of followup."""

    store: FollowupStore
    publisher: Publisher
    scheduler: DeadlineScheduler
    clock_skew: timedelta
    casework: CaseworkStore

    async def _done(self, event: Event) -> None:
        await self.store.record_timeline(events=[event])
        await self.publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, event.ticket_id)])

    async def _publish(self, events: Sequence[Event]) -> None:
        await self.publisher.publish_all([(topics.TICKETS_FOLLOWUP, e, e.ticket_id) for e in events])

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
            raise Refusal(409, "ticket_id", _CHANGED_MEANWHILE)
        await self._publish([event])
        return event, True

    async def contacts_and_resolutions(self, commands: list[tuple[str, str, RecordContact | ResolveTicket]], *,
                                       now: datetime) -> list[Refusal | None]:
        """Many tickets' contacts and resolutions (at most one per ticket) as one read, one write
        and one publish: the store answers a bulk write of many changes about as fast as one
        change, so a command batch no longer costs three round trips a command.

        `commands` are (ticket id, command id, body); the answer is each one's refusal or None.
        A redelivered command has the same outcome as its first delivery, as over HTTP."""
        found = await self.store.get_many_with_docs(ticket_ids=sorted({t for t, _, _ in commands}))
        outcomes: list[Refusal | None] = []
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
            except Refusal as refusal:
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
                    outcomes[index] = Refusal(409, "ticket_id", _CHANGED_MEANWHILE)
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
            return again, False
        event = request_extension(ticket, command, ticket_id=ticket_id, now=now, clock_skew=self.clock_skew)
        if not await self.store.save_extension_request(event=event):
            raise Refusal(409, "ticket_id", "an extension was already requested for this round")
        await self._done(event)
        return event, True

    async def decide_extension(self, ticket_id: str, command: DecideExtension) -> tuple[ExtensionDecided, bool]:
        """The centre's decision; an approval moves the deadline, so the timers are rescheduled."""
        ticket = await self.store.get_by_ticket_id(ticket_id=ticket_id)
        if (again := repeated_extension_decision(ticket, command)) is not None:
            return again, False
        event = decide_extension(ticket, command, ticket_id=ticket_id)
        if not await self.store.save_extension_decision(event=event):
            raise Refusal(409, "ticket_id", "no extension is waiting for a decision")
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


def _contact_details(command: RecordContact, keyed: str | None) -> dict:
    """What the store keeps of a contact beyond its event (it may hold personal data), and the
    hash of the request that recorded it under a key."""
    details = command.model_dump(include={"notes", "place", "participants", "met_with", "attachments"})
    return {**details, "request_hash": keyed} if keyed else details


def _keyed_hash(action: str, ticket_id: str, command, idempotency_key: str | None) -> str | None:
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
