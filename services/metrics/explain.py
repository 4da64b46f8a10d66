"""Every lost point explained (pure): which of a unit-month's tickets cost it points, how many, and
the score and rank the unit would have had had that ticket gone right.

The score is 100 × Σ_r w_r × rate_r / W over the rates r that exist (W = Σ w_r over them), and
each rate is N_r / D_r, sums over the tickets in its denominator (`hotline.ranking_policy`). A
ticket i adds d_ri to D_r (0 or 1) and n_ri to N_r (its share of the numerator: 1, 0.9 for 基本满意,
0...), so the gap is

    100 − score = Σ_i 100 × Σ_r (w_r / W) × (d_ri − n_ri) / D_r,

and that inner sum is ticket i's cost. The items add up to the gap exactly, and a ticket's cost
is also what the score gains when that ticket alone goes right (`gone_right`: its n_ri raised to
d_ri, contacted in time, resolved, satisfied), since no denominator moves. Each ticket's d_ri and n_ri are read
from its own figures (`partial_figures` of that one ticket), so the explanation follows the
policy's rate definitions, whichever response definition it chose. Breaches and reopens enter no
rate: a ticket that only breached is listed at 0 points, so the unit sees it.

Costs are rounded to 4 decimals by the largest remainder, so the rounded items still add up to
the rounded gap. An exempted (approved) ticket is in no figure, so it costs nothing and is not listed.
"""

from collections.abc import Mapping, Sequence
from math import floor
from typing import Any, TypedDict

from hotline.metrics.domain import Summary
from hotline.metrics.figures import partial_figures
from hotline.ranking_policy import RankingPolicy, Rate

RATES = ("response", "resolution", "satisfaction")
# What went wrong with a ticket (`reasons`), for a dashboard in both languages.
REASON_LABELS = {
    "contacted_late": {"zh": "超时联系", "en": "Contacted late"},
    "response_overdue": {"zh": "超时未联系", "en": "Not contacted before the deadline"},
    "callback_not_contacted": {"zh": "回访称未联系", "en": "Callback: not contacted"},
    "unresolved": {"zh": "未解决", "en": "Unresolved"},
    "basically_satisfied": {"zh": "基本满意", "en": "Basically satisfied"},
    "dissatisfied": {"zh": "不满意", "en": "Dissatisfied"},
    "breached": {"zh": "超期", "en": "Deadline breached"},
}
_SCALE = 10_000  # 4 decimals, as scores are rounded


class LostPoint(TypedDict):
    """One ticket that cost the unit points: what went wrong and what it cost."""

    ticket_id: str
    category: str
    reasons: list[str]
    points: float  # of the score, 0-100
    points_by_rate: dict[str, float]
    score_if_right: float | None
    rank_if_right: int | None


class Explanation(TypedDict):
    """A unit-month's score, its gap to 100, and the tickets that make it up, costliest first."""

    score: float | None
    gap: float | None
    rank: int | None
    ranked: bool
    items: list[LostPoint]


def _rank(score: float, others: Sequence[float]) -> int:
    """Competition rank (1-2-2-4) of a score among the other units' scores."""
    return 1 + sum(1 for other in others if other > score)


def _shortfall(rate: Rate, figures: Mapping[str, Any]) -> tuple[float, float]:
    """One ticket's (denominator, denominator − numerator) in a rate."""
    whole = sum(figures.get(term) or 0 for term in rate.denominator)
    part = sum(w * (figures.get(term) or 0) for term, w in rate.numerator.items())
    return whole, whole - part


def reasons(summary: Summary) -> list[str]:
    """What went wrong with a ticket, in words the dashboard translates (whatever the policy counts)."""
    found: list[str] = []
    callback = summary.get("callback")
    if summary.get("response") == "late":
        found.append("contacted_late")
    elif summary.get("response") == "overdue":
        found.append("response_overdue")
    if callback is not None:
        if callback.get("contacted") is False:
            found.append("callback_not_contacted")
        if not callback["resolved"]:
            found.append("unresolved")
        if callback["satisfaction"] in ("dissatisfied", "basically_satisfied"):
            found.append(callback["satisfaction"])
    if summary.get("breaches"):
        found.append("breached")
    return found


