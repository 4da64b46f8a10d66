"""A city as configuration: its places (gazetteer), its units and its dispatch catalogue.

Beijing is the default city: the shipped gazetteer and catalogue. Another city is a YAML file
(`HOTLINE_CITY`), e.g. `data/replay/sf/city.yaml`:

    name: San Francisco
    code: sf
    timezone: America/Los_Angeles
    places: none              # beijing (the shipped gazetteer) or none
    catalogue: catalogue.yaml # its unit registry and dispatch rules, relative to this file

The catalogue file has the shipped catalogue's format, so routing, metrics and `topics ensure`
read the city's units through `deployment_catalogue(settings)`: the file `HOTLINE_CATALOGUE` names
when it is set, else the city's. (Here and not in the shared settings, which know no city.)
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.catalogue import Catalogue, catalogue_at, default_catalogue, load_catalogue
from hotline.contracts.common import IanaTimeZone
from hotline.gazetteer import Gazetteer, beijing
from hotline.runtime.settings import ServiceSettings
from hotline.yaml_files import read_yaml_mapping


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

    def gazetteer(self) -> Gazetteer:
        """The city's places."""
        return beijing() if self.places == "beijing" else Gazetteer([], [])

    def load_catalogue(self) -> Catalogue:
        """The city's unit registry and dispatch rules."""
        return default_catalogue() if self.catalogue is None else load_catalogue(self.catalogue)


BEIJING = City(name="Beijing", code="beijing", timezone="Asia/Shanghai", places="beijing")


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
    if city.catalogue is not None and not city.catalogue.is_absolute():
        city = city.model_copy(update={"catalogue": (path.parent / city.catalogue).resolve()})
    return city


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
    """The deployment's catalogue (`deployment_catalogue_path`), read once."""
    return catalogue_at(deployment_catalogue_path(settings))
