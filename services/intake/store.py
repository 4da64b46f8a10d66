"""Intake's store: which tickets exist and whether their event was published (an outbox flag)."""

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from hotline.contracts import TicketReceived
from hotline.intake.domain import PriorTicket


class IntakeStore:
    """Per-ticket records keyed by ticket id; no personal data is stored here."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._tickets = db["intake_tickets"]
        self._repeats = db["intake_repeats"]

    async def ensure_indexes(self) -> None:
        """Nothing beyond `_id` is queried on the hot path."""

    async def published_ids(self, *, ticket_ids: list[str]) -> set[str]:
        """The ids among `ticket_ids` whose TicketReceived was already published."""
        cursor = self._tickets.find({"_id": {"$in": ticket_ids}, "published": True}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}

    async def record_received(self, *, tickets: list[TicketReceived]) -> None:
        """Record each ticket once; a resend leaves the first record as it was."""
        if not tickets:
            return
        await self._tickets.bulk_write(
            [
                UpdateOne(
                    {"_id": t.ticket_id},
                    {
                        "$setOnInsert": {
                            "event_id": t.event_id,
                            "channel": t.channel.value,
                            "source_id": t.source_id,
                            "received_at": t.received_at,
                            "district_code": t.location.district_code,
                            "unit_code": t.location.unit_code,
                            "category": t.category,
                            "urgency": t.urgency,
                            "request_type": t.request_type.value,
                            "repeat_of": t.repeat_of,
                            "published": False,
                        }
                    },
                    upsert=True,
                )
                for t in tickets
            ],
            ordered=False,
        )

    async def mark_published(self, *, ticket_ids: list[str]) -> None:
        """Flag tickets whose event the broker acknowledged."""
        if ticket_ids:
            await self._tickets.update_many({"_id": {"$in": ticket_ids}}, {"$set": {"published": True}})

    async def histories(self, *, keys: list[str]) -> dict[str, list[PriorTicket]]:
        """Earlier tickets for each repeat key (caller, place and category, hashed)."""
        found: dict[str, list[PriorTicket]] = {key: [] for key in keys}
        async for doc in self._repeats.find({"_id": {"$in": keys}}):
            found[doc["_id"]] = [PriorTicket(t["ticket_id"], t["received_at"]) for t in doc["tickets"]]
        return found

    async def remember(self, *, entries: dict[str, list[TicketReceived]]) -> None:
        """Add tickets to their repeat keys' histories; adding one twice changes nothing."""
        ops = [
            UpdateOne(
                {"_id": key},
                {"$addToSet": {"tickets": {"$each": [
                    {"ticket_id": t.ticket_id, "received_at": t.received_at} for t in tickets
                ]}}},
                upsert=True,
            )
            for key, tickets in entries.items()
        ]
        if ops:
            await self._repeats.bulk_write(ops, ordered=False)
