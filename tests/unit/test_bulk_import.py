"""Bulk import's pure part: real rows of the three sample exports through the shipped mappings."""

import asyncio
import csv
import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.ingest.mapping import MappingError, load_mapping, parse_mapping, shipped_mappings
from hotline.ingest.records import RowRejection, map_row
from hotline.intake.bulk_import import BulkImportError, run_import

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
FILES = {
    "sf311": ("cases_sample_10000.csv", "CaseID"),
    "nyc311-export": ("nyc311_2022-05-01_export.csv", "Unique Key"),
    "nyc311-api": ("nyc311_2024-04-16_api.csv", "unique_key"),
}


@cache
def sample_rows(mapping: str) -> dict[str, dict]:
    """Every row of a sample file, by its case id."""
    name, key = FILES[mapping]
    with (SAMPLES / name).open(encoding="utf-8", newline="") as f:
        return {row[key]: row for row in csv.DictReader(f)}


def real_row(mapping: str, case_id: str, **changes: str) -> dict:
    return {**sample_rows(mapping)[case_id], **changes}


def test_the_three_mappings_are_shipped():
    assert {"sf311", "nyc311-export", "nyc311-api"} <= set(shipped_mappings())
    for name in shipped_mappings():
        assert load_mapping(name).name


@pytest.mark.parametrize(
    ("mapping", "case_id", "expected"),
    [
        # San Francisco: summer time (PDT, -07:00), point column, neighbourhood, supervisor district.
        ("sf311", "3600298", {
            "channel": "phone", "source_id": "sf311-3600298", "received_at": "2014-04-30T14:51:52-07:00",
            "content": "Sewer Issues / Odor / From_other_location",
            "address": "420 BERRY ST, SAN FRANCISCO, CA, 94107", "community": "Mission Bay",
            "district": "Supervisor District 6", "category_hint": "Sewer Issues",
            "lat": 37.774007256355, "lon": -122.395680023339,
        }),
        # Winter time (PST, -08:00); a repeated part of the content is dropped.
        ("sf311", "5489340", {
            "source_id": "sf311-5489340", "received_at": "2016-01-21T14:27:45-08:00",
            "content": "Street Defects / Pavement_Defect", "address": "Intersection of POWELL ST and PACIFIC AVE",
        }),
        # Blank Point: no coordinates, the row is still accepted.
        ("sf311", "5478775", {"channel": "web", "address": "Not associated with a specific address"}),
        # Blank Request.Type: the content is built from what is there.
        ("sf311", "2749223", {"content": "Abandoned Vehicle"}),
        # A Status.Notes cell with embedded newlines does not disturb the row; blank Neighborhood.
        ("sf311", "2418830", {"source_id": "sf311-2418830"}),
        # New York CSV export: summer time (EDT, -04:00), borough as district, community board.
        ("nyc311-export", "54049402", {
            "channel": "web", "source_id": "nyc311-54049402", "received_at": "2022-05-01T00:00:03-04:00",
            "content": "Noise - Residential / Loud Music/Party / Residential Building/House",
            "address": "1006 GERARD AVENUE", "community": "04 BRONX", "district": "BRONX",
            "category_hint": "Noise - Residential", "lat": 40.83065331987539, "lon": -73.92308231033165,
        }),
        ("nyc311-export", "54046813", {"channel": "app"}),
        ("nyc311-export", "54052737", {"channel": "phone", "address": "99 NORTH PORTLAND AVENUE"}),
        # UNKNOWN channel takes the default; no coordinates at all.
        ("nyc311-export", "54053391", {"channel": "enterprise", "content": "Street Condition / Pothole"}),
        # No incident address: the intersection, the bridge, and N/A dropped from the content.
        ("nyc311-export", "54049833", {"address": "Intersection of 5 AVENUE and WEST 24 STREET"}),
        ("nyc311-export", "54049277", {
            "address": "Queensboro/59th St Br, Manhattan Bound", "community": "Unspecified MANHATTAN",
        }),
        ("nyc311-export", "54046236", {"content": "Encampment / Subway"}),
        # New York API export: ISO times with milliseconds, location with embedded newlines.
        ("nyc311-api", "60879417", {
            "channel": "enterprise", "source_id": "nyc311-60879417", "received_at": "2024-04-16T03:03:15-04:00",
            "address": "Intersection of 133 AVENUE and 231 STREET", "district": "QUEENS",
            "lat": 40.67679280229251, "lon": -73.7379342313789,
        }),
        ("nyc311-api", "60868245", {"channel": "phone", "received_at": "2024-04-16T01:21:13-04:00"}),
        ("nyc311-api", "60872793", {"channel": "web", "address": "2026 LEXINGTON AVENUE"}),
        # Borough "Unspecified" is a blank value: no district; no address, no coordinates.
        ("nyc311-api", "60868035", {"channel": "app", "address": "", "community": "0 Unspecified"}),
    ],
)
def test_real_rows_map_to_raw_records(mapping, case_id, expected):
    record = map_row(real_row(mapping, case_id), load_mapping(mapping))
    assert isinstance(record, dict), record
    assert {k: record.get(k) for k in expected} == expected
    assert datetime.fromisoformat(record["received_at"]).utcoffset() is not None


