"""The Open311 request list on the real MongoDB-protocol server: asked for in slices of its window,
newest first, it answers as one query over the whole window would, and no query holds more than a
few days' tickets (the local server sorts every match of a query in memory)."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient, monitoring

from hotline.intake.store import FIRST_REQUEST_SLICE, IntakeStore

pytestmark = pytest.mark.stack

END = datetime(2026, 11, 20, 12, tzinfo=UTC)


class Finds(monitoring.CommandListener):
    def __init__(self) -> None:
        self.filters: list[dict] = []

    def started(self, event) -> None:
        if event.command_name == "find":
            self.filters.append(event.command["filter"])

    def succeeded(self, event) -> None: ...

    def failed(self, event) -> None: ...


def visibility(n: int) -> dict:
    """Most tickets filed through Open311; among them a phone call, an anonymous request and a
    record from before intake kept `anonymous`, which the list never shows."""
    if n % 5 == 0:
        return {"channel": "phone", "anonymous": False}
    if n % 7 == 0:
        return {"channel": "open311", "anonymous": True}
    return {"channel": "open311"} if n % 11 == 0 else {"channel": "open311", "anonymous": False}


@pytest.fixture
async def listed(namespace, fresh_db):
    """A store over 40 days of tickets: one every 3 hours, a few exactly on slice boundaries
    (whole days, and the doubled spans' ends, before `END`), a few with the same time; about a
    third of them not public (`visibility`)."""
    rnd = random.Random(8)
    times = [END - timedelta(hours=3 * n, minutes=rnd.randint(0, 170)) for n in range(320)]
    times += [END - timedelta(days=d) for d in (1, 3, 7, 15)] + [END - timedelta(days=2)] * 3 + [END]
    docs = [{"_id": f"TK-list-{n:04d}", "received_at": t, "category": rnd.choice(["noise", "roads_traffic"]),
             "status": rnd.choice(["open", "closed"]), **visibility(n)} for n, t in enumerate(times)]
    await fresh_db["intake_tickets"].insert_many(docs)
    finds = Finds()
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True, event_listeners=[finds])
    yield IntakeStore(client[fresh_db.name]), docs, finds
    await client.close()


def expected(docs, start, end, *, categories=None, status=None, limit=1000):
    chosen = [d for d in docs if start <= d["received_at"] <= end
              and d["channel"] == "open311" and d.get("anonymous") is False
              and (not categories or d["category"] in categories) and (not status or d["status"] == status)]
    return [d["_id"] for d in sorted(chosen, key=lambda d: (-d["received_at"].timestamp(), d["_id"]))][:limit]


@pytest.mark.parametrize(("days", "categories", "status", "limit"), [
    (30, None, None, 1000),          # the whole window, over several slices
    (30, None, None, 25),            # filled by the first slice
    (30, ["noise"], "closed", 1000),  # a filter that matches few: the slices widen
    (30, None, None, 60),            # the answer ends inside a later slice
    (0.5, None, None, 1000),         # a window shorter than a slice
])
async def test_a_sliced_list_answers_as_one_query_over_the_window_would(listed, days, categories, status, limit):
    store, docs, finds = listed
    start = END - timedelta(days=days)
    finds.filters.clear()
    got = await store.find_requests(received_from=start, received_to=END, categories=categories,
                                    statuses=[status] if status else None, limit=limit)
    assert [d["_id"] for d in got] == expected(docs, start, END, categories=categories, status=status, limit=limit)
    # Each query covers at most its slice: a day first, each next one twice as long.
    for n, query in enumerate(finds.filters):
        window = query["received_at"]
        upper = window.get("$lte", window.get("$lt"))
        assert upper - window["$gte"] <= FIRST_REQUEST_SLICE * 2 ** n
    assert finds.filters[0]["received_at"]["$gte"] >= END - FIRST_REQUEST_SLICE
