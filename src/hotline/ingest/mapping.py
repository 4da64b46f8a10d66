"""The import mapping: how a source's rows (column -> text) become raw records (YAML, data not code).

One mapping per export format of another hotline (311, 12345): its file settings, time zone and
formats, and how each raw-record field is built from the columns (`Text`, `ValueMap`, `Flag`,
`Coordinates`). Shared by intake's bulk import and by the replay, whose mapping extends this one.
Pure but for reading the mapping file.
"""

import codecs
import re
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
from pydantic_core import ErrorDetails

from hotline.contracts import Channel, RequestType
from hotline.contracts.common import IanaTimeZone

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


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

    @property
    def file_encoding(self) -> str:
        """The codec the file is opened with: utf-8-sig for UTF-8, which reads plain UTF-8 too and drops
        the byte-order mark spreadsheet exports often start with."""
        return "utf-8-sig" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding

    def without_blanks(self, row: dict) -> dict:
        """The row with the cells meaning 'not given' (`blank_values`) made empty."""
        if not self._blanks:
            return row
        return {k: "" if isinstance(v, str) and v.strip().casefold() in self._blanks else v for k, v in row.items()}

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
        raise MappingError(f"{where} is not a valid mapping:\n{validation_problems(exc)}") from exc


def validation_problems(exc: ValidationError) -> str:
    """A mapping's validation errors, one indented `key.path: message` line each."""
    return "\n".join(f"  {key_path(err['loc'])}: {error_message(err)}" for err in exc.errors())


def error_message(error: ErrorDetails) -> str:
    """One validation error's message, with a hint when YAML read a bare word as a boolean or number."""
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_type" and isinstance(error.get("input"), bool | int | float):
        message += f" (YAML read {error['input']!r}: quote it, e.g. \"ON\", \"yes\", \"1\")"
    return message


def key_path(loc: tuple) -> str:
    """The dotted path of the key a validation error is about."""
    # pydantic puts validator names like `function-before[...]` into loc; they are not keys.
    keys = [str(part) for part in loc if not (isinstance(part, str) and "[" in part)]
    return ".".join(keys) or "(top level)"


def _cell(row: dict, column: str) -> str:
    value = row.get(column)
    return value.strip() if isinstance(value, str) else ""
