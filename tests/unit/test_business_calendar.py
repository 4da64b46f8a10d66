"""The business calendar: the shipped holiday data, working-day deadlines and the file's rules."""

from __future__ import annotations

import calendar as pycal
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hotline.business_calendar import (
    BusinessCalendar,
    CalendarError,
    calendar_from_data,
    default_calendar,
    load_calendar,
)

SH = ZoneInfo("Asia/Shanghai")
CAL = default_calendar()
DATA = Path(__file__).resolve().parents[2] / "src" / "hotline" / "data" / "calendar" / "cn.yaml"


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


# --- the shipped data ------------------------------------------------------------------------

HOLIDAYS_2026 = {
    "元旦": ("2026-01-01", "2026-01-03"),
    "春节": ("2026-02-15", "2026-02-23"),
    "清明节": ("2026-04-04", "2026-04-06"),
    "劳动节": ("2026-05-01", "2026-05-05"),
    "端午节": ("2026-06-19", "2026-06-21"),
    "中秋节": ("2026-09-25", "2026-09-27"),
    "国庆节": ("2026-10-01", "2026-10-07"),
}
# Each with the weekday the notice prints beside it.
MAKE_UP_2026 = {
    "2026-01-04": pycal.SUNDAY, "2026-02-14": pycal.SATURDAY, "2026-02-28": pycal.SATURDAY,
    "2026-05-09": pycal.SATURDAY, "2026-09-20": pycal.SUNDAY, "2026-10-10": pycal.SATURDAY,
}


