"""Open311 GeoReport v2 mapping and rendering: pure functions, no I/O."""

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.contracts import BUSINESS_TZ, RequestType, TicketReceived, ticket_id_for
from hotline.gazetteer import beijing
from hotline.ingest.admission import Rejection, normalize
from hotline.intake.open311.errors import Open311Error
from hotline.intake.open311.form import parse_form, raw_record_from_form, rejection_error
from hotline.intake.open311.query import MAX_SPAN, parse_request_query
from hotline.intake.open311.render import error_body, serialize
from hotline.intake.open311.service_requests import (
    HOTLINE_AGENCY,
    agency_responsible,
    created_response,
    request_object,
)
from hotline.intake.open311.services import service_definition, service_list
from hotline.intake.store import received_document
from hotline.taxonomy import default_taxonomy

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
TAXONOMY = default_taxonomy()
GAZETTEER = beijing()
CHICAGO = json.loads((Path(__file__).parent.parent / "data" / "open311_chicago_sample.json").read_text())
# The GeoReport v2 fields of a request object (Chicago adds attributes, extended_attributes, notes).
STANDARD_REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
    "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url",
]
W3_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
PHONE, FIRST, LAST = "13800001234", "先生", "王"


def form(**overrides) -> dict[str, str]:
    base = {
        "api_key": "xyz",
        "service_code": "water_supply",
        "address_string": "房山区良乡镇拱辰大街",
        "description": "家里停水两天了，请尽快处理。",
        "first_name": FIRST,
        "last_name": LAST,
        "phone": PHONE,
        "email": "wang@example.com",
        "attribute[community]": "云景台小区",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def to_record(fields: dict[str, str]) -> dict:
    return raw_record_from_form(fields, taxonomy=TAXONOMY, now=NOW, source_id="o311-test-1")


def to_ticket(fields: dict[str, str]) -> TicketReceived:
    raw = json.dumps(to_record(fields), ensure_ascii=False).encode()
    ticket = normalize(raw, now=NOW, gazetteer=GAZETTEER)
    assert isinstance(ticket, TicketReceived), ticket
    return ticket


def stored(ticket: TicketReceived) -> dict:
    """The ticket as the intake store keeps it (times come back in UTC, as from MongoDB)."""
    doc = {"_id": ticket.ticket_id, **received_document(ticket)}
    for key in ("received_at", "updated_at", "report_back_due_at"):
        doc[key] = doc[key].astimezone(UTC)
    return doc


def error_of(call) -> Open311Error:
    with pytest.raises(Open311Error) as caught:
        call()
    return caught.value


# -- services -------------------------------------------------------------------------------


def test_the_service_list_is_the_taxonomy_with_chinese_and_english_names():
    services = service_list(TAXONOMY)
    assert [s["service_code"] for s in services] == list(TAXONOMY.categories)
    water = services[0]
    assert water["service_name"] == "供水 Water supply"
    assert (water["metadata"], water["type"]) == (True, "realtime")
    assert "24小时" in water["description"] and "24 hours" in water["description"]
    assert "停水" in water["keywords"].split(", ")
    for service in services:
        assert list(service) == [
            "service_code", "service_name", "description", "metadata", "type", "keywords", "group",
        ]
        assert all(isinstance(service[k], str) and service[k] for k in ("service_name", "group"))


def test_the_service_list_renders_as_georeport_xml():
    body = serialize("xml", service_list(TAXONOMY), root="services", item="service")
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(body)
    assert root.tag == "services"
    first = root.find("service")
    assert first.findtext("service_code") == "water_supply"
    assert first.findtext("service_name") == "供水 Water supply"
    assert first.findtext("metadata") == "true"
    assert len(root.findall("service")) == len(TAXONOMY.categories)


def test_a_service_definition_offers_community_request_type_and_anonymous():
    definition = service_definition("noise", TAXONOMY)
    assert definition["service_code"] == "noise"
    attributes = {a["code"]: a for a in definition["attributes"]}
    assert set(attributes) >= {"community", "request_type", "anonymous"}
    assert attributes["community"]["datatype"] == "string"
    assert attributes["request_type"]["datatype"] == "singlevaluelist"
    assert [v["key"] for v in attributes["request_type"]["values"]] == [t.value for t in RequestType]
    assert {v["key"] for v in attributes["anonymous"]["values"]} == {"true", "false"}
    orders = [a["order"] for a in definition["attributes"]]
    assert len(set(orders)) == len(orders) and min(orders) >= 1
    for attribute in definition["attributes"]:
        assert list(attribute) == [
            "variable", "code", "datatype", "required", "datatype_description", "order",
            "description", "values",
        ]
        assert attribute["datatype"] in {
            "string", "number", "datetime", "text", "singlevaluelist", "multivaluelist",
        }


def test_a_service_definition_renders_as_xml_with_attribute_and_value_elements():
    root = ET.fromstring(serialize("xml", service_definition("noise", TAXONOMY), root="service_definition"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "noise"
    request_type = next(a for a in root.iter("attribute") if a.findtext("code") == "request_type")
    assert [v.findtext("key") for v in request_type.iter("value")] == [t.value for t in RequestType]
    assert request_type.findtext("variable") == "true" and request_type.findtext("order") == "2"


def test_an_unknown_service_has_no_definition():
    error = error_of(lambda: service_definition("potholes", TAXONOMY))
    assert error.status == 404 and "potholes" in error.description


# -- POST requests --------------------------------------------------------------------------


def test_a_form_encoded_request_is_parsed_like_a_georeport_client_sends_it():
    body = urlencode(form(**{"attribute[anonymous]": "true", "lat": "", "media_url": "http://x/1.jpg"}))
    fields = parse_form(body.encode(), "application/x-www-form-urlencoded; charset=utf-8")
    assert fields["attribute[community]"] == "云景台小区"
    assert fields["attribute[anonymous]"] == "true"
    assert "lat" not in fields  # an empty optional argument is no argument


def test_a_json_request_may_nest_its_attributes():
    body = json.dumps({"service_code": "noise", "lat": 39.73, "long": 116.14,
                       "attribute": {"community": "云景台小区", "anonymous": False}}).encode()
    fields = parse_form(body, "application/json")
    assert fields == {"service_code": "noise", "lat": "39.73", "long": "116.14",
                      "attribute[community]": "云景台小区", "attribute[anonymous]": "false"}
    assert error_of(lambda: parse_form(b"[1]", "application/json")).status == 400
    assert error_of(lambda: parse_form(b"{", "application/json")).status == 400
    assert error_of(lambda: parse_form(b"\xff", "application/x-www-form-urlencoded")).status == 400


def test_a_form_becomes_a_raw_record_that_intake_turns_into_a_ticket():
    record = to_record(form(**{"attribute[request_type]": "help", "attribute[anonymous]": "yes",
                               "lat": "39.7246", "long": "116.1389"}))
    assert record["channel"] == "open311" and record["source_id"] == "o311-test-1"
    assert datetime.fromisoformat(record["received_at"]) == NOW
    assert record["received_at"].endswith("+08:00")
    assert record["caller"] == {"phone": PHONE, "name": "王先生"}
    assert (record["lat"], record["lon"]) == (39.7246, 116.1389)
    ticket = to_ticket(form(**{"attribute[request_type]": "help", "attribute[anonymous]": "yes"}))
    assert ticket.ticket_id == ticket_id_for("open311", "o311-test-1")
    assert ticket.category == "water_supply" and ticket.urgency == "utilities"
    assert ticket.request_type == RequestType.HELP and ticket.anonymous is True
    assert ticket.location.unit_code == "110111008"  # 良乡镇
    assert ticket.location.community == "云景台小区"
    assert ticket.report_back_due_at == NOW + timedelta(hours=24)


def test_without_a_description_the_content_is_the_service_name():
    record = to_record(form(description=None, address_string=None, lat="39.9", long="116.4"))
    assert record["content"] == "供水 Water supply" and record["address"] == ""
    assert "name" in record["caller"]


def test_latin_names_keep_their_order():
    assert to_record(form(first_name="John", last_name="Smith"))["caller"]["name"] == "John Smith"
    assert "name" not in to_record(form(first_name=None, last_name=None))["caller"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"service_code": None}, "service_code"),
        ({"service_code": "potholes"}, "service_code"),
        ({"address_string": None}, "location"),
        ({"address_string": None, "lat": "39.9"}, "long"),
        ({"long": "116.4"}, "lat"),
        ({"lat": "north", "long": "116.4"}, "lat"),
        ({"attribute[request_type]": "rant"}, "attribute[request_type]"),
        ({"attribute[anonymous]": "maybe"}, "attribute[anonymous]"),
        ({"description": "水" * 4001}, "description"),
    ],
)
def test_a_bad_form_is_refused_naming_the_parameter(overrides, named):
    error = error_of(lambda: to_record(form(**overrides)))
    assert error.status == 400 and named in error.description


