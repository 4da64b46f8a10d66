"""Bulk import: CSV exports of other hotlines (311, 12345) become raw records on `hotline.raw`.

A mapping file (YAML, data not code) says how a row's columns become a `RawRecord`. The pure part
(`load_mapping`, `map_row`) turns a row into a raw record dict or a `RowRejection`; the runner
(`run_import`) reads the CSV, checks each record with intake's own `normalize`, and publishes the
accepted ones with one idempotent producer.
"""

import asyncio
import codecs
import csv
import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from hotline.contracts import Channel, RequestType, topics
from hotline.contracts.common import IanaTimeZone

# ---------------------------------------------------------------------------------------------
# The mapping schema
# ---------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_POINT = re.compile(rf"\(\s*{_NUMBER}\s*[,\s]\s*{_NUMBER}\s*\)")  # "(a, b)", also WKT "POINT (a b)"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Spec):
    """How one text value is built from a row: exactly one of column, template, join, first_of, value.

    A plain string is short for `{column: ...}`.
    """

    column: str | None = Field(default=None, description="The (trimmed) value of this column.")
    template: str | None = Field(
        default=None,
        description="Text with {Column Name} placeholders ({{ and }} for braces); blank if any "
        "placeholder's column is blank.",
    )
    join: list["Text"] | None = Field(
        default=None, description="The non-blank parts, joined, repeats dropped."
    )
    separator: str = Field(default=" / ", description="Separator of `join`.")
    first_of: list["Text"] | None = Field(default=None, description="The first non-blank alternative.")
    value: str | None = Field(default=None, description="A constant.")
    _parts: list[tuple[str, str | None]] = PrivateAttr(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"column": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _exactly_one(self) -> "Text":
        kinds = ("column", "template", "join", "first_of", "value")
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of column, template, join, first_of, value "
                f"(got {', '.join(given) or 'none'})"
            )
        if self.template is not None:
            self._parts = _parse_template(self.template)
        if self.join is not None and not self.join or self.first_of is not None and not self.first_of:
            raise ValueError("join and first_of need at least one item")
        return self

    def columns(self) -> set[str]:
        """Every column this value reads."""
        return set(self._ordered_columns())

    def _ordered_columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return [name for _, name in self._parts if name is not None]
        return [name for part in self.join or self.first_of or [] for name in part._ordered_columns()]

    def describe(self) -> str:
        """Where the value comes from, for messages."""
        if self.column is not None:
            return f"column {self.column!r}"
        if self.template is not None:
            return f"template {self.template!r}"
        if self.value is not None:
            return "a constant"
        names = ", ".join(dict.fromkeys(self._ordered_columns()))
        return f"{'join' if self.join is not None else 'first of'} {names}"

    def render(self, row: dict) -> str:
        """The value for a row ('' when blank)."""
        if self.column is not None:
            return _cell(row, self.column)
        if self.value is not None:
            return self.value.strip()
        if self.template is not None:
            out = []
            for literal, name in self._parts:
                if name is None:
                    out.append(literal)
                    continue
                cell = _cell(row, name)
                if not cell:
                    return ""
                out.append(cell)
            return "".join(out).strip()
        if self.first_of is not None:
            return next((v for v in (part.render(row) for part in self.first_of) if v), "")
        values: list[str] = []
        for part in self.join or []:
            v = part.render(row)
            if v and v not in values:
                values.append(v)
        return self.separator.join(values)


def _parse_template(template: str) -> list[tuple[str, str | None]]:
    """A template as (literal, None) and ('', column) parts."""
    parts: list[tuple[str, str | None]] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append((template[pos : match.start()], None))
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append((token[0], None))
        elif not match.group(1).strip():
            raise ValueError(f"empty placeholder in template {template!r}")
        else:
            parts.append(("", match.group(1)))
        pos = match.end()
    rest = template[pos:]
    if "{" in rest or "}" in rest:
        raise ValueError(f"unbalanced brace in template {template!r} (write {{{{ or }}}} for a brace)")
    parts.append((rest, None))
    return parts


E = TypeVar("E", Channel, RequestType)


