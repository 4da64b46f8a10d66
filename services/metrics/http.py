"""Metrics' HTTP API: rankings, a unit's trend, hotspots, a live ranking stream."""

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from hotline.metrics.directory import KIND_LABELS, Directory, RankingKind
from hotline.metrics.domain import period_of, previous_period
from hotline.metrics.ranking import Weights, in_district, ranking_id, rates, score, with_movement
from hotline.metrics.store import MetricsStore
from hotline.metrics.streams import SlotStreamingResponse, StreamSlots

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
    "callbacks": {"zh": "回访量", "en": "Callbacks"},
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


def _bad(status: int, loc: list[str], msg: str) -> HTTPException:
    return HTTPException(status, detail=[{"loc": loc, "msg": msg}])


def _check_period(period: str | None, loc: list[str]) -> None:
    if period is not None and not _PERIOD.match(period):
        raise _bad(422, loc, "expected a month as YYYY-MM, e.g. 2026-11")


class RankingViews:
    """The answers of the ranking endpoints, shared by the JSON and the stream."""

    def __init__(self, store: MetricsStore, directory: Directory, weights: Weights, bottom_n: int) -> None:
        self.store, self.directory, self.weights, self.bottom_n = store, directory, weights, bottom_n

    async def period_or_latest(self, period: str | None) -> str:
        """The month asked for, else the latest with data, else this month."""
        return period or await self.store.latest_period() or period_of(datetime.now(UTC))

    def check_district(self, district: str | None, kind: RankingKind) -> None:
        """A district filter names a district and applies to streets and towns only."""
        if district is None:
            return
        if not self.directory.is_district(district):
            raise _bad(422, ["query", "district"], f"unknown district code {district!r} (6 digits, e.g. 110111)")
        if kind in (RankingKind.DEPARTMENT, RankingKind.ENTERPRISE):
            raise _bad(422, ["query", "district"], "departments and enterprises are city-wide: no district filter")

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
        return {
            "period": period, "previous_period": previous, "kind": kind.value, "kind_label": KIND_LABELS[kind],
            "district": {"code": district, "name": self.directory.district_name(district)} if district else None,
            "weights": doc.get("weights", self.weights.as_dict()), "version": doc.get("seq", 0),
            "labels": LABELS, "count": len(rows), "rows": rows, "unranked": unranked,
            "bottom": [{"unit_code": r["unit_code"], "name": r["name"], "rank": r["rank"], "score": r["score"]}
                       for r in reversed(rows[-self.bottom_n:])] if rows else [],
        }


