"""Replay mappings: how a hotline history's records become raw records plus their lifecycle.

A replay mapping is an import mapping (`hotline.ingest.mapping.Mapping`: the raw-record fields)
with three more keys: `format` (csv or json), `city` (the city file whose unit registry holds the
history's units) and `lifecycle` (the assigned unit, closed time, status, target date and what a
close stands for). Pure: no I/O but reading the mapping file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.contracts import ticket_id_for
from hotline.contracts.followup import ContactKind, Outcome
from hotline.contracts.raw import Satisfaction
from hotline.ingest.mapping import Mapping, MappingError, Text, validation_problems
from hotline.ingest.records import RowRejection, map_row, parse_time
from hotline.yaml_files import read_yaml_mapping

# The repository's data/replay/ folder: shipped mappings, city files and samples.
REPLAY_DATA = Path(__file__).resolve().parents[3] / "data" / "replay"
MAPPINGS = REPLAY_DATA / "mappings"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Status(_Spec):
    """Which values of a status column mean the record is closed (any case)."""

    column: str = Field(description="Column holding the source's status.")
    closed: list[str] = Field(min_length=1, description="Values meaning closed, e.g. [Closed].")

    def is_closed(self, row: dict) -> bool:
        """Whether the row's status is one of the closed values."""
        value = row.get(self.column)
        text = value.strip().casefold() if isinstance(value, str) else ""
        return text in {v.strip().casefold() for v in self.closed}


class Survey(_Spec):
    """The callback (回访) a close stands for: the histories carry no survey, so the mapping says it."""

    resolved: bool = Field(default=True, description="Whether a closed record counts as resolved.")
    satisfaction: Satisfaction = Field(default=Satisfaction.SATISFIED, description="The answer it counts as.")
    contacted: bool | None = Field(
        default=True, description="The citizen's answer to \"did the unit contact you\" it counts as (a close "
        "records a contact with the citizen, so yes); null: the survey did not ask.")


class Lifecycle(_Spec):
    """How a record's lifecycle is read: who handled it, when it closed, by when it was due."""

    unit: Text = Field(description="The agency, department or queue that handled the record (its name).")
    unit_id: Text | None = Field(
        default=None, description="The unit's short id in the source (NYPD); the unit code is made from it, "
        "else from the name."
    )
    unit_kind: Literal["department", "enterprise"] = Field(
        default="department", description="The ranking the history's units take part in."
    )
    closed_at: Text | None = Field(default=None, description="When the record was closed.")
    status: Status | None = Field(
        default=None, description="Status column; without one a record is closed when it has a closed time."
    )
    due_at: Text | None = Field(default=None, description="Target date; becomes the report-back deadline.")
    contact_kind: ContactKind = Field(
        default=ContactKind.PHONE, description="Kind of the contact recorded at the close."
    )
    outcome: Outcome = Field(default=Outcome.RESOLVED, description="Outcome reported at the close.")
    resolution_code: Text = Field(
        default_factory=lambda: Text(value="closed"), description="Resolution code (at most 64 characters)."
    )
    survey: Survey | None = Field(
        default_factory=Survey, description="The callback published at the close; null for none."
    )

    def columns(self) -> set[str]:
        """Every column the lifecycle reads."""
        texts = [t for t in (self.unit, self.unit_id, self.closed_at, self.due_at, self.resolution_code)
                 if t is not None]
        return set().union(*(t.columns() for t in texts)) | ({self.status.column} if self.status else set())


class ReplayMapping(Mapping):
    """A history's export format: the raw-record fields, the city and the lifecycle."""

    format: Literal["csv", "json"] = Field(
        default="csv", description="csv (a header row), or json (an array of objects, nested keys dotted)."
    )
    city: Path = Field(description="City file whose unit registry holds the history's units.")
    lifecycle: Lifecycle

    def columns(self) -> set[str]:
        """Every column the mapping reads (checked against a CSV header)."""
        return super().columns() | self.lifecycle.columns()


def shipped_replay_mappings() -> list[str]:
    """Names of the shipped replay mappings (data/replay/mappings/)."""
    return sorted(p.stem for p in MAPPINGS.glob("*.yaml")) if MAPPINGS.is_dir() else []


