"""Metrics' read use cases: what the HTTP API, the ranking stream and the Prometheus gauges answer.

Every answer is read from the store (what any instance wrote), never from this process's memory,
so replicas answer alike. A bad parameter is a domain error (`Invalid`, an unknown unit
`NotFound`), answered by the runtime's one mapping (`hotline.runtime.errors`).
"""

import re
from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from hotline.contracts import BUSINESS_TZ
from hotline.domain_errors import Invalid, NotFound, NotYours
from hotline.metrics.directory import KIND_LABELS, Directory, RankingKind
from hotline.metrics.domain import Summary, period_of, previous_period
from hotline.metrics.explain import REASON_LABELS, explain
from hotline.metrics.ranking import in_district, ranking_id, rates, score, with_movement
from hotline.metrics.settle import SettlePolicy, SettleRule, SettleState, default_settle_policy, settle_time
from hotline.ranking_policy import RankingPolicy
from hotline.runtime.auth import Principal

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Column labels for a dashboard, in both languages.
LABELS = {
    "rank": {"zh": "排名", "en": "Rank"},
    "movement": {"zh": "较上月", "en": "Change vs last month"},
    "name": {"zh": "单位", "en": "Unit"},
    "district_name": {"zh": "区", "en": "District"},
    "score": {"zh": "综合得分", "en": "Score"},
    "rates.response": {"zh": "响应率", "en": "Response rate"},
    "rates.resolution": {"zh": "解决率", "en": "Resolution rate"},
    "rates.satisfaction": {"zh": "满意率", "en": "Satisfaction rate"},
    "face_to_face_share": {"zh": "见面率", "en": "Face-to-face share"},
    "dispatched": {"zh": "派单量", "en": "Tickets dispatched"},
    "contacted_in_time": {"zh": "按时联系", "en": "Contacted in time"},
    "contacted_late": {"zh": "超时联系", "en": "Contacted late"},
    "response_overdue": {"zh": "超时未联系", "en": "Overdue, not contacted"},
    "median_first_contact_minutes": {"zh": "首次联系用时中位数（分钟）", "en": "Median time to first contact (min)"},
    "callbacks": {"zh": "有效回访量", "en": "Valid callbacks"},
    "callback_contacted": {"zh": "回访称已联系", "en": "Callback: contacted"},
    "callback_not_contacted": {"zh": "回访称未联系", "en": "Callback: not contacted"},
    "resolved": {"zh": "已解决", "en": "Resolved"},
    "unresolved": {"zh": "未解决", "en": "Unresolved"},
    "satisfied": {"zh": "满意", "en": "Satisfied"},
    "basically_satisfied": {"zh": "基本满意", "en": "Basically satisfied"},
    "dissatisfied": {"zh": "不满意", "en": "Dissatisfied"},
    "breaches": {"zh": "超期", "en": "Deadline breaches"},
    "returns": {"zh": "退单", "en": "Returns"},
    "reopens": {"zh": "重办", "en": "Reopens"},
    "repeats": {"zh": "重复诉求", "en": "Repeat complaints"},
}
_TREND_SKIP = {"categories", "communities"}
# `period=settled`: the latest month that has settled (the dashboard opens on it).
SETTLED = "settled"
_SETTLE_FIELDS = ("settled", "settled_at", "settles_at", "settle_rule", "settle_policy_version")
# (event, data): a ranking stream's `snapshot` or `changes`
Update = tuple[str, dict[str, Any]]
# (unit code, period) -> the summaries of the tickets the unit holds that month, None: no such month
# (`hotline.metrics.projection.Projection.held_tickets`: every instance folds the whole log).
HeldTickets = Callable[[str, str], Mapping[str, Summary] | None]


