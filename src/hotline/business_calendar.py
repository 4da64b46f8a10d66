"""The business calendar for report-back deadlines: working days from China's holiday calendar.

The calendar is data (`data/calendar/cn.yaml`): for each year, the public holidays (放假) and the
make-up working days (调休上班, Saturdays or Sundays that are official working days), from the State
Council General Office's annual notice. A day is a working day when it is a make-up day, else when
it is neither a holiday nor a Saturday or Sunday.

Years outside the data fall back to weekends only: Monday to Friday are working days, with no
holidays. This is deliberate and silent (no warning on a hot path); callers that care ask
`covers(year)`, and `is_provisional(year)` tells a year computed from the law rather than taken
from a notice. All day arithmetic happens in the calendar's time zone (Asia/Shanghai).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hotline.contracts.common import IanaTimeZone

BUSINESS_TIME_ZONE = "Asia/Shanghai"
_SATURDAY = 5


class CalendarError(ValueError):
    """A calendar file that cannot be read or breaks a rule of the format."""


class HolidaySpan(BaseModel):
    """Holiday dates: one `date`, or a range `from`..`to` (both included)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(min_length=1, description="The holiday, e.g. 春节 or 国庆节.")
    date: dt.date | None = Field(default=None, description="A single holiday date.")
    from_: dt.date | None = Field(default=None, alias="from", description="First date of a range.")
    to: dt.date | None = Field(default=None, description="Last date of a range, included.")

    @model_validator(mode="after")
    def _one_form(self) -> HolidaySpan:
        if self.date is not None:
            if self.from_ is not None or self.to is not None:
                raise ValueError(f"holiday {self.name!r}: give either `date` or `from`/`to`, not both")
        elif self.from_ is None or self.to is None:
            raise ValueError(f"holiday {self.name!r}: give `date`, or both `from` and `to`")
        elif self.to < self.from_:
            raise ValueError(f"holiday {self.name!r}: `to` {self.to} is before `from` {self.from_}")
        return self

    def days(self) -> list[dt.date]:  # `date` here is the field
        """Every date of the span."""
        if self.date is not None:
            return [self.date]
        assert self.from_ is not None and self.to is not None
        return [self.from_ + timedelta(days=i) for i in range((self.to - self.from_).days + 1)]


class MakeUpDay(BaseModel):
    """A Saturday or Sunday that is an official working day (调休上班)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="The holiday this day makes up for.")
    date: dt.date = Field(description="The working Saturday or Sunday.")


class CalendarYear(BaseModel):
    """One year of the calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provisional: bool = Field(default=False, description="Computed from the law, not yet from the notice.")
    source: str = Field(min_length=1, description="Where the dates come from.")
    holidays: list[HolidaySpan] = Field(default_factory=list, description="Public holidays (放假).")
    workdays: list[MakeUpDay] = Field(default_factory=list, description="Make-up working days (调休上班).")


