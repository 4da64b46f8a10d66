"""Casework's use cases: load, decide (the domain), save, publish, over the protocols below.
`hotline.followup.main` wires in followup's ticket store, casework's store and the Kafka
publisher; a test may pass fakes.

Casework reads followup's ticket (who is on it, its contacts and resolutions) and puts its own
events on that ticket's timeline; what it keeps itself (signatures, notes, collected demands, the
case library) is in its store. Signing and notes are carried out by followup's ticket actions,
which Kafka commands reach too; here they get the check that a unit acts in its own name.
A refusal is a domain error (`hotline.domain_errors`).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Protocol, cast

from hotline.contracts import (
    BUSINESS_TZ,
    AddProgressNote,
    MarkCase,
    ProgressNoted,
    RecordCollectedDemands,
    SignTicket,
    TicketSigned,
    topics,
)
from hotline.contracts.common import Contract, Event
from hotline.followup.casework.domain import (
    RecordedDemand,
    TicketFacts,
    TicketRecord,
    acting_for_itself,
    brief_readable,
    business_day,
    casework_ticket,
    demand_collected,
    demand_tickets,
    mark_case,
    normalize_tag,
    not_a_case,
    readable_by,
    unknown_ticket,
    visit_of,
)
from hotline.followup.casework.views import (
    CaseRecord,
    case_document,
    case_event,
    case_view,
    category_of,
    demands_view,
    notes_view,
    select_brief,
    tagged_view,
    tags_view,
)
from hotline.gazetteer import Gazetteer
from hotline.runtime.auth import Principal

# (topic, message, key): what a publisher sends.
Outgoing = tuple[str, Contract, str | None]


class TicketRecords(Protocol):
    """Followup's tickets, as casework reads them and adds to their timelines
    (`hotline.followup.tickets.store.FollowupStore`)."""

    async def timeline(self, *, ticket_id: str) -> Mapping[str, Any] | None: ...  # a TicketRecord, timeline included

    async def worklist(self, *, unit_code: str) -> Sequence[Mapping[str, Any]]: ...  # those it holds, not closed

    async def record_timeline(self, *, events: Sequence[Event]) -> None: ...


class CaseworkRecords(Protocol):
    """What casework keeps (`hotline.followup.casework.store.CaseworkStore`)."""

    async def facts_for(self, *, ticket_ids: list[str]) -> dict[str, TicketFacts]: ...

    async def notes(self, *, ticket_id: str) -> list[dict[str, Any]]: ...

    async def record_demands(self, *, documents: list[RecordedDemand]) -> tuple[dict[str, RecordedDemand], set[str]]:
        ...

    async def collected_on(self, *, unit_code: str, day: str) -> list[RecordedDemand]: ...

    async def get_case(self, *, ticket_id: str) -> CaseRecord | None: ...

    async def save_case(self, *, case: CaseRecord) -> CaseRecord | None: ...

    async def cases_tagged(self, *, tag: str, limit: int) -> list[CaseRecord]: ...

    async def tag_counts(self) -> dict[str, int]: ...


class TicketActions(Protocol):
    """Signing and notes as followup carries them out for HTTP and Kafka alike
    (`hotline.followup.tickets.app.FollowupActions`)."""

    async def sign(self, ticket_id: str, command: SignTicket, *, now: datetime) -> tuple[TicketSigned, bool]: ...

    async def note(self, ticket_id: str, command: AddProgressNote, *, idempotency_key: str | None,
                   now: datetime) -> tuple[ProgressNoted, bool]: ...


class EventPublisher(Protocol):
    """Publishes, waiting for the broker (`hotline.runtime.kafka.Publisher`)."""

    async def publish_all(self, items: Iterable[Outgoing]) -> None: ...


class Casework:
    """Casework's use cases. Each answers its view and, for an action, whether it was new (a
    retry answers what the first did)."""

    def __init__(self, tickets: TicketRecords, records: CaseworkRecords, actions: TicketActions,
                 publisher: EventPublisher, gazetteer: Gazetteer, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), zone: tzinfo = BUSINESS_TZ) -> None:
        self._tickets = tickets
        self._records = records
        self._actions = actions
        self._publisher = publisher
        self._gazetteer = gazetteer
        self._clock = clock
        self._zone = zone  # the city's: its days

    async def _ticket_record(self, ticket_id: str) -> TicketRecord | None:
        # Followup's store reads documents untyped; a TicketRecord names the fields casework reads.
        return cast(TicketRecord | None, await self._tickets.timeline(ticket_id=ticket_id))

    # ------------------------------------------------------------ signing and notes

    async def sign(self, caller: Principal, ticket_id: str, command: SignTicket) -> tuple[TicketSigned, bool]:
        """Sign for the ticket (签收), in the unit's own name."""
        acting_for_itself(command.unit_code, caller=caller.unit_code, why="a unit signs for itself only")
        return await self._actions.sign(ticket_id, command, now=self._clock())

    async def note(self, caller: Principal, ticket_id: str, command: AddProgressNote,
                   idempotency_key: str | None) -> tuple[ProgressNoted, bool]:
        """Note progress, in the unit's own name."""
        acting_for_itself(command.unit_code, caller=caller.unit_code, why="a unit writes its own notes only")
        return await self._actions.note(ticket_id, command, idempotency_key=idempotency_key, now=self._clock())

    async def notes(self, caller: Principal, ticket_id: str) -> dict[str, Any]:
        """The ticket's progress notes with their texts, for its units and the centre."""
        readable_by(casework_ticket(await self._ticket_record(ticket_id)), ticket_id,
                    caller=caller.unit_code, centre=caller.is_centre)
        return notes_view(ticket_id, await self._records.notes(ticket_id=ticket_id))

    # ------------------------------------------------------------ demands collected on a visit

    async def record_demands(self, caller: Principal, ticket_id: str, contact_id: str,
                             command: RecordCollectedDemands) -> tuple[dict[str, Any], bool]:
        """Each demand becomes a new ticket through intake, linked to the visit; a retry makes no
        second ticket. Whether any of them was new."""
        acting_for_itself(command.unit_code, caller=caller.unit_code,
                          why="a unit records its own visits' demands only")
        ticket = casework_ticket(await self._ticket_record(ticket_id))
        contact = visit_of(ticket, contact_id, unit_code=command.unit_code, ticket_id=ticket_id)
        if ticket is None:  # visit_of refused it already
            raise unknown_ticket(ticket_id)
        now = self._clock()
        planned = demand_tickets(ticket, contact, command.demands, recorded_at={}, now=now, gazetteer=self._gazetteer,
                                 zone=self._zone)
        stored, new = await self._records.record_demands(documents=[d.document for d in planned])
        # Rebuilt with the first recording's time (a retry's, or a concurrent request's): every
        # submission of a demand publishes the very same record.
        planned = demand_tickets(ticket, contact, command.demands, now=now, gazetteer=self._gazetteer, zone=self._zone,
                                 recorded_at={i: doc["recorded_at"] for i, doc in stored.items()})
        events = [demand_collected(ticket_id, d, stored[d.ticket_id]) for d in planned]
        # Stored first, then published: a crash in between is healed by the client's retry, and
        # intake makes one ticket per channel and source id however often it sees the record.
        outgoing: list[Outgoing] = [(topics.RAW, d.record, d.ticket_id) for d in planned]
        outgoing += [(topics.TICKETS_FOLLOWUP, e, ticket_id) for e in events]
        await self._publisher.publish_all(outgoing)
        await self._tickets.record_timeline(events=events)
        return demands_view(ticket_id, contact_id, planned, events, stored, new), bool(new)

    # ------------------------------------------------------------ the case library

    async def mark_case(self, caller: Principal, ticket_id: str, command: MarkCase) -> tuple[dict[str, Any], bool]:
        """Mark a resolved or closed ticket a typical case; whether the case is new (marking it
        again, the same or re-described, is not)."""
        record = await self._ticket_record(ticket_id)
        facts = (await self._records.facts_for(ticket_ids=[ticket_id])).get(ticket_id, {})
        event = mark_case(casework_ticket(record), command, ticket_id=ticket_id, caller_unit=caller.unit_code,
                          caller_is_centre=caller.is_centre, category=category_of(record or {}, facts),
                          now=self._clock())
        existing = await self._records.get_case(ticket_id=ticket_id)
        if existing is not None and existing.get("event_id") == event.event_id:
            # The same description again (a retry): the stored case and its first event.
            case, event = existing, case_event(existing)
        else:
            case = case_document(event, record or {}, urgency=facts.get("urgency") or (record or {}).get("urgency"))
        # Saved on retries too (idempotent): a crash between the case and its tag listings heals.
        await self._records.save_case(case=case)
        await self._publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, ticket_id)])
        await self._tickets.record_timeline(events=[event])
        return case_view(case), existing is None

    async def cases(self, tag: str | None, *, limit: int) -> dict[str, Any]:
        """The cases with `tag`, newest first; without a tag, every tag and its count."""
        if tag is None:
            return tags_view(await self._records.tag_counts())
        wanted = normalize_tag(tag)
        return tagged_view(wanted, await self._records.cases_tagged(tag=wanted, limit=limit))

    async def case(self, ticket_id: str) -> dict[str, Any]:
        """One case."""
        case = await self._records.get_case(ticket_id=ticket_id)
        if case is None:
            raise not_a_case(ticket_id)
        return case_view(case)

    # ------------------------------------------------------------ the daily brief

    async def brief(self, caller: Principal, unit_code: str, day: date | None) -> dict[str, Any]:
        """The agenda of the unit's daily dispatch meeting (default today, in the city's time zone)."""
        brief_readable(unit_code, caller=caller.unit_code, centre=caller.is_centre)
        day = day or business_day(self._clock(), self._zone)
        tickets = cast(list[TicketRecord], list(await self._tickets.worklist(unit_code=unit_code)))
        collected = await self._records.collected_on(unit_code=unit_code, day=(day - timedelta(days=1)).isoformat())
        facts = await self._records.facts_for(
            ticket_ids=sorted({t["_id"] for t in tickets} | {d["_id"] for d in collected}))
        return select_brief(tickets, facts, collected, unit_code=unit_code, day=day, zone=self._zone)
