"""Fixtures for tests that run the services inside the test process."""

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient

from hotline.devkit import Namespace
from hotline.runtime.mongo import drop_database


def client_for(app) -> httpx.AsyncClient:
    """An HTTP client that calls the app in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@asynccontextmanager
async def four_services(space: Namespace, *, city_path: Path | None = None, metrics_settings: dict | None = None,
                        **followup_settings) -> AsyncIterator[dict]:
    """All four services' apps, started (consumers running) inside this test process, on a
    namespace's topics and database (and a city of its own with `city_path`); followup and metrics on
    business time from the log (`hotline.clock`), as with the simulator or a replay."""
    # Imported here: a test of one service alone does not need the other three to import.
    from hotline.followup.main import build_app as build_followup
    from hotline.followup.settings import FollowupSettings
    from hotline.intake.main import build_app as build_intake
    from hotline.intake.settings import IntakeSettings
    from hotline.metrics.main import build_app as build_metrics
    from hotline.metrics.settings import MetricsSettings
    from hotline.routing.main import build_app as build_routing
    from hotline.routing.settings import RoutingSettings

    common: dict = space.service_settings()
    if city_path is not None:
        common["city_path"] = city_path
    apps = {
        "intake": build_intake(IntakeSettings(**common)),
        "routing": build_routing(RoutingSettings(**common)),
        "followup": build_followup(FollowupSettings(**common, business_clock="log", **followup_settings)),
        "metrics": build_metrics(MetricsSettings(**common, business_clock="log", **(metrics_settings or {}))),
    }
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield apps


@asynccontextmanager
async def intake_without_rate_limit(space: Namespace) -> AsyncIterator:
    """Intake's app with its consumer running on a namespace, without a rate limit (for modules that
    make many calls from one client)."""
    from hotline.intake.main import build_app
    from hotline.intake.settings import IntakeSettings

    app = build_app(IntakeSettings(**space.service_settings(), rate_limit_per_s=0))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def services(namespace):
    """The four services on the session namespace. Followup's deadlines run on business time from
    `hotline.clock`: no test here publishes ticks, so no mark fires behind another test's back
    (the timer tests use a namespace of their own)."""
    async with four_services(namespace) as apps:
        yield apps


@pytest.fixture
async def db(namespace):
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True)
    yield client[namespace.database]
    await client.close()


@pytest.fixture
async def fresh_db(namespace):
    """A database of the test's own (beside the module's namespace), dropped afterwards."""
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True)
    name = f"{namespace.database}_{uuid.uuid4().hex[:6]}"
    yield client[name]
    await drop_database(client, name)
    await client.close()


