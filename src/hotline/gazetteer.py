"""Beijing's districts and township-level units (the gazetteer), and place-name resolution."""

import csv
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

from hotline.place_names import Found, Meaning, NameIndex, fold_name

# Ethnic townships' suffixes first: people say 于家务, not 于家务回族 (于家务回族乡).
_SUFFIXES = ("地区办事处", "街道", "地区", "回族乡", "满族乡", "镇", "乡")


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
    """Districts and units with lookups by code and by the names people use.

    `latin_names` maps a district or unit code to its pinyin and English forms (romanized.csv);
    `place_words` maps other words to a code, or to None for a word that names no place and must
    hide the names inside it (place_words.csv: 东四环 is a ring road, not 东四).
    """

    def __init__(
        self,
        districts: list[District],
        units: list[Unit],
        latin_names: dict[str, tuple[str, ...]] | None = None,
        place_words: dict[str, str | None] | None = None,
    ) -> None:
        self.districts = {d.code: d for d in districts}
        self.units = {u.code: u for u in units}
        named: dict[str, tuple[set[str], list[str]]] = {}

        def add(name: str, code: str) -> None:
            in_districts, in_units = named.setdefault(fold_name(name), (set(), []))
            if code in self.districts:
                in_districts.add(code)
            elif code in self.units and code not in in_units:
                in_units.append(code)

        for d in districts:
            for name in (d.name, d.short_name, *(latin_names or {}).get(d.code, ())):
                add(name, d.code)
        for u in units:
            for name in (u.name, u.short_name, *(latin_names or {}).get(u.code, ())):
                add(name, u.code)
        masks = set()
        for word, code in (place_words or {}).items():
            if code is None:
                masks.add(fold_name(word))
            else:
                add(word, code)
        meanings = {name: Meaning(frozenset(ds), tuple(us)) for name, (ds, us) in named.items()}
        meanings.update(dict.fromkeys(masks, Meaning()))  # a mask outranks what its word would name
        self._names = NameIndex(meanings)

    def _districts_named(self, found: list[Found]) -> list[str]:
        codes: list[str] = []
        for f in sorted(found, key=lambda f: f.start):
            codes += [c for c in sorted(f.meaning.districts) if c not in codes]
        return codes

    def district_code_for(self, text: str | None) -> str | None:
        """District code from a code or a district name (Chinese, pinyin, English) in the text."""
        if not text:
            return None
        text = text.strip()
        if text in self.districts:
            return text
        named = self._districts_named(self._names.find(text))
        return named[0] if named else None

    def resolve(self, address: str, district: str | None = None) -> Resolution:
        """Resolve an address (and optional district) to district and unit codes.

        A district given apart from the address is authoritative; else the districts the address
        names constrain the unit: a unit of another district does not match (朝阳区东四环 is not
        东四 in Dongcheng), and with no unit of the district the district alone is the answer.
        """
        found = self._names.find(address)
        given = self.district_code_for(district)
        allowed = [given] if given else self._districts_named(found)
        # A bare district name that is also a unit's (海淀: 海淀街道) yields to any other unit.
        for f in sorted(found, key=lambda f: (bool(f.meaning.districts), f.start - f.end, f.start)):
            codes = [c for c in f.meaning.units if not allowed or self.units[c].district_code in allowed]
            if len(codes) == 1:
                return Resolution(self.units[codes[0]].district_code, codes[0])
            if len(codes) > 1:
                return Resolution(None, None, ambiguous=True)
        if len(allowed) > 1:
            return Resolution(None, None, ambiguous=True)
        return Resolution(allowed[0] if allowed else None, None)


def read_divisions() -> tuple[list[District], list[Unit]]:
    """Beijing's districts and units as shipped (data/beijing/districts.csv, streets.csv)."""
    folder = resources.files("hotline") / "data" / "beijing"
    with (folder / "districts.csv").open(encoding="utf-8") as f:
        districts = [District(row["code"], row["name"]) for row in csv.DictReader(f)]
    with (folder / "streets.csv").open(encoding="utf-8") as f:
        units = [
            Unit(row["code"], row["name"], row["areaCode"], _kind_of(row["name"]))
            for row in csv.DictReader(f)
        ]
    return districts, units


@cache
def beijing() -> Gazetteer:
    """The Beijing gazetteer shipped with the package (see data/beijing/SOURCE.md)."""
    folder = resources.files("hotline") / "data" / "beijing"
    with (folder / "romanized.csv").open(encoding="utf-8") as f:
        latin = {row["code"]: tuple(row["forms"].split("|")) for row in csv.DictReader(f)}
    with (folder / "place_words.csv").open(encoding="utf-8") as f:
        words = {row["word"]: row["code"] or None for row in csv.DictReader(f, skipinitialspace=True)
                 if not row["word"].startswith("#")}
    return Gazetteer(*read_divisions(), latin_names=latin, place_words=words)
