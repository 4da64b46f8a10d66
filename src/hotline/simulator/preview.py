"""What a plan should do to the rankings, computed from the plan alone (pure).

The same definitions as the metrics service (docs/metrics.md): a ticket counts in its holder's
month of dispatch; response = first contacts in time / (in time + late + never contacted once the
deadline passed); resolution and satisfaction from each ticket's latest callback; the score is
the weighted mean (default 10 / 45 / 45, basically satisfied 0.8). Used to tune the scenario, by
the tests, and by `hotline simulate` to say where a unit should stand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from hotline.contracts import BUSINESS_TZ
from hotline.deadlines import ClockKind, default_policy
from hotline.simulator.plan import Act, ActKind, city_of
from hotline.taxonomy import default_taxonomy

WEIGHTS = {"response": 10.0, "resolution": 45.0, "satisfaction": 45.0}
BASICALLY = 0.8


def _response_due(received_at: datetime, urgency: str) -> datetime:
    """When the first contact is due: the response clock routing puts on the dispatch (the first
    dispatch happens at receipt), from the same shared policy."""
    return default_policy().due_at(kind=ClockKind.RESPONSE, urgency=urgency, started_at=received_at)


@dataclass
class _Seen:
    holder: str | None
    dispatched_at: datetime
    response_due: datetime
    first_contact: datetime | None = None
    callbacks: list[tuple[datetime, bool, str]] = field(default_factory=list)


@dataclass
class UnitMonth:
    """A unit-month's figures as the plan has them."""

    dispatched: int = 0
    in_time: int = 0
    late: int = 0
    overdue: int = 0
    face_to_face: int = 0
    callbacks: int = 0
    resolved: int = 0
    satisfied: int = 0
    basically: int = 0

    def rates(self) -> dict[str, float | None]:
        """Response, resolution and satisfaction (None without a denominator)."""
        answered = self.in_time + self.late + self.overdue
        return {
            "response": self.in_time / answered if answered else None,
            "resolution": self.resolved / self.callbacks if self.callbacks else None,
            "satisfaction": (self.satisfied + BASICALLY * self.basically) / self.callbacks if self.callbacks else None,
        }

    def score(self) -> float | None:
        """0-100, the weighted mean of the defined rates."""
        defined = [(WEIGHTS[k], r) for k, r in self.rates().items() if r is not None]
        total = sum(w for w, _ in defined)
        return round(100 * sum(w * r for w, r in defined) / total, 4) if total else None


def figures(acts: Iterable[Act], *, until: datetime | None = None) -> dict[tuple[str, str], UnitMonth]:
    """(unit, YYYY-MM) -> figures, over the acts up to `until` (all by default)."""
    taxonomy = default_taxonomy()
    tickets: dict[str, _Seen] = {}
    in_person: set[str] = set()
    for act in acts:
        if until is not None and act.at > until:
            break
        if act.kind is ActKind.RECEIVE and not act.payload.get("answered_directly"):
            record = act.payload
            due = _response_due(act.at, taxonomy.urgency(record["content"], record["category_hint"]).code)
            tickets[act.ticket] = _Seen(act.unit_code, act.at, due)
        elif act.kind is ActKind.COLLECT:
            record = act.payload["record"]
            due = _response_due(act.at, taxonomy.urgency(record["content"], record["category_hint"]).code)
            tickets[act.payload["demand"]] = _Seen(act.unit_code, act.at, due)
        elif act.kind is ActKind.CONTACT and act.ticket in tickets:
            seen = tickets[act.ticket]
            if seen.first_contact is None:
                seen.first_contact = act.at
            if act.payload["kind"] == "face_to_face":
                in_person.add(act.ticket)
        elif act.kind is ActKind.CALLBACK and act.ticket in tickets:
            tickets[act.ticket].callbacks.append((act.at, act.payload["resolved"], act.payload["satisfaction"]))
    months: dict[tuple[str, str], UnitMonth] = {}
    horizon = until
    for key, seen in tickets.items():
        if seen.holder is None:
            continue
        month = months.setdefault((seen.holder, seen.dispatched_at.astimezone(BUSINESS_TZ).strftime("%Y-%m")),
                                  UnitMonth())
        month.dispatched += 1
        month.face_to_face += key in in_person
        if seen.first_contact is not None:
            if seen.first_contact <= seen.response_due:
                month.in_time += 1
            else:
                month.late += 1
        elif horizon is None or seen.response_due <= horizon:
            month.overdue += 1
        if seen.callbacks:
            _, resolved, satisfaction = max(seen.callbacks)
            month.callbacks += 1
            month.resolved += resolved
            month.satisfied += satisfaction == "satisfied"
            month.basically += satisfaction == "basically_satisfied"
    return months


def rankings(months: dict[tuple[str, str], UnitMonth], units: tuple[str, ...]) -> dict[tuple[str, str], list[str]]:
    """(kind, YYYY-MM) -> the scored units of that kind, best first (ties by code)."""
    kinds = city_of(units).kinds
    out: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for (unit, period), month in months.items():
        score = month.score()
        if score is not None and kinds.get(unit) not in (None, "special"):
            out.setdefault((kinds[unit], period), []).append((-score, unit))
    return {k: [u for _, u in sorted(v)] for k, v in out.items()}


def rank_of(ranked: dict[tuple[str, str], list[str]], unit: str, kind: str, period: str) -> tuple[int, int] | None:
    """(rank, units ranked) of a unit in a month, or None when it has no score."""
    rows = ranked.get((kind, period), [])
    return (rows.index(unit) + 1, len(rows)) if unit in rows else None
