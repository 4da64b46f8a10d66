"""Limits at every service's edge, on `hotline serve` processes (uvicorn as in production) on the
real stack: X-Forwarded-For believed only from configured proxies, a body over its limit refused
with 413 before authentication and before it is read, a request that does not arrive in time
answered 408 and closed, and a cap on metrics' ranking streams."""

import asyncio
import os
import select
import socket
import struct
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from hotline.devkit import ServiceProcess, stop_all, wait_all_healthy
from hotline.routing.settings import RoutingSettings
from hotline.runtime.http_server import server_options
from hotline.runtime.settings import ServiceSettings

pytestmark = pytest.mark.stack

TIMEOUT_S = 1.5  # HTTP_READ_TIMEOUT_S of every process here: short, so waiting it out is cheap
PROXY = "127.0.0.2"  # the "proxy": Linux answers the whole of 127.0.0.0/8 on the loopback
THIRTY_MB = 30 * 1024 * 1024


class Server:
    def __init__(self, process: ServiceProcess) -> None:
        self.process, self.port, self.url = process, process.port, process.url()

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


# name -> (service, extra environment)
SERVERS = {
    # A client gets 3 requests, then one per 100 s: no refill between a test's requests.
    "intake": ("intake", {"INTAKE_RATE_LIMIT_BURST": "3", "INTAKE_RATE_LIMIT_PER_S": "0.01"}),
    "intake_behind_proxy": ("intake", {"INTAKE_RATE_LIMIT_BURST": "3", "INTAKE_RATE_LIMIT_PER_S": "0.01",
                                       "HOTLINE_TRUSTED_PROXIES": PROXY}),
    "routing": ("routing", {}),
    "followup": ("followup", {"HOTLINE_BUSINESS_CLOCK": "log"}),  # no wall-clock deadline fires here
    "metrics": ("metrics", {"METRICS_STREAM_MAX_PER_CLIENT": "2", "METRICS_STREAM_MAX_TOTAL": "3",
                            "HOTLINE_TRUSTED_PROXIES": PROXY}),
}


@pytest.fixture(scope="module")
def servers(service_env, tmp_path_factory):
    """The processes, started together (each imports and joins its groups in parallel)."""
    logs = tmp_path_factory.mktemp("edge-logs")
    started: dict[str, ServiceProcess] = {}
    try:
        for name, (service, extra) in SERVERS.items():
            env = {**os.environ, **service_env, "HTTP_READ_TIMEOUT_S": str(TIMEOUT_S), "LOG_LEVEL": "WARNING", **extra}
            started[name] = ServiceProcess.spawn(service, env, logs / f"{name}.log")
        wait_all_healthy(started.values(), timeout_s=120)
        yield {name: Server(process) for name, process in started.items()}
    finally:
        stop_all(started.values())


