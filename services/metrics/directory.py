"""Names and kinds of the units metrics ranks, from the gazetteer and the dispatch catalogue."""

from dataclasses import dataclass
from enum import StrEnum

from hotline.catalogue import Catalogue
from hotline.contracts.topics import TRIAGE_QUEUE_CODE
from hotline.gazetteer import Gazetteer, UnitKind
from hotline.taxonomy import Taxonomy


class RankingKind(StrEnum):
    """The groups units are ranked in."""

    STREET = "street"
    TOWN = "town"  # towns, area offices (地区) and townships
    DEPARTMENT = "department"
    ENTERPRISE = "enterprise"


KIND_LABELS = {
    RankingKind.STREET: {"zh": "街道", "en": "Street offices"},
    RankingKind.TOWN: {"zh": "乡镇（地区）", "en": "Towns and area offices"},
    RankingKind.DEPARTMENT: {"zh": "市级部门", "en": "Municipal departments"},
    RankingKind.ENTERPRISE: {"zh": "公共服务企业", "en": "Public-service enterprises"},
}

# The 343 streets and towns Beijing ranks; special zones and fallbacks are not ranked.
_RANKED = {
    UnitKind.STREET.value: RankingKind.STREET,
    UnitKind.TOWN.value: RankingKind.TOWN,
    UnitKind.AREA.value: RankingKind.TOWN,
    UnitKind.TOWNSHIP.value: RankingKind.TOWN,
    "department": RankingKind.DEPARTMENT,
    "enterprise": RankingKind.ENTERPRISE,
}


@dataclass(frozen=True)
class UnitInfo:
    """What a dashboard shows of a unit."""

    code: str
    name: str
    name_en: str | None
    unit_kind: str
    district_code: str | None
    district_name: str | None

    @property
    def ranking_kind(self) -> RankingKind | None:
        """The ranking the unit takes part in, if any."""
        return _RANKED.get(self.unit_kind)


class Directory:
    """Every unit that can hold a ticket, by code; categories with their labels."""

    def __init__(self, gazetteer: Gazetteer, catalogue: Catalogue, taxonomy: Taxonomy) -> None:
        self._gazetteer = gazetteer
        self._catalogue = catalogue.units_by_code
        self._categories = {c.code: {"zh": c.zh, "en": c.en} for c in taxonomy.categories.values()}

    def district_name(self, code: str | None) -> str | None:
        """A district's Chinese name."""
        district = self._gazetteer.districts.get(code or "")
        return district.name if district else None

    def is_district(self, code: str) -> bool:
        """Whether the code names one of the districts."""
        return code in self._gazetteer.districts

    def unit(self, code: str) -> UnitInfo | None:
        """A unit's names and kind, or None for a code no one knows."""
        g = self._gazetteer
        if code in g.units:
            u = g.units[code]
            return UnitInfo(code, u.name, None, u.kind.value, u.district_code, self.district_name(u.district_code))
        if code in self._catalogue:
            o = self._catalogue[code]
            return UnitInfo(code, o.zh, o.en, o.kind, None, None)
        if code in g.districts:
            name = g.districts[code].name
            return UnitInfo(code, f"{name}接诉即办协调中心", f"{code} district coordination centre",
                            UnitKind.DISTRICT_FALLBACK.value, code, name)
        if code == TRIAGE_QUEUE_CODE:
            return UnitInfo(code, "12345热线分拣", "Hotline triage", "triage", None, None)
        # A unit from another catalogue version: its code still says what it is.
        for prefix, kind in (("m-", "department"), ("e-", "enterprise")):
            if code.startswith(prefix):
                return UnitInfo(code, code, None, kind, None, None)
        return None

    def category_label(self, code: str) -> dict[str, str]:
        """A category's Chinese and English names (the code for an unknown one)."""
        return self._categories.get(code, {"zh": code, "en": code})
