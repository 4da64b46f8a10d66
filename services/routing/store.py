"""Routing's store: each ticket's dispatch decision, kept so redelivery never re-decides."""

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from hotline.routing.domain import Dispatch, DispatchReason


class DispatchStore:
    """Dispatch decisions keyed by ticket id, with an outbox flag."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._dispatches = db["routing_dispatches"]

    async def ensure_indexes(self) -> None:
        """Reads are by `_id` only."""

    async def get_many(self, *, ticket_ids: list[str]) -> dict[str, tuple[Dispatch, bool]]:
        """Stored decisions for these tickets, with whether they were published."""
        found = {}
        async for doc in self._dispatches.find({"_id": {"$in": ticket_ids}}):
            dispatch = Dispatch(
                doc["unit_code"], doc["unit_name"], doc.get("district_code"),
                DispatchReason(doc["reason"]),
            )
            found[doc["_id"]] = (dispatch, bool(doc.get("published")))
        return found

    async def save_new(self, *, decisions: dict[str, Dispatch]) -> None:
        """Store decisions; one already stored for a ticket wins."""
        if not decisions:
            return
        await self._dispatches.bulk_write(
            [
                UpdateOne(
                    {"_id": ticket_id},
                    {
                        "$setOnInsert": {
                            "unit_code": d.unit_code,
                            "unit_name": d.unit_name,
                            "district_code": d.district_code,
                            "reason": d.reason.value,
                            "published": False,
                        }
                    },
                    upsert=True,
                )
                for ticket_id, d in decisions.items()
            ],
            ordered=False,
        )

    async def mark_published(self, *, ticket_ids: list[str]) -> None:
        """Flag dispatches whose events the broker acknowledged."""
        if ticket_ids:
            await self._dispatches.update_many(
                {"_id": {"$in": ticket_ids}}, {"$set": {"published": True}}
            )
