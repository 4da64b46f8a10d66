"""What a unit (or the centre) does to a ticket, whether it came over HTTP or as a Kafka command:
read the ticket, decide in the pure domain, store, put it on the timeline, publish.

Each action returns its event and whether it was new; a retry returns the same event, and the
event is published again (same id) so a crash between the store write and the publish is healed
by the retry, while consumers drop the copy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline.contracts import (
    AddProgressNote,
    ContactRecorded,
    DecideExtension,
    ExtensionDecided,
    ExtensionRequested,
    RecordContact,
    ReportedOnSite,
    ReportOnSite,
    RequestExtension,
    ResolveTicket,
    ProgressNoted,
    SignTicket,
    TicketResolved,
    TicketSigned,
    topics,
)
from hotline.contracts.common import Event
from hotline.followup.casework import note_id_for, note_progress, sign, ticket_doc
from hotline.followup.casework_store import CaseworkStore
from hotline.followup.domain import (
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
)
from hotline.followup.scheduler import DeadlineScheduler
from hotline.followup.store import FollowupStore
from hotline.runtime.kafka import Publisher


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

    async def record_contact(self, ticket_id: str, command: RecordContact, *, idempotency_key: str | None,
                             now: datetime) -> tuple[ContactRecorded, bool]:
        """A contact (phone, face to face, WeChat, on site) with the citizen."""
        ticket = await self.store.get_by_ticket_id(ticket_id=ticket_id)
        event = record_contact(ticket, command, ticket_id=ticket_id,
                               contact_id=contact_id_for(ticket_id, command, idempotency_key),
                               now=now, clock_skew=self.clock_skew)
        is_new = await self.store.add_contact(event=event, details=command.model_dump(
            include={"notes", "place", "participants", "met_with", "attachments"}))
        await self._done(event)
        return event, is_new

    async def resolve(self, ticket_id: str, command: ResolveTicket, *, now: datetime) -> tuple[TicketResolved, bool]:
        """The round's resolution; the same resolution again is answered with the first."""
        ticket = await self.store.get_by_ticket_id(ticket_id=ticket_id)
        if ticket is not None and ticket.state is TicketState.RESOLVED and command.unit_code == ticket.unit_code:
            current = await self.store.timeline(ticket_id=ticket_id)
            last = (current or {}).get("resolutions", [])[-1:]
            if last and last[0].get("resolution_code") == command.resolution_code:
                return TicketResolved.model_validate({k: v for k, v in last[0].items() if k != "note"}), False
        event = resolve(ticket, command, ticket_id=ticket_id, now=now, clock_skew=self.clock_skew)
        if not await self.store.save_resolution(event=event, note=command.note):
            raise Refusal(409, "ticket_id", "the ticket changed meanwhile; read it and try again")
        await self._done(event)
        return event, True

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
        event, is_new = await self.casework.add_note(event=event, text=command.text.strip())
        await self._done(event)
        return event, is_new