@pytest.mark.parametrize(
    ("case_id", "source", "channel"),
    [
        ("3600298", "Voice In", "phone"),
        ("534965", "Web Self Service", "web"),
        ("623577", "e-mail In", "web"),
        ("3449984", "Open311", "open311"),
        ("673156", "Twitter", "weibo"),
        ("4357926", "Integrated Agency", "enterprise"),
        ("5501829", "Other Department", "enterprise"),
        ("5320420", "Mail In", "enterprise"),
        ("3600298", "  VOICE IN ", "phone"),  # case and spaces do not matter
        ("3600298", "Carrier Pigeon", "enterprise"),  # an unmapped value takes the default
    ],
)
def test_sf_channels(case_id, source, channel):
    row = real_row("sf311", case_id, Source=source)
    assert map_row(row, load_mapping("sf311"))["channel"] == channel


def test_both_nyc_formats_give_a_request_the_same_source_id_channel_and_time():
    """Both NYC formats give the same source id and channel for the same Unique Key."""
    export = load_mapping("nyc311-export")
    api = load_mapping("nyc311-api")
    row = real_row("nyc311-export", "54049402")
    as_api = {name.lower().replace(" ", "_").replace("(", "").replace(")", ""): v for name, v in row.items()}
    as_api["created_date"] = "2022-05-01T00:00:03.000"
    a, b = map_row(row, export), map_row(as_api, api)
    assert (a["channel"], a["source_id"], a["received_at"]) == (b["channel"], b["source_id"], b["received_at"])


@pytest.mark.parametrize(
    ("mapping", "case_id", "changes", "field", "reason"),
    [
        ("sf311", "3600298", {"CaseID": " "}, "source_id", "blank (template 'sf311-{CaseID}')"),
        ("sf311", "3600298", {"Opened": ""}, "received_at", "blank (column 'Opened')"),
        ("sf311", "3600298", {"Opened": "2014-04-30 14:51"}, "received_at", "not in a time format"),
        ("sf311", "3600298", {"Opened": "02/30/2014 02:51:52 PM"}, "received_at", "not in a time format"),
        ("sf311", "3600298", {"Category": "", "Request.Type": "", "Request.Details": ""}, "content", "blank (join"),
        ("sf311", "3600298", {"Point": "somewhere"}, "lat", "no '(a, b)' point (column 'Point')"),
        ("sf311", "3600298", {"Point": "(nan, 1)"}, "lat", "no '(a, b)' point"),
        ("nyc311-export", "54049402", {"Latitude": "north"}, "lat", "not a number (column 'Latitude')"),
        ("nyc311-export", "54049402", {"Longitude": "1e999"}, "lon", "not a number"),
        ("nyc311-api", "60879417", {"unique_key": ""}, "source_id", "blank"),
        ("nyc311-api", "60879417", {"created_date": "16/04/2024"}, "received_at", "not in a time format"),
    ],
)
def test_blank_and_malformed_columns_are_rejected_with_field_and_reason(mapping, case_id, changes, field, reason):
    result = map_row(real_row(mapping, case_id, **changes), load_mapping(mapping))
    assert isinstance(result, RowRejection)
    assert result.field == field
    assert result.reason.startswith(reason), result.reason


