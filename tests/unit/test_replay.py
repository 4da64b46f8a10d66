"""Replay mappings against their shipped samples, the lifecycle messages, units and cities (pure)."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
import yaml

from hotline.catalogue import Catalogue, load_catalogue
from hotline.city import BEIJING, CityError, deployment_catalogue_path, load_city
from hotline.contracts import TicketReceived, ticket_id_for, topics
from hotline.gazetteer import beijing
from hotline.ingest.admission import normalize
from hotline.ingest.files import flatten
from hotline.ingest.records import RowRejection
from hotline.replay.lifecycle import Stage, lifecycle_steps
from hotline.replay.mapping import (
    REPLAY_DATA,
    dispatch_tag,
    load_replay_mapping,
    map_record,
    shipped_replay_mappings,
    unit_code_for,
)
from hotline.replay.registry import catalogue_text, registered_units
from hotline.replay.runner import _windows, plan_replay, read_rows
from hotline.routing.domain import decide
from hotline.runtime.settings import ServiceSettings

SAMPLES = {"sf": "sf/sf311_cases_2000.csv", "nyc": "nyc/nyc311_2024-04-16_api.csv",
           "chicago": "chicago/chicago_requests_50.json"}
NOW = datetime(2026, 11, 27, tzinfo=UTC)


@cache
def _records(name: str) -> list:
    mapping = load_replay_mapping(name)
    city = load_city(mapping.city)
    return [map_record(row, mapping, city_code=city.code) for row in read_rows(REPLAY_DATA / SAMPLES[name], mapping)]


def test_the_three_mappings_ship():
    assert set(shipped_replay_mappings()) >= {"sf", "nyc", "chicago"}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_sample_row_maps_and_its_unit_is_in_the_city_registry(name):
    mapping = load_replay_mapping(name)
    city = load_city(mapping.city)
    records = _records(name)
    assert records and not [r for r in records if isinstance(r, RowRejection)]
    registry = registered_units(city.catalogue)
    assert {r.unit_code for r in records} == set(registry)
    catalogue = load_catalogue(city.catalogue)
    for record in records:
        assert record.ticket_id == ticket_id_for(record.raw["channel"], record.raw["source_id"])
        assert record.raw["content"].endswith(dispatch_tag(record.unit_code))
        assert record.opened_at.tzinfo is not None
        assert record.closed_at is None or record.closed_at >= record.opened_at
        assert catalogue.units_by_code[record.unit_code].zh == record.unit_name


def test_sf_rows_open_and_closed():
    records = {r.raw["source_id"]: r for r in _records("sf")}
    still_open = records["sf311-3600298"]  # Status Open, PUC - Sewer - G
    assert still_open.unit_code == "sf-puc-sewer-g" and still_open.closed_at is None
    assert still_open.opened_at == datetime(2014, 4, 30, 14, 51, 52, tzinfo=ZoneInfo("America/Los_Angeles"))
    closed = records["sf311-1167331"]  # DPW Ops Queue, closed two days later
    assert closed.unit_code == "sf-dpw-ops-queue" and closed.unit_name == "DPW Ops Queue"
    assert closed.closed_at == datetime(2012, 7, 17, 20, 15, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert closed.raw["channel"] == "phone" and closed.raw["community"] == "Outer Sunset"
    assert Counter(r.closed_at is not None for r in records.values())[True] == 1911


def test_nyc_units_by_agency_code_status_and_target_date():
    records = _records("nyc")
    units = Counter(r.unit_code for r in records)
    assert units["nyc-nypd"] == 500 and units["nyc-hpd"] == 370
    assert {r.unit_name for r in records if r.unit_code == "nyc-nypd"} == {"New York City Police Department"}
    # Only status Closed closes a request (In Progress ones may carry a closed date of a step).
    assert sum(r.closed_at is not None for r in records) == 292
    with_due = [r for r in records if r.due_at is not None]
    assert len(with_due) == 16 and all(r.due_at > r.opened_at for r in with_due)


def test_chicago_json_closed_at_the_closed_note():
    records = {r.raw["source_id"]: r for r in _records("chicago")}
    first = records["chicago311-14-00684314"]
    # The name is too long for a unit code: cut, with a digest of the name.
    assert first.unit_code == unit_code_for("chicago", "Division of In-House Construction CDOT")
    assert first.unit_code.startswith("chicago-division-of-in-house") and len(first.unit_code) == 41
    assert first.raw["channel"] == "phone" and first.raw["lat"] == pytest.approx(41.74685764200721)
    assert first.closed_at is not None and first.closed_at > first.opened_at
    assert sum(r.closed_at is not None for r in records.values()) == 49


def test_flatten_dots_nested_keys_and_finds_list_items_by_type():
    cells = flatten({"a": {"b": 1.5, "c": True}, "notes": [{"type": "opened", "at": "x"},
                                                           {"type": "closed", "at": "y"},
                                                           {"type": "closed", "at": "z"}]})
    assert cells["a.b"] == "1.5" and cells["a.c"] == "true"
    assert cells["notes.1.at"] == "y" and cells["notes[type=closed].at"] == "y"


def test_unit_codes_are_stable_valid_and_unique_for_long_names():
    assert unit_code_for("sf", "DPW Ops Queue") == "sf-dpw-ops-queue"
    long_a = unit_code_for("sf", "Department of Something Very Long Indeed Alpha")
    long_b = unit_code_for("sf", "Department of Something Very Long Indeed Beta")
    assert long_a != long_b and len(long_a) <= 41 and long_a == unit_code_for("sf", "Department of Something Very Long Indeed Alpha")
    assert unit_code_for("sf", "!!!").startswith("sf-")


def _received(record) -> TicketReceived:
    ticket = normalize(json.dumps(record.raw).encode(), now=NOW, gazetteer=beijing())
    assert isinstance(ticket, TicketReceived)
    return ticket


@pytest.mark.parametrize("name", list(SAMPLES))
def test_the_city_catalogue_dispatches_each_record_to_its_history_unit(name):
    city = load_city(load_replay_mapping(name).city)
    catalogue = load_catalogue(city.catalogue)
    for record in _records(name)[:60]:
        dispatch = decide(_received(record), beijing(), catalogue)
        assert dispatch.lead.unit_code == record.unit_code and dispatch.lead.unit_kind == "department"


def test_closed_record_steps_contact_resolve_and_callback_at_the_close():
    mapping = load_replay_mapping("sf")
    record = next(r for r in _records("sf") if r.raw["source_id"] == "sf311-1167331")
    steps = lifecycle_steps(record, mapping.lifecycle, report_back_due_at=_received(record).report_back_due_at)
    assert [(s.topic, s.stage) for s in steps] == [
        (topics.RAW, Stage.OPEN), (topics.FOLLOWUP_COMMANDS, Stage.COMMAND),
        (topics.FOLLOWUP_COMMANDS, Stage.COMMAND), (topics.CALLBACKS, Stage.CALLBACK)]
    contact, resolution, callback = (s.payload for s in steps[1:])
    assert contact["action"] == "record_contact" and contact["payload"]["unit_code"] == "sf-dpw-ops-queue"
    assert contact["command_id"] == f"replay:{record.ticket_id}:contact"
    assert resolution["payload"]["resolved_at"] == record.closed_at.isoformat()
    # The close recorded a contact: the citizen's answer to "did the unit contact you" is yes.
    assert callback == {"ticket_id": record.ticket_id, "resolved": True, "satisfaction": "satisfied",
                        "contacted": True, "surveyed_at": record.closed_at.isoformat()}
    assert lifecycle_steps(record, mapping.lifecycle, report_back_due_at=None) == steps  # ids from the record


def test_a_later_target_date_becomes_an_approved_extension():
    mapping = load_replay_mapping("nyc")
    record = next(r for r in _records("nyc") if r.due_at is not None)
    due = _received(record).report_back_due_at
    assert record.due_at > due
    actions = [s.payload.get("action") for s in lifecycle_steps(record, mapping.lifecycle, report_back_due_at=due)]
    assert actions[1:3] == ["request_extension", "decide_extension"]
    later = lifecycle_steps(record, mapping.lifecycle, report_back_due_at=record.due_at + timedelta(days=1))
    assert "request_extension" not in [s.payload.get("action") for s in later]


def test_plan_orders_messages_and_keeps_only_registered_units_in_the_window():
    mapping = load_replay_mapping("chicago")
    city = load_city(mapping.city)
    rows = list(read_rows(REPLAY_DATA / SAMPLES["chicago"], mapping))
    plan = plan_replay(iter(rows), mapping, city, registered=set(registered_units(city.catalogue)), now=NOW)
    assert len(plan.records) == 50 and [s.sort_key for s in plan.steps] == sorted(s.sort_key for s in plan.steps)
    assert Counter(s.topic for s in plan.steps) == {topics.RAW: 50, topics.FOLLOWUP_COMMANDS: 98, topics.CALLBACKS: 49}
    since = datetime(2014, 6, 1, tzinfo=UTC)
    windowed = plan_replay(iter(rows), mapping, city, registered={"nobody"}, now=NOW, since=since)
    assert not windowed.records and sum(windowed.unregistered.values()) == sum(
        1 for r in plan.records if r.opened_at >= since)


def test_paced_windows_follow_the_time_factor():
    mapping = load_replay_mapping("chicago")
    city = load_city(mapping.city)
    plan = plan_replay(read_rows(REPLAY_DATA / SAMPLES["chicago"], mapping), mapping, city,
                       registered=set(registered_units(city.catalogue)), now=NOW)
    speed = 86400.0  # a day of history a second
    windows = list(_windows(plan.steps, speed))
    assert sum(len(w) for _, w in windows) == len(plan.steps)
    start = plan.steps[0].at
    for offset, window in windows:
        assert all(0 <= (s.at - start).total_seconds() / speed - offset <= 0.5 for s in window)
    assert [len(w) for _, w in _windows(plan.steps, None)] == [len(plan.steps)]


def test_city_files_and_settings(tmp_path):
    assert load_city(None) is BEIJING and BEIJING.gazetteer() is beijing()
    sf = load_city(REPLAY_DATA / "sf" / "city.yaml")
    assert sf.code == "sf" and sf.catalogue.is_absolute() and not sf.gazetteer().units
    settings = ServiceSettings(city_path=REPLAY_DATA / "sf" / "city.yaml")
    assert deployment_catalogue_path(settings) == sf.catalogue
    explicit = ServiceSettings(city_path=REPLAY_DATA / "sf" / "city.yaml", catalogue_path=tmp_path / "c.yaml")
    assert deployment_catalogue_path(explicit) == tmp_path / "c.yaml"
    bad = tmp_path / "city.yaml"
    bad.write_text("name: X\ncode: Not A Code\n")
    with pytest.raises(CityError, match="code"):
        load_city(bad)


def test_registry_text_is_a_valid_catalogue_that_ends_in_triage():
    sf = load_city(REPLAY_DATA / "sf" / "city.yaml")
    text = catalogue_text(sf, {"sf-a": ("department", "A"), "sf-b": ("department", "B")})
    catalogue = Catalogue.model_validate(yaml.safe_load(text))
    assert [u.code for u in catalogue.units] == ["sf-a", "sf-b"]
    assert catalogue.rules[0].when.keywords == (dispatch_tag("sf-a"),) and catalogue.rules[-1].lead.unit is None


def test_cli_dry_run_summarises_and_a_bad_mapping_exits_2():
    from typer.testing import CliRunner

    from hotline.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["replay", str(REPLAY_DATA / SAMPLES["chicago"]), "--mapping", "chicago",
                                 "--dry-run", "--until", "2014-07-01"])
    assert result.exit_code == 0, result.output
    assert "Chicago" in result.output and "records to replay" in result.output
    result = runner.invoke(app, ["replay", str(REPLAY_DATA / SAMPLES["chicago"]), "--mapping", "nowhere"])
    assert result.exit_code == 2 and "no replay mapping" in result.output