class CalendarFile(BaseModel):
    """The calendar file: the time zone and the years it covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: IanaTimeZone = Field(default=BUSINESS_TIME_ZONE, description="IANA zone days are counted in.")
    years: dict[int, CalendarYear] = Field(description="The covered years, by year.")


    @model_validator(mode="after")
    def _consistent(self) -> CalendarFile:
        for year, entry in self.years.items():
            holidays: dict[date, str] = {}
            for span in entry.holidays:
                for day in span.days():
                    if day.year != year:
                        raise ValueError(f"year {year}: holiday {span.name!r} date {day} is outside {year}")
                    if day in holidays:
                        raise ValueError(
                            f"year {year}: {day} is listed twice as a holiday ({holidays[day]!r} and {span.name!r})"
                        )
                    holidays[day] = span.name
            workdays: set[date] = set()
            for made in entry.workdays:
                day = made.date
                if day.year != year:
                    raise ValueError(f"year {year}: make-up day {day} ({made.name!r}) is outside {year}")
                if day.weekday() < _SATURDAY:
                    raise ValueError(
                        f"year {year}: make-up day {day} ({made.name!r}) is a {day:%A}, not a Saturday or Sunday"
                    )
                if day in holidays:
                    raise ValueError(
                        f"year {year}: {day} is listed both as a holiday ({holidays[day]!r}) and as a make-up day"
                    )
                if day in workdays:
                    raise ValueError(f"year {year}: make-up day {day} is listed twice")
                workdays.add(day)
        return self


def _weekdays_through(day: date) -> int:
    """How many Mondays to Fridays fall on or before `day`, counted from 0001-01-01 (a Monday)."""
    n = day.toordinal()  # 0001-01-01 has ordinal 1 and is a Monday
    weeks, rest = divmod(n, 7)
    return weeks * 5 + min(rest, 5)


class BusinessCalendar:
    """Working days and deadlines in business time (Asia/Shanghai by default)."""

    def __init__(
        self,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        *,
        years: Iterable[int] = (),
        provisional_years: Iterable[int] = (),
        time_zone: str = BUSINESS_TIME_ZONE,
    ) -> None:
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)
        if self._holidays & self._workdays:
            raise CalendarError(f"dates both holiday and make-up day: {sorted(self._holidays & self._workdays)}")
        self._years = frozenset(years)
        self._provisional = frozenset(provisional_years)
        self._tz = ZoneInfo(time_zone)
        # Sorted exceptions to "Monday to Friday", for counting in O(log n).
        self._weekday_holidays = sorted(d for d in self._holidays if d.weekday() < _SATURDAY)
        self._weekend_workdays = sorted(d for d in self._workdays if d.weekday() >= _SATURDAY)

    @classmethod
    def from_model(cls, model: CalendarFile) -> BusinessCalendar:
        """A calendar from a validated calendar file."""
        holidays = [d for y in model.years.values() for span in y.holidays for d in span.days()]
        workdays = [m.date for y in model.years.values() for m in y.workdays]
        return cls(
            holidays, workdays, years=model.years,
            provisional_years=[year for year, y in model.years.items() if y.provisional],
            time_zone=model.time_zone,
        )

    @property
    def time_zone(self) -> ZoneInfo:
        """The zone days are counted in."""
        return self._tz

    def covers(self, year: int) -> bool:
        """Whether the data lists this year's holidays (outside it, weekends are the only days off)."""
        return year in self._years

    def is_provisional(self, year: int) -> bool:
        """Whether this year's dates are computed from the law rather than taken from the notice."""
        return year in self._provisional

    def _local_date(self, moment: date | datetime) -> date:
        if isinstance(moment, datetime):
            return self._local(moment).date()
        return moment

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: business times must carry their zone")
        return moment.astimezone(self._tz)

    def is_working_day(self, day: date | datetime) -> bool:
        """Whether the day is a working day; an aware datetime is taken on its business-time date."""
        day = self._local_date(day)
        if day in self._workdays:
            return True
        return day.weekday() < _SATURDAY and day not in self._holidays

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The deadline `days` working days after `start`, in business time.

        Rule: take `start` in business time. If its date is a working day, the deadline is the same
        clock time on the `days`-th working day after that date. If its date is not a working day,
        the clock starts at 00:00 of the next working day W, and the deadline is 00:00 of the
        `days`-th working day after W: the citizen's request gets `days` whole working days
        (received on Saturday with 1 day: due Tuesday 00:00, the end of Monday). `days=0` gives the
        start itself, or 00:00 of W. The result lies on a working day (for `days` >= 1) and never
        moves earlier when `start` or `days` grow.
        """
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        local = self._local(start)
        day = local.date()
        if not self.is_working_day(day):
            day = self.next_working_day(day)
            local = datetime.combine(day, time(0), tzinfo=self._tz)
        for _ in range(days):
            day = self.next_working_day(day)
        return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=self._tz)

    def add_calendar_duration(self, start: datetime, delta: timedelta) -> datetime:
        """`start` plus `delta` of elapsed time (the 2 h and 24 h classes), in business time."""
        self._local(start)  # refuse naive times
        return (start.astimezone(UTC) + delta).astimezone(self._tz)

    def working_days_between(self, a: date | datetime, b: date | datetime) -> int:
        """Working days d with a < d <= b, on business-time dates; negative when b is before a."""
        first, last = self._local_date(a), self._local_date(b)
        if last < first:
            return -self.working_days_between(last, first)
        count = _weekdays_through(last) - _weekdays_through(first)
        count -= bisect_right(self._weekday_holidays, last) - bisect_right(self._weekday_holidays, first)
        count += bisect_right(self._weekend_workdays, last) - bisect_right(self._weekend_workdays, first)
        return count


def calendar_from_data(data: Mapping[str, Any], *, origin: str = "calendar") -> BusinessCalendar:
    """A calendar from the parsed content of a calendar file; CalendarError names what is wrong."""
    try:
        model = CalendarFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise CalendarError(f"{origin}: {problems}") from exc
    return BusinessCalendar.from_model(model)


def _parse(text: str, origin: str) -> BusinessCalendar:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalendarError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise CalendarError(f"{origin}: expected a mapping with `years`")
    return calendar_from_data(data, origin=origin)


def load_calendar(path: str | Path) -> BusinessCalendar:
    """Load and check a calendar file."""
    path = Path(path)
    return _parse(path.read_text(encoding="utf-8"), str(path))


@cache
def default_calendar() -> BusinessCalendar:
    """The shipped calendar of China's holidays (data/calendar/cn.yaml), loaded once."""
    resource = resources.files("hotline") / "data" / "calendar" / "cn.yaml"
    return _parse(resource.read_text(encoding="utf-8"), "hotline/data/calendar/cn.yaml")