class ValueMap(_Spec, Generic[E]):
    """A column's values mapped to one of a fixed set (case and surrounding spaces ignored)."""

    column: str | None = Field(default=None, description="Column holding the source's value.")
    values: dict[str, E] = Field(default_factory=dict, description="Source value -> our value.")
    default: E | None = Field(
        default=None, description="For a blank or unmapped value (or with no column); none rejects the row."
    )
    _lookup: dict[str, E] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _column_or_default(self) -> "ValueMap":
        if self.column is None and self.default is None:
            raise ValueError("give a column (with values), a default, or both")
        self._lookup = {key.strip().casefold(): value for key, value in self.values.items()}
        return self

    def columns(self) -> set[str]:
        """Every column this value reads."""
        return {self.column} if self.column else set()

    def pick(self, row: dict) -> tuple[str, E | None]:
        """The source value and what it maps to (the default when unmapped)."""
        raw = _cell(row, self.column) if self.column else ""
        return raw, self._lookup.get(raw.casefold(), self.default)


class Flag(_Spec):
    """A yes/no field: a constant `value`, or a column whose value is one of `true_values`."""

    column: str | None = Field(default=None, description="Column holding the flag.")
    true_values: list[str] = Field(
        default_factory=lambda: ["true", "yes", "y", "1", "是"], description="Values meaning yes (any case)."
    )
    value: bool | None = Field(default=None, description="A constant.")

    @model_validator(mode="after")
    def _one(self) -> "Flag":
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of column, value")
        return self

    def columns(self) -> set[str]:
        """Every column this flag reads."""
        return {self.column} if self.column else set()

    def test(self, row: dict) -> bool:
        """The flag for a row."""
        if self.value is not None:
            return self.value
        return _cell(row, self.column or "").casefold() in {v.casefold() for v in self.true_values}


class Coordinates(_Spec):
    """Latitude and longitude (WGS84): from two columns, a "(lat, lon)" point text, or both in turn."""

    lat: Text | None = Field(default=None, description="Latitude column.")
    lon: Text | None = Field(default=None, description="Longitude column.")
    point: Text | None = Field(
        default=None, description="Text holding '(a, b)' (or WKT '(a b)') anywhere in it."
    )
    order: Literal["lat,lon", "lon,lat"] = Field(default="lat,lon", description="Order inside `point`.")

    @model_validator(mode="after")
    def _something(self) -> "Coordinates":
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give lat and lon together")
        if self.lat is None and self.point is None:
            raise ValueError("give lat and lon, a point, or both")
        return self

    def columns(self) -> set[str]:
        """Every column the coordinates read."""
        return set().union(*(t.columns() for t in (self.lat, self.lon, self.point) if t is not None))


class CallerSpec(_Spec):
    """The caller's phone and name, where the export has them (personal data)."""

    phone: Text | None = None
    name: Text | None = None

    def columns(self) -> set[str]:
        """Every column the caller reads."""
        return set().union(*(t.columns() for t in (self.phone, self.name) if t is not None))


OptionalField = Literal["address", "community", "district", "category_hint", "request_type", "coordinates"]


class Fields(_Spec):
    """How each raw-record field is built."""

    source_id: Text = Field(description="Id in the source; give it a prefix so cities never clash.")
    received_at: Text = Field(description="Creation time, read with the mapping's time formats.")
    content: Text = Field(description="What the citizen asked, e.g. category, type and details joined.")
    channel: ValueMap[Channel] = Field(description="Channel column and value mapping, with a default.")
    address: Text | None = None
    community: Text | None = None
    district: Text | None = None
    category_hint: Text | None = None
    request_type: ValueMap[RequestType] | None = None
    coordinates: Coordinates | None = None
    caller: CallerSpec | None = None
    anonymous: Flag | None = None
    answered_directly: Flag | None = None