@pytest.mark.parametrize(("overrides", "named"), [({"lat": "91", "long": "116"}, "lat"),
                                                 ({"lat": "39", "long": "200"}, "long")])
def test_intakes_rejection_names_the_open311_parameter(overrides, named):
    raw = json.dumps(to_record(form(**overrides)), ensure_ascii=False).encode()
    outcome = normalize(raw, now=NOW, gazetteer=GAZETTEER)
    assert isinstance(outcome, Rejection)
    error = rejection_error(outcome)
    assert error.status == 400 and error.description.startswith(f"{named}:")


def test_the_post_answer_gives_the_request_id_and_what_happens_next():
    ticket = to_ticket(form())
    answer = created_response(ticket.ticket_id, ticket.location.unit_code, ticket.location.district_code,
                              ticket.report_back_due_at, gazetteer=GAZETTEER)
    assert answer == [{"service_request_id": ticket.ticket_id, "service_notice": answer[0]["service_notice"],
                       "account_id": None}]
    assert "良乡地区" in answer[0]["service_notice"] and "2026-11-27 10:00" in answer[0]["service_notice"]
    root = ET.fromstring(serialize("xml", answer, root="service_requests", item="request"))
    assert root.find("request").findtext("service_request_id") == ticket.ticket_id
    assert root.find("request").find("account_id").text is None


