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
                    {"_id": e.ticket_id, "$or": [{"attempt": {"$lt": e.attempt}}, {"attempt": {"$exists": False}}]},
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
        """Copy the touched tickets' summaries into their unit-months, with figures in the same
        write (a reader never sees tickets without their counts), then recompute the figures
        from the stored tickets, which settles what another instance wrote meanwhile."""
        if not ticket_ids:
            return
        facts = [f async for f in self._facts.find({"_id": {"$in": sorted(ticket_ids)}})]
        changes: dict[str, dict[str, Any]] = {}  # month id -> {"set": {...}, "unset": [...], "keys": (unit, period)}
        moved = []
        for fact in facts:
            if "unit_code" not in fact:
                continue
            month_id = unit_month_id(fact["unit_code"], fact["period"])
            change = changes.setdefault(month_id, {"set": {}, "unset": [], "keys": (fact["unit_code"], fact["period"])})
            change["set"][fact["_id"]] = ticket_summary(fact)
            previous = fact.get("projected_to")
            if previous and previous != month_id:
                # Re-dispatched: the ticket leaves the unit that had it.
                changes.setdefault(previous, {"set": {}, "unset": [], "keys": None})["unset"].append(fact["_id"])
            if previous != month_id:
                moved.append(UpdateOne({"_id": fact["_id"]}, {"$set": {"projected_to": month_id}}))
        if not changes:
            return
        current = {doc["_id"]: doc.get("tickets", {})
                   async for doc in self._unit_months.find({"_id": {"$in": sorted(changes)}})}
        ops = []
        for month_id, change in changes.items():
            tickets = {**current.get(month_id, {}), **change["set"]}
            for ticket_id in change["unset"]:
                tickets.pop(ticket_id, None)
            update: dict[str, Any] = {"$set": {**{f"tickets.{t}": v for t, v in change["set"].items()},
                                               **unit_month_figures(tickets)}}
            if change["unset"]:
                update["$unset"] = {f"tickets.{t}": "" for t in change["unset"]}
            if change["keys"]:
                update["$setOnInsert"] = {"unit_code": change["keys"][0], "period": change["keys"][1]}
            ops.append(UpdateOne({"_id": month_id}, update, upsert=change["keys"] is not None))
        await self._unit_months.bulk_write(ops, ordered=False)
        settle = [
            UpdateOne({"_id": doc["_id"]}, {"$set": unit_month_figures(doc.get("tickets", {}))})
            async for doc in self._unit_months.find({"_id": {"$in": sorted(changes)}})
        ]
        await self._unit_months.bulk_write(settle, ordered=False)
        # Noted last: a crash before this repeats the move, which changes nothing.
        if moved:
            await self._facts.bulk_write(moved, ordered=False)

    async def unit_month(self, *, unit_code: str, period: str) -> dict[str, Any] | None:
        """One unit's figures for one month (without the per-ticket detail)."""
        return await self._unit_months.find_one(
            {"_id": unit_month_id(unit_code, period)}, {"tickets": 0}
        )
