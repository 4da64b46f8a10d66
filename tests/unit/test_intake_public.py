"""Intake's public face, pure: which tickets Open311 shows, what of their text, the raw record's
refusal of characters XML 1.0 forbids, and an XML writer that never writes one."""

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from hotline.contracts import RawRecord, RecordCollectedDemands, RecordContact, TicketReceived
from hotline.contracts.text import xml_safe
from hotline.gazetteer import beijing
from hotline.ingest.admission import normalize
from hotline.intake.open311.render import serialize
from hotline.intake.open311.service_requests import request_object
from hotline.intake.public import is_public
from hotline.intake.store import received_document
from hotline.privacy import NAME, PHONE
from hotline.taxonomy import default_taxonomy

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
FORBIDDEN = [*map(chr, [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]), "\ufffe", "\uffff"]
# Allowed by XML 1.0, odd as they are: DEL, C1 controls, a BOM inside text, U+FFFD.
ALLOWED = ["\t", "\n", "\r", "\x7f", "\x85", "\ufeff", "\ufffd", "😀"]
TEXT_FIELDS = ["content", "address", "community", "source_id", "district", "category_hint",
               "caller.name", "caller.phone"]


def raw(**overrides) -> dict:
    record = {"channel": "open311", "source_id": "o311-1", "received_at": NOW.isoformat(),
              "content": "家里停水两天了，请回电13912345678。", "address": "房山区良乡镇拱辰大街",
              "caller": {"phone": "13912345678", "name": "欧阳翠花"}}
    for field, value in overrides.items():
        if field.startswith("caller_"):
            record["caller"][field.removeprefix("caller_")] = value
        else:
            record[field] = value
    return record


def with_text(field: str, value: str) -> dict:
    return raw(**{field.replace(".", "_"): value})


def ticket(**overrides) -> TicketReceived:
    made = normalize(json.dumps(raw(**overrides), ensure_ascii=False).encode(), now=NOW, gazetteer=beijing())
    assert isinstance(made, TicketReceived), made
    return made


# -- the contract --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("char", FORBIDDEN, ids=lambda c: f"U+{ord(c):04X}")
def test_a_raw_record_refuses_a_character_xml_forbids_in_any_text_field(field, char):
    with pytest.raises(ValidationError) as caught:
        RawRecord.model_validate(with_text(field, f"ab{char}c"))
    [error] = caught.value.errors()
    assert ".".join(map(str, error["loc"])) == field
    assert f"U+{ord(char):04X} at character 2" in error["msg"] and "XML 1.0 forbids" in error["msg"]


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_a_raw_record_accepts_what_xml_allows(field):
    RawRecord.model_validate(with_text(field, "a" + "".join(ALLOWED) + "b"))


@pytest.mark.parametrize(("model", "data", "loc"), [
    (RecordCollectedDemands, {"unit_code": "110111008", "demands": [{"description": "建个学校\x00"}]},
     ("demands", 0, "description")),
    (RecordCollectedDemands, {"unit_code": "110111008", "demands": [{"description": "建", "place": "\x0b"}]},
     ("demands", 0, "place")),
    (RecordContact, {"unit_code": "110111008", "kind": "phone", "contacted_at": NOW.isoformat(), "staff_id": "s\x01"},
     ("staff_id",)),
])
def test_what_followup_passes_on_into_a_raw_record_is_refused_at_its_door(model, data, loc):
    """A demand collected on a visit becomes a raw record (with the contact's staff id): refused
    when the unit sends it, not a failure when followup builds the record."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    assert caught.value.errors()[0]["loc"] == loc


def test_intake_dead_letters_name_the_field():
    payload = json.dumps(raw(caller_name="王\x00"), ensure_ascii=False).encode()
    outcome = normalize(payload, now=NOW, gazetteer=beijing())
    assert (outcome.field, outcome.channel) == ("caller.name", "open311")
    assert "U+0000" in outcome.reason


@given(text=st.text(alphabet=st.characters(codec="utf-8")))
def test_the_xml_writer_always_writes_well_formed_xml(text):
    body = serialize("xml", [{"description": text}], root="service_requests", item="request")
    shown = ET.fromstring(body).find("request").findtext("description") or ""
    # XML parsers read every CR as LF; nothing else changes but the forbidden characters.
    assert shown == xml_safe(text).replace("\r\n", "\n").replace("\r", "\n")


# -- what is public --------------------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "public"), [
    ({"channel": "open311", "anonymous": False}, True),
    ({"channel": "open311", "anonymous": True}, False),
    ({"channel": "open311"}, False),  # stored before intake kept `anonymous`
    ({"channel": "phone", "anonymous": False}, False),
    ({"channel": "wechat", "anonymous": False}, False),
    ({"anonymous": False}, False),
])
def test_only_open311_requests_whose_caller_did_not_ask_for_anonymity_are_public(doc, public):
    assert is_public(doc) is public


def test_a_public_ticket_is_stored_scrubbed_and_a_hidden_one_without_text():
    content = "我是欧阳翠花，电话+86 139 1234 5678，2026-03-02起停水。"
    public = received_document(ticket(content=content, community="云景台小区 联系人：李四"))
    assert public["anonymous"] is False
    assert public["content"] == f"我是{NAME}，电话{PHONE}，2026-03-02起停水。"
    assert public["community"] == f"云景台小区 联系人：{NAME}"
    assert public["address"] == "房山区良乡镇拱辰大街"
    for hidden in (ticket(channel="phone", content=content), ticket(anonymous=True, content=content)):
        doc = received_document(hidden)
        assert (doc["content"], doc["address"], doc["community"]) == (None, None, None)
        assert doc["anonymous"] is hidden.anonymous and not is_public(doc)


def test_an_old_records_text_is_scrubbed_when_shown():
    doc = {"_id": "TK1", "received_at": NOW, "category": "noise", "channel": "open311", "anonymous": False,
           "content": "噪音扰民，回电(010) 6512 3456", "address": "拱辰大街12号，wx: lm_2026x",
           "status_notes": "已办结，回访市民满意"}
    shown = request_object(doc, taxonomy=default_taxonomy(), gazetteer=beijing())
    assert shown["description"] == f"噪音扰民，回电{PHONE}"
    assert shown["address"] == "拱辰大街12号，wx: [微信]"
    assert shown["status_notes"] == "已办结，回访市民满意"