def _days(first: str, last: str) -> list[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


def _holiday_dates() -> set[date]:
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    out: set[date] = set()
    for year in data["years"].values():
        for span in year["holidays"]:
            first = span.get("from", span.get("date"))
            out.update(_days(str(first), str(span.get("to", first))))
    return out


def _make_up_dates() -> set[date]:
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return {m["date"] for year in data["years"].values() for m in year["workdays"]}


HOLIDAY_DATES = _holiday_dates()
MAKE_UP_DATES = _make_up_dates()


def test_default_calendar_is_cached_and_covers_2026_and_2027():
    assert default_calendar() is CAL
    assert CAL.covers(2026) and CAL.covers(2027)
    assert not CAL.covers(2025) and not CAL.covers(2028)
    assert not CAL.is_provisional(2026) and CAL.is_provisional(2027)
    assert CAL.time_zone.key == "Asia/Shanghai"


def test_2026_holidays_and_make_up_days_match_the_notice():
    for name, (first, last) in HOLIDAYS_2026.items():
        for day in _days(first, last):
            assert not CAL.is_working_day(day), (name, day)
    for iso, weekday in MAKE_UP_2026.items():
        day = date.fromisoformat(iso)
        assert pycal.weekday(day.year, day.month, day.day) == weekday, day
        assert CAL.is_working_day(day), day


def test_2026_notice_weekdays_as_printed():
    # The notice prints a weekday beside each date; the data must agree with the real calendar.
    printed = {
        "2026-01-01": "Thu", "2026-01-03": "Sat", "2026-02-15": "Sun", "2026-02-23": "Mon",
        "2026-04-04": "Sat", "2026-04-06": "Mon", "2026-05-01": "Fri", "2026-05-05": "Tue",
        "2026-06-19": "Fri", "2026-06-21": "Sun", "2026-09-25": "Fri", "2026-09-27": "Sun",
        "2026-10-01": "Thu", "2026-10-07": "Wed",
    }
    for iso, weekday in printed.items():
        assert date.fromisoformat(iso).strftime("%a") == weekday, iso


def test_2026_and_2027_have_248_working_days():
    # 261 weekdays each; 2026: 19 weekday holidays and 6 make-up days; 2027 (statutory days and
    # their weekdays in lieu only): 13 weekday holidays, i.e. the 13 statutory days of the law.
    assert CAL.working_days_between(date(2025, 12, 31), date(2026, 12, 31)) == 248
    assert CAL.working_days_between(date(2026, 12, 31), date(2027, 12, 31)) == 248


def test_2027_provisional_statutory_days():
    off = ["2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10", "2027-04-05",
           "2027-05-03", "2027-05-04", "2027-06-09", "2027-09-15", "2027-10-04", "2027-10-05"]
    for iso in off:
        day = date.fromisoformat(iso)
        assert day.weekday() < 5 and not CAL.is_working_day(day), iso
    assert CAL.is_working_day(date(2027, 2, 11))  # the Thursday after the block: no notice yet
    assert not any(CAL.is_working_day(d) for d in _days("2027-01-01", "2027-12-31") if d.weekday() >= 5)


def test_shipped_file_passes_its_own_checks_and_loads_from_a_path():
    loaded = load_calendar(DATA)
    day = date(2026, 1, 1)
    while day.year < 2028:
        assert loaded.is_working_day(day) == CAL.is_working_day(day)
        day += timedelta(days=1)


# --- deadlines, checked by hand ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("start", "days", "due", "why"),
    [
        (at(2026, 2, 13, 10, 30), 7, at(2026, 3, 2, 10, 30),
         "Fri before Spring Festival: Sat 14 (worked), 24-27 Feb, Sat 28 (worked), Mon 2 Mar"),
        (at(2026, 2, 13, 10, 30), 1, at(2026, 2, 14, 10, 30), "the working Saturday counts"),
        (at(2026, 2, 13, 10, 30), 2, at(2026, 2, 24, 10, 30), "the whole holiday is skipped"),
        (at(2026, 2, 14, 9), 15, at(2026, 3, 13, 9),
         "received on the working Saturday: 24-27 Feb, Sat 28 (5), 2-6 Mar (10), 9-13 Mar (15)"),
        (at(2026, 2, 17, 15, 45), 1, at(2026, 2, 25, 0),
         "received on a holiday: clock starts Tue 24 Feb 00:00, one whole working day"),
        (at(2026, 2, 17, 15, 45), 0, at(2026, 2, 24, 0), "zero days from a holiday: start of next working day"),
        (at(2026, 9, 30, 17), 1, at(2026, 10, 8, 17), "eve of National Day: the week is skipped"),
        (at(2026, 9, 30, 17), 2, at(2026, 10, 9, 17), "Fri 9 Oct"),
        (at(2026, 9, 30, 17), 3, at(2026, 10, 10, 17), "Sat 10 Oct is worked"),
        (at(2026, 9, 30, 17), 7, at(2026, 10, 15, 17), "12-15 Oct follow"),
        (at(2026, 10, 3, 11), 7, at(2026, 10, 16, 0),
         "received during National Day: whole days 8, 9, Sat 10, 12-15 Oct -> Fri 16 00:00"),
        (at(2026, 9, 18, 8), 2, at(2026, 9, 21, 8), "Sun 20 Sep is worked: Fri 18 -> Sun 20 -> Mon 21"),
        (at(2026, 9, 19, 8), 1, at(2026, 9, 21, 0), "a Saturday: starts on the working Sunday 20 Sep"),
        (at(2026, 4, 3, 18), 1, at(2026, 4, 7, 18), "Qingming 4-6 Apr"),
        (at(2026, 4, 30, 12), 7, at(2026, 5, 13, 12), "Labour Day 1-5 May: 6, 7, 8, Sat 9, 11, 12, 13 May"),
        (at(2025, 12, 31, 9), 1, at(2026, 1, 4, 9), "across the new year: Sun 4 Jan is worked"),
        (at(2026, 12, 31, 9), 1, at(2027, 1, 4, 9), "into provisional 2027: 1 Jan off, then weekend"),
        (at(2028, 1, 1, 9), 1, at(2028, 1, 4, 0), "uncovered 2028: weekends only (1 Jan is a Saturday)"),
        (at(2026, 3, 3, 23, 59), 7, at(2026, 3, 12, 23, 59), "plain weeks"),
    ],
)
def test_add_working_days_hand_checked(start, days, due, why):
    assert CAL.add_working_days(start, days) == due, why


