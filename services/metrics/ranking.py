"""Rates, composite scores, rankings and hotspots from unit-month figures (pure).

A ranking and a month's hotspots are what the store keeps and the API answers (rows of names,
rates and figures), so they are built here as the plain dicts they are written as.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from hotline.metrics.directory import Directory, RankingKind
from hotline.metrics.figures import PeriodUnit
from hotline.ranking_policy import RankingPolicy

ROW_FIGURES = (
    "dispatched", "contacted", "contacted_in_time", "contacted_late", "response_overdue",
    "face_to_face", "face_to_face_share", "median_first_contact_minutes", "callbacks", "callback_contacted",
    "callback_not_contacted", "resolved", "unresolved", "satisfied", "basically_satisfied", "dissatisfied",
    "breaches", "returns", "reopens", "repeats",
)


def rates(figures: Mapping[str, Any], policy: RankingPolicy) -> dict[str, float | None]:
    """Response (by the policy's definition), resolution and satisfaction rates (None while their
    denominator is zero)."""
    return policy.unit_rates(figures)


def score(unit_rates: Mapping[str, float | None], policy: RankingPolicy) -> float | None:
    """0-100: the weighted mean of the rates that are defined (weights renormalised over them)."""
    return policy.score(unit_rates)


def competition_ranks(scores: list[float]) -> list[int]:
    """1-2-2-4 ranking of scores already sorted best first."""
    ranks: list[int] = []
    for i, s in enumerate(scores):
        ranks.append(ranks[-1] if i and s == scores[i - 1] else i + 1)
    return ranks


def ranking(period: str, kind: RankingKind, units: Sequence[PeriodUnit], directory: Directory,
            policy: RankingPolicy) -> dict[str, Any]:
    """One kind's ranking for a month: ranked units best first, then the units listed but not ranked
    (no rate yet, or fewer valid callbacks than the policy's minimum sample), each marked why."""
    rows: list[dict[str, Any]] = []
    for unit in units:
        info = directory.unit(unit["unit_code"])
        if info is None or info.ranking_kind is not kind:
            continue
        figures: Mapping[str, Any] = unit["figures"]  # its row lists the figures by name
        unit_rates = rates(figures, policy)
        unit_score = score(unit_rates, policy)
        reason = "no_rate" if unit_score is None else None if policy.enough_sample(figures) else "minimum_sample"
        rows.append({
            "unit_code": info.code, "name": info.name, "name_en": info.name_en, "unit_kind": info.unit_kind,
            "district_code": info.district_code, "district_name": info.district_name,
            "score": unit_score, "rates": unit_rates, "ranked": reason is None, "unranked_reason": reason,
            **{name: figures.get(name) for name in ROW_FIGURES},
        })
    ranked = sorted((r for r in rows if r["ranked"]), key=lambda r: (-r["score"], r["unit_code"]))
    for row, rank in zip(ranked, competition_ranks([r["score"] for r in ranked]), strict=True):
        row["rank"] = rank
    unranked = sorted((r for r in rows if not r["ranked"]), key=lambda r: r["unit_code"])
    for row in unranked:
        row["rank"] = None
    return {"period": period, "kind": kind.value, "policy": policy.stamp(), "weights": policy.weights.model_dump(),
            "rows": ranked, "unranked": unranked}


def with_movement(rows: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with last month's rank and the movement (positive: moved up)."""
    before = {r["unit_code"]: r["rank"] for r in previous}
    moved = []
    for row in rows:
        prev = before.get(row["unit_code"])
        change = prev - row["rank"] if prev is not None and row["rank"] is not None else None
        movement = "new" if prev is None else "up" if change and change > 0 else "down" if change else "same"
        moved.append({**row, "previous_rank": prev, "rank_change": change, "movement": movement})
    return moved


def in_district(rows: list[dict[str, Any]], district_code: str) -> list[dict[str, Any]]:
    """The rows of one district, each with its rank inside the district."""
    chosen = [r for r in rows if r["district_code"] == district_code]
    ranks = competition_ranks([r["score"] for r in chosen])
    return [{**r, "district_rank": rank} for r, rank in zip(chosen, ranks, strict=True)]


def hotspots(period: str, units: Sequence[PeriodUnit], directory: Directory, *, top: int,
             cluster_min: int) -> dict[str, Any]:
    """Leading categories city-wide and per district, and clusters of one community and category."""
    city: Counter[str] = Counter()
    districts: dict[str, Counter[str]] = {}
    clusters: dict[tuple[str, str, str], list[int]] = {}
    for unit in units:
        for district, category, n in unit["figures"].get("categories", []):
            city[category] += n
            districts.setdefault(district, Counter())[category] += n
        for place, community, category, n, repeats in unit["figures"].get("communities", []):
            tally = clusters.setdefault((place, community, category), [0, 0])
            tally[0] += n
            tally[1] += repeats

    def leading(counts: Counter[str]) -> list[dict[str, Any]]:
        total = sum(counts.values())
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [{"category": c, "label": directory.category_label(c), "count": n, "share": round(n / total, 6)}
                for c, n in ordered]

    found = sorted(((k, v) for k, v in clusters.items() if v[0] >= cluster_min),
                   key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    cluster_rows = []
    for (place, community, category), (n, repeats) in found[: top * 5]:
        info = directory.unit(place)
        cluster_rows.append({
            "place_code": place, "place_name": info.name if info else None,
            "district_code": info.district_code if info else None,
            "community": community, "category": category, "label": directory.category_label(category),
            "count": n, "repeats": repeats,
        })
    return {
        "period": period,
        "total": sum(city.values()),
        "city": leading(city),
        "districts": [
            {"district_code": d or None, "district_name": directory.district_name(d),
             "total": sum(c.values()), "categories": leading(c)}
            for d, c in sorted(districts.items())
        ],
        "clusters": cluster_rows,
    }


def ranking_id(period: str, kind: RankingKind | str) -> str:
    """The `_id` of a kind's ranking for a month."""
    return f"{period}:{RankingKind(kind).value}"


def period_views(period: str, units: Sequence[PeriodUnit], directory: Directory, policy: RankingPolicy, *,
                 top: int, cluster_min: int) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Every ranking of a month by `_id`, and its hotspots."""
    units = sorted(units, key=lambda u: u["unit_code"])
    rankings = {ranking_id(period, kind): ranking(period, kind, units, directory, policy) for kind in RankingKind}
    return rankings, hotspots(period, units, directory, top=top, cluster_min=cluster_min)
