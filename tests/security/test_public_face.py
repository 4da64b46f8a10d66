"""Intake's public face on the real broker and store: Open311 lists and shows only requests filed
through Open311 whose caller did not ask for anonymity, with personal data scrubbed from their
text; a character XML 1.0 forbids is refused on every way in, and the XML feed stays well-formed."""

import base64
import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import DeadLetter, ticket_id_for, topics
from hotline.devkit import raw_record
from hotline.privacy import EMAIL, ID_NUMBER, NAME, PHONE, WECHAT
from tests.integration.conftest import client_for, intake_without_rate_limit
from tests.support import eventually, issue_token, publish, read_topic

pytestmark = pytest.mark.stack

BASE = "/open311/v2"
PLACE = "房山区良乡镇云景台小区二期"
# Personal data as callers write it into their own words, each in a form the old masking missed.
PII = {
    "+86 139 1234 5678": PHONE, "１３９１２３４５６７８": PHONE, "(010) 6512 3456": PHONE,
    "0755-83451234": PHONE, "110101199003071234": ID_NUMBER, "11010119900307123X": ID_NUMBER,
    "li.ming@example.com": EMAIL, "lm_2026x": WECHAT,
}
CALLER = "欧阳翠花"
DESCRIPTION = (f"我是{CALLER}，楼道堆满杂物。电话+86 139 1234 5678或１３９１２３４５６７８，座机(010) 6512 3456，"
               "单位0755-83451234。身份证110101199003071234，我爱人11010119900307123X。"
               "邮箱li.ming@example.com，微信号：lm_2026x。2026-03-02 14:30起，拱辰大街12号。")


@pytest.fixture(scope="module")
async def intake(namespace):
    """Intake with its consumer running, without a rate limit (this module makes many calls)."""
    async with intake_without_rate_limit(namespace) as app, client_for(app) as http:
        yield http


async def stored(db, ticket_id: str) -> dict:
    """The ticket's record once intake's consumer has made it."""
    async def found():
        return await db["intake_tickets"].find_one({"_id": ticket_id})
    return await eventually(found, timeout_s=30)


@pytest.fixture(scope="module")
async def filed(intake, namespace):
    """Tickets by phone and WeChat over `hotline.raw`, an anonymous Open311 request, and a public
    Open311 request carrying every form of personal data; each one made by intake's consumer."""
    raws = [raw_record(f"face-{channel}-{uuid.uuid4().hex}", PLACE, channel=channel, content=DESCRIPTION,
                       caller={"phone": "13912345678", "name": CALLER}) for channel in ("phone", "wechat")]
    await publish(namespace.kafka, namespace.prefix + topics.RAW, *raws)
    hidden = {r["channel"]: ticket_id_for(r["channel"], r["source_id"]) for r in raws}
    form = {"service_code": "sanitation", "address_string": PLACE, "description": DESCRIPTION,
            "phone": "13912345678", "first_name": "翠花", "last_name": "欧阳"}
    anonymous = await intake.post(f"{BASE}/requests.json", data={**form, "attribute[anonymous]": "true"})
    public = await intake.post(f"{BASE}/requests.json", data=form)
    assert (anonymous.status_code, public.status_code) == (201, 201), (anonymous.text, public.text)
    hidden["anonymous"] = anonymous.json()[0]["service_request_id"]
    public_id = public.json()[0]["service_request_id"]
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True)
    try:
        db = client[namespace.database]
        docs = {name: await stored(db, ticket_id) for name, ticket_id in {**hidden, "public": public_id}.items()}
        yield {"hidden": hidden, "public": public_id, "docs": docs, "db": db}
    finally:
        await client.close()


async def listed(intake, fmt: str = "json", **params) -> list[str]:
    response = await intake.get(f"{BASE}/requests.{fmt}", params=params)
    assert response.status_code == 200, response.text
    if fmt == "xml":
        return [r.findtext("service_request_id") for r in ET.fromstring(response.content).findall("request")]
    return [r["service_request_id"] for r in response.json()]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_other_channels_and_anonymous_requests_are_not_shown(intake, filed, fmt):
    for ticket_id in filed["hidden"].values():
        response = await intake.get(f"{BASE}/requests/{ticket_id}.{fmt}")
        assert response.status_code == 404, (ticket_id, response.text[:300])
        body = (json.loads(response.content) if fmt == "json" else
                [{"code": int(e.findtext("code")), "description": e.findtext("description")}
                 for e in ET.fromstring(response.content).findall("error")])
        # The same answer as for an id that does not exist: nothing says the ticket is there.
        assert body == [{"code": 404, "description": f"service_request_id {ticket_id!r} not found"}]
    hidden = set(filed["hidden"].values())
    by_ids = await listed(intake, fmt, service_request_id=",".join([*hidden, filed["public"]]))
    assert by_ids == [filed["public"]]
    window = await listed(intake, fmt)  # the last 90 days
    assert filed["public"] in window and not hidden & set(window)
    assert not hidden & set(await listed(intake, fmt, service_code="sanitation", status="open"))


async def test_the_public_request_shows_with_every_form_of_personal_data_scrubbed(intake, filed):
    response = await intake.get(f"{BASE}/requests/{filed['public']}.json")
    assert response.status_code == 200, response.text
    description = response.json()[0]["description"]
    for value, placeholder in PII.items():
        assert value not in description and placeholder in description, (value, description)
    assert CALLER not in description and f"我是{NAME}" in description
    # Ordinary text as written: dates, times, house numbers, Chinese punctuation.
    assert "2026-03-02 14:30起，拱辰大街12号。" in description and "楼道堆满杂物。" in description
    # Scrubbed before it was stored: intake's store holds none of it either, and keeps no text at
    # all of the tickets it never shows.
    text = json.dumps(filed["docs"]["public"], ensure_ascii=False, default=str)
    assert CALLER not in text and not [v for v in PII if v in text]
    for name in filed["hidden"]:
        doc = filed["docs"][name]
        assert (doc["content"], doc["address"], doc["community"]) == (None, None, None), name