# -- GET requests ---------------------------------------------------------------------------


def test_a_stored_ticket_is_a_georeport_request_with_the_chicago_field_shapes():
    ticket = to_ticket(form(lat="39.7246", long="116.1389"))
    mine = request_object(stored(ticket), taxonomy=TAXONOMY, gazetteer=GAZETTEER)
    assert list(mine) == STANDARD_REQUEST_FIELDS
    for chicago in CHICAGO["requests"]:
        # Every standard field Chicago's clients read is there, with the same JSON type.
        for key, value in chicago.items():
            if key in ("attributes", "extended_attributes", "notes"):
                continue
            assert key in mine, key
            assert mine[key] is None or type(mine[key]) is type(value), (key, mine[key], value)
        for key in ("requested_datetime", "updated_datetime"):
            assert W3_TIME.match(chicago[key]) and W3_TIME.match(mine[key])
    assert mine["service_request_id"] == ticket.ticket_id
    assert (mine["status"], mine["service_code"], mine["service_name"]) == ("open", "water_supply", "供水 Water supply")
    assert mine["description"] == "家里停水两天了，请尽快处理。"
    assert mine["agency_responsible"] == "良乡地区"
    assert mine["requested_datetime"] == "2026-11-26T10:00:00+08:00"
    assert mine["updated_datetime"] == mine["requested_datetime"]
    assert mine["expected_datetime"] == "2026-11-27T10:00:00+08:00"
    assert mine["address"] == "房山区良乡镇拱辰大街 云景台小区"
    assert (mine["lat"], mine["long"]) == (39.7246, 116.1389)


@given(phone=st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
       first=st.text(alphabet="明华伟芳娜", min_size=1, max_size=3),
       last=st.sampled_from(["王", "李", "张", "欧阳"]))
