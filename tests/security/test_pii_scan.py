"""No personal data where it does not belong: a pipeline run with known callers' phones and names,
then a scan of the metrics store, the public metrics answers (rankings, units, hotspots, the
dashboard, /metrics), intake's and followup's stores and answers, and every log record written.

Routing is the one store that keeps the caller (`routing_dispatches`): a re-dispatch hands the
phone to the next unit; units get it on their queue, never through metrics or logs.
"""

import json
import logging
import random
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import ticket_id_for, topics
from hotline.devkit import raw_record
from hotline.metrics.domain import period_of
from tests.integration.conftest import client_for
from tests.support import citizen_record, eventually, issue_token, publish

pytestmark = pytest.mark.stack

UNIT = "110111008"
PLACE = "房山区良乡镇云景台小区二期"
# A mobile number standing alone (not inside a longer number, an id or a hex digest).
PHONE_PATTERN = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
DRIVERS = ("pymongo", "aiokafka")
SURNAMES, GIVEN = "欧阳司马上官诸葛皇甫", "翠花铁柱秀英建国淑芬志强"


def callers(n: int, seed: int | None = None) -> list[tuple[str, str]]:
    rng = random.Random(uuid.uuid4().int if seed is None else seed)
    return [(f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
             "".join(rng.sample(SURNAMES, 2)) + "".join(rng.sample(GIVEN, 2))) for _ in range(n)]


def leaks(text: str, known: list[str], *, pattern: bool) -> list[str]:
    found = [value for value in known if value in text]
    if pattern:
        found += PHONE_PATTERN.findall(text)
    return found


@pytest.fixture(scope="module")
async def run(services, namespace):
    """Tickets from known callers through every service: raw records (phone channel, one anonymous),
    POST /v1/tickets and Open311, each dispatched, contacted, resolved and called back."""
    caplog_records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caplog_records.append(record)

    keep = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(keep)
    # Our code at DEBUG, stricter than production's INFO; the drivers as production runs them
    # (runtime.logs.configure_logging: pymongo's DEBUG prints whole commands, documents included).
    root.setLevel(logging.DEBUG)
    for name in DRIVERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        people = callers(5)
        known = [value for pair in people for value in pair]
        # Numbers citizens write into their own words: the handling unit reads them, nothing public does.
        # Fixed numbers: a random one in the text tipped the classifier into triage in about 7% of draws,
        # and a triaged ticket never reaches UNIT.
        in_text = [phone for phone, _ in callers(2, seed=2026)]
        tickets = []
        records = [raw_record(f"pii-{uuid.uuid4().hex}", PLACE, content=f"小区垃圾没人清运，请回电{in_text[0]}",
                              caller={"phone": phone, "name": name}) for phone, name in people[:3]]
        records[2]["anonymous"] = True
        await publish(namespace.kafka, namespace.prefix + topics.RAW, *records)
        tickets += [ticket_id_for("phone", r["source_id"]) for r in records]
        async with client_for(services["intake"]) as intake:
            phone, name = people[3]
            web = citizen_record(raw_record(f"pii-{uuid.uuid4().hex}", PLACE, caller={"phone": phone, "name": name}))
            answer = await intake.post("/v1/tickets", json=web)
            assert answer.status_code == 202, answer.text
            tickets.append(answer.json()["ticket_id"])
            phone, name = people[4]
            answer = await intake.post("/open311/v2/requests.json", data={
                "service_code": "sanitation", "address_string": PLACE, "description": f"垃圾堆积，电话{in_text[1]}",
                "phone": phone, "first_name": name[2:], "last_name": name[:2]})
            assert answer.status_code == 201, answer.text
            tickets.append(answer.json()[0]["service_request_id"])

        unit, centre = await issue_token(namespace, UNIT), await issue_token(namespace, "centre")
        async with client_for(services["followup"]) as followup:
            for ticket_id in tickets:
                async def dispatched():
                    response = await followup.get(f"/v1/tickets/{ticket_id}", headers=centre)
                    return response.status_code == 200 and response.json().get("unit_code") == UNIT
                await eventually(dispatched)
                now = datetime.now(UTC)
                contact = await followup.post(f"/v1/tickets/{ticket_id}/contacts", headers=unit, json={
                    "unit_code": UNIT, "kind": "face_to_face", "contacted_at": now.isoformat(), "staff_id": "s-7"})
                assert contact.status_code == 201, contact.text
                resolved = await followup.post(f"/v1/tickets/{ticket_id}/resolution", headers=unit, json={
                    "unit_code": UNIT, "outcome": "resolved", "resolution_code": "R-01",
                    "resolved_at": now.isoformat()})
                assert resolved.status_code == 201, resolved.text
        surveyed = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        await publish(namespace.kafka, namespace.prefix + topics.CALLBACKS, *[
            {"ticket_id": t, "resolved": True, "satisfaction": "satisfied", "surveyed_at": surveyed} for t in tickets])

        projection = services["metrics"].state.projection

        async def counted():  # metrics has seen every ticket's callback (its facts are in memory)
            found = [projection.facts.get(t) or {} for t in tickets]
            return all(f.get("callbacks") for f in found) and found
        facts = await eventually(counted, timeout_s=60)
        period = period_of(min(d["dispatched_at"] for f in facts for d in f["dispatches"].values()))
        mongo = AsyncMongoClient(namespace.mongodb_url, tz_aware=True)
        try:
            async def written():  # and written their month's figures (flushes trail the memory by a second)
                doc = await mongo[namespace.database]["metrics_unit_figures"].find_one({"_id": f"{UNIT}:{period}"})
                return doc is not None and (doc.get("figures") or doc).get("callbacks", 0) >= len(tickets)
            await eventually(written, timeout_s=30)
        finally:
            await mongo.close()
        yield {"known": known, "in_text": in_text, "tickets": tickets, "period": period, "logs": caplog_records,
               "facts": facts,
               "tokens": {"unit": unit, "centre": centre}}
    finally:
        root.removeHandler(keep)
        root.setLevel(previous)
        for name in DRIVERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


