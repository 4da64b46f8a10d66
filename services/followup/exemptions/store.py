"""Exemptions on followup's ticket documents (`followup_tickets`, by `_id`): under
`exemptions.<unit>`, the request (reason code, note, time, the key's request hash) and the
centre's decision. Each step writes its fact and its timeline entry in one guarded update, so a
retry or a redelivery changes nothing twice, and a crash cannot leave one without the other.

The notes may hold personal data: they are kept here, as the contacts' notes and the resolutions'
are, and never on an event; the ticket's view shows them to its units and the centre only."""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from hotline.contracts import ExemptionDecided, ExemptionRequested
from hotline.followup.exemptions.domain import Exemption, ExemptionTicket
from hotline.followup.tickets.store import timeline_entry

_READ = {"unit_code": 1, "state": 1, "first_dispatched_at": 1, "exemptions": 1}


def unit_field(unit_code: str) -> str:
    """A unit code as a field name (codes come from outside: no dots or dollars in a path)."""
    return unit_code.replace(".", "\uff0e").replace("$", "\uff04")


class ExemptionStore:
    """The exemptions of followup's tickets."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._tickets = db["followup_tickets"]

    async def get(self, *, ticket_id: str) -> ExemptionTicket | None:
        """The ticket as exemptions need it, if followup has seen its dispatch."""
        return ticket_from(await self._tickets.find_one({"_id": ticket_id}, _READ))

    async def save_request(self, *, event: ExemptionRequested, note: str, request_hash: str | None) -> bool:
        """Record the unit's request once; False when it had asked already."""
        path = f"exemptions.{unit_field(event.unit_code)}"
        _, entry = timeline_entry(event)
        result = await self._tickets.update_one(
            {"_id": event.ticket_id, path: {"$exists": False}},
            {"$set": {path: {"unit_code": event.unit_code, "reason_code": event.reason_code, "note": note,
                             "requested_at": event.requested_at, "state": "requested",
                             **({"request_hash": request_hash} if request_hash else {})}},
             "$push": {"timeline": entry}})
        return result.modified_count == 1

    async def save_decision(self, *, event: ExemptionDecided, note: str, request_hash: str | None) -> bool:
        """Record the decision on the unit's pending request; False when none was pending."""
        path = f"exemptions.{unit_field(event.unit_code)}"
        _, entry = timeline_entry(event)
        decision: dict[str, Any] = {f"{path}.state": "approved" if event.approved else "rejected",
                                    f"{path}.decided_at": event.decided_at, f"{path}.decision_note": note}
        if request_hash:
            decision[f"{path}.decision_hash"] = request_hash
        result = await self._tickets.update_one({"_id": event.ticket_id, f"{path}.state": "requested"},
                                                {"$set": decision, "$push": {"timeline": entry}})
        return result.modified_count == 1


def ticket_from(doc: dict | None) -> ExemptionTicket | None:
    """The stored ticket's holder, state and exemptions; None before its dispatch."""
    if not doc or "unit_code" not in doc:
        return None
    return ExemptionTicket(
        ticket_id=doc["_id"], unit_code=doc["unit_code"], state=doc.get("state", "open"),
        first_dispatched_at=doc["first_dispatched_at"],
        exemptions={e["unit_code"]: Exemption(**e) for e in (doc.get("exemptions") or {}).values()},
    )
