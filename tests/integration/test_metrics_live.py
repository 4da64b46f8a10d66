"""Metrics live on the real broker and store: a scripted month through two metrics instances,
served over HTTP (rankings, trend, hotspots, Prometheus, the ranking stream); redelivery changes
nothing; bad parameters get the field and the reason."""

import asyncio
import json
import time
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from hotline.contracts import DeadLetter, topics
from hotline.contracts.common import Event
from hotline.devkit import Namespace, free_port, wait_drained
from hotline.metrics.main import build_app
from hotline.metrics.settings import MetricsSettings
from hotline.runtime.auth import CredentialStore, Role
from tests.integration.conftest import client_for
from tests.integration.test_metrics_store import snapshot
from tests.support import WAIT_FACTOR, eventually, read_topic
from tests.unit.test_metrics_scenario import (
    DONGHUAMEN,
    JINGSHAN,
    JINGSHAN_MARCH,
    MARCH_CITY,
    MARCH_CLUSTERS,
    MARCH_RANKINGS,
    Script,
    at,
    scripted_month,
    topic_of,
    write_scripted_policy,
)

pytestmark = pytest.mark.stack


async def publish_events(kafka: str, prefix: str, events: list) -> None:
    """Publish events as their producers do: keyed by ticket, with the event-type header."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sends = []
        for event in events:
            headers = [("event_type", type(event).__name__.encode())]
            if isinstance(event, Event):
                headers.append(("event_id", event.event_id.encode()))
            sends.append(await producer.send(prefix + topic_of(event), event.model_dump_json().encode(),
                                             key=event.ticket_id.encode(), headers=headers))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def all_drained(space: Namespace, timeout_s: float = 60) -> None:
    """Every metrics consumer group has committed past every record of its topic (an empty
    partition, which no one commits on, counts as done)."""
    from hotline.metrics.events import TOPIC_EVENTS

    groups = {space.group("metrics", topic): space.topic(topic) for topic in TOPIC_EVENTS}
    await wait_drained(space.kafka, groups, timeout_s=timeout_s * WAIT_FACTOR, interval_s=0.2)


@pytest.fixture(scope="module")
async def private(namespace):
    """A topic prefix and database of this module's own: only its metrics instances read them."""
    async with namespace.child("m").created(topics.core_topics()) as own:
        yield own


@pytest.fixture(scope="module")
async def private_db(private):
    client = AsyncMongoClient(private.mongodb_url, tz_aware=True)
    yield client[private.database]
    await client.close()


def settings_for(private: Namespace, policy: Path | None = None) -> MetricsSettings:
    return MetricsSettings(**private.service_settings(), batch_max_records=7, stream_poll_s=0.2,
                           ranking_policy=policy)


@pytest.fixture(scope="module")
async def instances(private, tmp_path_factory):
    """Two metrics instances in one consumer group (small batches, so they share the work), under
    the shipped rules (the callback's response rate) with a minimum sample of one callback."""
    policy = write_scripted_policy(tmp_path_factory.mktemp("policy"))
    apps = [build_app(settings_for(private, policy)), build_app(settings_for(private, policy))]
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield apps


