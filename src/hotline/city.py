"""A city as configuration: its places (gazetteer), its units and its dispatch catalogue.

Beijing is the default city: the shipped gazetteer and catalogue. Another city is a YAML file
(`HOTLINE_CITY`), e.g. `data/replay/sf/city.yaml`:

    name: San Francisco
    code: sf
    timezone: America/Los_Angeles
    places: none              # beijing (the shipped gazetteer) or none
    catalogue: catalogue.yaml # its unit registry and dispatch rules, relative to this file
    urgency: general          # beijing (the shipped keyword rules), general, or its own file
    holidays: none            # cn (China's holiday calendar), none (Monday to Friday), or its own file
    deadlines: deadlines.yaml # its own deadline policy; the shipped one when unset

The catalogue file has the shipped catalogue's format, so routing, metrics and `topics ensure`
read the city's units through `deployment_catalogue(settings)`: the file `HOTLINE_CATALOGUE` names
when it is set, else the city's. A city whose catalogue file does not exist yet (before its first
`hotline replay --register`) has an empty registry: every ticket goes to its fallback office.

A deployment runs one city (`deployment_city(settings)`): every service takes its months, days,
calendar, urgency classes and deadlines from that city, so a ticket's city is the deployment's.
(Here and not in the shared settings, which know no city.)
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hotline.business_calendar import BusinessCalendar, default_calendar, load_calendar
from hotline.catalogue import Catalogue, catalogue_at, default_catalogue, load_catalogue
from hotline.contracts.common import IanaTimeZone
from hotline.deadlines import DeadlinePolicy, default_policy
from hotline.gazetteer import Gazetteer, beijing
from hotline.runtime.settings import ServiceSettings
from hotline.taxonomy import Taxonomy, default_taxonomy, general_only, load_urgency
from hotline.yaml_files import read_yaml_mapping

FALLBACK_OFFICE = "unassigned"  # where a city's registry sends what no unit's rule takes


class CityError(ValueError):
    """A city file cannot be read or understood."""


class City(BaseModel):
    """A city's configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Human name of the city.")
    code: str = Field(pattern=r"^[a-z][a-z0-9]{1,15}$", description="Short code; prefixes its unit codes.")
    timezone: IanaTimeZone = Field(default="Asia/Shanghai", description="The city's own time zone.")
    places: Literal["beijing", "none"] = Field(
        default="beijing", description="Gazetteer of districts and streets: the shipped Beijing one, or none."
    )
    catalogue: Path | None = Field(
        default=None, description="Catalogue file (units and rules), relative to the city file; "
        "the shipped Beijing catalogue when unset."
    )
    urgency: Literal["beijing", "general"] | Path = Field(
        default="general", description="Urgency classes: the shipped Beijing keyword rules "
        "(data/taxonomy/urgency.yaml), `general` (every ticket general), or a file in that format "
        "relative to the city file. Another city's text does not fire Beijing's keywords."
    )
    holidays: Literal["cn", "none"] | Path = Field(
        default="none", description="Working days: China's holiday calendar (data/calendar/cn.yaml), "
        "`none` (Monday to Friday, in the city's time zone), or a calendar file relative to the city file."
    )
    deadlines: Path | None = Field(
        default=None, description="Deadline policy file (data/policies/deadlines.yaml's format) relative "
        "to the city file; the shipped policy when unset."
    )

    @model_validator(mode="after")
    def _china_calendar_in_china_time(self) -> City:
        # cn.yaml counts its days in Asia/Shanghai: another zone would shift every holiday.
        if self.holidays == "cn" and self.timezone != "Asia/Shanghai":
            raise ValueError("holidays: cn counts days in Asia/Shanghai; give the city its own calendar file")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The city's time zone: its days and months."""
        return ZoneInfo(self.timezone)

    def gazetteer(self) -> Gazetteer:
        """The city's places."""
        return beijing() if self.places == "beijing" else Gazetteer([], [])

    def load_catalogue(self) -> Catalogue:
        """The city's unit registry and dispatch rules; an empty registry while its file does not
        exist (a new city before its first `hotline replay --register`)."""
        if self.catalogue is None:
            return default_catalogue()
        if not self.catalogue.is_file():
            return empty_registry(self)
        return load_catalogue(self.catalogue)

    def taxonomy(self) -> Taxonomy:
        """The shipped categories and request types, with the city's urgency classes."""
        if self.urgency == "beijing":
            return default_taxonomy()
        classes = general_only() if self.urgency == "general" else load_urgency(Path(self.urgency))
        return default_taxonomy().with_urgency(classes)

    def calendar(self) -> BusinessCalendar:
        """The city's working days, counted in its time zone."""
        if self.holidays == "cn":
            return default_calendar()
        if self.holidays == "none":
            return BusinessCalendar(time_zone=self.timezone)
        calendar = load_calendar(self.holidays)
        if str(calendar.time_zone) != self.timezone:
            raise CityError(f"calendar {self.holidays} counts days in {calendar.time_zone}, "
                            f"the city in {self.timezone}")
        return calendar

    def deadline_policy(self) -> DeadlinePolicy:
        """The city's deadline policy."""
        if self.deadlines is None:
            return default_policy()
        return DeadlinePolicy.model_validate(yaml.safe_load(self.deadlines.read_text(encoding="utf-8")))


