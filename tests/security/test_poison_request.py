"""The request that once stalled three services for good: a record that passed validation with
`received_at` 0001-01-01T00:00:00+14:00 (year 0 in UTC, which the store cannot encode). It is now
refused where it enters, and the tickets behind it on its partition go through."""

import base64
import json

import pytest

from hotline.contracts import ticket_id_for, topics
from hotline.devkit import raw_record
from tests.support import eventually, publish, read_topic

pytestmark = pytest.mark.stack

YEAR_ZERO = "0001-01-01T00:00:00+14:00"


async def test_the_year_zero_record_is_dead_lettered_and_the_next_ticket_on_its_partition_goes_through(
        namespace, services, db):
    poison = raw_record("poison-year-zero", "房山区良乡镇拱辰大街", received_at=YEAR_ZERO)
    good = raw_record("after-year-zero", "房山区良乡镇拱辰大街")
    # One key: both on one partition, the good one behind the poison.
    await publish(namespace.kafka, namespace.prefix + topics.RAW, poison, good, key=b"one-partition")

    good_id = ticket_id_for("phone", "after-year-zero")
    await eventually(lambda: db["followup_tickets"].find_one({"_id": good_id, "unit_code": {"$exists": True}}),
                     timeout_s=60)
    def poisoned(records):  # a letter carries the original bytes in base64
        return [letter for letter in map(json.loads, (r.value for r in records))
                if b"poison-year-zero" in base64.b64decode(letter["value_b64"])]

    ours = poisoned(await read_topic(namespace.kafka, namespace.prefix + topics.DLQ, until=poisoned))
    assert [(letter["service"], letter["field"]) for letter in ours] == [("intake", "received_at")], ours
    # Nothing of the poison escaped downstream.
    poison_id = ticket_id_for("phone", "poison-year-zero")
    received = await read_topic(namespace.kafka, namespace.prefix + topics.TICKETS_RECEIVED,
                                until=lambda rs: any(good_id.encode() == r.key for r in rs))
    assert not [r for r in received if r.key == poison_id.encode()]
    assert await db["intake_tickets"].find_one({"_id": poison_id}) is None


@pytest.mark.parametrize("when", [YEAR_ZERO, "1970-01-01T08:00:00+08:00", "9999-12-31T23:59:59-14:00"])
def test_every_service_refuses_the_same_far_times_in_its_contract(when):
    from pydantic import ValidationError

    from hotline.contracts import CallbackResult, RawRecord
    from hotline.contracts.clock import BusinessTimeTick

    for model, body in [
        (RawRecord, raw_record("far", "东城区", received_at=when)),
        (CallbackResult, {"ticket_id": "TK1", "resolved": True, "satisfaction": "satisfied", "surveyed_at": when}),
        (BusinessTimeTick, {"now": when, "source": "test"}),
    ]:
        with pytest.raises(ValidationError) as refused:
            model.model_validate_json(json.dumps(body))
        assert refused.value.errors()[0]["loc"][-1] in ("received_at", "surveyed_at", "now")