def load_replay_mapping(name_or_path: str | Path) -> ReplayMapping:
    """A shipped replay mapping by name (sf, nyc, chicago) or a file; the city path made absolute."""
    path = Path(name_or_path)
    if not path.is_file():
        path = MAPPINGS / f"{name_or_path}.yaml"
        if not path.is_file():
            raise MappingError(
                f"no replay mapping file {str(name_or_path)!r} and no shipped one of that name "
                f"(shipped: {', '.join(shipped_replay_mappings()) or 'none'})"
            )
    data = read_yaml_mapping(path, what="replay mapping", keys="name, city, fields, lifecycle, ...",
                             error=MappingError)
    try:
        mapping = ReplayMapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(f"{path} is not a valid replay mapping:\n{validation_problems(exc)}") from exc
    if not mapping.city.is_absolute():
        mapping = mapping.model_copy(update={"city": (path.parent / mapping.city).resolve()})
    return mapping


# ---------------------------------------------------------------------------------------------
# Units: the history's names as unit codes of the city's registry
# ---------------------------------------------------------------------------------------------

_NOT_CODE = re.compile(r"[^a-z0-9]+")
_CODE_LENGTH = 41  # the catalogue's unit-code pattern: a letter and at most 40 more


def unit_code_for(city_code: str, name: str) -> str:
    """A stable unit code for a history's unit name, e.g. sf-dpw-ops-queue (a digest keeps long
    names unique)."""
    slug = _NOT_CODE.sub("-", name.casefold()).strip("-")
    code = f"{city_code}-{slug}" if slug else city_code
    if len(code) > _CODE_LENGTH or not slug:
        digest = hashlib.sha256(name.strip().encode()).hexdigest()[:6]
        code = f"{code[:_CODE_LENGTH - 7].rstrip('-')}-{digest}"
    return code


def dispatch_tag(unit_code: str) -> str:
    """The marker the replay appends to a record's content; the city catalogue's rule for the unit
    dispatches on it (a keyword), so routing sends the ticket where the history did."""
    return f"[unit: {unit_code}]"


# ---------------------------------------------------------------------------------------------
# One row -> the record to replay
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayRecord:
    """A history's record: the raw record for intake and what its lifecycle says."""

    ticket_id: str
    raw: dict
    unit_code: str
    unit_name: str
    opened_at: datetime
    closed_at: datetime | None
    due_at: datetime | None
    resolution_code: str


def map_record(row: dict, mapping: ReplayMapping, *, city_code: str) -> ReplayRecord | RowRejection:
    """A row (column -> text) as a record to replay, or why not. Pure; never raises."""
    raw = map_row(row, mapping)
    if isinstance(raw, RowRejection):
        return raw
    life = mapping.lifecycle
    unit_name = life.unit.render(row)
    if not unit_name:
        return RowRejection("unit", f"blank ({life.unit.describe()})")
    unit_code = unit_code_for(city_code, (life.unit_id.render(row) if life.unit_id else "") or unit_name)
    opened_at = datetime.fromisoformat(raw["received_at"])
    closed_at = None
    if life.closed_at is not None and (text := life.closed_at.render(row)):
        closed_at = parse_time(text, mapping)
        if closed_at is None:
            return RowRejection("closed_at", "not in a time format of the mapping", text)
    if life.status is not None and not life.status.is_closed(row):
        closed_at = None  # reopened or still in progress: its lifecycle has not ended
    # Closed without a closed time (a few exports): replayed as opened only, having no time to close at.
    if closed_at is not None:
        closed_at = max(closed_at, opened_at)  # a few exports close before opening; not before dispatch
    due_at = None
    if life.due_at is not None and (text := life.due_at.render(row)):
        due_at = parse_time(text, mapping)
        if due_at is None:
            return RowRejection("due_at", "not in a time format of the mapping", text)
    raw = {**raw, "content": f"{raw['content']} {dispatch_tag(unit_code)}"}
    return ReplayRecord(
        ticket_id=ticket_id_for(raw["channel"], raw["source_id"]),
        raw=raw,
        unit_code=unit_code,
        unit_name=unit_name,
        opened_at=opened_at,
        closed_at=closed_at,
        due_at=due_at,
        resolution_code=(life.resolution_code.render(row) or "closed")[:64],
    )