def connect(server: Server, source: str = "127.0.0.1") -> socket.socket:
    """A raw connection to the server from `source` (another loopback address: another client)."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=10, source_address=(source, 0))


def read_until_closed(sock: socket.socket, within_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    start, data = time.monotonic(), b""
    sock.settimeout(within_s)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        raise AssertionError(f"the connection was still open after {within_s} s; received {data[:300]!r}")
    except ConnectionResetError:
        pass
    return data, time.monotonic() - start


# -- X-Forwarded-For -----------------------------------------------------------------------


def test_trusted_proxies_must_be_addresses_or_networks():
    assert ServiceSettings(trusted_proxies=" 10.0.0.0/8, 192.0.2.7 ").trusted_proxy_list == ["10.0.0.0/8", "192.0.2.7"]
    with pytest.raises(ValidationError, match="not an IP address or network"):
        ServiceSettings(trusted_proxies="edge-proxy")
    # Off by default: uvicorn's proxy middleware is not even installed.
    options = server_options(RoutingSettings())
    assert options["proxy_headers"] is False


async def test_x_forwarded_for_is_ignored_when_no_proxy_is_trusted(servers):
    async with httpx.AsyncClient(base_url=servers["intake"].url, timeout=10) as client:
        answers = [(await client.post("/v1/tickets", content=b"{}")).status_code for _ in range(4)]
        assert answers == [422, 422, 422, 429]
        # A new address in the header each time changes nothing: the client is the connection's.
        for n in range(5):
            forged = await client.post("/v1/tickets", content=b"{}", headers={"X-Forwarded-For": f"198.51.100.{n}"})
            assert forged.status_code == 429, forged.text
            assert forged.json()["detail"][0]["loc"] == ["client"]


async def test_x_forwarded_for_counts_from_a_configured_proxy_only(servers):
    server = servers["intake_behind_proxy"]
    via_proxy = httpx.AsyncHTTPTransport(local_address=PROXY)
    async with httpx.AsyncClient(base_url=server.url, transport=via_proxy, timeout=10) as proxy:
        async def status(address: str) -> int:
            return (await proxy.post("/v1/tickets", content=b"{}", headers={"X-Forwarded-For": address})).status_code

        assert [await status("203.0.113.1") for _ in range(4)] == [422, 422, 422, 429]
        # Another caller behind the same proxy has its own bucket.
        assert await status("203.0.113.2") == 422
        # A caller who forges an entry is still known by the one the proxy appended (the last).
        assert await status("192.0.2.99, 203.0.113.1") == 429
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as direct:
        # Not from the proxy (127.0.0.1 is not trusted here): the header is ignored.
        answers = [(await direct.post("/v1/tickets", content=b"{}", headers={"X-Forwarded-For": f"203.0.113.{50 + n}"})
                    ).status_code for n in range(4)]
        assert answers == [422, 422, 422, 429]


# -- body size, before authentication --------------------------------------------------------

PATHS = {"routing": "/v1/tickets/TK-edge-1/returns", "followup": "/v1/tickets/TK-edge-1/contacts"}


@pytest.mark.parametrize("name", ["routing", "followup"])
def test_a_declared_30_mb_body_is_refused_413_before_a_byte_of_it_is_sent(servers, name):
    with connect(servers[name]) as sock:
        sock.sendall(f"POST {PATHS[name]} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {THIRTY_MB}\r\n\r\n".encode())
        # No token and no body sent: the answer is the size, not 401, and it does not wait for the body.
        answer, _ = read_until_closed(sock, within_s=TIMEOUT_S - 0.5)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b'"loc": ["body"]' in body and b"over the limit of 65536 bytes" in body
    # A body within the limit still gets as far as the token check.
    assert httpx.post(servers[name].url + PATHS[name], json={"note": "x" * 60_000}, timeout=10).status_code == 401


@pytest.mark.parametrize("name", ["routing", "followup"])
def test_a_streamed_30_mb_body_is_refused_while_it_is_sent_and_never_held(servers, name):
    server = servers[name]
    before = server.rss_bytes()
    chunk = b"x" * 65536
    sent, answer = 0, b""
    with connect(server) as sock:
        sock.sendall(f"POST {PATHS[name]} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        try:
            while sent < THIRTY_MB:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us mid-send; the answer was sent before the close
        answer, _ = read_until_closed(sock, within_s=10)
    # Only what the loopback's buffers hold went out before the answer (about 3 MB here).
    assert sent < THIRTY_MB // 3, f"{sent} bytes were accepted before any answer"
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    # The service held no more than a little of what came in (uvicorn's buffers, the limit).
    assert server.rss_bytes() - before < 8 * 1024 * 1024


# -- read timeouts -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["intake", "routing"])
def test_a_body_that_stops_arriving_is_answered_408_and_closed(servers, name):
    path = "/v1/tickets" if name == "intake" else PATHS["routing"]
    with connect(servers[name], source="127.0.0.4") as sock:  # a fresh rate-limit bucket on intake
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                     "Content-Length: 1000\r\n\r\n".encode() + b'{"a": "123')
        answer, waited = read_until_closed(sock, within_s=TIMEOUT_S + 3)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b'"loc": ["body"]' in answer and b"did not arrive within 1.5 s" in answer
    assert waited >= TIMEOUT_S - 0.3


def test_headers_that_never_finish_are_answered_408_and_closed_however_slowly_they_trickle(servers):
    with connect(servers["routing"]) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        start = time.monotonic()
        # A byte every 0.2 s does not push the deadline back.
        try:
            for byte in b"X-Slow: " + b"a" * 40:
                if select.select([sock], [], [], 0.2)[0]:
                    break
                sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer, _ = read_until_closed(sock, within_s=TIMEOUT_S + 3)
        waited = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b'"loc": ["headers"]' in answer
    assert TIMEOUT_S - 0.3 <= waited < TIMEOUT_S + 2
    # A slow request whose head and body each arrive within the bound is served.
    with connect(servers["routing"]) as sock:
        sock.sendall(f"POST {PATHS['routing']} HTTP/1.1\r\nHost: edge\r\n".encode())
        time.sleep(TIMEOUT_S / 2)
        sock.sendall(b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{")
        time.sleep(TIMEOUT_S / 2)
        sock.sendall(b"}")
        answer, _ = read_until_closed(sock, within_s=10)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]


def test_an_unread_body_after_a_refusal_does_not_hold_the_connection(servers):
    """Rate-limited before its body is read: the rest of the body is owed within the bound too."""
    server, client = servers["intake"], "127.0.0.5"
    with httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(local_address=client), timeout=10) as c:
        assert [c.post("/v1/tickets", content=b"{}").status_code for _ in range(4)][-1] == 429
    with connect(server, source=client) as sock:
        sock.sendall(b"POST /v1/tickets HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{")
        answer, waited = read_until_closed(sock, within_s=TIMEOUT_S + 3)
    assert answer.startswith(b"HTTP/1.1 429"), answer[:300]
    assert waited >= TIMEOUT_S - 0.3


def test_a_connection_that_sends_nothing_is_closed(servers):
    with connect(servers["followup"]) as sock:
        answer, waited = read_until_closed(sock, within_s=TIMEOUT_S + 3)
    assert answer == b"" and waited >= TIMEOUT_S - 0.3


# -- ranking streams ---------------------------------------------------------------------------


class Stream:
    """An open ranking stream (its first event read), through the proxy as `client`."""

    def __init__(self, server: Server, client: str) -> None:
        self.server, self.client = server, client
        self.sock: socket.socket | None = None

    def open(self) -> tuple[int, bytes]:
        """The status, and the head and what came with it."""
        self.sock = connect(self.server, source=PROXY)
        self.sock.sendall(f"GET /v1/rankings/stream HTTP/1.1\r\nHost: edge\r\nX-Forwarded-For: {self.client}"
                          "\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.sock.settimeout(10)
        data = b""

        def complete() -> bool:
            head, found, body = data.partition(b"\r\n\r\n")
            if not found:
                return False
            if head.startswith(b"HTTP/1.1 200"):
                return b"event: snapshot" in body
            length = next(int(line.split(b":")[1]) for line in head.lower().splitlines()
                          if line.startswith(b"content-length:"))
            return len(body) >= length

        while not complete():
            chunk = self.sock.recv(65536)
            assert chunk, data[:300]
            data += chunk
        return int(data.split(b" ", 2)[1]), data

    def close(self, *, abruptly: bool = False) -> None:
        if abruptly:  # a reset, as a client that vanishes leaves behind
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


async def opens(server: Server, client: str, *, within_s: float = 10) -> Stream:
    """A stream for `client`, once the server has freed a slot for it."""
    deadline = time.monotonic() + within_s
    while True:
        stream = Stream(server, client)
        status, data = await asyncio.to_thread(stream.open)
        if status == 200:
            return stream
        stream.close()
        assert time.monotonic() < deadline, data[:500]
        await asyncio.sleep(0.2)


async def test_ranking_streams_are_capped_per_client_and_in_all_and_a_closed_one_frees_its_slot(servers):
    server = servers["metrics"]
    first, second = await opens(server, "203.0.113.10"), await opens(server, "203.0.113.10")
    third = Stream(server, "203.0.113.10")
    status, data = await asyncio.to_thread(third.open)
    third.close()
    assert status == 429, data[:500]
    assert b"retry-after: 15" in data.lower() and b'"loc":["client"]' in data.replace(b" ", b"")
    assert b"ranking streams open already" in data

    other = await opens(server, "203.0.113.20")  # the third in all
    full = Stream(server, "203.0.113.30")
    status, data = await asyncio.to_thread(full.open)
    full.close()
    assert status == 503, data[:500]
    assert b"retry-after: 15" in data.lower() and b'"loc":["server"]' in data.replace(b" ", b"")

    # A stream closed politely, or by a vanished client, gives its slot back.
    first.close()
    again = await opens(server, "203.0.113.10")
    other.close(abruptly=True)
    newcomer = await opens(server, "203.0.113.30")
    for stream in (second, again, newcomer):
        stream.close(abruptly=True)
    # Every slot is free again: three new callers at once.
    for stream in [await opens(server, f"198.51.100.{n}") for n in range(3)]:
        stream.close()
