"""Open311 GeoReport v2 on intake, used the way a GeoReport client does: over HTTP, with
intake's consumer running on the real broker and MongoDB-protocol server."""

import base64
import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hotline.contracts import BUSINESS_TZ, DeadLetter, TicketClosed, TicketReopened, deterministic_event_id, topics
from hotline.intake.main import build_app as build_intake
from hotline.intake.settings import IntakeSettings
from tests.support import drained, eventually, publish, read_topic

pytestmark = pytest.mark.stack

BASE = "/open311/v2"
PHONE = "13912345678"


@pytest.fixture(scope="module")
async def client(namespace):
    """A GeoReport client talking to intake, whose lifespan (and Kafka consumer) runs."""
    app = build_intake(IntakeSettings(
        **namespace.service_settings(),
    ))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def form(**overrides) -> dict[str, str]:
    base = {
        "api_key": "any-key",
        "service_code": "water_supply",
        "address_string": "房山区良乡镇拱辰大街",
        "description": f"家里停水两天了，请尽快处理。{uuid.uuid4().hex[:6]}",
        "first_name": "先生",
        "last_name": "王",
        "phone": PHONE,
        "attribute[community]": "云景台小区",
        "attribute[request_type]": "help",
        "attribute[anonymous]": "false",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


async def file_request(client: httpx.AsyncClient, **overrides) -> str:
    response = await client.post(f"{BASE}/requests.json", data=form(**overrides))
    assert response.status_code == 201, response.text
    return response.json()[0]["service_request_id"]


async def wait_for(client: httpx.AsyncClient, request_id: str) -> dict:
    async def appeared():
        response = await client.get(f"{BASE}/requests/{request_id}.json")
        return response.status_code == 200 and response.json()[0]

    return await eventually(appeared, timeout_s=20)


def errors_of(response: httpx.Response) -> list[dict]:
    if response.headers["content-type"].startswith("text/xml"):
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        return [{"code": int(e.findtext("code")), "description": e.findtext("description")}
                for e in root.findall("error")]
    return response.json()


async def test_a_client_lists_services_in_json_and_xml(client):
    as_json = await client.get(f"{BASE}/services.json")
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    services = {s["service_code"]: s for s in as_json.json()}
    assert services["water_supply"]["service_name"] == "供水 Water supply"
    assert services["water_supply"]["metadata"] is True

    as_xml = await client.get(f"{BASE}/services.xml", params={"jurisdiction_id": "beijing.gov.cn"})
    assert as_xml.status_code == 200 and as_xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(as_xml.content)
    assert [s.findtext("service_code") for s in root.findall("service")] == list(services)


async def test_a_client_reads_a_service_definition(client):
    definition = (await client.get(f"{BASE}/services/water_supply.json")).json()
    assert definition["service_code"] == "water_supply"
    assert {a["code"] for a in definition["attributes"]} >= {"community", "request_type", "anonymous"}
    root = ET.fromstring((await client.get(f"{BASE}/services/water_supply.xml")).content)
    assert root.tag == "service_definition" and root.find("attributes/attribute/code").text == "community"

    for fmt in ("json", "xml"):
        missing = await client.get(f"{BASE}/services/potholes.{fmt}")
        assert missing.status_code == 404
        [error] = errors_of(missing)
        assert error["code"] == 404 and "potholes" in error["description"]


async def test_a_posted_request_is_filed_and_can_be_read_back(client, namespace):
    before = datetime.now(UTC)
    posted = await client.post(f"{BASE}/requests.json", data=form(description="家里停水两天了。"))
    assert posted.status_code == 201, posted.text
    [answer] = posted.json()
    request_id = answer["service_request_id"]
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] is None and "良乡地区" in answer["service_notice"]

    # The record went the one way every channel goes: hotline.raw, keyed by the ticket id.
    raw = await read_topic(
        namespace.kafka, namespace.prefix + topics.RAW,
        until=lambda rs: any(r.key == request_id.encode() for r in rs),
    )
    record = json.loads(next(r for r in raw if r.key == request_id.encode()).value)
    assert record["channel"] == "open311" and record["caller"] == {"phone": PHONE, "name": "王先生"}
    assert record["category_hint"] == "water_supply" and record["community"] == "云景台小区"

    # GET answers once the consumer has made the ticket.
    found = await wait_for(client, request_id)
    assert found["service_request_id"] == request_id
    assert (found["status"], found["service_code"]) == ("open", "water_supply")
    assert found["service_name"] == "供水 Water supply"
    assert found["description"] == "家里停水两天了。"
    assert found["agency_responsible"] == "良乡地区"
    assert found["address"] == "房山区良乡镇拱辰大街 云景台小区"
    requested = datetime.fromisoformat(found["requested_datetime"])
    assert found["requested_datetime"].endswith("+08:00")
    assert before - timedelta(seconds=1) <= requested <= datetime.now(UTC)
    assert datetime.fromisoformat(found["updated_datetime"]) == requested
    # Water is a utility: the citizen hears back within 24 hours.
    assert datetime.fromisoformat(found["expected_datetime"]) - requested == timedelta(hours=24)
    response = await client.get(f"{BASE}/requests/{request_id}.json")
    assert PHONE not in response.text and "王先生" not in response.text

    as_xml = await client.get(f"{BASE}/requests/{request_id}.xml")
    assert as_xml.headers["content-type"].startswith("text/xml")
    request = ET.fromstring(as_xml.content).find("request")
    assert request.findtext("service_request_id") == request_id
    assert request.findtext("expected_datetime") == found["expected_datetime"]
    assert PHONE.encode() not in as_xml.content