def test_a_missing_column_counts_as_blank():
    row = real_row("sf311", "3600298")
    del row["Opened"]
    assert map_row(row, load_mapping("sf311")).field == "received_at"


def test_coordinates_fall_back_to_the_point_and_zero_means_none():
    api = load_mapping("nyc311-api")
    row = real_row("nyc311-api", "60879417", latitude="", longitude="")
    assert (map_row(row, api)["lat"], map_row(row, api)["lon"]) == (40.67679280229251, -73.7379342313789)
    row = real_row("nyc311-api", "60879417", latitude="0", longitude="0.0")
    assert "lat" not in map_row(row, api)
    lon_first = parse_mapping(SMALL.replace("coordinates: {point: p}", "coordinates: {point: p, order: 'lon,lat'}"))
    record = map_row({"id": "1", "t": "2024/5/1 8:00:00", "text": "x", "p": "POINT (116.1 39.7)"}, lon_first)
    assert (record["lat"], record["lon"]) == (39.7, 116.1)


@pytest.mark.parametrize(
    ("opened", "iso"),
    [
        ("11/02/2014 01:30:00 AM", "2014-11-02T01:30:00-07:00"),  # repeated hour: the first (summer) one
        ("11/02/2014 02:30:00 AM", "2014-11-02T02:30:00-08:00"),
        ("03/09/2014 01:59:59 AM", "2014-03-09T01:59:59-08:00"),
        ("03/09/2014 03:00:00 AM", "2014-03-09T03:00:00-07:00"),
    ],
)
def test_naive_local_times_across_daylight_saving_changes(opened, iso):
    record = map_row(real_row("sf311", "3600298", Opened=opened), load_mapping("sf311"))
    assert record["received_at"] == iso


def test_a_time_in_the_skipped_spring_hour_still_maps_to_an_aware_time():
    record = map_row(real_row("sf311", "3600298", Opened="03/09/2014 02:30:00 AM"), load_mapping("sf311"))
    assert datetime.fromisoformat(record["received_at"]).utcoffset() in (timedelta(hours=-8), timedelta(hours=-7))


# A 12345-style export (Chinese columns, GB18030, Beijing time): only a mapping, no code.
SMALL = """
name: 12345 work orders (test)
encoding: gb18030
timezone: Asia/Shanghai
time_formats: ["%Y/%m/%d %H:%M:%S", "iso"]
blank_values: [无]
required: [address]
fields:
  source_id: {template: "bj-{id}"}
  received_at: t
  content: {join: [{template: "【{topic}】"}, text], separator: ""}
  channel: {column: ch, values: {热线电话: phone, 微信: wechat}, default: phone}
  address: {first_of: [addr, {value: 北京市}]}
  district: district
  request_type: {column: kind, values: {投诉: complaint, 咨询: consultation}}
  coordinates: {point: p}
  caller: {phone: tel, name: who}
  anonymous: {column: anon}
  answered_directly: {value: false}
"""


def test_a_12345_export_needs_only_a_mapping():
    mapping = parse_mapping(SMALL)
    row = {"id": "2549", "t": "2019/4/25 9:32:09", "topic": "物业", "text": "\n\t小区停车费乱收费\n", "ch": "微信",
           "addr": "房山区良乡镇云景台小区", "district": "房山区", "kind": "投诉", "p": "",
           "tel": "13800001234", "who": "王先生", "anon": "是"}
    assert map_row(row, mapping) == {
        "channel": "wechat", "source_id": "bj-2549", "received_at": "2019-04-25T09:32:09+08:00",
        "content": "【物业】小区停车费乱收费", "address": "房山区良乡镇云景台小区", "district": "房山区",
        "request_type": "complaint", "caller": {"phone": "13800001234", "name": "王先生"}, "anonymous": True,
    }
    bare = map_row({**row, "topic": "无", "addr": "", "kind": "", "anon": "否", "tel": ""}, mapping)
    assert (bare["content"], bare["address"], "request_type" in bare, "anonymous" in bare) == (
        "小区停车费乱收费", "北京市", False, False)
    assert map_row({**row, "kind": "点赞"}, mapping) == RowRejection(
        "request_type", "no mapping for the value and no default", "点赞")


