from datetime import datetime

import pytest
from pydantic import ValidationError

from hotline.catalogue import default_catalogue
from hotline.contracts import (
    CallbackResult,
    RawRecord,
    deterministic_event_id,
    mask_phone,
    ticket_id_for,
)
from hotline.contracts import topics
from hotline.topology import all_topic_specs


def test_ids_are_deterministic_and_distinct():
    assert ticket_id_for("phone", "A1") == ticket_id_for("phone", "A1")
    assert ticket_id_for("phone", "A1") != ticket_id_for("web", "A1")
    assert deterministic_event_id("X", "a", "b") == deterministic_event_id("X", "a", "b")
    assert deterministic_event_id("X", "a", "b") != deterministic_event_id("Y", "a", "b")


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812341234", "138****1234"), ("+86 138-1234-5678", "861****5678"), ("123", "***"), (None, None)],
)
def test_phone_masking(phone, masked):
    assert mask_phone(phone) == masked


def test_times_without_a_zone_are_refused():
    with pytest.raises(ValidationError, match="time zone"):
        CallbackResult(ticket_id="T", resolved=True, satisfaction="satisfied",
                       surveyed_at=datetime(2026, 1, 1, 8, 0))


def test_raw_record_refuses_unknown_fields_and_channels():
    base = {"channel": "phone", "source_id": "1", "received_at": "2026-11-01T08:00:00+08:00",
            "content": "x"}
    RawRecord.model_validate(base)
    with pytest.raises(ValidationError):
        RawRecord.model_validate({**base, "channel": "fax"})
    with pytest.raises(ValidationError):
        RawRecord.model_validate({**base, "surprise": 1})


def test_every_unit_district_and_triage_has_a_queue_topic():
    names = {spec.name: spec.partitions for spec in all_topic_specs()}
    assert names["queue.110111008"] == 1
    assert names["queue.110111"] == 1
    assert names[f"queue.{topics.TRIAGE_QUEUE_CODE}"] == 1
    assert names[topics.RAW] == topics.TICKET_PARTITIONS
    assert len(names) == len(topics.core_topics()) + 349 + 16 + len(default_catalogue().units) + 1
    assert names["queue.m-housing"] == 1 and names["queue.e-water"] == 1
    assert {s.name for s in all_topic_specs("p-")} == {f"p-{n}" for n in names}