async def test_a_record_stored_before_the_rules_is_shown_safely_or_not_at_all(intake, filed):
    """What an old record may hold: a NUL (refused at intake now), an unscrubbed number; and a
    record from before intake kept `anonymous`, whose caller may have asked for anonymity."""
    db, now = filed["db"], datetime.now(UTC)
    old = {"channel": "open311", "received_at": now, "updated_at": now, "category": "noise", "status": "open",
           "unit_code": "110111008", "district_code": "110111", "address": "拱辰大街\x0012号",
           "content": "夜里施工\x00噪音，回电+86 139 1234 5678\ufffe"}
    shown, unknown = f"TK-old-{uuid.uuid4().hex[:8]}", f"TK-old-{uuid.uuid4().hex[:8]}"
    await db["intake_tickets"].insert_many([{"_id": shown, **old, "anonymous": False}, {"_id": unknown, **old}])
    as_xml = await intake.get(f"{BASE}/requests.xml", params={"service_request_id": f"{shown},{unknown}"})
    assert as_xml.status_code == 200
    [request] = ET.fromstring(as_xml.content).findall("request")  # well-formed, and the old one not there
    assert request.findtext("service_request_id") == shown
    assert request.findtext("description") == f"夜里施工\ufffd噪音，回电{PHONE}\ufffd"
    assert request.findtext("address") == "拱辰大街\ufffd12号"
    # The whole feed parses too, with the record in it.
    assert shown in await listed(intake, "xml")
    assert (await intake.get(f"{BASE}/requests/{unknown}.json")).status_code == 404


# Every text field of the raw record (the server may set source_id itself on HTTP: Kafka only).
NUL_CASES = [("content", "a\x00b"), ("address", "拱辰大街\x0112号"), ("community", "云景台\x1f小区"),
             ("district", "房山\ufffe"), ("category_hint", "noise\x7f\x08"), ("caller.name", "王\x00"),
             ("caller.phone", "139\x0c12345678")]
KAFKA_ONLY = [("source_id", "src-\x0b1")]


def with_field(record: dict, field: str, value: str) -> dict:
    if field.startswith("caller."):
        return {**record, "caller": {**record["caller"], field.removeprefix("caller."): value}}
    return {**record, field: value}


@pytest.mark.parametrize(("field", "value"), NUL_CASES)
async def test_a_forbidden_character_is_refused_on_post_v1_tickets_naming_the_field(intake, namespace, field, value):
    record = with_field(raw_record(f"face-nul-{uuid.uuid4().hex}", PLACE), field, value)
    # A whole raw record (channel, source id, time, hint): a platform's post.
    response = await intake.post("/v1/tickets", json=record, headers=await issue_token(namespace, "platform"))
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", field] and "XML 1.0 forbids" in detail["msg"]


@pytest.mark.parametrize(("param", "value"), [("description", "停水\x00了"), ("address_string", "拱辰\x0c大街"),
                                              ("attribute[community]", "云景台\uffff"), ("last_name", "王\x01")])
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_a_forbidden_character_is_refused_on_open311_with_a_georeport_error(intake, param, value, fmt):
    form = {"service_code": "water_supply", "address_string": PLACE, "description": "家里停水", param: value}
    response = await intake.post(f"{BASE}/requests.{fmt}", data=form)
    assert response.status_code == 400, response.text
    if fmt == "json":
        [error] = response.json()
    else:
        node = ET.fromstring(response.content).find("error")
        error = {"code": int(node.findtext("code")), "description": node.findtext("description")}
    named = "first_name and last_name" if param == "last_name" else param
    assert error["code"] == 400 and error["description"].startswith(f"{named}:")
    assert "XML 1.0 forbids" in error["description"]


async def test_a_forbidden_character_on_kafka_is_dead_lettered_naming_the_field(intake, namespace):
    cases = NUL_CASES + KAFKA_ONLY
    records = [with_field(raw_record(f"face-nul-{uuid.uuid4().hex}", PLACE), field, value) for field, value in cases]
    payloads = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    await publish(namespace.kafka, namespace.prefix + topics.RAW, *payloads)

    def ours(rs):
        letters = [DeadLetter.model_validate_json(r.value) for r in rs]
        return {base64.b64decode(x.value_b64): x for x in letters if base64.b64decode(x.value_b64) in payloads}

    letters = ours(await read_topic(namespace.kafka, namespace.prefix + topics.DLQ,
                                    until=lambda rs: len(ours(rs)) == len(payloads)))
    assert len(letters) == len(payloads)
    for payload, (field, _) in zip(payloads, cases, strict=True):
        letter = letters[payload]
        assert (letter.service, letter.field) == ("intake", field) and "XML 1.0 forbids" in letter.reason
    # And no ticket was made of any of them.
    client = AsyncMongoClient(namespace.mongodb_url, tz_aware=True)
    try:
        made = await client[namespace.database]["intake_tickets"].find(
            {"_id": {"$in": [ticket_id_for("phone", r["source_id"]) for r in records]}}).to_list()
        assert made == []
    finally:
        await client.close()
