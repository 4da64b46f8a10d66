"""MongoDB adapter: one AsyncMongoClient per process, with timeouts so a hung server is noticed."""

from collections.abc import Sequence

from pymongo import AsyncMongoClient, monitoring

from hotline.runtime.settings import ServiceSettings


def make_client(settings: ServiceSettings,
                listeners: Sequence[monitoring.CommandListener] = ()) -> AsyncMongoClient:
    """A client with time-zone-aware datetimes and bounded waits; `listeners` see its commands."""
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        timeoutMS=settings.mongodb_timeout_ms,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
        event_listeners=list(listeners),
    )