class Mapping(_Spec):
    """A source's export format: file settings, time zone and formats, and the field mappings."""

    name: str = Field(min_length=1, description="Human name of the source and format.")
    description: str = ""
    encoding: str = Field(default="utf-8", description="Text encoding of the file (e.g. utf-8, gb18030).")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="Field delimiter.")
    timezone: IanaTimeZone = Field(description="IANA zone of naive times in the file, e.g. America/New_York.")
    time_formats: list[str] = Field(
        min_length=1, description="strptime formats tried in turn; 'iso' means ISO 8601."
    )
    blank_values: list[str] = Field(
        default_factory=list, description="Cell values that mean 'not given' (any case), e.g. N/A."
    )
    required: list[OptionalField] = Field(
        default_factory=list, description="Optional fields that must not be blank in this source."
    )
    fields: Fields
    _zone: ZoneInfo = PrivateAttr()
    _blanks: frozenset[str] = PrivateAttr(default=frozenset())


    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _prepare(self) -> "Mapping":
        self._zone = ZoneInfo(self.timezone)
        self._blanks = frozenset(v.strip().casefold() for v in self.blank_values)
        missing = [name for name in self.required if getattr(self.fields, name) is None]
        if missing:
            raise ValueError(f"required names fields the mapping does not build: {', '.join(missing)}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The source's time zone."""
        return self._zone

    def columns(self) -> set[str]:
        """Every column the mapping reads."""
        specs = [getattr(self.fields, name) for name in Fields.model_fields]
        return set().union(*(spec.columns() for spec in specs if spec is not None))


class MappingError(ValueError):
    """A mapping cannot be found, read or understood."""


def shipped_mappings() -> list[str]:
    """Names of the mappings shipped with the package."""
    folder = resources.files("hotline") / "data" / "mappings"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_mapping(name_or_path: str | Path) -> Mapping:
    """A shipped mapping by name (e.g. `sf311`) or a mapping file by path; MappingError if bad."""
    path = Path(name_or_path)
    if path.is_file():
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MappingError(f"cannot read mapping file {where}: {exc}") from exc
    elif str(name_or_path) in shipped_mappings():
        where = f"shipped mapping {name_or_path!r}"
        text = (resources.files("hotline") / "data" / "mappings" / f"{name_or_path}.yaml").read_text("utf-8")
    else:
        raise MappingError(
            f"no mapping file {str(name_or_path)!r} and no shipped mapping of that name "
            f"(shipped: {', '.join(shipped_mappings())})"
        )
    return parse_mapping(text, where=where)


def parse_mapping(text: str, *, where: str = "mapping") -> Mapping:
    """A mapping from YAML text; MappingError naming the bad key otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"{where} must be a YAML mapping of keys (name, timezone, time_formats, fields)")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        problems = [f"  {_key_path(err['loc'])}: {_message(err)}" for err in exc.errors()]
        raise MappingError(f"{where} is not a valid mapping:\n" + "\n".join(problems)) from exc


def _message(error: dict) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_type" and isinstance(error.get("input"), bool | int | float):
        message += f" (YAML read {error['input']!r}: quote it, e.g. \"ON\", \"yes\", \"1\")"
    return message


def _key_path(loc: tuple) -> str:
    # pydantic puts validator names like `function-before[...]` into loc; they are not keys.
    keys = [str(part) for part in loc if not (isinstance(part, str) and "[" in part)]
    return ".".join(keys) or "(top level)"


# ---------------------------------------------------------------------------------------------
# The pure part: one row -> a raw record dict, or a rejection
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowRejection:
    """Why a row cannot become a raw record: the raw-record field, a countable reason, the value."""

    field: str | None
    reason: str
    value: str | None = None


def _cell(row: dict, column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""


def parse_time(text: str, mapping: Mapping) -> datetime | None:
    """An aware time from the source's text (naive times are in the mapping's zone), else None."""
    for fmt in mapping.time_formats:
        try:
            parsed = datetime.fromisoformat(text) if fmt == "iso" else datetime.strptime(text, fmt)
        except ValueError:
            continue
        # fold=0: in the repeated autumn hour the first (summer-time) reading is taken.
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=mapping.zone)
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _coordinates(spec: Coordinates, row: dict) -> tuple[float, float] | RowRejection | None:
    if spec.lat is not None and spec.lon is not None:
        lat_text, lon_text = spec.lat.render(row), spec.lon.render(row)
        if lat_text and lon_text:
            lat, lon = _number(lat_text), _number(lon_text)
            if lat is None:
                return RowRejection("lat", f"not a number ({spec.lat.describe()})", lat_text)
            if lon is None:
                return RowRejection("lon", f"not a number ({spec.lon.describe()})", lon_text)
            return (lat, lon)
    if spec.point is not None:
        text = spec.point.render(row)
        if text:
            match = _POINT.search(text)
            first, second = (_number(match.group(1)), _number(match.group(2))) if match else (None, None)
            if first is None or second is None:
                return RowRejection("lat", f"no '(a, b)' point ({spec.point.describe()})", text[:200])
            return (first, second) if spec.order == "lat,lon" else (second, first)
    return None


def map_row(row: dict, mapping: Mapping) -> dict | RowRejection:
    """A CSV row (column -> text) as a raw-record dict, or why not. Pure; never raises."""
    if mapping._blanks:
        blanks = mapping._blanks
        row = {k: "" if isinstance(v, str) and v.strip().casefold() in blanks else v for k, v in row.items()}
    f = mapping.fields
    source_id = f.source_id.render(row)
    if not source_id:
        return RowRejection("source_id", f"blank ({f.source_id.describe()})")
    when_text = f.received_at.render(row)
    if not when_text:
        return RowRejection("received_at", f"blank ({f.received_at.describe()})")
    received_at = parse_time(when_text, mapping)
    if received_at is None:
        return RowRejection(
            "received_at",
            f"not in a time format of the mapping ({', '.join(mapping.time_formats)})",
            when_text,
        )
    content = f.content.render(row)
    if not content:
        return RowRejection("content", f"blank ({f.content.describe()})")
    raw_channel, channel = f.channel.pick(row)
    if channel is None:
        return RowRejection("channel", "no mapping for the value and no default", raw_channel)
    record: dict[str, Any] = {
        "channel": channel.value,
        "source_id": source_id,
        "received_at": received_at.isoformat(),
        "content": content,
        "address": f.address.render(row) if f.address else "",
    }
    for name in ("community", "district", "category_hint"):
        spec: Text | None = getattr(f, name)
        if spec is not None and (text := spec.render(row)):
            record[name] = text
    if f.request_type is not None:
        raw_type, request_type = f.request_type.pick(row)
        if request_type is None and raw_type:
            return RowRejection("request_type", "no mapping for the value and no default", raw_type)
        if request_type is not None:
            record["request_type"] = request_type.value
    if f.coordinates is not None:
        point = _coordinates(f.coordinates, row)
        if isinstance(point, RowRejection):
            return point
        # (0, 0) is how some exports write "no location"; no city lies there.
        if point is not None and point != (0.0, 0.0):
            record["lat"], record["lon"] = point
    if f.caller is not None:
        caller = {
            key: text
            for key, spec in (("phone", f.caller.phone), ("name", f.caller.name))
            if spec is not None and (text := spec.render(row))
        }
        if caller:
            record["caller"] = caller
    if f.anonymous is not None and f.anonymous.test(row):
        record["anonymous"] = True
    if f.answered_directly is not None and f.answered_directly.test(row):
        record["answered_directly"] = True
    for name in mapping.required:
        blank = record.get(name) in (None, "") if name != "coordinates" else "lat" not in record
        if blank:
            return RowRejection(name, "blank, and the mapping requires it")
    return record


# ---------------------------------------------------------------------------------------------
# The runner: read, validate with intake's normalizer, publish, summarise
# ---------------------------------------------------------------------------------------------

CHUNK = 1000  # send() futures awaited together; bounds memory and makes progress visible


class BulkImportError(RuntimeError):
    """The import cannot go on: an unreadable file, a mapping that does not fit it, a broker error."""


@dataclass
class ImportSummary:
    """What an import did."""

    file: str
    mapping: str
    topic: str | None
    dry_run: bool
    rows_read: int = 0
    accepted: int = 0
    published: int = 0
    rejected: Counter = field(default_factory=Counter)  # "field: reason" -> rows
    seconds: float = 0.0

    @property
    def rejected_total(self) -> int:
        """Rows rejected, for any reason."""
        return sum(self.rejected.values())

    @property
    def rows_per_second(self) -> float:
        """Rows read (mapped, validated and, unless dry, published) per second."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


