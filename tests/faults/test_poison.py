"""Poison on every topic a service consumes: not JSON, the wrong schema, 1 MB, an unknown schema
version, and valid-looking records whose times are in year 1 or 1970. Each lands on hotline.dlq once per consuming service, with the reason and the original
bytes, and every consumer carries on: good records after the poison are processed and every
group commits past the end of its topic."""

import json
from datetime import datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from hotline.contracts import (
    ContactKind,
    ContactRecorded,
    TicketDispatched,
    deterministic_event_id,
    ticket_id_for,
    topics,
)
from hotline.contracts.routing import TicketReturned
from hotline.devkit import raw_record
from hotline.gazetteer import beijing
from hotline.ingest.admission import normalize
from hotline.runtime.kafka import DEAD_LETTER_VALUE_LIMIT
from tests.faults.pipeline import (
    CONSUMES,
    Services,
    all_drained,
    decode_letter,
    metrics_total,
    new_space,
    publish_tick,
    read_all,
)
from tests.support import eventually

pytestmark = [pytest.mark.stack, pytest.mark.faults]

T = datetime.fromisoformat("2026-03-02T09:00:00+08:00")
HUGE = 1_000_000  # under the broker's 1 MiB record limit, far over what any consumer accepts
KINDS = ("not_json", "wrong_schema", "huge", "unknown_version", "year_one", "epoch")
# Valid-looking poison: a well-formed record whose times lie where no ticket can be. Year 1 at
# +14:00 is year 0 in UTC, which BSON cannot encode: it once passed validation and stalled the
# consumers that tried to store it, batch after batch, for good.
FAR_TIMES = {"year_one": "0001-01-01T00:00:00+14:00", "epoch": "1970-01-01T00:00:00+00:00"}
# The event type header a consumer routes by (tickets.followup, tickets.routing).
HEADERS = {topics.TICKETS_FOLLOWUP: "ContactRecorded", topics.TICKETS_ROUTING: "TicketReturned"}


def valid(topic: str, ticket_id: str) -> dict:
    """A well-formed record of the topic's kind, about a ticket no one else mentions."""
    if topic == topics.RAW:
        return raw_record(f"poison-{ticket_id}", "房山区良乡镇拱辰大街", received_at=T.isoformat())
    if topic == topics.CALLBACKS:
        return {"ticket_id": ticket_id, "resolved": True, "satisfaction": "satisfied", "surveyed_at": T.isoformat()}
    if topic == topics.CLOCK:
        return {"now": T.isoformat(), "source": "poison"}
    # Commands from a unit that does not hold the ticket (Jingshan, in another district): each is
    # answered with a refusal naming the command, and changes nothing.
    if topic == topics.ROUTING_COMMANDS:
        return {"command": "return_ticket", "command_id": f"c-{ticket_id}", "ticket_id": ticket_id,
                "unit_code": "110101002", "reason_code": "not_our_jurisdiction", "returned_at": T.isoformat()}
    if topic == topics.FOLLOWUP_COMMANDS:
        return {"action": "record_contact", "command_id": f"c-{ticket_id}", "ticket_id": ticket_id,
                "payload": {"unit_code": "110101002", "kind": "phone", "contacted_at": T.isoformat(),
                            "staff_id": "LX-1"}}
    if topic == topics.TICKETS_RECEIVED:
        record = raw_record(f"poison-{ticket_id}", "房山区良乡镇拱辰大街", received_at=T.isoformat())
        return normalize(json.dumps(record).encode(), now=T, gazetteer=beijing()).model_dump(mode="json")
    if topic == topics.TICKETS_DISPATCHED:
        return TicketDispatched(
            event_id=deterministic_event_id("TicketDispatched", ticket_id, "1"), ticket_id=ticket_id, occurred_at=T,
            unit_code="110111008", unit_name="良乡镇", district_code="110111", reason="street_town",
            dispatched_at=T, urgency="general", report_back_due_at=T + timedelta(days=7)).model_dump(mode="json")
    if topic == topics.TICKETS_FOLLOWUP:
        return ContactRecorded(
            event_id=deterministic_event_id("ContactRecorded", ticket_id), ticket_id=ticket_id, occurred_at=T,
            contact_id=f"c-{ticket_id}", unit_code="110111008", kind=ContactKind.PHONE, contacted_at=T,
            staff_id="LX-1").model_dump(mode="json")
    if topic == topics.TICKETS_ROUTING:
        return TicketReturned(
            event_id=deterministic_event_id("TicketReturned", ticket_id), ticket_id=ticket_id, occurred_at=T,
            unit_code="110111008", attempt=1, reason_code="not_our_jurisdiction", returns=1).model_dump(mode="json")
    raise AssertionError(topic)


