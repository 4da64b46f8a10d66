"""Metrics' pure domain: per-ticket facts, and unit-month figures derived from them.

Figures are always recomputed from the per-ticket facts a unit-month holds, never
incremented: a redelivered or replayed event rewrites the same fact, so no crash or
duplicate can skew a count.
"""

from datetime import datetime
from typing import Any

from hotline.contracts import BUSINESS_TZ, ContactKind


def period_of(moment: datetime) -> str:
    """The calendar month (Asia/Shanghai) a moment falls in, as YYYY-MM."""
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m")


def unit_month_id(unit_code: str, period: str) -> str:
    """The `_id` of a unit's figures for a month: the read path's key."""
    return f"{unit_code}:{period}"


def ticket_summary(fact: dict[str, Any]) -> dict[str, Any]:
    """What a unit-month keeps of one ticket: when dispatched, first contact, face to face."""
    contacts = list(fact.get("contacts", {}).values())
    first_contact = min((c["contacted_at"] for c in contacts), default=None)
    return {
        "dispatched_at": fact["dispatched_at"],
        "first_contact_at": first_contact,
        "face_to_face": any(c["kind"] == ContactKind.FACE_TO_FACE.value for c in contacts),
    }


def unit_month_figures(tickets: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Counts for one unit and month from its tickets' summaries."""
    return {
        "dispatched": len(tickets),
        "contacted": sum(1 for t in tickets.values() if t.get("first_contact_at") is not None),
        "face_to_face": sum(1 for t in tickets.values() if t.get("face_to_face")),
    }
