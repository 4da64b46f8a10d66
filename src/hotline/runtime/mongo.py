"""MongoDB adapter: one AsyncMongoClient per process, with timeouts so a hung server is noticed."""

from collections.abc import Sequence

from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import BulkWriteError

from hotline.runtime.settings import ServiceSettings

DUPLICATE_KEY = 11000


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


def duplicates_only(exc: BulkWriteError) -> list[dict]:
    """The write errors of an unordered bulk write when each one is a duplicate `_id` (the
    document is there already, or a guarded upsert met a newer one); re-raises `exc` otherwise."""
    errors = exc.details.get("writeErrors", [])
    if exc.details.get("writeConcernErrors") or any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise exc
    return errors


async def drop_database(client: AsyncMongoClient, name: str) -> None:
    """Drop a database, its collections first: the local server sometimes refuses to drop a whole
    database ("Expected [H2UniqueIndex[name=_id_]] to be empty"), and leftovers slow every commit."""
    for collection in await client[name].list_collection_names():
        await client[name].drop_collection(collection)
    await client.drop_database(name)