def _rows(handle, mapping: Mapping, path: Path) -> Iterator[tuple[int, int, dict]]:
    """(row number, first line, row dict) for each data row; checks the header against the mapping."""
    reader = csv.reader(handle, delimiter=mapping.delimiter)
    try:
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise _not_encoded(path, mapping, exc) from exc
    except csv.Error as exc:
        raise BulkImportError(f"cannot read the header of {path}: {exc}") from exc
    if not header:
        raise BulkImportError(f"{path} is empty: no header row")
    header = [name.strip() for name in header]
    missing = sorted(mapping.columns() - set(header))
    if missing:
        raise BulkImportError(
            f"mapping {mapping.name!r} reads columns that {path.name} does not have: {', '.join(missing)} "
            f"(its header: {', '.join(header[:12])}{', ...' if len(header) > 12 else ''})"
        )
    number, line = 0, reader.line_num + 1
    while True:
        try:
            cells = next(reader, None)
        except UnicodeDecodeError as exc:
            raise _not_encoded(path, mapping, exc) from exc
        except csv.Error as exc:
            raise BulkImportError(f"cannot read {path} at line {line} (row {number + 1}): {exc}") from exc
        if cells is None:
            return
        if cells:  # the csv module gives [] for an empty line
            number += 1
            if len(cells) != len(header):
                yield number, line, {None: f"{len(cells)} fields, the header has {len(header)}"}
            else:
                yield number, line, dict(zip(header, cells, strict=True))
        line = reader.line_num + 1