def test_a_required_optional_field_rejects_blank_rows():
    mapping = parse_mapping(SMALL.replace("{first_of: [addr, {value: 北京市}]}", "addr"))
    result = map_row({"id": "1", "t": "2024/5/1 8:00:00", "text": "x", "addr": " "}, mapping)
    assert result == RowRejection("address", "blank, and the mapping requires it")


def test_templates_escape_braces_and_blank_out_on_a_blank_column():
    mapping = parse_mapping(SMALL.replace('"bj-{id}"', '"{{bj}}-{id}-{t2}"'))
    assert map_row({"id": "7", "t2": "x", "t": "2024/5/1 8:00:00", "text": "x", "addr": "a"}, mapping)[
        "source_id"] == "{bj}-7-x"
    assert map_row({"id": "7", "t2": "", "t": "2024/5/1 8:00:00", "text": "x", "addr": "a"}, mapping).field == (
        "source_id")


def test_an_unmapped_channel_without_default_is_rejected():
    mapping = parse_mapping(SMALL.replace(", default: phone}", "}"))
    result = map_row({"id": "1", "t": "2024/5/1 8:00:00", "text": "x", "addr": "a", "ch": "传真"}, mapping)
    assert result == RowRejection("channel", "no mapping for the value and no default", "传真")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("timezone: Asia/Shanghai", "timezone: Asia/Beijing"), "timezone: unknown time zone 'Asia/Beijing'"),
        (("encoding: gb18030", "encoding: klingon"), "encoding: unknown encoding 'klingon'"),
        (('time_formats: ["%Y/%m/%d %H:%M:%S", "iso"]', "time_formats: []"), "time_formats: List should have at least 1"),
        (("  received_at: t\n", ""), "fields.received_at: Field required"),
        (("  source_id: {template: \"bj-{id}\"}", "  source_id: {template: \"bj-{id\"}"), "fields.source_id: unbalanced"),
        (("  received_at: t", "  received_at: {column: t, value: x}"), "fields.received_at: give exactly one of"),
        (("微信: wechat", "微信: fax"), "fields.channel.values.微信: Input should be 'phone'"),
        (("热线电话: phone", "ON: phone"), "Input should be a valid string (YAML read True: quote it"),
        (("required: [address]", "required: [caller]"), "required.0: Input should be 'address'"),
        (("  address: {first_of", "  adress: {first_of"), "fields.adress: Extra inputs are not permitted"),
        (("  coordinates: {point: p}", "  coordinates: {lat: la}"), "fields.coordinates: give lat and lon together"),
        (("  content: {join: [", "  content: {joins: ["), "fields.content.joins: Extra inputs are not permitted"),
        (("name: 12345 work orders (test)\n", ""), "name: Field required"),
    ],
)
def test_a_bad_mapping_gives_an_error_naming_the_key(change, message):
    old, new = change
    assert old in SMALL
    with pytest.raises(MappingError) as info:
        parse_mapping(SMALL.replace(old, new), where="bad.yaml")
    assert str(info.value).startswith("bad.yaml is not a valid mapping")
    assert message in str(info.value), str(info.value)


