"""Metrics' store: per-ticket facts and per-unit-month projections, both keyed by `_id`."""

from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from hotline.contracts import ContactRecorded, TicketDispatched
from hotline.metrics.domain import period_of, ticket_summary, unit_month_figures, unit_month_id


class MetricsStore:
    """Projections rebuilt from the topics; they hold ids and times, never personal data."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._facts = db["metrics_ticket_facts"]
        self._unit_months = db["metrics_unit_months"]

    async def ensure_indexes(self) -> None:
        """Reads are by `_id` only."""

    async def apply(
        self, *, dispatched: list[TicketDispatched], contacts: list[ContactRecorded]
    ) -> set[str]:
        """Write the events' facts (idempotent $set); return the tickets touched."""
        ops = [
            op
            for e in dispatched
            for op in (
                UpdateOne({"_id": e.ticket_id}, {"$setOnInsert": {"attempt": 0}}, upsert=True),
                # A re-dispatch (higher attempt) moves the ticket to its new unit; an older
                # attempt arriving late changes nothing.
                UpdateOne(
                    {"_id": e.ticket_id, "attempt": {"$lt": e.attempt}},
                    {"$set": {
                        "unit_code": e.unit_code,
                        "district_code": e.district_code,
                        "attempt": e.attempt,
                        "period": period_of(e.dispatched_at),
                    }, "$min": {"dispatched_at": e.dispatched_at}},
                ),
            )
        ] + [
            # Contacts may arrive before the dispatch (another topic): the fact waits for it.
            UpdateOne(
                {"_id": e.ticket_id},
                {"$set": {f"contacts.{e.contact_id}": {"kind": e.kind.value, "contacted_at": e.contacted_at}}},
                upsert=True,
            )
            for e in contacts
        ]
        if ops:
            await self._facts.bulk_write(ops, ordered=True)
        return {e.ticket_id for e in dispatched} | {e.ticket_id for e in contacts}

    async def project(self, *, ticket_ids: set[str]) -> None:
        """Copy the touched tickets' summaries into their unit-months and recompute figures."""
        if not ticket_ids:
            return
        facts = [f async for f in self._facts.find({"_id": {"$in": sorted(ticket_ids)}})]
        ops, touched, moved = [], {}, []
        for fact in facts:
            if "unit_code" not in fact:
                continue
            month_id = unit_month_id(fact["unit_code"], fact["period"])
            touched[month_id] = (fact["unit_code"], fact["period"])
            previous = fact.get("projected_to")
            if previous and previous != month_id:
                # Re-dispatched: the ticket leaves the unit that had it.
                ops.append(UpdateOne({"_id": previous}, {"$unset": {f"tickets.{fact['_id']}": ""}}))
                touched[previous] = (None, None)
            if previous != month_id:
                moved.append(UpdateOne({"_id": fact["_id"]}, {"$set": {"projected_to": month_id}}))
            ops.append(
                UpdateOne(
                    {"_id": month_id},
                    {
                        "$set": {f"tickets.{fact['_id']}": ticket_summary(fact)},
                        "$setOnInsert": {"unit_code": fact["unit_code"], "period": fact["period"]},
                    },
                    upsert=True,
                )
            )
        if not ops:
            return
        await self._unit_months.bulk_write(ops, ordered=False)
        figures_ops = [
            UpdateOne({"_id": doc["_id"]}, {"$set": unit_month_figures(doc.get("tickets", {}))})
            async for doc in self._unit_months.find({"_id": {"$in": sorted(touched)}})
        ]
        await self._unit_months.bulk_write(figures_ops, ordered=False)
        # Noted last: a crash before this repeats the move, which changes nothing.
        if moved:
            await self._facts.bulk_write(moved, ordered=False)

    async def unit_month(self, *, unit_code: str, period: str) -> dict[str, Any] | None:
        """One unit's figures for one month (without the per-ticket detail)."""
        return await self._unit_months.find_one(
            {"_id": unit_month_id(unit_code, period)}, {"tickets": 0}
        )