class FigureReads(Protocol):
    """What the answers read (`hotline.metrics.store.MetricsStore`)."""

    async def unit_month(self, *, unit_code: str, period: str) -> dict[str, Any] | None: ...

    async def unit_months(self, *, unit_code: str) -> list[dict[str, Any]]: ...

    async def rankings(self, *, ranking_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    async def hotspots(self, *, period: str) -> dict[str, Any] | None: ...

    async def latest_period(self) -> str | None: ...

    async def settled_period(self) -> str | None: ...


def check_period(period: str | None, location: str, *, settled: bool = False) -> None:
    """A month is YYYY-MM (or `settled`, the latest settled month, where `settled` says so)."""
    if period is None or _PERIOD.match(period) or (settled and period == SETTLED):
        return
    hint = " or 'settled' (the latest settled month)" if settled else ""
    raise Invalid("period", f"expected a month as YYYY-MM, e.g. 2026-11{hint}", location=location)


class Queries:
    """The answers of the read endpoints, the ranking's shared by the JSON and the stream."""

    def __init__(self, store: FigureReads, directory: Directory, policy: RankingPolicy, bottom_n: int, *,
                 settle_policy: SettlePolicy | None = None, zone: tzinfo = BUSINESS_TZ,
                 held_tickets: HeldTickets = lambda unit, period: None) -> None:
        self.store, self.directory, self.policy, self.bottom_n = store, directory, policy, bottom_n
        self.settle_policy = settle_policy or default_settle_policy()
        self.held_tickets = held_tickets
        self.zone = zone  # the city's: which month "this month" is, and its settle times

    async def period_or_latest(self, period: str | None) -> str:
        """The month asked for (`settled`: the latest settled one, else the latest), else the latest
        with data, else this month."""
        if period == SETTLED:
            period = await self.store.settled_period()
        return period or await self.store.latest_period() or period_of(datetime.now(UTC), self.zone)

    def local_times(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A document with its settle time in the city's time zone (the store gives UTC)."""
        return {k: v.astimezone(self.zone) if k in ("settled_at", "settles_at") and isinstance(v, datetime) else v
                for k, v in doc.items()}

    def unwritten_state(self, period: str) -> dict[str, Any]:
        """The settle state of a month with no figures written: provisional, settling when the
        day rule says (an all_callbacks month's time is not known)."""
        policy = self.settle_policy
        at = settle_time(period, policy, self.zone) if policy.rule is SettleRule.DAY_OF_NEXT_MONTH else None
        return SettleState(False, at, policy.rule, policy.version).as_fields()

    def check_ranking(self, period: str | None, kind: RankingKind, district: str | None) -> None:
        """A month is YYYY-MM; a district filter names a district and applies to streets and towns only."""
        check_period(period, "query", settled=True)
        if district is None:
            return
        if not self.directory.is_district(district):
            raise Invalid("district", f"unknown district code {district!r} (6 digits, e.g. 110111)", location="query")
        if kind in (RankingKind.DEPARTMENT, RankingKind.ENTERPRISE):
            raise Invalid("district", "departments and enterprises are city-wide: no district filter",
                          location="query")

    async def ranking(self, period: str, kind: RankingKind, district: str | None) -> dict[str, Any]:
        """A kind's ranking with movement against the previous month, optionally one district's."""
        previous = previous_period(period)
        docs = await self.store.rankings(ranking_ids=[ranking_id(period, kind), ranking_id(previous, kind)])
        doc = docs.get(ranking_id(period, kind)) or {}
        before = docs.get(ranking_id(previous, kind)) or {}
        rows = with_movement(doc.get("rows", []), before.get("rows", []))
        unranked = doc.get("unranked", [])
        if district:
            rows = in_district(rows, district)
            unranked = [r for r in unranked if r["district_code"] == district]
        written = {k: doc[k] for k in _SETTLE_FIELDS if k in doc}
        state = self.local_times(written) if written else self.unwritten_state(period)
        return {
            "period": period, **state, "previous_period": previous, "kind": kind.value,
            "kind_label": KIND_LABELS[kind],
            "district": {"code": district, "name": self.directory.district_name(district)} if district else None,
            # The rules the stored ranking was computed under (a document from before policies: today's).
            "policy": doc.get("policy", self.policy.stamp()),
            "weights": doc.get("weights", self.policy.weights.model_dump()), "version": doc.get("seq", 0),
            "labels": LABELS, "count": len(rows), "rows": rows, "unranked": unranked,
            "bottom": [{"unit_code": r["unit_code"], "name": r["name"], "rank": r["rank"], "score": r["score"]}
                       for r in reversed(rows[-self.bottom_n:])] if rows else [],
        }

    async def current_ranking(self, kind: RankingKind, period: str | None, district: str | None) -> dict[str, Any]:
        """`GET /v1/rankings`: checked, for the month asked, the latest settled or the latest; with the
        latest month and the latest settled one (what the dashboard offers)."""
        self.check_ranking(period, kind, district)
        view = await self.ranking(await self.period_or_latest(period), kind, district)
        return {**view, **await self.months_known()}

    async def months_known(self) -> dict[str, str | None]:
        """The latest month with data and the latest settled month."""
        return {"latest_period": await self.store.latest_period(),
                "settled_period": await self.store.settled_period()}

    def ranking_updates(self, kind: RankingKind, period: str | None,
                        district: str | None) -> AsyncGenerator[Update | None, None]:
        """Checked at once; then, each time it is asked, the ranking's `snapshot` (first, and when the
        month followed changes), its `changes` (changed rows, removed codes), or None: nothing moved."""
        self.check_ranking(period, kind, district)

        async def updates() -> AsyncGenerator[Update | None, None]:
            last: dict[str, dict[str, Any]] | None = None
            shown_period, shown_state = None, None
            while True:
                current = await self.period_or_latest(period)
                view = await self.ranking(current, kind, district)
                rows = {r["unit_code"]: r for r in view["rows"] + view["unranked"]}
                state = tuple(view.get(k) for k in _SETTLE_FIELDS)
                if last is None or current != shown_period or state != shown_state:
                    # A month that settles is shown anew (its state, and the latest settled month).
                    yield "snapshot", {**view, **await self.months_known()}
                else:
                    changed = [r for code, r in rows.items() if last.get(code) != r]
                    removed = [code for code in last if code not in rows]
                    if changed or removed:
                        yield "changes", {"period": current, "kind": kind.value, "version": view["version"],
                                          "changed": changed, "removed": removed}
                    else:
                        yield None
                last, shown_period, shown_state = rows, current, state

        return updates()

    async def unit_month(self, unit_code: str, period: str) -> dict[str, Any]:
        """A unit's figures for one month, with its rates and score."""
        check_period(period, "path")
        doc = await self.store.unit_month(unit_code=unit_code, period=period)
        if doc is None:
            raise NotFound("unit_code", "no figures for this unit and month", location="path")
        unit_rates = rates(doc, self.policy)
        return {**self.local_times(doc), "rates": unit_rates, "score": score(unit_rates, self.policy),
                "meets_minimum_sample": self.policy.enough_sample(doc), "policy": self.policy.stamp()}

    async def explanation(self, unit_code: str, period: str, caller: Principal) -> dict[str, Any]:
        """The tickets that cost a unit points in a month, costliest first (`hotline.metrics.explain`),
        for the unit itself and the centre only. Ticket ids, categories and what went wrong; no
        personal data (the summaries hold none)."""
        check_period(period, "path")
        if not caller.is_centre and caller.unit_code != unit_code:
            raise NotYours("unit_code", "a unit's lost points are for the unit itself and the centre", location="path")
        info = self.directory.unit(unit_code)
        tickets = self.held_tickets(unit_code, period)
        if info is None or tickets is None:
            raise NotFound("unit_code", "no figures for this unit and month", location="path")
        kind = info.ranking_kind
        doc = (await self.store.rankings(ranking_ids=[ranking_id(period, kind)])).get(ranking_id(period, kind),
                                                                                   {}) if kind else {}
        others = [r["score"] for r in doc.get("rows", []) if r["unit_code"] != unit_code]
        found = explain(tickets, self.policy, others)
        return {
            "unit_code": info.code, "name": info.name, "name_en": info.name_en, "period": period,
            "ranking_kind": kind.value if kind else None, "policy": self.policy.stamp(),
            "ranked_units": len(others) + (1 if found["ranked"] else 0), **found,
            "labels": {"reasons": REASON_LABELS},
        }

    async def unit(self, unit_code: str) -> dict[str, Any]:
        """A unit's names and its monthly trend: figures, rates, score and rank in its kind."""
        info = self.directory.unit(unit_code)
        if info is None:
            raise NotFound("unit_code", f"unknown unit code {unit_code!r}", location="path")
        months = await self.store.unit_months(unit_code=unit_code)
        kind = info.ranking_kind
        ranked = await self.store.rankings(ranking_ids=[ranking_id(m["period"], kind) for m in months]) if kind else {}
        trend = []
        for month in months:
            doc = ranked.get(ranking_id(month["period"], kind)) if kind else None
            row = next((r for r in (doc or {}).get("rows", []) if r["unit_code"] == unit_code), None)
            unit_rates = rates(month, self.policy)
            trend.append({
                **{k: v for k, v in self.local_times(month).items() if k not in _TREND_SKIP},
                "rates": unit_rates, "score": score(unit_rates, self.policy),
                "rank": row["rank"] if row else None, "ranked_units": len(doc["rows"]) if doc else None,
            })
        return {
            "unit_code": info.code, "name": info.name, "name_en": info.name_en, "unit_kind": info.unit_kind,
            "ranking_kind": kind.value if kind else None, "kind_label": KIND_LABELS.get(kind) if kind else None,
            "district_code": info.district_code, "district_name": info.district_name,
            "policy": self.policy.stamp(), "weights": self.policy.weights.model_dump(), "labels": LABELS,
            "months": trend,
        }

    async def hotspots(self, period: str | None) -> dict[str, Any]:
        """Leading categories city-wide and per district, and community clusters."""
        check_period(period, "query", settled=True)
        month = await self.period_or_latest(period)
        doc = await self.store.hotspots(period=month)
        if doc is None:
            return {"period": month, "total": 0, "city": [], "districts": [], "clusters": [], "version": 0}
        # `seq` stays in the answer beside `version`, as it always has.
        return {**doc, "version": doc.pop("seq", 0)}

    async def snapshot(self) -> tuple[str | None, list[dict[str, Any]], dict[str, Any] | None]:
        """The latest month's rankings and hotspots, for the Prometheus gauges."""
        period = await self.store.latest_period()
        if period is None:
            return None, [], None
        found = await self.store.rankings(ranking_ids=[ranking_id(period, k) for k in RankingKind])
        return period, list(found.values()), await self.store.hotspots(period=period)
