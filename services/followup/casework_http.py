"""Casework's HTTP API: signing, progress notes, demands collected on visits, the case library and
the daily brief. Same bearer tokens and rules as followup's other endpoints."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from hotline.contracts import (
    AddProgressNote,
    MarkCase,
    ProgressNoted,
    RecordCollectedDemands,
    SignTicket,
    TicketSigned,
    topics,
)
from hotline.followup.casework import (
    business_day,
    case_document,
    case_event,
    category_of,
    demand_collected,
    demand_tickets,
    mark_case,
    select_brief,
    ticket_doc,
    visit_of,
)
from hotline.followup.casework_store import CaseworkStore
from hotline.followup.domain import Refusal
from hotline.followup.settings import FollowupSettings
from hotline.followup.tickets.app import FollowupActions
from hotline.followup.tickets.store import FollowupStore
from hotline.gazetteer import beijing
from hotline.runtime.auth import CredentialStore, Principal, bearer_principal
from hotline.runtime.kafka import Publisher
from hotline.runtime.service import ServiceRuntime


def casework_router(
    runtime: ServiceRuntime[FollowupSettings], store: FollowupStore, casework: CaseworkStore, publisher: Publisher,
    credentials: CredentialStore, actions: FollowupActions,
) -> APIRouter:
    """The casework endpoints; every call carries the unit's (or the centre's) bearer token."""
    router = APIRouter(prefix="/v1", tags=["casework"])
    Caller = Annotated[Principal, Depends(bearer_principal(credentials))]
    gazetteer = beijing()

    @router.post("/tickets/{ticket_id}/sign", status_code=201)
    async def post_sign(ticket_id: str, command: SignTicket, response: Response, caller: Caller) -> TicketSigned:
        """Sign for the ticket (签收): once per unit and dispatch; a retry answers 200 with the first."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit signs for itself only")
        event, is_new = await actions.sign(ticket_id, command, now=datetime.now(UTC))
        if not is_new:
            response.status_code = 200
        return event

    @router.post("/tickets/{ticket_id}/notes", status_code=201)
    async def post_note(
        ticket_id: str, command: AddProgressNote, response: Response, caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> ProgressNoted:
        """Note progress; the text stays in followup's store (never on the topic or in logs). The
        same `Idempotency-Key` with the same request answers 200 with the note; with a different one, 409."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit writes its own notes only")
        event, is_new = await actions.note(ticket_id, command, idempotency_key=idempotency_key,
                                           now=datetime.now(UTC))
        if not is_new:
            response.status_code = 200
        return event

    @router.get("/tickets/{ticket_id}/notes")
    async def get_notes(ticket_id: str, caller: Caller) -> dict:
        """The ticket's progress notes with their texts: its units and the centre only."""
        ticket = ticket_doc(await store.timeline(ticket_id=ticket_id))
        if ticket is None:
            raise Refusal(404, "ticket_id", f"ticket {ticket_id} is unknown")
        if not caller.is_centre and ticket.role_of(caller.unit_code) is None:
            raise Refusal(403, "ticket_id", "the ticket is not assigned to this unit")
        notes = await casework.notes(ticket_id=ticket_id)
        return {"ticket_id": ticket_id, "count": len(notes), "notes": notes}

    @router.post("/tickets/{ticket_id}/contacts/{contact_id}/demands", status_code=201)
    async def post_demands(
        ticket_id: str, contact_id: str, command: RecordCollectedDemands, response: Response, caller: Caller,
    ) -> dict:
        """Demands residents raised on a face-to-face visit: each becomes a new ticket through
        intake (channel `collected`), linked to the visit; a retry makes no second ticket."""
        if command.unit_code != caller.unit_code:
            raise Refusal(403, "unit_code", "a unit records its own visits' demands only")
        ticket = ticket_doc(await store.timeline(ticket_id=ticket_id))
        contact = visit_of(ticket, contact_id, unit_code=command.unit_code, ticket_id=ticket_id)
        assert ticket is not None  # visit_of refused otherwise
        now = datetime.now(UTC)
        planned = demand_tickets(ticket, contact, command.demands, recorded_at={}, now=now, gazetteer=gazetteer)
        stored, new = await casework.record_demands(documents=[d.document for d in planned])
        # Rebuilt with the first recording's time (a retry's, or a concurrent request's): every
        # submission of a demand publishes the very same record.
        planned = demand_tickets(ticket, contact, command.demands, now=now, gazetteer=gazetteer,
                                 recorded_at={i: doc["recorded_at"] for i, doc in stored.items()})
        events = [demand_collected(ticket_id, d, stored[d.ticket_id]) for d in planned]
        # Stored first, then published: a crash in between is healed by the client's retry, and
        # intake makes one ticket per channel and source id however often it sees the record.
        await publisher.publish_all(
            [(topics.RAW, d.record, d.ticket_id) for d in planned]
            + [(topics.TICKETS_FOLLOWUP, e, ticket_id) for e in events]
        )
        await store.record_timeline(events=events)
        if not new:
            response.status_code = 200
        return {
            "ticket_id": ticket_id, "contact_id": contact_id,
            "demands": [{"ticket_id": d.ticket_id, "source_id": d.source_id, "new": d.ticket_id in new,
                         "recorded_at": stored[d.ticket_id]["recorded_at"], "event_id": e.event_id}
                        for d, e in zip(planned, events)],
        }

    @router.post("/tickets/{ticket_id}/case", status_code=201)
    async def post_case(ticket_id: str, command: MarkCase, response: Response, caller: Caller) -> dict:
        """Mark a resolved or closed ticket a typical case (the centre or the resolving unit)."""
        doc = await store.timeline(ticket_id=ticket_id)
        facts = (await casework.facts_for(ticket_ids=[ticket_id])).get(ticket_id, {})
        event = mark_case(ticket_doc(doc), command, ticket_id=ticket_id, caller_unit=caller.unit_code,
                          caller_is_centre=caller.is_centre, category=category_of(doc or {}, facts),
                          now=datetime.now(UTC))
        existing = await casework.get_case(ticket_id=ticket_id)
        if existing is not None and existing.get("event_id") == event.event_id:
            # The same description again (a retry): the stored case and its first event.
            case, event = existing, case_event(existing)
        else:
            case = case_document(event, doc or {}, urgency=facts.get("urgency") or (doc or {}).get("urgency"))
        # Saved on retries too (idempotent): a crash between the case and its tag listings heals.
        await casework.save_case(case=case)
        await publisher.publish_all([(topics.TICKETS_FOLLOWUP, event, ticket_id)])
        await store.record_timeline(events=[event])
        if existing is not None:
            response.status_code = 200  # the case existed: repeated, or re-described
        return _case_out(case)

    @router.get("/cases")
    async def get_cases(
        caller: Caller, tag: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict:
        """Cases for training: those with `tag`, newest first; without a tag, every tag and its count."""
        if tag is None:
            counts = await casework.tag_counts()
            return {"tags": [{"tag": t, "count": n} for t, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))]}
        wanted = " ".join(tag.split()).lower()
        cases = await casework.cases_tagged(tag=wanted, limit=limit)
        return {"tag": wanted, "count": len(cases), "cases": [_case_out(c) for c in cases]}

    @router.get("/cases/{ticket_id}")
    async def get_case(ticket_id: str, caller: Caller) -> dict:
        """One case."""
        case = await casework.get_case(ticket_id=ticket_id)
        if case is None:
            raise Refusal(404, "ticket_id", f"ticket {ticket_id} is not a case")
        return _case_out(case)

    @router.get("/units/{unit_code}/brief")
    async def get_brief(
        unit_code: str, caller: Caller,
        day: Annotated[
            date | None, Query(alias="date", description="YYYY-MM-DD, Asia/Shanghai; default today.")
        ] = None,
    ) -> dict:
        """The agenda of the unit's daily dispatch meeting."""
        if caller.unit_code != unit_code and not caller.is_centre:
            raise Refusal(403, "unit_code", "a unit reads its own brief only")
        day = day or business_day(datetime.now(UTC))
        tickets = await store.worklist(unit_code=unit_code)
        collected = await casework.collected_on(unit_code=unit_code, day=(day - timedelta(days=1)).isoformat())
        facts = await casework.facts_for(ticket_ids=sorted({t["_id"] for t in tickets} | {d["_id"] for d in collected}))
        return select_brief(tickets, facts, collected, unit_code=unit_code, day=day)

    return router


def _case_out(case: dict) -> dict:
    out = {k: v for k, v in case.items() if k != "_id"}
    out["ticket_id"] = case["_id"]
    return out