def empty_registry(city: City) -> Catalogue:
    """A city's catalogue before any unit is registered: no units, everything to its fallback office."""
    return Catalogue.model_validate({
        "version": f"{city.code}-replay-0", "offices": {FALLBACK_OFFICE: "未分派 (not assigned in the history)"},
        "units": [], "rules": [{"id": FALLBACK_OFFICE, "when": {}, "lead": {"street_town": FALLBACK_OFFICE}}],
    })


BEIJING = City(name="Beijing", code="beijing", timezone="Asia/Shanghai", places="beijing", urgency="beijing",
               holidays="cn")


def load_city(path: Path | str | None) -> City:
    """A city file (its catalogue path made absolute), or Beijing for None; CityError if bad."""
    if path is None:
        return BEIJING
    path = Path(path)
    data = read_yaml_mapping(path, what="city file", keys="name, code, timezone, places, catalogue",
                             error=CityError)
    try:
        city = City.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CityError(f"city file {path} is not valid: {problems}") from exc
    # Files are named relative to the city file.
    files = {name: (path.parent / value).resolve() for name in ("catalogue", "urgency", "holidays", "deadlines")
             if isinstance(value := getattr(city, name), Path) and not value.is_absolute()}
    return city.model_copy(update=files)


@cache
def city_at(path: Path | None) -> City:
    """The deployment's city (`HOTLINE_CITY`), Beijing when unset."""
    return load_city(path)


def deployment_catalogue_path(settings: ServiceSettings) -> Path | None:
    """The deployment's catalogue file: `HOTLINE_CATALOGUE` when set (an explicit one wins), else its
    city's (`HOTLINE_CITY`); None for the shipped Beijing catalogue."""
    if settings.catalogue_path is not None or settings.city_path is None:
        return settings.catalogue_path
    return city_at(settings.city_path).catalogue


def deployment_catalogue(settings: ServiceSettings) -> Catalogue:
    """The deployment's catalogue (`deployment_catalogue_path`), read once: an explicit file, else
    its city's (an empty registry while the city's file is not written yet)."""
    if settings.catalogue_path is not None or settings.city_path is None:
        return catalogue_at(settings.catalogue_path)
    return _city_catalogue(city_at(settings.city_path))


@cache
def _city_catalogue(city: City) -> Catalogue:
    return city.load_catalogue()


def deployment_city(settings: ServiceSettings) -> City:
    """The city this deployment runs (`HOTLINE_CITY`; Beijing when unset): every ticket is its."""
    return city_at(settings.city_path)
