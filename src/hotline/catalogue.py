"""The dispatch catalogue (派单目录): departments, enterprises, offices and dispatch rules, as data.

Streets and towns come from the gazetteer; this adds the municipal departments and the
public-service enterprises, the offices inside each street or town, and the ordered rules that
say who handles a category (and, where needed, a district, a street or town, or keywords).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hotline.contracts.topics import TRIAGE_QUEUE_CODE
from hotline.gazetteer import Gazetteer

STREET_TOWN = "street_town"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrgUnit(_Strict):
    """A municipal department or a public-service enterprise with its own queue."""

    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$", description="Queue code, e.g. m-housing.")
    kind: Literal["department", "enterprise"]
    zh: str
    en: str


class Target(_Strict):
    """Who handles: the street or town where the problem is (with an office), or a unit."""

    unit: str | None = Field(default=None, description="Unit code; None means the street or town.")
    office: str | None = Field(default=None, description="Office inside the street or town.")

    @property
    def is_street_town(self) -> bool:
        """Whether this target is the street or town where the problem is."""
        return self.unit is None


class Condition(_Strict):
    """When a rule applies; empty lists match anything."""

    categories: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    street_towns: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


class Rule(_Strict):
    """One catalogue line: a condition, the lead handler and co-handlers."""

    id: str
    when: Condition
    lead: Target
    co: tuple[Target, ...] = ()

    def matches(self, *, category: str, district_code: str | None, unit_code: str | None,
                content: str) -> bool:
        """Whether the ticket's facts satisfy this rule's condition."""
        when, lowered = self.when, content.lower()
        return (
            (not when.categories or category in when.categories)
            and (not when.districts or district_code in when.districts)
            and (not when.street_towns or unit_code in when.street_towns)
            and (not when.keywords or any(k.lower() in lowered for k in when.keywords))
        )


def _target(value: object) -> object:
    """`m-housing` or `{street_town: office}` in the file, a Target here (anything else as it is,
    for validation to refuse)."""
    if isinstance(value, str):
        return {"unit": value}
    if isinstance(value, dict) and set(value) == {STREET_TOWN}:
        return {"office": value[STREET_TOWN]}
    return value


class Catalogue(_Strict):
    """A version of the dispatch catalogue."""

    version: str
    offices: dict[str, str]
    units: tuple[OrgUnit, ...]
    rules: tuple[Rule, ...]

    @model_validator(mode="before")
    @classmethod
    def _targets(cls, data: dict) -> dict:
        if isinstance(data, dict) and isinstance(data.get("rules"), list):
            data = {**data, "rules": [
                {**r, "lead": _target(r.get("lead")), "co": [_target(c) for c in r.get("co", [])]}
                if isinstance(r, dict) else r
                for r in data["rules"]
            ]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        codes = {u.code for u in self.units}
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        for rule in self.rules:
            for target in (rule.lead, *rule.co):
                if target.unit is not None and target.unit not in codes:
                    raise ValueError(f"rule {rule.id}: unknown unit {target.unit!r}")
                if target.office is not None and target.office not in self.offices:
                    raise ValueError(f"rule {rule.id}: unknown office {target.office!r}")
        if not self.rules or self.rules[-1].when != Condition():
            raise ValueError("the last rule must match everything (when: {})")
        return self

    @property
    def units_by_code(self) -> dict[str, OrgUnit]:
        """Departments and enterprises by code."""
        return {u.code: u for u in self.units}

    def first_rule(self, *, category: str, district_code: str | None, unit_code: str | None,
                   content: str, skip: frozenset[str] = frozenset()) -> Rule:
        """The first matching rule whose lead is not among the units in `skip`."""
        for rule in self.rules:
            if rule.lead.unit in skip:
                continue
            if rule.matches(category=category, district_code=district_code,
                            unit_code=unit_code, content=content):
                return rule
        return self.rules[-1]


def queue_codes(catalogue: Catalogue, gazetteer: Gazetteer) -> list[str]:
    """Every unit with a queue: streets and towns, district fallbacks, departments, enterprises, triage."""
    return [*gazetteer.units, *gazetteer.districts, *(u.code for u in catalogue.units), TRIAGE_QUEUE_CODE]


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and check a catalogue file (the shipped Beijing one by default)."""
    if path is None:
        text = (resources.files("hotline") / "data" / "catalogue" / "beijing.yaml").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return Catalogue.model_validate(yaml.safe_load(text))


@cache
def default_catalogue() -> Catalogue:
    """The shipped Beijing catalogue."""
    return load_catalogue()


@cache
def catalogue_at(path: Path | None) -> Catalogue:
    """The catalogue in a file, else Beijing's; read once per path (the deployment's is
    `hotline.city.deployment_catalogue`)."""
    return default_catalogue() if path is None else load_catalogue(path)
