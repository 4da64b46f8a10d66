"""Casework's store (MongoDB, behind `hotline.followup.casework.app.CaseworkRecords`): its own
collections, every read by `_id` (the local server scans otherwise).

- Facts: per ticket, what the brief needs beyond followup's ticket: category, urgency, repeats and
  the collected-demand link (from `tickets.received`), the first face-to-face visit. Never the
  caller or the content. They live under `facts` on followup's own ticket document, written with
  the received event's timeline entry and with the contact (`received_facts`): a collection of
  their own was two more whole-document writes per ticket (issue #25). `casework_facts` holds
  those written before, still read.
- `casework_actions`: per ticket, signatures and progress notes (note texts live only here).
- `casework_demands`: per new ticket, the demand collected on a visit (no caller data).
- `casework_unit_days`: per unit and Asia/Shanghai day, the demands it recorded that day.
- `casework_cases` and `casework_case_tags`: the case library, one document per case and one
  per tag listing its cases.
"""

from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from hotline.contracts import ProgressNoted, TicketReceived, TicketSigned
from hotline.followup.casework.domain import RecordedDemand, TicketFacts, visit_of_source
from hotline.followup.casework.views import CaseRecord


def received_facts(t: TicketReceived) -> dict[str, Any]:
    """The fields a received ticket sets under its followup ticket's `facts` (each field alone, so
    a visit recorded before the received event arrived stays); a redelivery sets the same."""
    visit = visit_of_source(t.source_id) if t.channel.value == "collected" else None
    facts = {"category": t.category, "urgency": t.urgency, "channel": t.channel.value,
             "received_at": t.received_at, "repeat_of": t.repeat_of, "repeat_count": t.repeat_count,
             "collected_by": t.collected_by.unit_code if t.collected_by else None,
             "visit_ticket_id": visit[0] if visit else None, "visit_contact_id": visit[1] if visit else None}
    return {f"facts.{k}": v for k, v in facts.items()}


