"""How many ranking streams (`GET /v1/rankings/stream`) may be open: each one reads the store
every `METRICS_STREAM_POLL_S`, so their number is capped per client address and in all.

A stream takes a slot before its response starts and gives it back when the response ends, however
it ends (the client closed it, vanished, or the server stops): the release is in the response's own
`finally`, not in the event generator's, which never runs for a generator that was not started.
The counts live in this process: with several metrics replicas each one enforces its own caps.
"""

from collections import Counter

from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

# Streams are long-lived: a refused client should not come back at once.
RETRY_AFTER_S = 15


class StreamSlots:
    """Open streams by client address, at most `per_client` each and `total` in all."""

    def __init__(self, *, per_client: int, total: int) -> None:
        self.per_client, self.total = per_client, total
        self._open: Counter[str] = Counter()

    @property
    def open(self) -> int:
        """Streams open now."""
        return self._open.total()

    def take(self, client: str) -> None:
        """Take a slot for the client, or raise the refusal: 429 past its own cap, 503 past the total."""
        if self._open[client] >= self.per_client:
            raise _refused(429, "client", f"this address has {self.per_client} ranking streams open already, the "
                                          "most one address may; close one or retry later")
        if self.open >= self.total:
            raise _refused(503, "server", f"{self.total} ranking streams are open, the most this server serves; "
                                          "retry later")
        self._open[client] += 1

    def give_back(self, client: str) -> None:
        """Free the client's slot."""
        self._open[client] -= 1
        if self._open[client] <= 0:
            del self._open[client]


def _refused(status: int, field: str, reason: str) -> HTTPException:
    return HTTPException(status, detail=[{"loc": [field], "msg": reason}],
                         headers={"Retry-After": str(RETRY_AFTER_S)})


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that frees its slot once it has ended, whatever ended it."""

    def __init__(self, *args, slots: StreamSlots, client: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._slots, self._client = slots, client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slots.give_back(self._client)