@pytest.fixture(scope="module")
async def scripted(instances, private):
    """The scripted month, published with other services' events metrics skips and one bad record."""
    script = scripted_month()
    await publish_events(private.kafka, private.prefix, script.events)
    noise = Script()
    noise.dispatch("J1", JINGSHAN, at(2, 9))  # a redelivered dispatch
    await publish_events(private.kafka, private.prefix, noise.events)
    producer = AIOKafkaProducer(bootstrap_servers=private.kafka, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(private.prefix + topics.TICKETS_FOLLOWUP, b'{"not": "a warning"}',
                                     key=b"TK-J1", headers=[("event_type", b"DeadlineWarned")])
        await producer.send_and_wait(private.prefix + topics.TICKETS_DISPATCHED, b'{"ticket_id": 7}', key=b"bad")
    finally:
        await producer.stop()
    await all_drained(private)
    return script


async def test_a_scripted_month_gives_the_hand_computed_rankings(instances, scripted):
    async with client_for(instances[0]) as client:
        for kind, expected in MARCH_RANKINGS["callback"].items():
            response = await client.get("/v1/rankings", params={"period": "2026-03", "kind": kind})
            assert response.status_code == 200, response.text
            body = response.json()
            assert [(r["unit_code"], r["rank"], r["score"], r["previous_rank"], r["movement"])
                    for r in body["rows"]] == expected
        streets = (await client.get("/v1/rankings", params={"period": "2026-03"})).json()
    assert streets["kind_label"] == {"zh": "街道", "en": "Street offices"}
    assert streets["labels"]["rates.response"] == {"zh": "响应率", "en": "Response rate"}
    assert streets["weights"]["response"] == 10 and streets["previous_period"] == "2026-02"
    assert (streets["policy"]["response_definition"], streets["policy"]["minimum_sample"]) == (
        "callback", {"callbacks": 1})
    top = streets["rows"][0]
    # February: both streets 100 by the callback, sharing rank 1.
    assert (top["name"], top["district_name"], top["face_to_face_share"], top["rank_change"]) == (
        "东华门街道", "东城区", 1.0, 0)
    assert [b["unit_code"] for b in streets["bottom"]] == ["110105001", JINGSHAN, DONGHUAMEN]


async def test_figures_trend_and_district_filter(instances, scripted):
    async with client_for(instances[1]) as client:
        month = (await client.get(f"/v1/units/{JINGSHAN}/months/2026-03")).json()
        trend = (await client.get(f"/v1/units/{JINGSHAN}")).json()
        dongcheng = (await client.get("/v1/rankings", params={"period": "2026-03", "district": "110101"})).json()
        latest = (await client.get("/v1/rankings")).json()
    assert {k: month[k] for k in JINGSHAN_MARCH} == JINGSHAN_MARCH
    assert month["score"] == 65.3333 and "tickets" not in month and "seen" not in month
    assert month["policy"]["response_definition"] == "callback" and trend["policy"] == month["policy"]
    assert trend["name"] == "景山街道" and trend["ranking_kind"] == "street"
    assert [(m["period"], m["rank"], m["score"], m["dispatched"]) for m in trend["months"]] == [
        ("2026-02", 1, 100.0, 1), ("2026-03", 2, 65.3333, 5)]
    assert [(r["unit_code"], r["rank"], r["district_rank"]) for r in dongcheng["rows"]] == [
        (DONGHUAMEN, 1, 1), (JINGSHAN, 2, 2)]
    assert dongcheng["district"] == {"code": "110101", "name": "东城区"}
    assert latest["period"] == "2026-03"  # the latest month with data when none is asked for


async def test_hotspots(instances, scripted):
    async with client_for(instances[0]) as client:
        body = (await client.get("/v1/hotspots", params={"period": "2026-03"})).json()
        empty = (await client.get("/v1/hotspots", params={"period": "2020-01"})).json()
    assert [(c["category"], c["count"]) for c in body["city"]] == MARCH_CITY
    assert [(c["place_code"], c["community"], c["category"], c["count"], c["repeats"])
            for c in body["clusters"]] == MARCH_CLUSTERS
    assert (empty["total"], empty["city"]) == (0, [])


@pytest.mark.parametrize(("path", "params", "status", "loc"), [
    ("/v1/rankings", {"period": "2026-13"}, 422, ["query", "period"]),
    ("/v1/rankings", {"period": "March"}, 422, ["query", "period"]),
    ("/v1/rankings", {"kind": "village"}, 422, ["query", "kind"]),
    ("/v1/rankings", {"district": "999999"}, 422, ["query", "district"]),
    ("/v1/rankings", {"kind": "department", "district": "110101"}, 422, ["query", "district"]),
    ("/v1/rankings/stream", {"period": "26-03"}, 422, ["query", "period"]),
    ("/v1/hotspots", {"period": "2026-3"}, 422, ["query", "period"]),
    ("/v1/units/999999999", {}, 404, ["path", "unit_code"]),
    ("/v1/units/110101002/months/2026-99", {}, 422, ["path", "period"]),
    ("/v1/units/110101002/months/2020-01", {}, 404, ["path", "unit_code"]),
])
async def test_bad_parameters_name_the_field_and_the_reason(instances, path, params, status, loc):
    async with client_for(instances[0]) as client:
        response = await client.get(path, params=params)
    assert response.status_code == status, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == loc and detail["msg"]


async def test_prometheus_gauges_and_dead_letters(instances, scripted, private, private_db):
    async with client_for(instances[0]) as client:
        text = (await client.get("/metrics")).text
    assert 'hotline_metrics_period{period="2026-03"} 1.0' in text
    assert 'hotline_unit_score{district_code="110101",kind="street",unit_code="110101002"} 65.3333' in text
    assert "hotline_metrics_batch_seconds_count" in text
    letters = await read_topic(private.kafka, private.prefix + topics.DLQ,
                               until=lambda rs: any(b"metrics" in r.value for r in rs), timeout_s=10)
    ours = [DeadLetter.model_validate_json(r.value) for r in letters]
    assert [(d.service, d.source_topic, d.field) for d in ours] == [
        ("metrics", private.prefix + topics.TICKETS_DISPATCHED, "event_id")]
    # Nothing personal reached the store.
    for name in await private_db.list_collection_names():
        async for stored in private_db[name].find({}):
            assert "13800001234" not in json.dumps(stored, default=str)



@asynccontextmanager
async def serving(app):
    """The running app on a real port (the in-process transport buffers whole responses)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _next_event(lines, wanted: str) -> dict:
    event = None
    async for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == wanted:
            return json.loads(line.removeprefix("data: "))
    raise AssertionError("stream ended")


async def test_the_ranking_stream_shows_a_new_callback_within_seconds(instances, scripted, private):
    async with serving(instances[1]) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        async with client.stream("GET", "/v1/rankings/stream", params={"period": "2026-03", "kind": "street"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            first = await asyncio.wait_for(_next_event(lines, "snapshot"), 10)
            assert [r["unit_code"] for r in first["rows"]] == [DONGHUAMEN, JINGSHAN, "110105001"]
            # The citizen of Jingshan's pending ticket is called back: Jingshan's row changes.
            late = Script()
            late.callback("J5", at(20, 9), True, "satisfied")
            started = time.monotonic()
            await publish_events(private.kafka, private.prefix, late.events)
            changes = await asyncio.wait_for(_next_event(lines, "changes"), 10)
            elapsed = time.monotonic() - started
    jingshan = next(r for r in changes["changed"] if r["unit_code"] == JINGSHAN)
    assert (jingshan["callbacks"], jingshan["satisfied"]) == (4, 2)
    assert elapsed < 5, elapsed


async def test_redelivering_every_event_changes_no_figure(instances, scripted, private, private_db):
    await all_drained(private)
    before = await snapshot(private_db)
    await publish_events(private.kafka, private.prefix, scripted.events)
    await all_drained(private)
    assert await snapshot(private_db) == before


async def test_both_instances_took_part(instances, scripted):
    counts = []
    for app in instances:
        async with client_for(app) as client:
            text = (await client.get("/metrics")).text
        counts.append(sum(float(line.split()[-1]) for line in text.splitlines()
                          if line.startswith("hotline_metrics_events_total{")))
    assert all(c > 0 for c in counts), counts


async def test_an_enterprise_month_is_served_with_its_score(instances, scripted, private):
    async def served():
        async with client_for(instances[0]) as client:
            return (await client.get("/v1/units/e-water/months/2026-03")).json().get("score")
    assert await eventually(served) == 100.0  # contacted late by its record; "contacted" by the citizen


async def test_the_explanation_of_lost_points_adds_up_to_the_gap(instances, scripted, private, private_db):
    """The unit's and the centre's tokens read it; another unit's does not. Its items add up to
    100 − score, the score is the unit-month's, the rank the ranking's (both read from the store)."""
    await all_drained(private)
    credentials = CredentialStore(private_db)
    own, centre = await credentials.issue(unit_code=JINGSHAN), await credentials.issue(unit_code="centre",
                                                                                        role=Role.CENTRE)
    other = await credentials.issue(unit_code=DONGHUAMEN)
    url = f"/v1/units/{JINGSHAN}/months/2026-03/explain"

    async def agreed():
        async with client_for(instances[1]) as client:
            body = (await client.get(url, headers={"Authorization": f"Bearer {own}"})).json()
            month = (await client.get(f"/v1/units/{JINGSHAN}/months/2026-03")).json()
            streets = (await client.get("/v1/rankings", params={"period": "2026-03"})).json()
        row = next(r for r in streets["rows"] if r["unit_code"] == JINGSHAN)
        return body if (body["score"], body["rank"]) == (month["score"], row["rank"]) else None

    body = await eventually(agreed)
    assert body["gap"] == round(100 - body["score"], 4) > 0
    assert sum(i["points"] for i in body["items"]) == pytest.approx(body["gap"], abs=1e-9)
    worst = body["items"][0]
    assert worst["ticket_id"] == "TK-J3" and "unresolved" in worst["reasons"]
    assert [i["points"] for i in body["items"]] == sorted((i["points"] for i in body["items"]), reverse=True)
    assert all(i["score_if_right"] == pytest.approx(body["score"] + i["points"], abs=2e-4) for i in body["items"])
    assert worst["rank_if_right"] <= body["rank"]
    async with client_for(instances[0]) as client:
        as_centre = await client.get(url, headers={"Authorization": f"Bearer {centre}"})
        refused = await client.get(url, headers={"Authorization": f"Bearer {other}"})
        anonymous = await client.get(url)
    assert as_centre.status_code == 200 and as_centre.json()["items"] == body["items"]
    assert (refused.status_code, anonymous.status_code) == (403, 401)