class CaseworkStore:
    """Facts, actions, collected demands and the case library."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._facts = db["casework_facts"]
        self._tickets = db["followup_tickets"]
        self._actions = db["casework_actions"]
        self._demands = db["casework_demands"]
        self._unit_days = db["casework_unit_days"]
        self._cases = db["casework_cases"]
        self._tags = db["casework_case_tags"]

    # --- facts fed by the topics -------------------------------------------------------------

    async def facts_for(self, *, ticket_ids: list[str]) -> dict[str, TicketFacts]:
        """The facts known of these tickets: on followup's tickets, over those written before."""
        if not ticket_ids:
            return {}
        found = {doc["_id"]: doc async for doc in self._facts.find({"_id": {"$in": ticket_ids}})}
        # Only `_id` in the filter: any other field makes the local server scan the collection.
        async for doc in self._tickets.find({"_id": {"$in": ticket_ids}}, {"facts": 1}):
            if "facts" not in doc:
                continue
            earlier = found.get(doc["_id"], {})
            facts = {**earlier, **doc["facts"], "_id": doc["_id"]}
            visits = [at for at in (earlier.get("face_to_face_at"), doc["facts"].get("face_to_face_at")) if at]
            facts["face_to_face_at"] = min(visits, default=None)
            found[doc["_id"]] = facts
        return found

    # --- signatures and notes ----------------------------------------------------------------

    async def _push_once(self, ticket_id: str, field: str, entry: dict[str, Any], key: str) -> bool:
        """Append `entry` to the ticket's `field` unless one with the same `key` value is there."""
        result = await self._actions.bulk_write([
            UpdateOne({"_id": ticket_id}, {"$setOnInsert": {"signatures": [], "notes": []}}, upsert=True),
            UpdateOne({"_id": ticket_id, f"{field}.{key}": {"$ne": entry[key]}}, {"$push": {field: entry}}),
        ], ordered=True)
        return result.modified_count == 1

    async def add_signature(self, *, event: TicketSigned) -> tuple[TicketSigned, bool]:
        """Record the signature once; the stored one (the first) and whether it is new."""
        entry = event.model_dump(mode="python", exclude={"schema_version"})
        is_new = await self._push_once(event.ticket_id, "signatures", entry, "event_id")
        if is_new:
            return event, True
        doc = await self._actions.find_one({"_id": event.ticket_id}, {"signatures": 1})
        assert doc is not None  # _push_once upserted it
        stored = next(s for s in doc["signatures"] if s["event_id"] == event.event_id)
        return TicketSigned.model_validate(stored), False

    async def signatures(self, *, ticket_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Each ticket's signatures."""
        if not ticket_ids:
            return {}
        cursor = self._actions.find({"_id": {"$in": ticket_ids}}, {"signatures": 1})
        return {doc["_id"]: doc.get("signatures", []) async for doc in cursor}

    async def add_note(self, *, event: ProgressNoted, text: str,
                       request_hash: str | None = None) -> tuple[ProgressNoted, bool, str | None]:
        """Record the note with its text (and the hash of the request, when a key named it) once;
        the stored one, whether it is new, and the stored request hash."""
        entry = {**event.model_dump(mode="python", exclude={"schema_version"}), "text": text,
                 **({"request_hash": request_hash} if request_hash else {})}
        is_new = await self._push_once(event.ticket_id, "notes", entry, "note_id")
        if is_new:
            return event, True, request_hash
        doc = await self._actions.find_one({"_id": event.ticket_id}, {"notes": 1})
        assert doc is not None  # _push_once upserted it
        stored = next(n for n in doc["notes"] if n["note_id"] == event.note_id)
        kept = {k: v for k, v in stored.items() if k not in ("text", "request_hash")}
        return ProgressNoted.model_validate(kept), False, stored.get("request_hash")

    async def notes(self, *, ticket_id: str) -> list[dict[str, Any]]:
        """The ticket's notes with their texts, oldest first (in order of writing at equal times)."""
        doc = await self._actions.find_one({"_id": ticket_id}, {"notes": 1})
        notes = [{k: v for k, v in n.items() if k != "request_hash"} for n in (doc or {}).get("notes", [])]
        return sorted(notes, key=lambda n: n["noted_at"])

    # --- collected demands -------------------------------------------------------------------

    async def record_demands(
        self, *, documents: list[RecordedDemand],
    ) -> tuple[dict[str, RecordedDemand], set[str]]:
        """Store each demand once (the first recording wins) and list it under its unit's day;
        the stored documents by id, and the ids that are new."""
        if not documents:
            return {}, set()
        result = await self._demands.bulk_write(
            [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": {k: v for k, v in d.items() if k != "_id"}}, upsert=True)
             for d in documents],
            ordered=False,
        )
        new = {documents[i]["_id"] for i in result.upserted_ids or {}}  # None only for unacknowledged writes
        stored = {doc["_id"]: doc async for doc in self._demands.find({"_id": {"$in": [d["_id"] for d in documents]}})}
        # Listed under the stored (first) day, so a retry on a later day does not list it twice.
        by_day: dict[str, list[str]] = {}
        for doc in stored.values():
            by_day.setdefault(f"{doc['unit_code']}/{doc['day']}", []).append(doc["_id"])
        await self._unit_days.bulk_write(
            [UpdateOne({"_id": key}, {"$addToSet": {"demands": {"$each": sorted(ids)}}}, upsert=True)
             for key, ids in by_day.items()],
            ordered=False,
        )
        return stored, new

    async def collected_on(self, *, unit_code: str, day: str) -> list[RecordedDemand]:
        """The demands the unit recorded on that Asia/Shanghai day (YYYY-MM-DD)."""
        listing = await self._unit_days.find_one({"_id": f"{unit_code}/{day}"})
        ids = (listing or {}).get("demands", [])
        if not ids:
            return []
        return [doc async for doc in self._demands.find({"_id": {"$in": ids}})]

    # --- the case library --------------------------------------------------------------------

    async def get_case(self, *, ticket_id: str) -> CaseRecord | None:
        """One case, or None."""
        return await self._cases.find_one({"_id": ticket_id})

    async def save_case(self, *, case: CaseRecord) -> CaseRecord | None:
        """Store the case (replacing an earlier description) and list it under its tags; the
        previous version, if any."""
        previous = await self._cases.find_one({"_id": case["_id"]})
        await self._cases.replace_one({"_id": case["_id"]}, case, upsert=True)
        # Written every time (idempotent), so a crash between the two writes is healed by a retry;
        # a listing left behind under a dropped tag is filtered out when read.
        ops = [UpdateOne({"_id": tag}, {"$addToSet": {"cases": case["_id"]}}, upsert=True) for tag in case["tags"]]
        ops += [UpdateOne({"_id": tag}, {"$pull": {"cases": case["_id"]}})
                for tag in set((previous or {}).get("tags", [])) - set(case["tags"])]
        await self._tags.bulk_write(ops, ordered=False)
        return previous

    async def cases_tagged(self, *, tag: str, limit: int) -> list[CaseRecord]:
        """Cases with this tag, most recently marked first."""
        listing = await self._tags.find_one({"_id": tag})
        ids = (listing or {}).get("cases", [])
        if not ids:
            return []
        cases = [c async for c in self._cases.find({"_id": {"$in": ids}}) if tag in c.get("tags", [])]
        cases.sort(key=lambda c: (c["marked_at"], c["_id"]), reverse=True)
        return cases[:limit]

    async def tag_counts(self) -> dict[str, int]:
        """Every tag and how many cases it lists (a small collection: reading it whole is fine)."""
        return {doc["_id"]: len(doc.get("cases", [])) async for doc in self._tags.find({}) if doc.get("cases")}
