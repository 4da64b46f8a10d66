"""Routing's store (MongoDB, behind `hotline.routing.app.RoutingStore`): each ticket's dispatch
decision, kept so redelivery never re-decides, its state for returns and summons, the commands
applied to it, and the HTTP requests idempotency keys named; beside it the returns waiting for
the centre's review (`routing_pending_returns`) and the centre's category corrections, kept as
labelled examples for training (`routing_corrections`)."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from hotline.contracts import Assignee, QueueAssignment, TicketDispatched, TicketReceived
from hotline.contracts.common import Event
from hotline.contracts.routing import (
    CategoryCorrected,
    CommandRefused,
    DepartmentsSummoned,
    ReturnRequested,
    ReturnReviewed,
    ReturnTicket,
    TicketEscalated,
    TicketRedispatched,
    TicketReturned,
)
from hotline.routing.domain import (
    Applied,
    CommandOutcome,
    Dispatch,
    DispatchHistory,
    DispatchReason,
    Routed,
    RoutingCommand,
    RoutingState,
    command_key,
)
from hotline.runtime.mongo import duplicates_only
from hotline.runtime.outbox import ORIGIN, PublishedOffsets, mark

# The events a command can give, by the type name they are stored under.
_EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in (
    TicketReturned, TicketEscalated, DepartmentsSummoned, CommandRefused, TicketDispatched, QueueAssignment,
    ReturnRequested, ReturnReviewed, TicketRedispatched, CategoryCorrected,
)}


# A dispatch document without the caller, the commands and requests, and the outbox's marks.
_HISTORY_ONLY = {"ticket": 0, "commands": 0, "command_hashes": 0, "requests": 0, "published": 0, ORIGIN: 0}


def _as_document(dispatch: Dispatch) -> dict:
    return {
        "lead": dispatch.lead.model_dump(),
        "co_handlers": [a.model_dump() for a in dispatch.co_handlers],
        "district_code": dispatch.district_code,
        "reason": dispatch.reason.value,
        "rule_id": dispatch.rule_id,
        "catalogue_version": dispatch.catalogue_version,
    }


def _from_document(doc: dict) -> Dispatch:
    return Dispatch(
        lead=Assignee.model_validate(doc["lead"]),
        co_handlers=tuple(Assignee.model_validate(a) for a in doc.get("co_handlers", [])),
        district_code=doc.get("district_code"),
        reason=DispatchReason(doc["reason"]),
        rule_id=doc.get("rule_id"),
        catalogue_version=doc.get("catalogue_version"),
    )


def _stored_events(events: Iterable[Event]) -> list[dict]:
    return [{"type": type(e).__name__, "json": e.model_dump_json()} for e in events]


def _applied(events: list[dict], request_hash: str | None) -> Applied:
    return Applied(request_hash, tuple(_EVENT_TYPES[e["type"]].model_validate_json(e["json"]) for e in events))


def _pending_document(ticket_id: str, pending: ReturnTicket, attempt: int) -> dict:
    """A waiting return as the dispatch document and the review list keep it."""
    return {"ticket_id": ticket_id, "unit_code": pending.unit_code, "attempt": attempt,
            "reason_code": pending.reason_code.value, "suggested_unit": pending.suggested_unit,
            "note": pending.note, "returned_at": pending.returned_at, "command_id": pending.command_id}


def _pending_from(doc: dict | None, ticket_id: str) -> ReturnTicket | None:
    if not doc:
        return None
    return ReturnTicket(command_id=doc["command_id"], ticket_id=ticket_id, unit_code=doc["unit_code"],
                        reason_code=doc["reason_code"], suggested_unit=doc.get("suggested_unit"),
                        note=doc.get("note", ""), returned_at=doc["returned_at"])


def _correction(outcome: CommandOutcome) -> dict | None:
    """The labelled example a category correction leaves: the ticket's text and its right class."""
    corrected = next((e for e in outcome.events if isinstance(e, CategoryCorrected)), None)
    if corrected is None or outcome.state is None:
        return None
    ticket = outcome.state.ticket
    return {"_id": outcome.ticket_id, "ticket_id": outcome.ticket_id, "text": ticket.content,
            "category": ticket.category, "first_level": ticket.first_level, "urgency": ticket.urgency,
            "corrected_at": corrected.occurred_at, "command_id": outcome.command_id}


def _units_involved(history: Sequence[dict]) -> frozenset[str]:
    return frozenset(h["unit_code"] for h in history) | {c for h in history for c in h.get("co_handlers", [])}