def gone_right(summary: Summary) -> Summary:
    """The ticket as if it had gone right: contacted in time, no breach, and a callback (if it had
    one) saying contacted (if it was asked), resolved and satisfied."""
    right: Summary = {**summary, "breaches": 0}
    if summary.get("response") in ("late", "overdue"):
        right["response"] = "in_time"
    callback = summary.get("callback")
    if callback is not None:
        asked = callback.get("contacted") is not None
        right["callback"] = {"resolved": True, "satisfaction": "satisfied", "contacted": True if asked else None}
    return right


def _apportion(raw: dict[str, float], total: float) -> dict[str, float]:
    """The costs rounded to 4 decimals so that they add up to the total rounded alike."""
    target = round(total * _SCALE)
    floors = {k: floor(v * _SCALE + 1e-9) for k, v in raw.items()}
    spare = target - sum(floors.values())
    by_remainder = sorted(raw, key=lambda k: (-(raw[k] * _SCALE - floors[k]), k))
    for k in by_remainder[:max(spare, 0)]:
        floors[k] += 1
    # The score's own rounding can leave the gap a ten-thousandth under the floors: the smallest
    # remainders give it back.
    for k in [k for k in reversed(by_remainder) if floors[k] > 0][:max(-spare, 0)]:
        floors[k] -= 1
    return {k: n / _SCALE for k, n in floors.items()}


def explain(tickets: Mapping[str, Summary], policy: RankingPolicy, others: Sequence[float]) -> Explanation:
    """The tickets of a unit-month (its summaries, by ticket id) that cost it points, costliest first.

    `others` are the scores of the other ranked units of its ranking (the same kind and month); the
    ranks are among them (a unit below the policy's minimum sample is not ranked, and stays so had a
    ticket gone right: that moves no count of callbacks)."""
    held = {t: s for t, s in tickets.items() if "exemption" not in s or s["exemption"]["state"] != "approved"}
    per_ticket = {t: partial_figures({t: s}) for t, s in held.items()}
    month = partial_figures(held)
    rates = policy.unit_rates(month)
    score = policy.score(rates)
    ranked = score is not None and policy.enough_sample(month)
    if score is None:
        return {"score": None, "gap": None, "rank": None, "ranked": False, "items": []}
    chosen = {"response": policy.rates.response[policy.response_definition],
              "resolution": policy.rates.resolution, "satisfaction": policy.rates.satisfaction}
    weights = policy.weights.model_dump()
    defined = [r for r in RATES if rates[r] is not None and weights[r] > 0]
    total_weight = sum(weights[r] for r in defined)
    denominators = {r: _shortfall(chosen[r], month)[0] for r in defined}

    by_rate: dict[str, dict[str, float]] = {}
    for ticket, figures in per_ticket.items():
        lost = {r: 100 * weights[r] / total_weight * _shortfall(chosen[r], figures)[1] / denominators[r]
                for r in defined}
        by_rate[ticket] = {r: v for r, v in lost.items() if v > 0}
    gap = round(100 - score, 4)
    listed = {t for t in held if by_rate[t] or held[t].get("breaches")}
    points = _apportion({t: sum(by_rate[t].values()) for t in listed}, gap)
    items: list[LostPoint] = []
    for ticket in listed:
        right = policy.score(policy.unit_rates(partial_figures({**held, ticket: gone_right(held[ticket])})))
        items.append({
            "ticket_id": ticket, "category": held[ticket].get("category") or "other",
            "reasons": reasons(held[ticket]), "points": points[ticket],
            "points_by_rate": {r: round(v, 6) for r, v in by_rate[ticket].items()},
            "score_if_right": right,
            "rank_if_right": _rank(right, others) if ranked and right is not None else None,
        })
    items.sort(key=lambda i: (-i["points"], i["ticket_id"]))
    return {"score": score, "gap": gap, "rank": _rank(score, others) if ranked else None, "ranked": ranked,
            "items": items}