async def test_a_client_lists_requests_by_code_status_and_dates(client):
    water = await file_request(client)
    noise = await file_request(client, service_code="noise", description="楼下广场舞噪音扰民。",
                               address_string=None, lat="39.7246", long="116.1389")
    await wait_for(client, water)
    found_noise = await wait_for(client, noise)
    assert (found_noise["lat"], found_noise["long"]) == (39.7246, 116.1389)
    assert found_noise["agency_responsible"] == "12345热线"  # no address to place it by

    now = datetime.now(UTC)
    window = {"start_date": (now - timedelta(hours=1)).isoformat(),
              "end_date": (now + timedelta(hours=1)).isoformat()}

    async def ids(fmt: str = "json", **params) -> list[str]:
        response = await client.get(f"{BASE}/requests.{fmt}", params=params)
        assert response.status_code == 200, response.text
        if fmt == "xml":
            root = ET.fromstring(response.content)
            assert root.tag == "service_requests"
            return [r.findtext("service_request_id") for r in root.findall("request")]
        return [r["service_request_id"] for r in response.json()]

    assert {water, noise} <= set(await ids())  # the default window: the last 90 days
    assert {water, noise} <= set(await ids("xml", **window))
    by_code = await ids(service_code="water_supply", status="open", **window)
    assert water in by_code and noise not in by_code
    assert set(await ids(service_code="noise,water_supply", **window)) >= {water, noise}
    assert water not in await ids(status="closed", **window)
    earlier = {"start_date": (now - timedelta(days=30)).isoformat(),
               "end_date": (now - timedelta(days=29)).isoformat()}
    assert water not in await ids(**earlier)
    assert await ids(service_request_id=f"{noise},TK0000000000000000,{water}") == [noise, water]
    # A `+08:00` left unencoded in the URL arrives as a space; it still reads as the zone.
    start = (now - timedelta(hours=1)).astimezone(BUSINESS_TZ).isoformat(timespec="seconds")
    assert "+08:00" in start
    response = await client.get(f"{BASE}/requests.json?start_date={start}&service_code=noise")
    assert response.status_code == 200, response.text
    assert noise in [r["service_request_id"] for r in response.json()]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_requests_get_georeport_errors_naming_the_parameter(client, fmt):
    unknown = await client.post(f"{BASE}/requests.{fmt}", data=form(service_code="potholes"))
    assert unknown.status_code == 400
    assert "service_code" in errors_of(unknown)[0]["description"]

    nowhere = await client.post(f"{BASE}/requests.{fmt}", data=form(address_string=None))
    assert nowhere.status_code == 400
    assert "location" in errors_of(nowhere)[0]["description"]

    too_long = await client.get(f"{BASE}/requests.{fmt}", params={
        "start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-06-01T00:00:00+08:00"})
    assert too_long.status_code == 400
    assert "90 days" in errors_of(too_long)[0]["description"]

    missing = await client.get(f"{BASE}/requests/TK0000000000000000.{fmt}")
    assert missing.status_code == 404
    [error] = errors_of(missing)
    assert error["code"] == 404 and "TK0000000000000000" in error["description"]


