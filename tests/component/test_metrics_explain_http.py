"""Metrics' explanation of lost points over HTTP, over an in-memory store and projection: the unit
itself and the centre read it (401 without a token, 403 another unit, 404 an unknown unit or month,
422 a bad month), and the answer holds ticket ids, categories and reasons, no personal data."""

import httpx
import pytest

from hotline.metrics.http import http_router
from hotline.metrics.main import make_directory
from hotline.metrics.queries import Queries
from hotline.metrics.settings import MetricsSettings
from hotline.metrics.streams import StreamSlots
from hotline.runtime.auth import Principal, Role
from hotline.runtime.kafka import build_broker
from hotline.runtime.service import ServiceRuntime, build_http_app
from tests.unit.test_metrics_explain import MONTH

JINGSHAN, DONGHUAMEN = "110101002", "110101001"


class Store:
    """March's street ranking: Donghuamen 90, Jingshan (whatever it stored), another 70."""

    async def rankings(self, *, ranking_ids):
        rows = [{"unit_code": DONGHUAMEN, "score": 90.0}, {"unit_code": JINGSHAN, "score": 74.0},
                {"unit_code": "110101003", "score": 70.0}]
        return {i: {"rows": rows} for i in ranking_ids if i == "2026-03:street"}


class Tokens:
    """Bearer tokens `<unit code>`; `centre` is the hotline centre."""

    async def verify(self, *, token: str) -> Principal:
        return Principal(token, Role.CENTRE if token == "centre" else Role.UNIT)


def held(unit: str, period: str):
    return MONTH if (unit, period) == (JINGSHAN, "2026-03") else None


@pytest.fixture
def client():
    settings = MetricsSettings()
    runtime = ServiceRuntime("metrics", settings, build_broker(settings, "metrics"), mongo=None)  # type: ignore[arg-type]
    queries = Queries(Store(), make_directory(settings), settings.policy, 10, held_tickets=held)  # type: ignore[arg-type]
    app = build_http_app(runtime, title="metrics under test")
    app.include_router(http_router(queries, Tokens(), stream_poll_s=1, stream_slots=StreamSlots(  # type: ignore[arg-type]
        per_client=1, total=1)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metrics")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


URL = f"/v1/units/{JINGSHAN}/months/2026-03/explain"


@pytest.mark.parametrize("token", [JINGSHAN, "centre"])
async def test_the_unit_and_the_centre_read_its_lost_points(client, token):
    async with client:
        response = await client.get(URL, headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["score"], body["gap"], body["rank"], body["ranked_units"]) == (74.0, 26.0, 2, 3)
    assert [(i["ticket_id"], i["points"], i["rank_if_right"]) for i in body["items"]] == [
        ("C", 17.0, 1), ("D", 8.3333, 2), ("B", 0.6667, 2), ("E", 0.0, 2)]
    assert sum(i["points"] for i in body["items"]) == pytest.approx(100 - body["score"])
    assert body["labels"]["reasons"]["unresolved"] == {"zh": "未解决", "en": "Unresolved"}
    assert body["policy"]["version"] and body["name"] == "景山街道"
    assert set(body["items"][0]) == {"ticket_id", "category", "reasons", "points", "points_by_rate",
                                     "score_if_right", "rank_if_right"}


@pytest.mark.parametrize(("url", "headers", "status", "loc"), [
    (URL, {}, 401, ["header", "authorization"]),
    (URL, {"Authorization": "Basic abc"}, 401, ["header", "authorization"]),
    (URL, bearer(DONGHUAMEN), 403, ["path", "unit_code"]),
    (f"/v1/units/{JINGSHAN}/months/2026-13/explain", bearer(JINGSHAN), 422, ["path", "period"]),
    (f"/v1/units/{JINGSHAN}/months/2026-02/explain", bearer(JINGSHAN), 404, ["path", "unit_code"]),
    ("/v1/units/999999999/months/2026-03/explain", bearer("centre"), 404, ["path", "unit_code"]),
])
async def test_refusals_name_the_field(client, url, headers, status, loc):
    async with client:
        response = await client.get(url, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["detail"][0]["loc"] == loc
