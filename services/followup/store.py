"""Followup's store: one document per ticket, keyed by ticket id."""

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from hotline.contracts import ContactRecorded, TicketDispatched
from hotline.followup.domain import FollowupTicket


class FollowupStore:
    """Tickets as units work on them."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._tickets = db["followup_tickets"]

    async def ensure_indexes(self) -> None:
        """Reads are by `_id` only."""

    async def apply_dispatches(self, *, events: list[TicketDispatched]) -> None:
        """Record who holds each ticket: the highest dispatch attempt wins, in any order."""
        ops = []
        for e in events:
            ops.append(UpdateOne(
                {"_id": e.ticket_id},
                {"$setOnInsert": {"contacts": [], "attempt": 0},
                 "$min": {"first_dispatched_at": e.dispatched_at}},
                upsert=True,
            ))
            ops.append(UpdateOne(
                {"_id": e.ticket_id, "attempt": {"$lt": e.attempt}},
                {"$set": {"unit_code": e.unit_code, "district_code": e.district_code,
                          "attempt": e.attempt,
                          "co_handlers": [a.unit_code for a in e.co_handlers]}},
            ))
        if ops:
            # Ordered: each ticket's insert comes before its guarded update.
            await self._tickets.bulk_write(ops, ordered=True)

    async def get_by_ticket_id(self, *, ticket_id: str) -> FollowupTicket | None:
        """The ticket, if followup has seen its dispatch."""
        doc = await self._tickets.find_one({"_id": ticket_id})
        if not doc or "unit_code" not in doc:
            return None
        return FollowupTicket(
            ticket_id=doc["_id"],
            unit_code=doc["unit_code"],
            first_dispatched_at=doc["first_dispatched_at"],
            contact_ids=frozenset(c["contact_id"] for c in doc.get("contacts", [])),
        )

    async def add_contact(self, *, event: ContactRecorded) -> bool:
        """Append the contact unless it is already there; True when it was new."""
        result = await self._tickets.update_one(
            {"_id": event.ticket_id, "contacts.contact_id": {"$ne": event.contact_id}},
            {
                "$push": {
                    "contacts": {
                        "contact_id": event.contact_id,
                        "kind": event.kind.value,
                        "contacted_at": event.contacted_at,
                        "staff_id": event.staff_id,
                        "unit_code": event.unit_code,
                    }
                }
            },
        )
        return result.modified_count == 1

    async def timeline(self, *, ticket_id: str) -> dict | None:
        """The ticket document as stored (it holds no personal data)."""
        doc = await self._tickets.find_one({"_id": ticket_id})
        if doc is None:
            return None
        doc["ticket_id"] = doc.pop("_id")
        return doc

