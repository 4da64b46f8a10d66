"""A source file's rows as column -> text: a CSV file with a header row, or a JSON array of objects.

Shared by intake's bulk import (CSV) and by the replay (CSV, or an Open311 GeoReport answer in
JSON). The header is checked against the mapping before any row is read.
"""

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from hotline.ingest.mapping import Mapping


class SourceError(RuntimeError):
    """A source file cannot be read, or does not fit its mapping (a missing column, a wrong encoding)."""


def csv_rows(handle: TextIO, mapping: Mapping, path: Path) -> Iterator[tuple[int, int, dict]]:
    """(row number, first line, row dict) for each data row of a CSV file open in `handle`; checks
    the header against the mapping. A row whose field count is not the header's is `{None: why}`."""
    reader = csv.reader(handle, delimiter=mapping.delimiter)
    try:
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        raise _not_encoded(path, mapping, exc) from exc
    except csv.Error as exc:
        raise SourceError(f"cannot read the header of {path}: {exc}") from exc
    if not header:
        raise SourceError(f"{path} is empty: no header row")
    header = [name.strip() for name in header]
    missing = sorted(mapping.columns() - set(header))
    if missing:
        raise SourceError(
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
            raise SourceError(f"cannot read {path} at line {line} (row {number + 1}): {exc}") from exc
        if cells is None:
            return
        if cells:  # the csv module gives [] for an empty line
            number += 1
            if len(cells) != len(header):
                yield number, line, {None: f"{len(cells)} fields, the header has {len(header)}"}
            else:
                yield number, line, dict(zip(header, cells, strict=True))
        line = reader.line_num + 1


def _not_encoded(path: Path, mapping: Mapping, exc: UnicodeDecodeError) -> SourceError:
    return SourceError(
        f"cannot read {path}: it is not {mapping.encoding} text ({exc.reason}); "
        "set `encoding` in the mapping (e.g. gb18030)"
    )


def json_rows(path: Path, mapping: Mapping) -> Iterator[dict]:
    """Each record of a JSON file (an array of objects, or an object holding one) flattened; an item
    that is not an object is `{None: why}`. OSError, UnicodeDecodeError and ValueError (bad JSON) go
    to the caller."""
    data = json.loads(path.read_text(encoding=mapping.file_encoding))
    if isinstance(data, dict):  # a GeoReport answer wrapped in an object
        data = next((v for v in data.values() if isinstance(v, list)), [])
    if not isinstance(data, list):
        raise SourceError(f"{path} holds no JSON array of records")
    yield from (flatten(item) if isinstance(item, dict) else {None: "not an object"} for item in data)


def flatten(record: Any, prefix: str = "") -> dict[str, str]:
    """A JSON object as text cells: nested keys dotted (`extended_attributes.channel`), list items
    by index (`notes.0.datetime`) and, for objects with a `type`, by it (`notes[type=closed].datetime`,
    the first such item)."""
    cells: dict[str, str] = {}
    if isinstance(record, dict):
        for key, value in record.items():
            cells.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(record, list):
        for index, item in enumerate(record):
            cells.update(flatten(item, f"{prefix}{index}."))
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                typed = f"{prefix[:-1]}[type={item['type']}]."
                for key, value in flatten(item, typed).items():
                    cells.setdefault(key, value)
    elif record is not None:
        text = ("true" if record else "false") if isinstance(record, bool) else str(record)
        cells[prefix[:-1]] = text
    return cells