def test_a_request_object_never_carries_the_callers_phone_or_name(phone, first, last):
    ticket = to_ticket(form(phone=phone, first_name=first, last_name=last))
    assert ticket.caller.phone == phone  # it reaches the handling unit through the ticket...
    doc = stored(ticket)
    mine = request_object(doc, taxonomy=TAXONOMY, gazetteer=GAZETTEER)
    # ...but neither the store nor any answer holds it.
    for text in (json.dumps(doc, default=str, ensure_ascii=False),
                 serialize("json", [mine], root="service_requests", item="request").decode(),
                 serialize("xml", [mine], root="service_requests", item="request").decode()):
        assert phone not in text and f"{last}{first}" not in text
        assert "caller" not in text and "phone" not in text


def test_requests_render_as_xml_with_empty_elements_for_missing_values():
    mine = request_object(stored(to_ticket(form())), taxonomy=TAXONOMY, gazetteer=GAZETTEER)
    root = ET.fromstring(serialize("xml", [mine, mine], root="service_requests", item="request"))
    assert root.tag == "service_requests" and len(root.findall("request")) == 2
    request = root.find("request")
    assert [child.tag for child in request] == STANDARD_REQUEST_FIELDS
    assert request.findtext("status") == "open" and request.find("lat").text is None
    assert request.findtext("service_name") == "供水 Water supply"


def test_agency_responsible_is_the_unit_else_the_district_else_the_hotline():
    assert agency_responsible("110111008", "110111", GAZETTEER) == "良乡地区"
    assert agency_responsible(None, "110111", GAZETTEER) == "房山区"
    assert agency_responsible(None, None, GAZETTEER) == HOTLINE_AGENCY


def test_an_old_record_without_open311_fields_still_renders():
    doc = {"_id": "TK1", "received_at": NOW, "category": "noise", "unit_code": None, "district_code": None}
    mine = request_object(doc, taxonomy=TAXONOMY, gazetteer=GAZETTEER)
    assert mine["status"] == "open" and mine["description"] is None and mine["expected_datetime"] is None
    assert mine["agency_responsible"] == HOTLINE_AGENCY


def query(**params):
    return parse_request_query(params, now=NOW, taxonomy=TAXONOMY)


def test_the_request_window_defaults_to_the_last_90_days():
    assert (query().start, query().end) == (NOW - MAX_SPAN, NOW)
    start = datetime(2026, 9, 1, tzinfo=BUSINESS_TZ)
    assert query(start_date=start.isoformat()).end == start + MAX_SPAN
    assert query(end_date=start.isoformat()).start == start - MAX_SPAN
    # A `+` that the URL decoding turned into a space is put back.
    assert query(start_date="2026-09-01T00:00:00 08:00").start == start
    assert query(start_date="2026-09-01T00:00:00Z").start == datetime(2026, 9, 1, tzinfo=UTC)


def test_request_filters_are_comma_separated_and_ids_override_them():
    found = query(service_code="noise,water_supply", status="open")
    assert (found.service_codes, found.statuses) == (("noise", "water_supply"), ("open",))
    assert query(service_request_id="TK1, TK2,TK1", status="bogus").ids == ("TK1", "TK2")


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-06-01T00:00:00+08:00"}, "90 days"),
        ({"start_date": "2026-06-01T00:00:00+08:00", "end_date": "2026-01-01T00:00:00+08:00"}, "end_date"),
        ({"start_date": "2026-06-01T00:00:00"}, "start_date"),
        ({"end_date": "yesterday"}, "end_date"),
        ({"status": "pending"}, "status"),
        ({"service_code": "potholes"}, "service_code"),
    ],
)
def test_bad_request_filters_are_refused_naming_the_parameter(params, named):
    error = error_of(lambda: query(**params))
    assert error.status == 400 and named in error.description


def test_errors_render_as_georeport_error_lists():
    error = Open311Error(404, "service_request_id 'TK0' not found")
    assert json.loads(error_body("json", error)) == [{"code": 404, "description": error.description}]
    root = ET.fromstring(error_body("xml", error))
    assert root.tag == "errors"
    assert root.find("error").findtext("code") == "404"
    assert root.find("error").findtext("description") == error.description
