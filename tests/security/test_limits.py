"""Intake's public endpoints: a token bucket per client address (429 with Retry-After) and a body
limit (413), both answered before the app reads anything, in the format the endpoint speaks."""

import json

import httpx
import pytest

from hotline.intake.limits import Bucket, RateLimiter, take
from hotline.intake.main import build_app
from hotline.intake.settings import IntakeSettings

# -- the token bucket, pure --------------------------------------------------------------------


def test_a_new_client_has_a_full_burst_then_waits_one_token_s_time():
    bucket, wait = None, 0.0
    for _ in range(3):
        bucket, wait = take(bucket, now=10.0, rate=2.0, burst=3)
        assert wait == 0.0
    refused, wait = take(bucket, now=10.0, rate=2.0, burst=3)
    assert wait == pytest.approx(0.5) and refused.tokens == pytest.approx(0.0)
    # A quarter of a second later half a token is there: a quarter more to wait.
    _, wait = take(refused, now=10.25, rate=2.0, burst=3)
    assert wait == pytest.approx(0.25)
    after, wait = take(refused, now=10.5, rate=2.0, burst=3)
    assert wait == 0.0 and after.tokens == pytest.approx(0.0)


def test_an_idle_client_refills_up_to_the_burst_only():
    bucket, _ = take(Bucket(tokens=0.0, at=0.0), now=1000.0, rate=5.0, burst=4)
    assert bucket.tokens == pytest.approx(3.0)  # refilled to 4, one taken


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_clients_are_limited_each_on_its_own_and_the_table_is_bounded():
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=2, max_clients=3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert limiter.check("b") == 0.0  # b has its own bucket
    for client in ("c", "d", "e"):
        limiter.check(client)
    assert len(limiter._buckets) == 3 and "a" not in limiter._buckets  # least recently seen dropped
    clock.now = 1.0
    assert limiter.check("e") == 0.0  # refilled


def test_a_limit_that_admits_nothing_is_refused():
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)


def test_the_limits_are_intake_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("INTAKE_RATE_LIMIT_PER_S", "2.5")
    monkeypatch.setenv("INTAKE_RATE_LIMIT_BURST", "7")
    monkeypatch.setenv("MAX_RECORD_BYTES", "2048")
    settings = IntakeSettings()
    assert (settings.rate_limit_per_s, settings.rate_limit_burst, settings.max_record_bytes) == (2.5, 7, 2048)


# -- over HTTP, in-process (no broker needed: nothing here is accepted) ------------------------

LIMIT = 1000


@pytest.fixture
def app():
    # One token per 100 s: a refill cannot happen between the test's requests however slow the machine.
    return build_app(IntakeSettings(rate_limit_per_s=0.01, rate_limit_burst=3, max_record_bytes=LIMIT))


def client(app, address: str = "203.0.113.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url="http://t")


async def test_past_its_burst_a_client_gets_429_with_retry_after_and_others_do_not(app):
    async with client(app) as c:
        answers = [await c.post("/v1/tickets", content=b"{}") for _ in range(4)]
        assert [a.status_code for a in answers] == [422, 422, 422, 429]
        refused = answers[-1]
        assert 1 <= int(refused.headers["retry-after"]) <= 100
        detail = refused.json()["detail"][0]
        assert detail["loc"] == ["client"] and "too many requests" in detail["msg"]
        # Open311 shares the client's bucket and answers in GeoReport's error format.
        geo = await c.get("/open311/v2/services.json")
        assert geo.status_code == 429 and geo.json()[0]["code"] == 429 and "retry-after" in geo.headers
        xml = await c.get("/open311/v2/services.xml")
        assert xml.status_code == 429 and "<code>429</code>" in xml.text
        # The API documentation is not limited.
        assert (await c.get("/openapi.json")).status_code == 200
    async with client(app, "198.51.100.9") as other:
        assert (await other.post("/v1/tickets", content=b"{}")).status_code == 422


async def test_a_body_over_the_limit_is_413_naming_the_limit_declared_or_streamed(app):
    async with client(app) as c:
        declared = await c.post("/v1/tickets", content=b"x" * (LIMIT + 1))
        assert declared.status_code == 413
        assert declared.json()["detail"] == [
            {"loc": ["body"], "msg": f"the request body is over the limit of {LIMIT} bytes"}]

        async def chunks():  # no Content-Length: counted as it arrives
            for _ in range(50):
                yield b"x" * 100

        streamed = await c.post("/v1/tickets", content=chunks())
        assert streamed.status_code == 413 and "limit" in streamed.json()["detail"][0]["msg"]
    async with client(app, "192.0.2.1") as c:
        at_limit = await c.post("/v1/tickets", content=b"x" * LIMIT)
        assert at_limit.status_code == 422  # read and judged by intake: not JSON
        assert "JSON" in at_limit.json()["detail"][0]["msg"]


async def test_open311_allows_for_percent_encoding_and_answers_413_as_geo_report(app):
    async with client(app) as c:
        form = await c.post("/open311/v2/requests.json", content=b"description=" + b"x" * (4 * LIMIT),
                            headers={"content-type": "application/x-www-form-urlencoded"})
        assert form.status_code == 413
        assert form.json() == [{"code": 413, "description": f"body: the request body is over the limit of {4 * LIMIT} bytes"}]
        xml = await c.post("/open311/v2/requests.xml", content=b"x" * (4 * LIMIT + 1))
        assert xml.status_code == 413 and xml.headers["content-type"].startswith("text/xml")
    async with client(app, "192.0.2.2") as c:
        # Three times the record limit, as a percent-encoded Chinese description takes: not refused for size.
        encoded = await c.post("/open311/v2/requests.json", content=b"service_code=nope&description=" + b"%E5" * LIMIT,
                               headers={"content-type": "application/x-www-form-urlencoded"})
        assert encoded.status_code == 400 and "service_code" in json.dumps(encoded.json())


async def test_without_a_rate_the_limit_is_off():
    app = build_app(IntakeSettings(rate_limit_per_s=0))
    async with client(app) as c:
        assert {(await c.post("/v1/tickets", content=b"{}")).status_code for _ in range(100)} == {422}
