"""Intake's public door: what a citizen may say, and what only the hotline's own platforms may.

A citizen (no token) gives the content, the place and who they are; intake itself sets the
channel (`web`), a source id nobody can guess and the received time. The fields that decide a
ticket's clock, its channel and whose work it counts as are the platform's: a channel gateway
sets them with a bearer token of role `platform` (`hotline platform token`).
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from fastapi import HTTPException, Request
from pymongo.errors import PyMongoError

from hotline.contracts import BUSINESS_TZ, Channel
from hotline.runtime.auth import CredentialStore, Principal, Role

# Back-dating makes a ticket overdue on arrival (a breach charged to the unit); `channel`,
# `collected_by` and `answered_directly` forge a unit's collected work or keep a ticket from
# dispatch; a guessed `source_id` squats another caller's ticket id; the category hint is the
# agent's call.
PLATFORM_FIELDS = ("channel", "source_id", "received_at", "collected_by", "answered_directly", "category_hint")
CITIZEN_CHANNEL = Channel.WEB


@dataclass(frozen=True)
class Refusal:
    """A citizen's submission names fields only a platform may set (answered 403)."""

    fields: tuple[str, ...]

    def detail(self) -> list[dict]:
        """The usual `loc`/`msg` list, one entry per field."""
        return [{"loc": ["body", f], "msg": f"{f} is set by the hotline, not by the submitter: "
                 "only a channel platform's token (role platform) may send it"} for f in self.fields]


def citizen_record(body: bytes, *, now: datetime) -> bytes | Refusal:
    """The raw record for a citizen's body: intake's channel, source id and time added.

    A body that is not a JSON object in UTF-8 is returned as it is, for the normalizer to refuse
    with its usual reason.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return body
    if not isinstance(data, dict):
        return body
    if given := tuple(f for f in PLATFORM_FIELDS if f in data):
        return Refusal(given)
    data.update(channel=CITIZEN_CHANNEL.value, source_id=f"web-{uuid.uuid4().hex}",
                received_at=now.astimezone(BUSINESS_TZ).isoformat())
    text = json.dumps(data, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): kept as its JSON escape
        return json.dumps(data).encode()


def unauthorized(msg: str) -> HTTPException:
    """401 with `WWW-Authenticate: Bearer`, naming the header."""
    return HTTPException(401, detail=[{"loc": ["header", "authorization"], "msg": msg}],
                         headers={"WWW-Authenticate": "Bearer"})


def platform_caller(credentials: CredentialStore):
    """A FastAPI dependency: None for an anonymous citizen, the principal for a valid token.

    Any Authorization header that is not a known, unrevoked bearer token is a 401: a gateway with
    a revoked token must hear so, not be served as a citizen.
    """

    async def platform_principal(request: Request) -> Principal | None:
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("a bearer token is required when Authorization is sent")
        try:
            principal = await credentials.verify(token=token.strip())
        except PyMongoError:
            raise HTTPException(503, detail=[{"loc": ["header", "authorization"],
                                              "msg": "the token cannot be checked right now; try again"}]) from None
        if principal is None:
            raise unauthorized("unknown or revoked token")
        return principal

    return platform_principal


def is_platform(principal: Principal | None) -> bool:
    """Whether the caller may set the platform's fields."""
    return principal is not None and principal.role is Role.PLATFORM
