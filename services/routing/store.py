"""Routing's store: each ticket's dispatch decision, kept so redelivery never re-decides."""

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from hotline.contracts import Assignee, TicketReceived, deterministic_event_id
from hotline.routing.domain import Dispatch, DispatchReason, RoutingState
from hotline.runtime.mongo import duplicates_only
from hotline.runtime.outbox import ORIGIN, PublishedOffsets, mark



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


def command_key(command_id: str) -> str:
    """A field name for a command id, which may hold dots or dollars."""
    return deterministic_event_id("command", command_id)


def _history_entry(dispatch: Dispatch, attempt: int, at) -> dict:
    return {"attempt": attempt, "unit_code": dispatch.lead.unit_code, "reason": dispatch.reason.value,
            "rule_id": dispatch.rule_id, "catalogue_version": dispatch.catalogue_version,
            "co_handlers": [a.unit_code for a in dispatch.co_handlers], "dispatched_at": at}


class DispatchStore:
    """Dispatch decisions keyed by ticket id, with an outbox (`hotline.runtime.outbox`)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._dispatches = db["routing_dispatches"]
        self._published = PublishedOffsets(db["routing_outbox"])

    async def ensure_indexes(self) -> None:
        """Reads are by `_id` only."""

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
                  **({ORIGIN: mark(origins[ticket_id])} if ticket_id in (origins or {}) else {"published": False}),
                  "ticket": ticket.model_dump(mode="json"), "dispatched_at": ticket.received_at,
                  "returned_by": [], "returns": 0, "escalated": False,
                  "history": [_history_entry(d, 1, ticket.received_at)]}
                 for ticket_id, (ticket, d) in decisions.items()],
                ordered=False,
            )
        except BulkWriteError as exc:
            return await self.get_many(ticket_ids=[e["op"]["_id"] for e in duplicates_only(exc)])
        return {}

    async def get_states(self, *, ticket_ids: list[str]) -> dict[str, tuple[RoutingState, dict, dict]]:
        """Each known ticket's routing state, the commands already applied to it (their events)
        and those commands' hashes (`command_hash`), both by `command_key`."""
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
            )
            found[doc["_id"]] = (state, doc.get("commands", {}), doc.get("command_hashes", {}))
        return found

    async def save_outcomes(self, *, outcomes: list[tuple[str, str, str, RoutingState | None, list[dict]]]) -> None:
        """Record each command's outcome with its hash (and the new state when it changed), in order."""
        ops = []
        for ticket_id, command_id, command_hash, state, events in outcomes:
            key = command_key(command_id)
            update: dict = {"$set": {f"commands.{key}": events, f"command_hashes.{key}": command_hash}}
            if state is not None:
                update["$set"].update({
                    **_as_document(state.dispatch), "attempt": state.attempt,
                    "dispatched_at": state.dispatched_at, "returned_by": sorted(state.returned_by),
                    "returns": state.returns, "escalated": state.escalated,
                })
                update["$push"] = {"history": _history_entry(state.dispatch, state.attempt, state.dispatched_at)}
            ops.append(UpdateOne({"_id": ticket_id}, update))
        if ops:
            await self._dispatches.bulk_write(ops, ordered=True)

    async def history(self, *, ticket_id: str) -> dict | None:
        """A ticket's dispatch history and current holder (without the caller)."""
        doc = await self._dispatches.find_one(
            {"_id": ticket_id}, {"ticket": 0, "commands": 0, "command_hashes": 0, "requests": 0, "published": 0, ORIGIN: 0}
        )
        if doc is not None:
            doc["ticket_id"] = doc.pop("_id")
        return doc

    async def keep_request(self, *, ticket_id: str, command_id: str, request_hash: str,
                           command: dict) -> dict | None:
        """Keep the HTTP request an idempotency key names (its hash and the command sent for it)
        unless the key names one already: the one kept ({"hash", "command"}: this or the first),
        or None when routing holds no dispatch for the ticket. The command is kept whole, so a
        retry sends the very same command (a time the server filled in included)."""
        slot = f"requests.{command_key(command_id)}"
        entry = {"hash": request_hash, "command": command}
        kept = await self._dispatches.update_one({"_id": ticket_id, slot: {"$exists": False}}, {"$set": {slot: entry}})
        if kept.modified_count == 1:
            return entry
        doc = await self._dispatches.find_one({"_id": ticket_id}, {slot: 1})
        if doc is None:
            return None
        return doc.get("requests", {}).get(command_key(command_id))

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
