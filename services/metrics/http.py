"""Metrics' HTTP API: rankings, a unit's trend, hotspots, a live ranking stream. Each route hands
the request to the read use cases (`hotline.metrics.queries`); a refusal is a domain error,
answered by the runtime's one mapping (`hotline.runtime.errors`). The stream's caps are
`hotline.metrics.streams`'."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from hotline.metrics.directory import RankingKind
from hotline.metrics.queries import Queries
from hotline.metrics.streams import SlotStreamingResponse, StreamSlots
from hotline.runtime.auth import CredentialStore, Principal, bearer_principal

# Proxies close silent connections: a comment after this many quiet seconds.
_KEEP_ALIVE_S = 15


def _sse(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def http_router(queries: Queries, credentials: CredentialStore, *, stream_poll_s: float,
                stream_slots: StreamSlots) -> APIRouter:
    """Read side of the projections; a unit's ticket list for the unit and the centre only."""
    router = APIRouter(prefix="/v1", tags=["metrics"])
    Caller = Annotated[Principal, Depends(bearer_principal(credentials))]

    @router.get("/units/{unit_code}/months/{period}/explain")
    async def get_explanation(unit_code: str, period: str, caller: Caller) -> dict:
        """The tickets that cost the unit points in the month, costliest first, each with the points
        it cost and the score and rank had it gone right (the unit's token or the centre's)."""
        return await queries.explanation(unit_code, period, caller)

    @router.get("/units/{unit_code}/months/{period}")
    async def get_unit_month(unit_code: str, period: str) -> dict:
        """A unit's figures for one month (YYYY-MM, in the city's time zone), with its rates and score."""
        return await queries.unit_month(unit_code, period)

    @router.get("/units/{unit_code}")
    async def get_unit(unit_code: str) -> dict:
        """A unit's names and its monthly trend: figures, rates, score and rank in its kind."""
        return await queries.unit(unit_code)

    @router.get("/rankings")
    async def get_rankings(
        kind: RankingKind = RankingKind.STREET,
        period: Annotated[str | None, Query(description="YYYY-MM; the latest month with data by default")] = None,
        district: Annotated[str | None, Query(description="6-digit district code (streets and towns)")] = None,
    ) -> dict:
        """A kind's ranking for a month: score, three rates, face-to-face share, rank movement."""
        return await queries.current_ranking(kind, period, district)

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
        updates = queries.ranking_updates(kind, period, district)

        async def events() -> AsyncIterator[str]:
            idle = 0.0
            try:
                while not await request.is_disconnected():
                    update = await anext(updates)
                    if update is not None:
                        event, data = update
                        yield _sse(event, data, data["version"])
                        idle = 0.0
                    elif idle >= _KEEP_ALIVE_S:
                        yield ": keep-alive\n\n"
                        idle = 0.0
                    await asyncio.sleep(stream_poll_s)
                    idle += stream_poll_s
            finally:
                await updates.aclose()

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
        return await queries.hotspots(period)

    return router
