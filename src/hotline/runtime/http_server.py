"""How a service's uvicorn server is configured: whose X-Forwarded-For it believes, and how long a
request's head may take to arrive.

uvicorn trusts `X-Forwarded-For` from the loopback by default (`proxy_headers` on,
`forwarded_allow_ips` 127.0.0.1): any local process, or a proxy on the same host, could then name
any client address and walk past per-address limits. Here the header counts only from the
addresses in `HOTLINE_TRUSTED_PROXIES`, and is ignored when that is empty.

uvicorn has no timeout on a request's head: its keep-alive timer runs only between requests and
any byte that arrives cancels it, so a client that sends half a request line and goes quiet holds
its connection for ever. `HeadDeadlineProtocol` closes such a connection after
`HTTP_READ_TIMEOUT_S` (a 408 first when part of a head arrived). The body's deadline is the ASGI
middleware's (`runtime.http_limits`), which can still answer in the endpoint's format; the
protocol times a body only once the app has answered without reading it.
"""

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from hotline.runtime.settings import ServiceSettings


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline on what the client owes while no app is waiting for
    it: a request head (from the connection, or from the head's first byte), and the rest of a body
    the app answered without reading (a 429, say), which uvicorn would otherwise wait for."""

    head_timeout_s: float = 15.0
    _deadline: asyncio.TimerHandle | None = None

    # As uvicorn's own override: asyncio declares a BaseTransport, uvicorn hands its protocols a Transport.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._client_owes():
            self._arm()  # a head has begun (after a keep-alive pause) and is not complete
        else:
            self._disarm()  # the head is in: the body is the app's middleware to time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.SEND_BODY:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _client_owes(self) -> bool:
        state = self.conn.their_state
        if state is h11.IDLE:
            return True
        return state is h11.SEND_BODY and self.cycle is not None and self.cycle.response_complete

    def _arm(self) -> None:
        # Armed once: a client trickling a byte at a time does not push the deadline back.
        if self._deadline is None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.head_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or not self._client_owes():
            return
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            # Part of a head arrived: say why. h11 cannot answer a request it has not parsed, so
            # the bytes are written directly.
            body = json.dumps({"detail": [{"loc": ["headers"], "msg": (
                f"the request headers did not arrive within {self.head_timeout_s:g} s")}]}).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        self.transport.close()


def head_deadline_protocol(timeout_s: float) -> type[HeadDeadlineProtocol]:
    """The protocol class with this deadline (uvicorn takes a class and builds one per connection)."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout_s": timeout_s})


def server_options(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments of `uvicorn.run` / `uvicorn.Config` for a service."""
    trusted = settings.trusted_proxy_list
    return {
        # Each service's settings declare their own port (and its variable); the base has none.
        "host": settings.http_host, "port": settings.http_port,  # type: ignore[attr-defined]
        "log_config": None, "access_log": False,
        # Without a trusted proxy, uvicorn's proxy middleware is off: the client is the connection's address.
        "proxy_headers": bool(trusted), "forwarded_allow_ips": trusted,
        "http": head_deadline_protocol(settings.http_read_timeout_s),
    }
