"""GET requests' filters: the ids asked for, or a window of at most 90 days and its filters."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline.intake.open311.errors import Open311Error
from hotline.taxonomy import Taxonomy

MAX_SPAN = timedelta(days=90)
MAX_RESULTS = 1000


def parse_w3_time(value: str, param: str) -> datetime:
    """An ISO 8601 time with its zone; a `+` decoded as a space in the URL is put back."""
    candidates = [value.strip()]
    if " " in candidates[0]:
        head, _, tail = candidates[0].rpartition(" ")
        candidates.append(f"{head}+{tail}")
    for text in candidates:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            continue
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise Open311Error(400, f"{param} must carry a time zone (e.g. 2026-11-26T00:00:00+08:00)")
        return parsed
    raise Open311Error(400, f"{param} is not an ISO 8601 time: {value!r}")


@dataclass(frozen=True)
class RequestQuery:
    """What GET requests asks for: ids (which override the rest), or a window and filters."""

    ids: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()


def _listed(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in (value or "").split(",") if v.strip()))


def parse_request_query(params: Mapping[str, str], *, now: datetime, taxonomy: Taxonomy) -> RequestQuery:
    """GET requests' filters; the window defaults to the last 90 days and may not span more."""
    ids = _listed(params.get("service_request_id"))
    if ids:
        return RequestQuery(ids=ids[:MAX_RESULTS])
    codes = _listed(params.get("service_code"))
    unknown = [c for c in codes if c not in taxonomy.categories]
    if unknown:
        raise Open311Error(400, f"service_code {', '.join(unknown)} is not a known service")
    statuses = _listed(params.get("status"))
    bad = [s for s in statuses if s not in ("open", "closed")]
    if bad:
        raise Open311Error(400, f"status must be open or closed, got {', '.join(bad)}")
    start = parse_w3_time(params["start_date"], "start_date") if params.get("start_date") else None
    end = parse_w3_time(params["end_date"], "end_date") if params.get("end_date") else None
    if start is None:
        if end is None:
            end = now
        start = end - MAX_SPAN
    elif end is None:
        end = start + MAX_SPAN
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > MAX_SPAN:
        raise Open311Error(
            400, f"start_date to end_date spans {(end - start).days} days; at most 90 days"
        )
    return RequestQuery(start=start, end=end, service_codes=codes, statuses=statuses)