def _not_encoded(path: Path, mapping: Mapping, exc: UnicodeDecodeError) -> BulkImportError:
    return BulkImportError(
        f"cannot read {path}: it is not {mapping.encoding} text ({exc.reason}); "
        "set `encoding` in the mapping (e.g. gb18030)"
    )


async def run_import(
    path: Path,
    mapping: Mapping,
    *,
    kafka: str | dict[str, Any] = "127.0.0.1:9092",
    topic: str = topics.RAW,
    dry_run: bool = False,
    limit: int | None = None,
    rejects: Path | None = None,
    console=None,
    now: datetime | None = None,
) -> ImportSummary:
    """Import one CSV file: map, validate with intake's normalizer, publish the accepted rows."""
    from hotline.intake.domain import Rejection, parse_record

    now = now or datetime.now(UTC)
    summary = ImportSummary(str(path), mapping.name, None if dry_run else topic, dry_run)
    # utf-8-sig reads plain UTF-8 too, and drops the byte-order mark spreadsheet exports often start with.
    encoding = "utf-8-sig" if codecs.lookup(mapping.encoding).name == "utf-8" else mapping.encoding
    try:
        size = path.stat().st_size
        handle = path.open(encoding=encoding, newline="")
    except OSError as exc:
        raise BulkImportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        rejects_out = rejects.open("w", encoding="utf-8") if rejects else None
    except OSError as exc:
        handle.close()
        raise BulkImportError(f"cannot write the rejects file {rejects}: {exc.strerror or exc}") from exc

    def check(row: dict) -> tuple[bytes, None] | tuple[None, RowRejection]:
        if None in row:
            return None, RowRejection("row", "wrong number of fields", row[None])
        record = map_row(row, mapping)
        if isinstance(record, RowRejection):
            return None, record
        payload = json.dumps(record, ensure_ascii=False).encode("utf-8")
        # What intake refuses is the record's own fault only (parse_record): the category and place
        # never refuse a record, so the classifier is not loaded for an import.
        checked = parse_record(payload, now=now)
        if isinstance(checked, Rejection):
            return None, RowRejection(checked.field, checked.reason, _value_at(record, checked.field))
        return payload, None

    producer = None
    progress = _progress(console)
    started = time.perf_counter()
    try:
        if not dry_run:
            producer = await _start_producer(kafka)
        # The bar follows the bytes read, or the rows when --limit stops early.
        total = limit if limit is not None else size
        task = progress.add_task(f"import {path.name}", total=total, rows=0) if progress else None
        pending: list[asyncio.Future] = []
        for number, line, row in _rows(handle, mapping, path):
            if limit is not None and summary.rows_read >= limit:
                break
            summary.rows_read += 1
            if progress and summary.rows_read % 200 == 0:
                done = summary.rows_read if limit is not None else handle.buffer.tell()
                progress.update(task, completed=done, rows=summary.rows_read)
            payload, rejection = check(row)
            if rejection is not None:
                _reject(summary, rejection, number, line, rejects_out)
                continue
            summary.accepted += 1
            if producer is not None:
                pending.append(await producer.send(topic, payload))
                if len(pending) >= CHUNK:
                    await _settle(pending, summary)
        await _settle(pending, summary)
        if progress:
            progress.update(task, completed=total, rows=summary.rows_read)
    finally:
        summary.seconds = time.perf_counter() - started
        if progress:
            progress.stop()
        if producer is not None:
            await producer.stop()
        handle.close()
        if rejects_out:
            rejects_out.close()
    return summary


