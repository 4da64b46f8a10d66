"""What a plan should do to the rankings, computed from the plan alone (pure).

The same definitions as the metrics service (docs/metrics.md), from the same ranking policy
(`hotline.ranking_policy`, data/policies/ranking.yaml): a ticket counts in its holder's month of
dispatch; the rates by the policy (the response rate by its definition: the callback's "were you
contacted" answer, or first contacts in time / (in time + late + never contacted once the deadline
passed)); resolution, satisfaction and the answer from each ticket's latest callback; the score is
the policy's weighted mean, and a unit below its minimum sample is not ranked. Used to tune the
scenario, by the tests, and by `hotline simulate` to say where a unit should stand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from hotline.contracts import BUSINESS_TZ
from hotline.deadlines import ClockKind, default_policy
from hotline.ranking_policy import RankingPolicy, default_ranking_policy
from hotline.simulator.plan import Act, ActKind, city_of
from hotline.taxonomy import default_taxonomy

_ANSWER_ORDER = {None: 0, False: 1, True: 2}  # as metrics settles two surveys at one time


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
    callbacks: list[tuple[datetime, bool, str, int, bool | None]] = field(default_factory=list)


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
    said_contacted: int = 0
    said_not_contacted: int = 0

    def as_figures(self) -> dict[str, int]:
        """The counts under metrics' figure names, as the policy's rates take them."""
        return {
            "dispatched": self.dispatched, "contacted_in_time": self.in_time, "contacted_late": self.late,
            "response_overdue": self.overdue, "callbacks": self.callbacks,
            "callback_contacted": self.said_contacted, "callback_not_contacted": self.said_not_contacted,
            "resolved": self.resolved, "unresolved": self.callbacks - self.resolved, "satisfied": self.satisfied,
            "basically_satisfied": self.basically,
            "dissatisfied": self.callbacks - self.satisfied - self.basically,
        }

    def rates(self, policy: RankingPolicy | None = None) -> dict[str, float | None]:
        """Response, resolution and satisfaction (None without a denominator)."""
        return (policy or default_ranking_policy()).unit_rates(self.as_figures())

    def score(self, policy: RankingPolicy | None = None) -> float | None:
        """0-100, the weighted mean of the defined rates."""
        policy = policy or default_ranking_policy()
        return policy.score(self.rates(policy))

    def ranked(self, policy: RankingPolicy | None = None) -> bool:
        """Whether the unit is ranked this month: a score, and the policy's minimum sample."""
        policy = policy or default_ranking_policy()
        return self.score(policy) is not None and policy.enough_sample(self.as_figures())


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
            said = act.payload.get("contacted")
            tickets[act.ticket].callbacks.append(
                (act.at, act.payload["resolved"], act.payload["satisfaction"], _ANSWER_ORDER[said], said))
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
            _, resolved, satisfaction, _, said = max(seen.callbacks)
            month.callbacks += 1
            month.said_contacted += said is True
            month.said_not_contacted += said is False
            month.resolved += resolved
            month.satisfied += satisfaction == "satisfied"
            month.basically += satisfaction == "basically_satisfied"
    return months


def rankings(months: dict[tuple[str, str], UnitMonth], units: tuple[str, ...],
             policy: RankingPolicy | None = None) -> dict[tuple[str, str], list[str]]:
    """(kind, YYYY-MM) -> the ranked units of that kind, best first (ties by code)."""
    policy = policy or default_ranking_policy()
    kinds = city_of(units).kinds
    out: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for (unit, period), month in months.items():
        score = month.score(policy)
        if score is not None and month.ranked(policy) and kinds.get(unit) not in (None, "special"):
            out.setdefault((kinds[unit], period), []).append((-score, unit))
    return {k: [u for _, u in sorted(v)] for k, v in out.items()}


def rank_of(ranked: dict[tuple[str, str], list[str]], unit: str, kind: str, period: str) -> tuple[int, int] | None:
    """(rank, units ranked) of a unit in a month, or None when it has no score."""
    rows = ranked.get((kind, period), [])
    return (rows.index(unit) + 1, len(rows)) if unit in rows else None
