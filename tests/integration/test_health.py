"""`/healthz` answers 200 only when both the broker and the store answer."""

import httpx
import pytest

from hotline.intake.main import build_app
from hotline.intake.settings import IntakeSettings
from hotline.runtime.service import ServiceRuntime

pytestmark = pytest.mark.stack


async def test_healthz_is_503_when_the_store_is_unreachable(namespace):
    settings = IntakeSettings(
        kafka_bootstrap_servers=namespace.kafka,
        # Nothing listens on port 1: the store is down while the broker is up.
        mongodb_url="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500",
        mongodb_timeout_ms=1000,
        topic_prefix=namespace.prefix,
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"kafka": True, "mongodb": False}


async def test_health_reports_a_broker_that_is_not_connected(namespace):
    settings = IntakeSettings(
        kafka_bootstrap_servers="127.0.0.1:1", mongodb_url=namespace.mongodb_url
    )
    runtime = ServiceRuntime.create("intake", settings)
    try:
        assert await runtime.health() == {"kafka": False, "mongodb": True}
    finally:
        await runtime.mongo.close()