async def test_a_request_may_be_posted_as_json_and_answered_in_xml(client):
    body = {"service_code": "noise", "address_string": "海淀区八里庄街道", "description": "夜间施工噪音。",
            "attribute": {"community": "甘家口小区", "anonymous": False}}  # an anonymous one is never shown
    response = await client.post(f"{BASE}/requests.xml", json=body)
    assert response.status_code == 201, response.text
    root = ET.fromstring(response.content)
    assert root.tag == "service_requests"
    request_id = root.find("request").findtext("service_request_id")
    found = await wait_for(client, request_id)
    assert found["service_code"] == "noise" and found["agency_responsible"] == "八里庄街道"


async def test_a_closed_ticket_shows_as_closed_and_a_late_reopen_leaves_it_so(client, namespace):
    request_id = await file_request(client)
    filed = await wait_for(client, request_id)
    assert (filed["status"], filed["status_notes"]) == ("open", None) and filed["service_notice"]
    now = datetime.now(BUSINESS_TZ)

    def event(kind, n: int, **fields):
        return kind(event_id=deterministic_event_id(kind.__name__, request_id, str(n)), ticket_id=request_id,
                    occurred_at=now, unit_code="110111008", **fields)

    reopened = event(TicketReopened, 1, reason="dissatisfied", reopened_at=now + timedelta(hours=1),
                     report_back_due_at=now + timedelta(days=3), round=1)
    closed = event(TicketClosed, 2, closed_at=now + timedelta(hours=5), satisfaction="basically_satisfied")
    followup = namespace.prefix + topics.TICKETS_FOLLOWUP

    async def send(*events):
        for e in events:
            await publish(namespace.kafka, followup, e.model_dump_json().encode(), key=request_id.encode(),
                          headers=[("event_type", type(e).__name__.encode())])

    async def showing(status: str, notes: str):
        async def now_shows():
            shown = (await client.get(f"{BASE}/requests/{request_id}.json")).json()[0]
            return (shown["status"], shown["status_notes"]) == (status, notes) and shown
        return await eventually(now_shows, timeout_s=30)

    await send(reopened)
    await showing("open", "回访市民不满意，第2轮重新办理")
    await send(closed)
    shown = await showing("closed", "已办结，回访市民基本满意")
    assert shown["service_notice"] is None
    assert shown["updated_datetime"].startswith((now + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M"))
    # The reopen delivered again after the close, then a broken close: once intake has read
    # both, the request is still closed and the broken record is dead-lettered with its bytes.
    await send(reopened)
    broken = b'{"ticket_id": "%s", "satisfaction": "satisfied"}' % request_id.encode()
    await publish(namespace.kafka, followup, broken, key=request_id.encode(), headers=[("event_type", b"TicketClosed")])
    await drained(namespace.kafka, followup, f"{namespace.prefix}hotline-intake.{topics.TICKETS_FOLLOWUP}")
    assert (await client.get(f"{BASE}/requests/{request_id}.json")).json()[0]["status"] == "closed"
    listed = (await client.get(f"{BASE}/requests.json", params={"status": "closed"})).json()
    assert request_id in {r["service_request_id"] for r in listed}

    def ours(records):
        letters = [DeadLetter.model_validate_json(r.value) for r in records]
        return [x for x in letters if x.service == "intake" and base64.b64decode(x.value_b64) == broken]

    letters = ours(await read_topic(namespace.kafka, namespace.prefix + topics.DLQ, until=lambda rs: bool(ours(rs))))
    assert letters[0].source_topic == followup and letters[0].field == "event_id"
