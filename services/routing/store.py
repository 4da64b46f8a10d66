"""Routing's store: each ticket's dispatch decision, kept so redelivery never re-decides."""

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from hotline.contracts import Assignee
from hotline.routing.domain import Dispatch, DispatchReason


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
            found[doc["_id"]] = (_from_document(doc), bool(doc.get("published")))
        return found

    async def save_new(self, *, decisions: dict[str, Dispatch]) -> None:
        """Store decisions; one already stored for a ticket wins (a new catalogue never re-decides)."""
        if not decisions:
            return
        await self._dispatches.bulk_write(
            [
                UpdateOne(
                    {"_id": ticket_id},
                    {"$setOnInsert": {**_as_document(d), "attempt": 1, "published": False}},
                    upsert=True,
                )
                for ticket_id, d in decisions.items()
            ],
            ordered=False,
        )

    async def mark_published(self, *, ticket_ids: list[str]) -> None:
        """Flag dispatches whose events the broker acknowledged."""
        if ticket_ids:
            await self._dispatches.bulk_write(
                [UpdateOne({"_id": t}, {"$set": {"published": True}}) for t in ticket_ids],
                ordered=False,
            )