def with_times(value, when: str, moved: set[str], path: str = ""):
    """`value` with every time in it (an ISO 8601 string with a date and a time) set to `when`;
    `moved` collects the dotted paths of the fields changed."""
    if isinstance(value, dict):
        return {k: with_times(v, when, moved, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [with_times(v, when, moved, f"{path}.{n}") for n, v in enumerate(value)]
    if isinstance(value, str) and "T" in value:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return value
        moved.add(path)
        return when
    return value


def poison(topic: str, kind: str, ticket_id: str) -> bytes:
    if kind == "not_json":
        return b"\xff\xfe{not json"
    if kind == "wrong_schema":
        return json.dumps({"ticket_id": 42, "what": "a record of another system"}).encode()
    if kind == "huge":
        return b'{"pad": "' + b"x" * (HUGE - 11) + b'"}'
    if kind in FAR_TIMES:
        moved: set[str] = set()
        body = with_times(valid(topic, ticket_id), FAR_TIMES[kind], moved)
        assert moved, topic
        return json.dumps(body, ensure_ascii=False).encode()
    # A newer producer's record: events carry schema_version (unknown: 99); commands and raw
    # records have none, and one that says it has a version is not of this schema either.
    body = valid(topic, ticket_id)
    body["schema_version"] = 99 if "event_id" in body else 2
    return json.dumps(body, ensure_ascii=False).encode()


def _names_a_time(field: str | None) -> bool:
    last = (field or "").rsplit(".", 1)[-1]
    return last.endswith("_at") or last == "now"


async def test_poison_on_every_consumed_topic_is_dead_lettered_and_consumers_carry_on(fault_stack, tmp_path):
    space = await new_space(fault_stack, "poison")
    services = Services(space, tmp_path)
    await services.start()
    client = AsyncMongoClient(space.mongodb_url, tz_aware=True)
    db = client[space.database]
    consumed = sorted({t for names in CONSUMES.values() for t in names})
    sent: dict[bytes, bytes] = {}  # key -> value
    try:
        producer = AIOKafkaProducer(bootstrap_servers=space.kafka, acks="all", max_request_size=2 * 1024 * 1024)
        await producer.start()
        try:
            for topic in consumed:
                for kind in KINDS:
                    key = f"TK-POISON-{topic}-{kind}".encode()
                    value = poison(topic, kind, key.decode())
                    headers = [("event_type", HEADERS[topic].encode())] if topic in HEADERS else None
                    await producer.send_and_wait(space.topic(topic), value, key=key, headers=headers)
                    sent[key] = value
        finally:
            await producer.stop()

        # Good records after the poison: a complaint that travels the whole way, its callback, a
        # tick, and a command to each command topic.
        good = raw_record("poison-good", "房山区良乡镇拱辰大街", received_at=T.isoformat())
        good_id = ticket_id_for("phone", "poison-good")
        producer = AIOKafkaProducer(bootstrap_servers=space.kafka, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(space.topic(topics.RAW), json.dumps(good, ensure_ascii=False).encode())

            async def known():  # dispatched in followup (not only on its timeline), and in metrics
                return (await db["followup_tickets"].find_one({"_id": good_id, "unit_code": {"$exists": True}})
                        and await metrics_total(db) == 1)
            await eventually(known, timeout_s=120)
            for topic in (topics.CALLBACKS, topics.ROUTING_COMMANDS, topics.FOLLOWUP_COMMANDS):
                body = valid(topic, good_id)
                if topic == topics.CALLBACKS:
                    body["surveyed_at"] = (T + timedelta(days=1)).isoformat()
                await producer.send_and_wait(space.topic(topic), json.dumps(body).encode(), key=good_id.encode())
        finally:
            await producer.stop()
        await publish_tick(space, T + timedelta(hours=1))
        await all_drained(space)

        # Each consuming service dead-lettered each poison record once, with reason and bytes.
        letters = [decode_letter(r) for r in await read_all(space, topics.DLQ)]
        ours = [letter for letter in letters if letter["key"] in sent]
        found = {(letter["service"], letter["source_topic"], letter["key"]) for letter in ours}
        wanted = {(svc, space.topic(topic), f"TK-POISON-{topic}-{kind}".encode())
                  for svc, names in CONSUMES.items() for topic in names for kind in KINDS}
        assert found == wanted, {"missing": wanted - found, "unexpected": found - wanted}
        assert len(ours) == len(wanted), "a poison record dead-lettered twice by one service"
        for letter in ours:
            original = sent[letter["key"]]
            assert letter["reason"], letter
            if len(original) > DEAD_LETTER_VALUE_LIMIT:
                assert letter["value"] == original[:DEAD_LETTER_VALUE_LIMIT]
                assert letter["value_truncated_from"] == len(original)
            else:
                assert letter["value"] == original and letter["value_truncated_from"] is None
        versions = [letter for letter in ours if letter["key"].endswith(b"unknown_version")]
        assert all((letter["field"] or "").endswith("schema_version") for letter in versions), \
        [(letter["service"], letter["source_topic"], letter["field"], letter["reason"]) for letter in versions]
        # The far times are refused by the contract, naming a time field, not failed in a store.
        far = [letter for letter in ours if letter["key"].endswith((b"year_one", b"epoch"))]
        assert far and all(_names_a_time(letter["field"]) for letter in far), \
            [(letter["service"], letter["source_topic"], letter["field"], letter["reason"]) for letter in far]

        # ... and went on: the good ticket went the whole way and was called back, the tick moved
        # business time, both commands were answered.
        followup_state = await db["followup_tickets"].find_one({"_id": good_id})
        assert followup_state["state"] == "closed"
        assert await metrics_total(db, "callbacks") == 1
        clock = await db["followup_scheduler"].find_one({"_id": "business_time"})
        assert clock["now"] == T + timedelta(hours=1)
        for topic, refusal in ((topics.TICKETS_ROUTING, b"CommandRefused"),
                               (topics.TICKETS_FOLLOWUP, b"FollowupCommandRefused")):
            answers = [r for r in await read_all(space, topic)
                       if dict(r.headers or ()).get("event_type") == refusal and f"c-{good_id}".encode() in r.value]
            assert answers, f"no answer to the good command on {topic}"
        # No poison record became a ticket anywhere.
        assert await db["followup_tickets"].count_documents({}) == 1
        assert await metrics_total(db) == 1
    finally:
        await services.stop()
        await client.close()