def test_mapping_files_that_cannot_be_found_or_read(tmp_path):
    with pytest.raises(MappingError, match="no shipped mapping of that name .shipped: .*sf311"):
        load_mapping("chicago311")
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError, match="broken.yaml is not valid YAML"):
        load_mapping(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(MappingError, match="must be a YAML mapping of keys"):
        load_mapping(str(tmp_path / "list.yaml"))


SHIPPED = {name: load_mapping(name) for name in FILES}


@settings(max_examples=200)
@given(
    mapping_name=st.sampled_from(["sf311", "nyc311-export", "nyc311-api"]),
    data=st.data(),
)
def test_mapping_arbitrary_rows_never_raises(mapping_name, data):
    mapping = SHIPPED[mapping_name]
    cell = st.one_of(
        st.none(), st.text(max_size=30), st.sampled_from(["", " ", "N/A", "(1.5, 2)", "(0, 0)", "nan", "1e400"]),
        st.sampled_from(["04/30/2014 02:51:52 PM", "2024-04-16T03:03:15.000", "13/13/2013 13:13:13 PM"]),
    )
    keys = st.one_of(st.sampled_from(sorted(mapping.columns())), st.text(max_size=10), st.none())
    row = data.draw(st.dictionaries(keys, cell, max_size=20))
    result = map_row(row, mapping)
    assert isinstance(result, dict | RowRejection)
    if isinstance(result, dict):
        json.dumps(result, ensure_ascii=False)
        assert datetime.fromisoformat(result["received_at"]).utcoffset() is not None
        assert result["source_id"] and result["content"]


# The runner without a broker (--dry-run): a small 12345-style file on disk.

CSV_12345 = (
    "id,t,topic,text,ch,addr,district,kind,p,tel,who,anon\n"
    "1,2024/5/1 8:00:00,物业,小区门口道路破损,热线电话,房山区良乡镇云景台小区,,投诉,,13800001234,王,否\n"
    '2,2024/5/1 8:01:00,环境,"夜间施工\n噪音扰民",微信,朝阳区八里庄街道,朝阳区,,"(39.9, 116.5)",,,\n'
    "3,2024/5/1 8:02:00,,,热线电话,东城区,,,,,,\n"  # no content
    "4,yesterday,交通,公交站牌损坏,热线电话,海淀区,,,,,,\n"
    "5,2024/5/1 8:04:00,交通,too few fields\n"
    "\n"
    "6,2099/5/1 8:05:00,交通,公交站牌损坏,热线电话,海淀区,,,,,,\n"  # in the future: the contract's bound
    "7,2024/5/1 8:06:00,交通,公交站牌损坏,热线电话,海淀区,,,,13800001234,,\n"
)


def _import(tmp_path, text: str, mapping_text: str = SMALL, **options):
    path = tmp_path / "orders.csv"
    path.write_bytes(text.encode("gb18030"))
    return asyncio.run(run_import(path, parse_mapping(mapping_text), dry_run=True, **options))


def test_dry_run_counts_accepted_and_rejected_rows_and_writes_the_rejects(tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    summary = _import(tmp_path, CSV_12345, rejects=rejects)
    assert (summary.rows_read, summary.accepted, summary.published, summary.topic) == (7, 3, 0, None)
    assert summary.rejected == {
        "content: blank (join topic, text)": 1,
        "received_at: not in a time format of the mapping (%Y/%m/%d %H:%M:%S, iso)": 1,
        "row: wrong number of fields": 1,
        "received_at: Value error, is in the future (more than 366 days ahead of now)": 1,
    }
    lines = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(r["row"], r["line"], r["field"]) for r in lines] == [
        (3, 5, "content"), (4, 6, "received_at"), (5, 7, "row"), (6, 9, "received_at")]
    assert lines[1]["value"] == "yesterday"
    assert lines[2]["value"] == "4 fields, the header has 12"


def test_limit_stops_after_n_rows(tmp_path):
    assert _import(tmp_path, CSV_12345, limit=2).rows_read == 2


def test_a_file_the_mapping_does_not_fit_is_an_error(tmp_path):
    with pytest.raises(BulkImportError, match="reads columns that orders.csv does not have: tel, who"):
        _import(tmp_path, CSV_12345.replace(",tel,who,", ",phone,name,"))
    with pytest.raises(BulkImportError, match="orders.csv is empty"):
        _import(tmp_path, "")
    with pytest.raises(BulkImportError, match="cannot read .*nothing.csv"):
        asyncio.run(run_import(tmp_path / "nothing.csv", parse_mapping(SMALL), dry_run=True))


def test_a_file_in_another_encoding_is_an_error(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(CSV_12345.encode("gb18030"))
    utf8 = parse_mapping(SMALL.replace("encoding: gb18030", "encoding: utf-8"))
    with pytest.raises(BulkImportError, match="cannot read .*orders.csv: it is not utf-8 text .*set `encoding`"):
        asyncio.run(run_import(path, utf8, dry_run=True))
