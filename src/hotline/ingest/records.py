"""One row of a source (column -> text) as a raw-record dict, or a `RowRejection` saying why not.

Pure and total: `map_row` never raises, whatever the row holds. Shared by intake's bulk import
and by the replay (`hotline.replay.mapping.map_record` maps the lifecycle on top).
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.ingest.mapping import Coordinates, Mapping, Text

_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_POINT = re.compile(rf"\(\s*{_NUMBER}\s*[,\s]\s*{_NUMBER}\s*\)")  # "(a, b)", also WKT "POINT (a b)"


@dataclass(frozen=True)
class RowRejection:
    """Why a row cannot become a raw record: the raw-record field, a countable reason, the value."""

    field: str | None
    reason: str
    value: str | None = None


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
    row = mapping.without_blanks(row)
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