def _progress(console):
    if console is None:
        return None
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(), console=console, transient=True,
    )
    progress.start()
    return progress


async def _start_producer(kafka: str | dict[str, Any]):
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from hotline.runtime.kafka import client_options

    options = client_options(kafka)
    # `options` carries the settings' acks (always "all"); a bare address gets "all" too.
    producer = AIOKafkaProducer(**{"acks": "all", **options}, enable_idempotence=True, linger_ms=5)
    try:
        await producer.start()
    except KafkaError as exc:
        await producer.stop()
        raise BulkImportError(f"cannot reach Kafka at {options['bootstrap_servers']}: {exc}") from exc
    return producer


async def _settle(pending: list, summary: ImportSummary) -> None:
    """Wait for the broker to acknowledge every sent record of the chunk."""
    if not pending:
        return
    from aiokafka.errors import KafkaError

    try:
        await asyncio.gather(*pending)
    except KafkaError as exc:
        raise BulkImportError(
            f"publishing failed after {summary.published} acknowledged records ({exc}); "
            "importing the file again is safe: intake treats a resent record as the same ticket"
        ) from exc
    summary.published += len(pending)
    pending.clear()


def _value_at(record: dict, field_path: str | None) -> str | None:
    value: Any = record
    for key in (field_path or "").split("."):
        if not key or not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return None if value is None else str(value)[:200]


def _reject(summary: ImportSummary, rejection: RowRejection, number: int, line: int, out) -> None:
    summary.rejected[f"{rejection.field or 'record'}: {rejection.reason}"] += 1
    if out is None:
        return
    entry = {"row": number, "line": line, "field": rejection.field, "reason": rejection.reason}
    # Caller fields are personal data: the rejects file says what is wrong, not the number.
    if rejection.value is not None and not (rejection.field or "").startswith("caller"):
        entry["value"] = rejection.value
    out.write(json.dumps(entry, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# The command line (`hotline import`)
# ---------------------------------------------------------------------------------------------


def summary_table(summary: ImportSummary):
    """The summary as a rich table."""
    from rich.table import Table

    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("rows read", f"{summary.rows_read:,}")
    table.add_row("accepted", f"{summary.accepted:,}")
    if summary.dry_run:
        table.add_row("published", "dry run: nothing")
    else:
        table.add_row(f"published to {summary.topic}", f"{summary.published:,}")
    table.add_row("rejected", f"{summary.rejected_total:,}")
    for reason, count in summary.rejected.most_common():
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("time", f"{summary.seconds:.2f} s")
    table.add_row("records/s", f"{summary.rows_per_second:,.0f}")
    return table


def main(
    file: Path, *, mapping: str, dry_run: bool = False, limit: int | None = None, rejects: Path | None = None
) -> int:
    """Run an import from the command line: progress bar, summary table; the exit code."""
    from rich.console import Console
    from rich.markup import escape

    from hotline.runtime.settings import ServiceSettings

    out, err = Console(), Console(stderr=True)
    try:
        spec = load_mapping(mapping)
        settings = ServiceSettings()
        summary = asyncio.run(
            run_import(
                file, spec, kafka=settings.kafka_producer_options(),
                topic=settings.topic(topics.RAW), dry_run=dry_run, limit=limit, rejects=rejects,
                console=err if err.is_terminal else None,
            )
        )
    except (MappingError, BulkImportError) as exc:
        err.print("[bold red]error:[/]", escape(str(exc)), highlight=False)
        return 2 if isinstance(exc, MappingError) else 1
    out.print(f"{summary.file} with mapping {summary.mapping!r}", highlight=False)
    out.print(summary_table(summary))
    if rejects and summary.rejected_total:
        out.print(f"rejected rows written to {rejects}", highlight=False)
    return 0