def _history_entry(dispatch: Dispatch, attempt: int, at: datetime) -> dict:
    return {"attempt": attempt, "unit_code": dispatch.lead.unit_code, "reason": dispatch.reason.value,
            "rule_id": dispatch.rule_id, "catalogue_version": dispatch.catalogue_version,
            "co_handlers": [a.unit_code for a in dispatch.co_handlers], "dispatched_at": at}


class DispatchStore:
    """Dispatch decisions keyed by ticket id, with an outbox (`hotline.runtime.outbox`)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._dispatches = db["routing_dispatches"]
        self._published = PublishedOffsets(db["routing_outbox"])
        self._pending = db["routing_pending_returns"]
        self._corrections = db["routing_corrections"]  # hotline.classifier.corrections reads it

    async def ensure_indexes(self) -> None:
        """Reads are by `_id`, but for the review list, oldest first."""
        await self._pending.create_index("returned_at")

    async def get_many(self, *, ticket_ids: list[str]) -> dict[str, tuple[Dispatch, bool]]:
        """Stored decisions for these tickets, with whether they were published."""
        docs = [doc async for doc in self._dispatches.find({"_id": {"$in": ticket_ids}})]
        published = await self._published.published(docs)
        return {doc["_id"]: (_from_document(doc), published[doc["_id"]]) for doc in docs}

    async def keep_first(
        self, *, decisions: dict[str, tuple[TicketReceived, Dispatch]], origins: dict | None = None,
    ) -> dict[str, tuple[Dispatch, bool]]:
        """Store first decisions; one already stored wins (a new catalogue never re-decides):
        those are returned, with whether they were published. `origins`: the consumed record of
        each ticket (see `mark_published`).

        Inserted, not read first: a redelivery is rare, and a first delivery then costs one round
        trip before the dispatch goes out instead of two. The ticket is kept whole, caller
        included: a re-dispatch sends it to the next unit.
        """
        if not decisions:
            return {}
        try:
            await self._dispatches.insert_many(
                [{"_id": ticket_id, **_as_document(d), "attempt": 1,
                  # The outbox: the record it came from, or (without) a flag set after the publish.
                  **({ORIGIN: mark(origins[ticket_id])} if origins and ticket_id in origins else {"published": False}),
                  "ticket": ticket.model_dump(mode="json"), "dispatched_at": ticket.received_at,
                  "returned_by": [], "returns": 0, "escalated": False,
                  "history": [_history_entry(d, 1, ticket.received_at)]}
                 for ticket_id, (ticket, d) in decisions.items()],
                ordered=False,
            )
        except BulkWriteError as exc:
            return await self.get_many(ticket_ids=[e["op"]["_id"] for e in duplicates_only(exc)])
        return {}

    async def get_states(self, *, ticket_ids: list[str]) -> dict[str, Routed]:
        """Each known ticket's routing state and the commands already applied to it."""
        found = {}
        async for doc in self._dispatches.find({"_id": {"$in": ticket_ids}}):
            if "ticket" not in doc:
                continue
            state = RoutingState(
                ticket=TicketReceived.model_validate(doc["ticket"]),
                dispatch=_from_document(doc),
                attempt=doc.get("attempt", 1),
                dispatched_at=doc["dispatched_at"],
                returned_by=frozenset(doc.get("returned_by", [])),
                returns=doc.get("returns", 0),
                escalated=doc.get("escalated", False),
                pending_return=_pending_from(doc.get("pending_return"), doc["_id"]),
                closed=doc.get("closed", False),
            )
            hashes = doc.get("command_hashes", {})
            applied = {key: _applied(events, hashes.get(key)) for key, events in doc.get("commands", {}).items()}
            found[doc["_id"]] = Routed(state, applied)
        return found

    async def save_outcomes(self, *, outcomes: list[CommandOutcome]) -> None:
        """Record each command's outcome with its hash (and the new state when it changed), in order."""
        ops, pending_ops, corrections = [], [], {}
        for outcome in outcomes:
            key, state = command_key(outcome.command_id), outcome.state
            update: dict = {"$set": {f"commands.{key}": _stored_events(outcome.events),
                                     f"command_hashes.{key}": outcome.request_hash}}
            if state is not None:
                pending = None if state.pending_return is None else _pending_document(
                    outcome.ticket_id, state.pending_return, state.attempt)
                # `closed` is followup's word (mark_closed), never written back from a command's state.
                update["$set"].update({
                    **_as_document(state.dispatch), "attempt": state.attempt,
                    "dispatched_at": state.dispatched_at, "returned_by": sorted(state.returned_by),
                    "returns": state.returns, "escalated": state.escalated, "pending_return": pending,
                    "ticket": state.ticket.model_dump(mode="json"),
                })
                if outcome.redispatched:
                    update["$push"] = {"history": _history_entry(state.dispatch, state.attempt, state.dispatched_at)}
                pending_ops.append(
                    DeleteOne({"_id": outcome.ticket_id}) if pending is None
                    else ReplaceOne({"_id": outcome.ticket_id}, pending, upsert=True))
            correction = _correction(outcome)
            if correction is not None:
                corrections[outcome.ticket_id] = correction  # a ticket's latest correction wins
            ops.append(UpdateOne({"_id": outcome.ticket_id}, update))
        if ops:
            await self._dispatches.bulk_write(ops, ordered=True)
        if pending_ops:
            await self._pending.bulk_write(pending_ops, ordered=True)
        if corrections:
            await self._corrections.bulk_write(
                [ReplaceOne({"_id": tid}, doc, upsert=True) for tid, doc in corrections.items()], ordered=False)

    async def mark_closed(self, *, changes: list[tuple[str, bool, datetime]]) -> None:
        """Set each ticket's `closed` flag unless a later close or reopen (by business time) set it."""
        ops = [UpdateOne({"_id": tid, "$or": [{"closed_as_of": {"$exists": False}}, {"closed_as_of": {"$lte": at}}]},
                         {"$set": {"closed": closed, "closed_as_of": at}})
               for tid, closed, at in changes]
        if ops:
            await self._dispatches.bulk_write(ops, ordered=True)

    async def pending_returns(self) -> list[dict[str, Any]]:
        """The returns waiting for review, oldest first."""
        return [{k: v for k, v in doc.items() if k not in ("_id", "command_id")}
                async for doc in self._pending.find({}).sort("returned_at", 1)]

    async def history(self, *, ticket_id: str) -> DispatchHistory | None:
        """A ticket's dispatch history and current holder (without the caller)."""
        doc: dict[str, Any] | None = await self._dispatches.find_one({"_id": ticket_id}, _HISTORY_ONLY)
        if doc is None:
            return None
        doc["ticket_id"] = doc.pop("_id")
        doc.setdefault("pending_return", None)
        doc["closed"] = doc.get("closed", False)
        doc.pop("closed_as_of", None)
        return DispatchHistory(_units_involved(doc.get("history", [])), doc)

    async def command_events(self, *, ticket_id: str, command_id: str) -> list[Event] | None:
        """The events a command gave on this ticket, or None while routing has not applied it."""
        key = command_key(command_id)
        doc = await self._dispatches.find_one({"_id": ticket_id}, {f"commands.{key}": 1})
        events = ((doc or {}).get("commands") or {}).get(key)
        return None if events is None else list(_applied(events, None).events)

    async def keep_request(self, *, command: RoutingCommand,
                           request_hash: str) -> tuple[str, RoutingCommand] | None:
        """Keep the HTTP request an idempotency key (the command's id) names, its hash and the
        command sent for it, unless the key names one already: the one kept (hash and command:
        this or the first), or None when routing holds no dispatch for the ticket. The command is
        kept whole, so a retry sends the very same command (a time the server filled in included)."""
        key = command_key(command.command_id)
        slot = f"requests.{key}"
        entry = {"hash": request_hash, "command": command.model_dump(mode="json")}
        kept = await self._dispatches.update_one({"_id": command.ticket_id, slot: {"$exists": False}},
                                                 {"$set": {slot: entry}})
        if kept.modified_count == 1:
            return request_hash, command
        doc = await self._dispatches.find_one({"_id": command.ticket_id}, {slot: 1})
        if doc is None:
            return None
        first = doc.get("requests", {}).get(key)
        if first is None:  # the dispatch was stored between the two calls: not there for this request
            return None
        return first["hash"], command.model_validate(first["command"])

    async def mark_published(self, *, ticket_ids: list[str], records: list | None = None) -> None:
        """The broker acknowledged the dispatches' events. With the consumed batch's `records`, one
        write per partition says so for every dispatch they stored; without, a flag per dispatch."""
        if records is not None:
            await self._published.advance(records)
        elif ticket_ids:
            await self._dispatches.bulk_write(
                [UpdateOne({"_id": t}, {"$set": {"published": True}}) for t in ticket_ids],
                ordered=False,
            )
