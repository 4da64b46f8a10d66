"""Beijing's districts and township-level units (the gazetteer), and place-name resolution."""

import csv
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

_SUFFIXES = ("地区办事处", "街道", "地区", "镇", "乡")


class UnitKind(StrEnum):
    """Kinds of township-level unit; rankings compare units of one kind."""

    STREET = "street"
    AREA = "area"
    TOWN = "town"
    TOWNSHIP = "township"
    SPECIAL_ZONE = "special_zone"
    DISTRICT_FALLBACK = "district_fallback"


@dataclass(frozen=True)
class District:
    """One of Beijing's 16 districts."""

    code: str
    name: str

    @property
    def short_name(self) -> str:
        """The name without 区, as people say it (房山 for 房山区)."""
        return self.name.removesuffix("区")


@dataclass(frozen=True)
class Unit:
    """A street, town, area office, township or special zone."""

    code: str
    name: str
    district_code: str
    kind: UnitKind

    @property
    def short_name(self) -> str:
        """The name without its administrative suffix (良乡 for 良乡地区)."""
        for suffix in _SUFFIXES:
            if self.name.endswith(suffix) and len(self.name) > len(suffix) + 1:
                return self.name.removesuffix(suffix)
        return self.name


def _kind_of(name: str) -> UnitKind:
    if name.endswith("街道"):
        return UnitKind.STREET
    if name.endswith("地区"):
        return UnitKind.AREA
    if name.endswith("镇"):
        return UnitKind.TOWN
    if name.endswith("乡"):
        return UnitKind.TOWNSHIP
    return UnitKind.SPECIAL_ZONE


@dataclass(frozen=True)
class Resolution:
    """Result of resolving a place: the codes found and whether the name was ambiguous."""

    district_code: str | None
    unit_code: str | None
    ambiguous: bool = False


class Gazetteer:
    """Districts and units with lookups by code and by the names people use."""

    def __init__(self, districts: list[District], units: list[Unit]) -> None:
        self.districts = {d.code: d for d in districts}
        self.units = {u.code: u for u in units}
        self._district_names = sorted(
            ((name, d.code) for d in districts for name in {d.name, d.short_name}),
            key=lambda pair: -len(pair[0]),
        )
        by_name: dict[str, list[str]] = {}
        for unit in units:
            for name in {unit.name, unit.short_name}:
                by_name.setdefault(name, []).append(unit.code)
        # Longest names first, so 良乡地区 wins over 良乡 and 八里庄街道 over 八里庄.
        self._unit_names = sorted(by_name.items(), key=lambda pair: -len(pair[0]))

    def district_code_for(self, text: str | None) -> str | None:
        """District code from a code or a (short) district name found in the text."""
        if not text:
            return None
        text = text.strip()
        if text in self.districts:
            return text
        for name, code in self._district_names:
            if name in text:
                return code
        return None

    def resolve(self, address: str, district: str | None = None) -> Resolution:
        """Resolve an address (and optional district) to district and unit codes."""
        given_district = self.district_code_for(district)
        # District names come out first: 海淀区 must not match the street 海淀 (海淀街道).
        streets_text = address
        for d in self.districts.values():
            streets_text = streets_text.replace(d.name, " ")
        for name, codes in self._unit_names:
            if name not in streets_text:
                continue
            # A district stated apart from the address is authoritative; one inside the
            # address text only breaks ties (朝阳门 contains 朝阳 but lies in Dongcheng).
            tie_breaker = given_district or self.district_code_for(address)
            if given_district:
                codes = [c for c in codes if self.units[c].district_code == given_district]
            elif len(codes) > 1:
                codes = [c for c in codes if self.units[c].district_code == tie_breaker] or codes
            if len(codes) == 1:
                return Resolution(self.units[codes[0]].district_code, codes[0])
            if len(codes) > 1:
                return Resolution(None, None, ambiguous=True)
        return Resolution(given_district or self.district_code_for(address), None)


@cache
def beijing() -> Gazetteer:
    """The Beijing gazetteer shipped with the package (see data/beijing/SOURCE.md)."""
    folder = resources.files("hotline") / "data" / "beijing"
    with (folder / "districts.csv").open(encoding="utf-8") as f:
        districts = [District(row["code"], row["name"]) for row in csv.DictReader(f)]
    with (folder / "streets.csv").open(encoding="utf-8") as f:
        units = [
            Unit(row["code"], row["name"], row["areaCode"], _kind_of(row["name"]))
            for row in csv.DictReader(f)
        ]
    return Gazetteer(districts, units)
