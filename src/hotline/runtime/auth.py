"""Unit credentials: each handling unit has its own bearer tokens, stored only as hashes.

A token is `<unit_code>.<secret>`; the store keeps sha256(token) per unit (the secret is 32
random bytes, so a fast hash is enough: there is nothing to brute-force). The hotline centre has
the role `centre`, which may act on any ticket and approve extensions. A channel platform's
gateway has the role `platform` (code `platform` or `platform-<gateway>`): intake's only.

A token lives `HOTLINE_TOKEN_TTL_DAYS` from its issue (`issued_at.<hash>` beside the hash). One
issued before tokens carried an issue time starts its lifetime when it is first presented, so an
upgrade does not lock every unit out at once.
"""

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from fastapi import HTTPException, Request
from pymongo.asynchronous.database import AsyncDatabase

CENTRE_CODE = "centre"
PLATFORM_CODE = "platform"


class Role(StrEnum):
    """What a credential may do."""

    UNIT = "unit"
    CENTRE = "centre"
    # A channel gateway of the hotline platform (web, app, WeChat): may set a ticket's channel,
    # source id and received time on intake; acts as no unit.
    PLATFORM = "platform"


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    unit_code: str
    role: Role

    @property
    def is_centre(self) -> bool:
        """The hotline centre may act on every ticket."""
        return self.role is Role.CENTRE


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CredentialStore:
    """Token hashes by unit, in the shared `unit_credentials` collection."""

    def __init__(self, db: AsyncDatabase, *, ttl: timedelta | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._credentials = db["unit_credentials"]
        self.ttl, self._clock = ttl, clock  # ttl None: tokens do not expire

    async def issue(self, *, unit_code: str, role: Role = Role.UNIT) -> str:
        """A new token for the unit; only its hash is stored, the token is shown once."""
        token = f"{unit_code}.{secrets.token_urlsafe(32)}"
        digest = _digest(token)
        await self._credentials.update_one(
            {"_id": unit_code},
            {"$addToSet": {"token_hashes": digest}, "$set": {"role": role.value, f"issued_at.{digest}": self._clock()}},
            upsert=True,
        )
        return token

    async def revoke_all(self, *, unit_code: str) -> None:
        """Invalidate every token of the unit."""
        await self._credentials.update_one({"_id": unit_code}, {"$set": {"token_hashes": [], "issued_at": {}}})

    async def verify(self, *, token: str) -> Principal | None:
        """The principal a token belongs to, or None."""
        unit_code, _, secret = token.partition(".")
        if not unit_code or not secret:
            return None
        doc = await self._credentials.find_one({"_id": unit_code})
        if doc is None:
            return None
        digest = _digest(token)
        matched = [known for known in doc.get("token_hashes", []) if hmac.compare_digest(digest, known)]
        if not matched:
            return None
        issued = (doc.get("issued_at") or {}).get(matched[0])
        if self.ttl is not None and await self._expired(unit_code, matched[0], issued, self.ttl):
            return None
        return Principal(unit_code=unit_code, role=Role(doc.get("role", Role.UNIT.value)))

    async def _expired(self, unit_code: str, digest: str, issued: datetime | None, ttl: timedelta) -> bool:
        now = self._clock()
        if issued is None:  # issued before tokens carried an issue time: its lifetime starts now
            await self._credentials.update_one({"_id": unit_code, f"issued_at.{digest}": {"$exists": False}},
                                               {"$set": {f"issued_at.{digest}": now}})
            return False
        if issued.tzinfo is None:
            issued = issued.replace(tzinfo=UTC)
        return now - issued > ttl


def bearer_principal(store: CredentialStore) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the caller from `Authorization: Bearer <token>`, else 401. A router
    declares `Caller = Annotated[Principal, Depends(bearer_principal(credentials))]`, a type its
    routes' parameters can carry."""

    async def current_principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, detail=[{"loc": ["header", "authorization"],
                                              "msg": "a unit's bearer token is required"}],
                                headers={"WWW-Authenticate": "Bearer"})
        principal = await store.verify(token=token.strip())
        if principal is None:
            raise HTTPException(401, detail=[{"loc": ["header", "authorization"],
                                              "msg": "unknown, expired or revoked token"}],
                                headers={"WWW-Authenticate": "Bearer"})
        if principal.role is Role.PLATFORM:
            raise HTTPException(403, detail=[{"loc": ["header", "authorization"],
                                              "msg": "a channel platform's token acts as no unit"}])
        return principal

    return current_principal