def test_add_working_days_converts_to_business_time():
    # 20:00 UTC on Thu 12 Feb is 04:00 on Fri 13 Feb in Beijing.
    start = datetime(2026, 2, 12, 20, tzinfo=UTC)
    due = CAL.add_working_days(start, 2)
    assert due == at(2026, 2, 24, 4) and due.tzinfo.key == "Asia/Shanghai"


def test_refusals():
    with pytest.raises(ValueError, match="naive"):
        CAL.add_working_days(datetime(2026, 1, 5, 9), 1)
    with pytest.raises(ValueError, match="naive"):
        CAL.add_calendar_duration(datetime(2026, 1, 5, 9), timedelta(hours=2))
    with pytest.raises(ValueError, match=">= 0"):
        CAL.add_working_days(at(2026, 1, 5), -1)


def test_working_days_between_hand_checked():
    assert CAL.working_days_between(at(2026, 2, 13, 10), at(2026, 3, 2, 10)) == 7
    assert CAL.working_days_between(date(2026, 3, 2), date(2026, 2, 13)) == -7
    assert CAL.working_days_between(date(2026, 10, 1), date(2026, 10, 7)) == 0
    assert CAL.working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3  # 8, 9 and Sat 10


def test_calendar_duration_is_elapsed_time():
    start = at(2026, 2, 16, 23)
    assert CAL.add_calendar_duration(start, timedelta(hours=2)) == at(2026, 2, 17, 1)
    # A DST zone: 2 h of elapsed time across the Berlin spring change is 3 h on Berlin clocks.
    berlin = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    due = CAL.add_calendar_duration(berlin, timedelta(hours=2))
    assert due.astimezone(ZoneInfo("Europe/Berlin")).hour == 4 and due.tzinfo.key == "Asia/Shanghai"


def test_weekend_only_fallback():
    bare = BusinessCalendar()
    assert not bare.covers(2026)
    assert bare.is_working_day(date(2026, 10, 1))  # a Thursday, and no holidays are known
    assert not bare.is_working_day(date(2026, 10, 3))
    assert bare.add_working_days(at(2026, 10, 2, 9), 1) == at(2026, 10, 5, 9)


# --- the file's rules --------------------------------------------------------------------------

def _file(**year: object) -> dict:
    return {"years": {2026: {"source": "test", **year}}}


