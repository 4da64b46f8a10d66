"""Limits on intake's public HTTP side: request size (413) and rate per client address (429).

The public endpoints (`/v1/...`, `/open311/...`) take anyone's request, so each client address
gets a token bucket (this module's middleware, before FastAPI parses anything, so a flood costs
little), and a body is read only up to its limit: every service's body check
(`hotline.runtime.http_limits`, just inside this one), given these paths' limits and formats by
`body_limits`.

Why a small token bucket and not `limits`/`slowapi`: those offer fixed and moving windows, not a
bucket, and a bucket gives an exact `Retry-After` ((1 - tokens) / rate) and allows short bursts
(a citizen's form retried a few times) while holding the sustained rate.

The buckets live in this process: with several intake replicas behind a load balancer each
replica enforces the limit on its own (a client may get up to replicas x rate); a global limit
belongs in the gateway in front of them (see docs/security.md).
"""

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from starlette.types import ASGIApp, Receive, Scope, Send

from hotline.intake.open311.errors import Open311Error
from hotline.intake.open311.render import error_body
from hotline.runtime.http_limits import BodyLimit, send_refusal

# -- the token bucket (pure) ----------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """A client's tokens at a moment (monotonic seconds)."""

    tokens: float
    at: float


def take(bucket: Bucket | None, *, now: float, rate: float, burst: int) -> tuple[Bucket, float]:
    """Take one token: the bucket afterwards and 0.0, or the unchanged bucket and the seconds
    until a token is there. A new client starts with a full bucket."""
    tokens = float(burst) if bucket is None else min(float(burst), bucket.tokens + (now - bucket.at) * rate)
    if tokens >= 1.0:
        return Bucket(tokens - 1.0, now), 0.0
    return Bucket(tokens, now), (1.0 - tokens) / rate


class RateLimiter:
    """Token buckets by client address, in memory, at most `max_clients` of them (least recently
    seen dropped first: a dropped client comes back with a full bucket, which only errs lenient)."""

    def __init__(self, *, rate: float, burst: int, max_clients: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.max_clients, self._clock = rate, burst, max_clients, clock
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def check(self, client: str) -> float:
        """0.0 when the client may go on, else the seconds it must wait."""
        bucket, wait = take(self._buckets.pop(client, None), now=self._clock(), rate=self.rate, burst=self.burst)
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


# -- the middleware ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Guarded:
    """A path prefix under the limits, with its body limit and how its errors look."""

    prefix: str
    max_body_bytes: int
    open311: bool = False  # GeoReport v2 error lists instead of FastAPI's `detail`


def error_response(guarded: Guarded, path: str, status: int, field: str, reason: str) -> tuple[bytes, str]:
    """Body and media type of a refusal, in the format the endpoint speaks."""
    if guarded.open311:
        fmt = "xml" if path.endswith(".xml") else "json"
        media = "text/xml; charset=utf-8" if fmt == "xml" else "application/json; charset=utf-8"
        return error_body(fmt, Open311Error(status, f"{field}: {reason}")), media
    body = {"detail": [{"loc": [field], "msg": reason}]}
    return json.dumps(body, ensure_ascii=False).encode(), "application/json"


def body_limits(guarded: list[Guarded]) -> list[BodyLimit]:
    """The guarded paths' body limits, refused in their endpoints' formats (see build_http_app)."""
    return [BodyLimit(g.prefix, g.max_body_bytes, partial(error_response, g)) for g in guarded]


class IntakeLimits:
    """ASGI middleware: 429 with `Retry-After` past a client's rate (the body limit is checked next,
    by the runtime's middleware)."""

    def __init__(self, app: ASGIApp, *, guarded: list[Guarded], limiter: RateLimiter | None) -> None:
        self.app, self.guarded, self.limiter = app, guarded, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        guarded = next((g for g in self.guarded if path.startswith(g.prefix)), None)
        if guarded is None:
            return await self.app(scope, receive, send)
        if self.limiter is not None:
            client = scope.get("client")
            wait = self.limiter.check(client[0] if client else "unknown")
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                body, media = error_response(
                    guarded, path, 429, "client",
                    f"too many requests from this address; retry after {retry_after} s")
                return await send_refusal(send, 429, body, media, [(b"retry-after", str(retry_after).encode())])
        await self.app(scope, receive, send)
