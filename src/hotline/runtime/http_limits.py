"""Limits every service's HTTP side applies before any route, dependency or authentication runs:
a request body over its limit is refused with 413, one that does not arrive in time with 408.

One ASGI middleware (added by `build_http_app`) reads the body itself, up to the limit and within
the read timeout, then hands the app the bytes it read: an oversized upload is refused as soon as
its `Content-Length`, or the bytes that arrived, pass the limit, so it is never held in memory
(and never costs a token lookup first); a client that stops sending mid-body holds its
connection for the timeout at most. The request head's own deadline is the server's
(`runtime.http_server`): an ASGI app only sees a request once its headers are complete.
"""

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# (path, status, field, reason) -> (body, media type): a refusal in the format the endpoint speaks.
Refusal = Callable[[str, int, str, str], tuple[bytes, str]]


def json_refusal(_path: str, _status: int, field: str, reason: str) -> tuple[bytes, str]:
    """The project's refusal: `{"detail": [{"loc": [field], "msg": reason}]}`."""
    return json.dumps({"detail": [{"loc": [field], "msg": reason}]}, ensure_ascii=False).encode(), "application/json"


@dataclass(frozen=True)
class BodyLimit:
    """A path prefix whose bodies have a limit of their own, and how its refusals look."""

    prefix: str
    max_bytes: int
    refusal: Refusal = json_refusal


class BodyTooLarge(Exception):
    pass


class BodyTimedOut(Exception):
    pass


class ClientGone(Exception):
    pass


class RequestLimits:
    """ASGI middleware: 413 past the body limit, 408 when the body is not in within the timeout."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, read_timeout_s: float,
                 limits: Sequence[BodyLimit] = ()) -> None:
        self.app, self.limits = app, list(limits)
        self.default = BodyLimit("", max_body_bytes)
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        rule = next((r for r in self.limits if path.startswith(r.prefix)), self.default)
        try:
            body = await read_body(scope, receive, rule.max_bytes, timeout_s=self.read_timeout_s)
        except ClientGone:
            return  # the client went away mid-body: nothing to answer
        except BodyTooLarge:
            over = f"the request body is over the limit of {rule.max_bytes} bytes"
            content, media = rule.refusal(path, 413, "body", over)
            return await send_refusal(send, 413, content, media)
        except BodyTimedOut:
            content, media = rule.refusal(
                path, 408, "body", f"the request body did not arrive within {self.read_timeout_s:g} s")
            return await send_refusal(send, 408, content, media)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # a disconnect, while the response streams

        await self.app(scope, replay, send)


async def read_body(scope: Scope, receive: Receive, limit: int, *, timeout_s: float) -> bytes:
    """The whole body; BodyTooLarge as soon as it (or its declared length) passes `limit`,
    BodyTimedOut when it is not complete within `timeout_s`, ClientGone on a disconnect."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                if int(value) > limit:
                    raise BodyTooLarge
            except ValueError:
                pass  # the server rejects a malformed length itself
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise BodyTimedOut from None


async def send_refusal(send: Send, status: int, body: bytes, media: str,
                       headers: Sequence[tuple[bytes, bytes]] = ((b"connection", b"close"),)) -> None:
    """A whole response; by default closing the connection, whose unread body is not worth reading."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