async def test_the_metrics_store_holds_no_phone_or_name(run, db):
    names = [n for n in await db.list_collection_names() if n.startswith("metrics_")]
    assert "metrics_unit_figures" in names and "metrics_rankings" in names
    # Nor do the per-ticket facts it holds in memory.
    facts = json.dumps(run["facts"], ensure_ascii=False, default=str)
    assert not leaks(facts, run["known"] + run["in_text"], pattern=True)
    for name in names:
        async for doc in db[name].find({}):
            text = json.dumps(doc, ensure_ascii=False, default=str)
            everything = run["known"] + run["in_text"]
            assert not leaks(text, everything, pattern=True), (name, doc.get("_id"), leaks(text, everything, pattern=True))


async def test_intake_and_followup_stores_hold_none_of_the_callers(run, db):
    for name in await db.list_collection_names():
        if name.startswith("routing_") or name == "unit_credentials":
            continue  # routing keeps the ticket whole for re-dispatch (see the module's note)
        async for doc in db[name].find({}):
            text = json.dumps(doc, ensure_ascii=False, default=str)
            assert not leaks(text, run["known"], pattern=False), (name, doc.get("_id"))


async def test_public_and_unit_answers_hold_no_phone_or_name(run, services):
    period = run["period"]
    async with client_for(services["metrics"]) as metrics:
        paths = [f"/v1/rankings?period={period}&kind={kind}" for kind in ("street", "town", "department", "enterprise")]
        paths += [f"/v1/units/{UNIT}", f"/v1/units/{UNIT}/months/{period}", f"/v1/hotspots?period={period}",
                  "/metrics", "/dashboard", "/dashboard/dashboard.js"]
        for path in paths:
            response = await metrics.get(path)
            assert response.status_code == 200, (path, response.text[:300])
            everything = run["known"] + run["in_text"]
            assert not leaks(response.text, everything, pattern=True), (path, leaks(response.text, everything, pattern=True))
        town = (await metrics.get(f"/v1/units/{UNIT}/months/{period}")).json()
        assert town["callbacks"] >= len(run["tickets"])  # the scan looked at figures that count our tickets
    async with client_for(services["intake"]) as intake:
        ids = ",".join(run["tickets"])
        response = await intake.get(f"/open311/v2/requests.json?service_request_id={ids}")
        # Only the request filed through Open311 is public (the others came by phone, the web
        # form, or asked for anonymity); no caller in it, and the number in its description masked.
        assert response.status_code == 200
        assert [r["service_request_id"] for r in response.json()] == run["tickets"][-1:]
        assert not leaks(response.text, run["known"] + run["in_text"], pattern=True), response.text[:500]
        assert "电话[电话]" in response.json()[0]["description"]
    async with client_for(services["followup"]) as followup:
        for ticket_id in run["tickets"]:
            response = await followup.get(f"/v1/tickets/{ticket_id}", headers=run["tokens"]["unit"])
            assert response.status_code == 200
            # The unit sees the phone masked on the timeline (138****1234), never whole, nor the name.
            assert not leaks(response.text, run["known"], pattern=False), ticket_id


async def test_no_log_record_holds_a_phone_or_name(run):
    assert run["logs"], "the run wrote no log record at all: the capture is broken"
    # The message with its arguments, and the extras a log call added (JSON log fields); not
    # LogRecord's own numbers (created, relativeCreated, thread ids), which look like anything.
    standard = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
    for record in run["logs"]:
        extras = {k: v for k, v in record.__dict__.items() if k not in standard}
        text = f"{record.getMessage()} {extras!r}"
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        assert not leaks(text, run["known"] + run["in_text"], pattern=True), (record.name, record.getMessage()[:300])


def test_services_log_the_drivers_at_warning_only():
    """What the scan above assumes of production: the drivers' payload-dumping debug logs stay off."""
    from hotline.runtime.logs import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in DRIVERS}
    try:
        configure_logging("test", "DEBUG")
        assert all(logging.getLogger(name).getEffectiveLevel() >= logging.WARNING for name in DRIVERS)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)
