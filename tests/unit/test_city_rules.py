"""Each city in its own time zone with its own rules: months, days, working days, urgency classes
and deadlines come from the deployment's city file, and a city not yet registered still starts."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.city import BEIJING, CityError, deployment_catalogue, deployment_city, empty_registry, load_city
from hotline.contracts import BUSINESS_TZ
from hotline.deadlines import ClockKind, default_policy
from hotline.followup.casework.domain import business_day, day_bounds
from hotline.metrics.domain import contributions, period_of
from hotline.metrics.figures import project_facts
from hotline.metrics.projection import Projection
from hotline.replay.mapping import REPLAY_DATA
from hotline.runtime.settings import ServiceSettings
from hotline.topology import all_topic_specs

NEW_YORK = ZoneInfo("America/New_York")
NYC = load_city(REPLAY_DATA / "nyc" / "city.yaml")
# 31 January 23:00 in New York is 1 February 04:00 UTC and 12:00 in Beijing.
LATE_31_JANUARY = datetime(2025, 1, 31, 23, 0, tzinfo=NEW_YORK)
ROUTINE_FIRE_DEPARTMENT = "Fire Department routine request: annual fire safety inspection of the building"
HEATING = "Heat/hot water: no heat in the apartment, radiator cold"


def _fact(dispatched_at: datetime) -> dict:
    return {"dispatches": {"1": {"unit_code": "nyc-dot", "district_code": None, "dispatched_at": dispatched_at,
                                 "category": "roads", "response_due_at": None}}}


def test_a_new_york_ticket_late_on_31_january_counts_in_january_in_its_city():
    assert period_of(LATE_31_JANUARY, NYC.zone) == "2025-01"
    assert period_of(LATE_31_JANUARY) == "2025-02"  # Beijing's month: the bug the city's zone fixes
    assert {c.month["period"] for c in contributions(_fact(LATE_31_JANUARY), NYC.zone).values()} == {"2025-01"}
    assert list(project_facts({"T": _fact(LATE_31_JANUARY)}, NYC.zone)) == ["nyc-dot:2025-01"]


def test_the_live_projection_counts_months_in_its_zone():
    projection = Projection(NYC.zone)
    projection.apply([("T", {"dispatches.1": _fact(LATE_31_JANUARY)["dispatches"]["1"]})])
    assert set(projection.months) == {"nyc-dot:2025-01"} and set(projection.periods) == {"2025-01"}


def test_casework_days_are_the_city_days():
    assert business_day(LATE_31_JANUARY, NYC.zone) == date(2025, 1, 31)
    assert business_day(LATE_31_JANUARY) == date(2025, 2, 1)
    start, end = day_bounds(date(2025, 1, 31), NYC.zone)
    assert start <= LATE_31_JANUARY < end and start.astimezone(UTC).hour == 5


@pytest.mark.parametrize("content", [ROUTINE_FIRE_DEPARTMENT, HEATING, "Illegal Fireworks / Street/Sidewalk"])
def test_english_text_in_a_city_without_urgency_rules_is_general(content):
    taxonomy = NYC.taxonomy()
    category = taxonomy.categorize(content)
    assert taxonomy.urgency(content, category).code == "general"
    assert list(taxonomy.urgency_classes) == ["general"]
    # Beijing's rules, as they stand, would start the emergency and utilities clocks.
    assert BEIJING.taxonomy().urgency(content, category).code in {"emergency", "utilities"}


def test_an_english_routine_request_does_not_get_beijings_emergency_clock():
    taxonomy = NYC.taxonomy()
    urgency = taxonomy.urgency(ROUTINE_FIRE_DEPARTMENT, taxonomy.categorize(ROUTINE_FIRE_DEPARTMENT)).code
    due = NYC.deadline_policy().due_at(kind=ClockKind.RESPONSE, urgency=urgency, started_at=LATE_31_JANUARY,
                                       calendar=NYC.calendar())
    assert due - LATE_31_JANUARY == timedelta(hours=24)


def test_beijing_keeps_its_rules_and_chinese_calendar():
    assert BEIJING.taxonomy().urgency("燃气泄漏，有人受伤", "other").code == "emergency"
    assert BEIJING.calendar().time_zone == BUSINESS_TZ
    assert not BEIJING.calendar().is_working_day(date(2026, 10, 1))  # 国庆节


def test_a_city_without_holidays_works_monday_to_friday_in_its_own_zone():
    calendar = NYC.calendar()
    assert calendar.time_zone == NEW_YORK
    assert calendar.is_working_day(date(2026, 10, 1))  # a Thursday; China's holiday is not New York's
    friday_evening = datetime(2025, 1, 31, 20, 0, tzinfo=NEW_YORK)  # Saturday already in Beijing
    assert calendar.is_working_day(friday_evening)
    assert calendar.add_working_days(friday_evening, 1) == datetime(2025, 2, 3, 20, 0, tzinfo=NEW_YORK)
    due = default_policy().due_at(kind=ClockKind.REPORT_BACK, urgency="general", started_at=friday_evening,
                                  calendar=calendar)
    assert due.astimezone(NEW_YORK).weekday() < 5


def _city(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "city.yaml"
    path.write_text("name: Boston\ncode: bos\ntimezone: America/New_York\nplaces: none\n"
                    f"catalogue: catalogue.yaml\n{extra}", encoding="utf-8")
    return path


def test_a_new_city_starts_before_its_first_registration(tmp_path):
    settings = ServiceSettings(city_path=_city(tmp_path))
    assert not (tmp_path / "catalogue.yaml").exists()
    catalogue = deployment_catalogue(settings)
    assert catalogue == empty_registry(deployment_city(settings)) and not catalogue.units
    # `hotline topics ensure` (make up's first step) lists the deployment's topics from it.
    assert any(s.name.startswith("queue.") for s in all_topic_specs(settings=settings))
    assert deployment_city(settings).zone == NEW_YORK


def test_a_city_names_its_own_rules_relative_to_its_file(tmp_path):
    (tmp_path / "urgency.yaml").write_text(
        "classes:\n  - {code: emergency, zh: 紧急, hours: 2, keywords: {en: [gas leak]}}\n"
        "  - {code: general, zh: 一般, hours: 168}\n", encoding="utf-8")
    (tmp_path / "holidays.yaml").write_text(
        'time_zone: America/New_York\nyears:\n  2025:\n    source: a test\n'
        '    holidays: [{name: New Year, date: "2025-01-01"}]\n', encoding="utf-8")
    city = load_city(_city(tmp_path, "urgency: urgency.yaml\nholidays: holidays.yaml\n"))
    assert city.urgency == tmp_path / "urgency.yaml"
    taxonomy = city.taxonomy()
    assert taxonomy.urgency("gas leak in the basement", "other").code == "emergency"
    assert taxonomy.urgency("annual fire inspection", "other").code == "general"
    assert not city.calendar().is_working_day(date(2025, 1, 1))


def test_a_city_calendar_in_another_zone_is_refused(tmp_path):
    (tmp_path / "holidays.yaml").write_text("time_zone: Asia/Shanghai\nyears: {}\n", encoding="utf-8")
    with pytest.raises(CityError, match="counts days in Asia/Shanghai"):
        load_city(_city(tmp_path, "holidays: holidays.yaml\n")).calendar()
    with pytest.raises(CityError, match="holidays: cn"):
        load_city(_city(tmp_path, "holidays: cn\n"))
