"""The desk's reads and its two small collections (MongoDB):

- a search by unit reads the unit's worklist (`followup_worklists`: the tickets it holds) and its
  months (`followup_unit_months`, `<unit>:<YYYY-MM>`: every ticket dispatched to it, by the city's
  month received, written with the dispatch by `tickets/store.py`), then the tickets by `_id`;
- any other search is a filtered find on `followup_tickets`: the local server scans it (it uses
  no index but `_id`), so it is the centre's only and has a limit;
- `followup_waiting_exemptions` (`<ticket>|<unit>`) and `followup_waiting_extensions` (ticket id)
  list the requests waiting for the centre, so neither list is a scan of every ticket. An entry
  is written after its ticket's own write and dropped after the decision; the ticket stays the
  truth (`desk/domain.py` reads each entry against it, and an entry left behind by a crash is
  dropped when read).
"""

from collections.abc import Sequence
from typing import Any

from pymongo import DeleteOne
from pymongo.asynchronous.database import AsyncDatabase

from hotline.contracts import ExemptionRequested, ExtensionRequested
from hotline.followup.tickets.store import unit_month_key

# What a search reads of a ticket: never the timeline (the largest part), contacts or notes.
_SEARCHED = {"unit_code": 1, "state": 1, "facts": 1, "urgency": 1, "dispatched_at": 1, "report_back_due_at": 1,
             "attempt": 1}
_WAITING = {"unit_code": 1, "state": 1, "extension": 1, "exemptions": 1}


class DeskStore:
    """The desk's reads of followup's tickets, and the waiting requests."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._tickets = db["followup_tickets"]
        self._worklists = db["followup_worklists"]
        self._unit_months = db["followup_unit_months"]
        self._exemptions = db["followup_waiting_exemptions"]
        self._extensions = db["followup_waiting_extensions"]

    # --- search ------------------------------------------------------------------------------

    async def ticket(self, *, ticket_id: str) -> dict[str, Any] | None:
        """One ticket, its timeline with it (who held it)."""
        return await self._tickets.find_one({"_id": ticket_id}, {"contacts": 0, "events": 0, "fired": 0})

    async def unit_listings(self, *, unit_code: str, months: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
        """The unit's worklist (ticket ids it holds) and its months' ticket ids, by month."""
        worklist = await self._worklists.find_one({"_id": unit_code})
        keys = [unit_month_key(unit_code, m) for m in months]
        by_month = {doc["_id"].rpartition(":")[2]: doc.get("tickets", [])
                    async for doc in self._unit_months.find({"_id": {"$in": keys}})}
        return (worklist or {}).get("tickets", []), by_month

    async def tickets(self, *, ticket_ids: list[str]) -> list[dict[str, Any]]:
        """These tickets as a search reads them (only `_id` in the filter)."""
        if not ticket_ids:
            return []
        return [doc async for doc in self._tickets.find({"_id": {"$in": ticket_ids}}, _SEARCHED)]

    async def find(self, *, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """Tickets matching `query`, newest received first, at most `limit` (a scan: see above)."""
        cursor = self._tickets.find(query, _SEARCHED).sort("facts.received_at", -1).limit(limit)
        return [doc async for doc in cursor]

    # --- the waiting requests ----------------------------------------------------------------

    async def keep_exemption(self, *, event: ExemptionRequested) -> None:
        """List the unit's request as waiting (again: a retry writes the same)."""
        await self._exemptions.replace_one(
            {"_id": f"{event.ticket_id}|{event.unit_code}"},
            {"ticket_id": event.ticket_id, "unit_code": event.unit_code, "requested_at": event.requested_at},
            upsert=True)

    async def drop_exemption(self, *, ticket_id: str, unit_code: str) -> None:
        """The request was decided."""
        await self._exemptions.delete_one({"_id": f"{ticket_id}|{unit_code}"})

    async def keep_extension(self, *, event: ExtensionRequested) -> None:
        """List the round's request as waiting (its reason with it: the ticket does not keep it)."""
        await self._extensions.replace_one(
            {"_id": event.ticket_id},
            {"ticket_id": event.ticket_id, "unit_code": event.unit_code, "requested_at": event.occurred_at,
             "reason": event.reason}, upsert=True)

    async def drop_extension(self, *, ticket_id: str) -> None:
        """The request was decided."""
        await self._extensions.delete_one({"_id": ticket_id})

    async def waiting_exemptions(self) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """Every listed exemption request (a small collection, read whole) and its tickets."""
        return await self._waiting(self._exemptions)

    async def waiting_extensions(self) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """Every listed extension request and its tickets."""
        return await self._waiting(self._extensions)

    async def drop_stale(self, *, exemptions: Sequence[dict[str, Any]] = (),
                         extensions: Sequence[dict[str, Any]] = ()) -> None:
        """Drop entries their tickets no longer hold as waiting, unless rewritten since (the guard
        on the request time keeps a newer round's request)."""
        for collection, entries in ((self._exemptions, exemptions), (self._extensions, extensions)):
            if entries:
                await collection.bulk_write([DeleteOne({"_id": e["_id"], "requested_at": e["requested_at"]})
                                             for e in entries], ordered=False)

    async def _waiting(self, collection: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        entries = [doc async for doc in collection.find({})]
        ids = sorted({e["ticket_id"] for e in entries})
        docs = {doc["_id"]: doc async for doc in self._tickets.find({"_id": {"$in": ids}}, _WAITING)} if ids else {}
        return entries, docs
