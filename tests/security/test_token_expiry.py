"""A unit's bearer token expires `HOTLINE_TOKEN_TTL_DAYS` after its issue: on the real store, with
a clock of the test's, and over HTTP on routing and followup (a token made old in the store)."""

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hotline.runtime.auth import CredentialStore, Role
from tests.integration.conftest import fresh_db  # noqa: F401 - a fixture: a database of the test's own

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TTL = timedelta(days=30)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def test_a_token_is_accepted_until_its_lifetime_is_over(fresh_db):
    clock = Clock()
    store = CredentialStore(fresh_db, ttl=TTL, clock=clock)
    token = await store.issue(unit_code="110111008")
    clock.now = T0 + TTL - timedelta(seconds=1)
    assert (await store.verify(token=token)).unit_code == "110111008"
    clock.now = T0 + TTL + timedelta(seconds=1)
    assert await store.verify(token=token) is None
    # A token issued now is fine; without a lifetime nothing expires.
    assert await store.verify(token=await store.issue(unit_code="110111008")) is not None
    assert await CredentialStore(fresh_db, clock=lambda: T0 + timedelta(days=3650)).verify(token=token) is not None


async def test_a_token_from_before_issue_times_lives_from_its_first_use(fresh_db):
    token = "centre.legacy-secret-0123456789abcdefghijklmnopqrstuv"
    await fresh_db["unit_credentials"].insert_one(
        {"_id": "centre", "role": Role.CENTRE.value, "token_hashes": [hashlib.sha256(token.encode()).hexdigest()]})
    clock = Clock()
    store = CredentialStore(fresh_db, ttl=TTL, clock=clock)
    assert (await store.verify(token=token)).is_centre  # an upgrade locks nobody out at once
    clock.now = T0 + TTL - timedelta(seconds=1)
    assert await store.verify(token=token) is not None  # its first use did not restart the clock
    clock.now = T0 + TTL + timedelta(seconds=1)
    assert await store.verify(token=token) is None
    await store.revoke_all(unit_code="centre")
    assert (await fresh_db["unit_credentials"].find_one({"_id": "centre"}))["issued_at"] == {}


@pytest.mark.parametrize(("service", "path"), [("routing", "/v1/tickets/TK-expiry-1/dispatch"),
                                               ("followup", "/v1/tickets/TK-expiry-1")])
async def test_an_expired_token_is_refused_401_over_http(namespace, db, service, path):
    import importlib

    module = importlib.import_module(f"hotline.{service}.main")
    settings_cls = getattr(importlib.import_module(f"hotline.{service}.settings"), f"{service.capitalize()}Settings")
    app = module.build_app(settings_cls(
        **namespace.service_settings(), token_ttl_days=7))
    token = await CredentialStore(db).issue(unit_code="110111008")
    digest = hashlib.sha256(token.encode()).hexdigest()
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get(path, headers=auth)).status_code != 401
        await db["unit_credentials"].update_one(
            {"_id": "110111008"}, {"$set": {f"issued_at.{digest}": datetime.now(UTC) - timedelta(days=8)}})
        refused = await client.get(path, headers=auth)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["detail"] == [{"loc": ["header", "authorization"], "msg": "unknown, expired or revoked token"}]