@pytest.mark.parametrize(
    ("year", "message"),
    [
        ({"holidays": [{"name": "国庆节", "from": date(2026, 10, 1), "to": date(2026, 10, 7)}],
          "workdays": [{"name": "国庆节", "date": date(2026, 10, 3)}]},
         "2026-10-03 is listed both as a holiday"),
        ({"workdays": [{"name": "国庆节", "date": date(2026, 10, 9)}]}, "is a Friday, not a Saturday or Sunday"),
        ({"holidays": [{"name": "元旦", "from": date(2025, 12, 31), "to": date(2026, 1, 1)}]},
         "2025-12-31 is outside 2026"),
        ({"workdays": [{"name": "元旦", "date": date(2027, 1, 2)}]}, "make-up day 2027-01-02 .* is outside 2026"),
        ({"holidays": [{"name": "元旦", "from": date(2026, 1, 3), "to": date(2026, 1, 1)}]}, "is before `from`"),
        ({"holidays": [{"name": "元旦", "date": date(2026, 1, 1), "to": date(2026, 1, 2)}]}, "not both"),
        ({"holidays": [{"name": "元旦", "from": date(2026, 1, 1)}]}, "both `from` and `to`"),
        ({"holidays": [{"name": "a", "date": date(2026, 1, 1)}, {"name": "b", "date": date(2026, 1, 1)}]},
         "listed twice as a holiday"),
        ({"workdays": [{"name": "a", "date": date(2026, 1, 4)}, {"name": "a", "date": date(2026, 1, 4)}]},
         "listed twice"),
        ({"holidays": [], "colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_file_rules_give_clear_errors(year, message):
    with pytest.raises(CalendarError, match=message):
        calendar_from_data(_file(**year))


def test_unknown_zone_and_bad_files(tmp_path):
    with pytest.raises(CalendarError, match="unknown time zone 'Mars/Base'"):
        calendar_from_data({"time_zone": "Mars/Base", "years": {}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("years: [\n", encoding="utf-8")
    with pytest.raises(CalendarError, match="not valid YAML"):
        load_calendar(bad)
    bad.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(CalendarError, match="expected a mapping"):
        load_calendar(bad)


def test_a_file_written_by_hand_loads(tmp_path):
    path = tmp_path / "cal.yaml"
    path.write_text(yaml.safe_dump(_file(
        holidays=[{"name": "x", "date": "2026-03-04"}], workdays=[{"name": "x", "date": "2026-03-07"}],
    ), allow_unicode=True), encoding="utf-8")
    cal = load_calendar(path)
    assert not cal.is_working_day(date(2026, 3, 4)) and cal.is_working_day(date(2026, 3, 7))


# --- properties --------------------------------------------------------------------------------

ZONES = st.sampled_from([SH, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))])
starts = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2028, 6, 30)),
    ZONES,
)
spans = st.integers(min_value=0, max_value=40)


@settings(max_examples=300)
@given(starts, st.integers(min_value=1, max_value=40))
def test_result_lands_on_a_working_day(start, days):
    due = CAL.add_working_days(start, days)
    day = due.date()
    assert CAL.is_working_day(day)
    assert day not in HOLIDAY_DATES
    assert day.weekday() < 5 or day in MAKE_UP_DATES


@settings(max_examples=300)
@given(starts, spans, spans)
def test_monotonic_in_days(start, n, m):
    lo, hi = sorted((n, m))
    assert CAL.add_working_days(start, lo) <= CAL.add_working_days(start, hi)
    if lo < hi:
        assert CAL.add_working_days(start, lo) < CAL.add_working_days(start, hi)


@settings(max_examples=300)
@given(starts, starts, spans)
def test_monotonic_in_start(a, b, n):
    a, b = sorted((a, b))
    assert CAL.add_working_days(a, n) <= CAL.add_working_days(b, n)


@settings(max_examples=300)
@given(starts, spans)
def test_working_days_between_inverts_add_on_working_days(start, n):
    assume(CAL.is_working_day(start))
    assert CAL.working_days_between(start, CAL.add_working_days(start, n)) == n


@settings(max_examples=300)
@given(starts, spans)
def test_results_are_aware_business_time_and_keep_the_clock(start, n):
    due = CAL.add_working_days(start, n)
    assert due.tzinfo is not None and due.tzinfo.key == "Asia/Shanghai"
    local = start.astimezone(SH)
    assert due.timetz().replace(tzinfo=None) == (local.time() if CAL.is_working_day(local) else time(0))


@settings(max_examples=300)
@given(starts, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)))
def test_calendar_duration_equals_start_plus_delta(start, delta):
    due = CAL.add_calendar_duration(start, delta)
    assert due == start + delta
    assert due - start == delta
    assert due.tzinfo.key == "Asia/Shanghai"


@settings(max_examples=200)
@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)),
       st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)))
def test_working_days_between_counts_day_by_day(a, b):
    lo, hi = sorted((a, b))
    brute = sum(CAL.is_working_day(lo + timedelta(days=i)) for i in range(1, (hi - lo).days + 1))
    assert CAL.working_days_between(lo, hi) == brute
    assert CAL.working_days_between(hi, lo) == -brute