def _sse(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def http_router(store: MetricsStore, directory: Directory, views: RankingViews, *, stream_poll_s: float,
                stream_slots: StreamSlots) -> APIRouter:
    """Read side of the projections."""
    router = APIRouter(prefix="/v1", tags=["metrics"])

    @router.get("/units/{unit_code}/months/{period}")
    async def get_unit_month(unit_code: str, period: str) -> dict:
        """A unit's figures for one month (YYYY-MM, Asia/Shanghai), with its rates and score."""
        _check_period(period, ["path", "period"])
        doc = await store.unit_month(unit_code=unit_code, period=period)
        if doc is None:
            raise _bad(404, ["path", "unit_code"], "no figures for this unit and month")
        doc.pop("_id", None)
        unit_rates = rates(doc, views.weights)
        return {**doc, "rates": unit_rates, "score": score(unit_rates, views.weights)}

    @router.get("/units/{unit_code}")
    async def get_unit(unit_code: str) -> dict:
        """A unit's names and its monthly trend: figures, rates, score and rank in its kind."""
        info = directory.unit(unit_code)
        if info is None:
            raise _bad(404, ["path", "unit_code"], f"unknown unit code {unit_code!r}")
        months = await store.unit_months(unit_code=unit_code)
        kind = info.ranking_kind
        ranked = await store.rankings(ranking_ids=[ranking_id(m["period"], kind) for m in months]) if kind else {}
        trend = []
        for month in months:
            doc = ranked.get(ranking_id(month["period"], kind)) if kind else None
            row = next((r for r in (doc or {}).get("rows", []) if r["unit_code"] == unit_code), None)
            unit_rates = rates(month, views.weights)
            trend.append({
                **{k: v for k, v in month.items() if k not in _TREND_SKIP},
                "rates": unit_rates, "score": score(unit_rates, views.weights),
                "rank": row["rank"] if row else None, "ranked_units": len(doc["rows"]) if doc else None,
            })
        return {
            "unit_code": info.code, "name": info.name, "name_en": info.name_en, "unit_kind": info.unit_kind,
            "ranking_kind": kind.value if kind else None, "kind_label": KIND_LABELS.get(kind) if kind else None,
            "district_code": info.district_code, "district_name": info.district_name,
            "weights": views.weights.as_dict(), "labels": LABELS, "months": trend,
        }

    @router.get("/rankings")
    async def get_rankings(
        kind: RankingKind = RankingKind.STREET,
        period: Annotated[str | None, Query(description="YYYY-MM; the latest month with data by default")] = None,
        district: Annotated[str | None, Query(description="6-digit district code (streets and towns)")] = None,
    ) -> dict:
        """A kind's ranking for a month: score, three rates, face-to-face share, rank movement."""
        _check_period(period, ["query", "period"])
        views.check_district(district, kind)
        return await views.ranking(await views.period_or_latest(period), kind, district)

    @router.get("/rankings/stream")
    async def stream_rankings(
        request: Request,
        kind: RankingKind = RankingKind.STREET,
        period: Annotated[str | None, Query(description="YYYY-MM; follows the latest month by default")] = None,
        district: Annotated[str | None, Query(description="6-digit district code (streets and towns)")] = None,
    ) -> SlotStreamingResponse:
        """Server-sent events: a `snapshot` of the ranking, then `changes` (changed rows, removed codes).
        At most `METRICS_STREAM_MAX_PER_CLIENT` open per client address (then 429) and
        `METRICS_STREAM_MAX_TOTAL` in all (then 503), both with `Retry-After`."""
        _check_period(period, ["query", "period"])
        views.check_district(district, kind)

        async def events():
            last: dict[str, dict[str, Any]] | None = None
            shown_period = None
            idle = 0.0
            while not await request.is_disconnected():
                current = await views.period_or_latest(period)
                view = await views.ranking(current, kind, district)
                rows = {r["unit_code"]: r for r in view["rows"] + view["unranked"]}
                if last is None or current != shown_period:
                    yield _sse("snapshot", view, view["version"])
                    idle = 0.0
                else:
                    changed = [r for code, r in rows.items() if last.get(code) != r]
                    removed = [code for code in last if code not in rows]
                    if changed or removed:
                        yield _sse("changes", {"period": current, "kind": kind.value, "version": view["version"],
                                               "changed": changed, "removed": removed}, view["version"])
                        idle = 0.0
                    elif idle >= 15:
                        yield ": keep-alive\n\n"  # proxies close silent connections
                        idle = 0.0
                last, shown_period = rows, current
                await asyncio.sleep(stream_poll_s)
                idle += stream_poll_s

        client = request.client.host if request.client else "unknown"
        stream_slots.take(client)  # the response gives it back when it ends
        return SlotStreamingResponse(events(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                                     slots=stream_slots, client=client)

    @router.get("/hotspots")
    async def get_hotspots(
        period: Annotated[str | None, Query(description="YYYY-MM; the latest month with data by default")] = None,
    ) -> dict:
        """Leading categories city-wide and per district, and community clusters (每月一题 candidates)."""
        _check_period(period, ["query", "period"])
        month = await views.period_or_latest(period)
        doc = await store.hotspots(period=month)
        if doc is None:
            return {"period": month, "total": 0, "city": [], "districts": [], "clusters": [], "version": 0}
        doc.pop("_id", None)
        doc.pop("o", None)  # the log prefix it was computed from (see store)
        return {**doc, "version": doc.pop("seq", 0)}

    return router
