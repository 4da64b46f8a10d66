"""POST requests: the submitted parameters, and the raw record (hotline.raw contract) they become."""

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from hotline.contracts import BUSINESS_TZ, Channel, RequestType
from hotline.ingest.admission import Rejection
from hotline.intake.domain import PLATFORM_FIELDS
from hotline.intake.open311.errors import Open311Error
from hotline.intake.open311.services import service_name
from hotline.taxonomy import Taxonomy

MAX_DESCRIPTION = 4000  # GeoReport v2 limits description to 4,000 characters

# Raw-record fields named as the Open311 parameters they came from, for error messages.
PARAM_OF_FIELD = {
    "content": "description",
    "address": "address_string",
    "lat": "lat",
    "lon": "long",
    "caller": "phone",
    "caller.phone": "phone",
    "caller.name": "first_name and last_name",
    "community": "attribute[community]",
    "request_type": "attribute[request_type]",
    "anonymous": "attribute[anonymous]",
    "category_hint": "service_code",
}

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}
_CJK = re.compile(r"[\u3400-\u9fff]")


def parse_form(body: bytes, content_type: str) -> dict[str, str]:
    """The submitted parameters: form-encoded as GeoReport v2 says, or a JSON object.

    Empty values count as absent (GeoReport v2: an empty optional argument is no argument).
    A JSON `attribute` object becomes `attribute[code]` keys, as in the form.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Open311Error(400, f"the request body is not UTF-8 (byte {exc.start})") from None
    if "json" in content_type.lower():
        try:
            data = json.loads(text or "{}")
        except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than Python's stack
            raise Open311Error(400, f"the request body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise Open311Error(400, "the request body must be a JSON object")
        pairs: list[tuple[str, Any]] = []  # JSON values of any type; the loop below makes them text or drops them
        for key, value in data.items():
            if key == "attribute" and isinstance(value, dict):
                pairs.extend((f"attribute[{k}]", v) for k, v in value.items())
            else:
                pairs.append((key, value))
    elif "multipart/" in content_type.lower():
        raise Open311Error(400, "send the request as application/x-www-form-urlencoded or JSON")
    else:
        pairs = parse_qsl(text, keep_blank_values=True)
    form: dict[str, str] = {}
    for key, value in pairs:
        if (field := platform_param(key)) is not None:
            raise Open311Error(403, f"{key[:40]}: {field} is set by the hotline for an Open311 request "
                                    "(channel open311, its own id, the time it arrived), never by the client")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif value is None or isinstance(value, (dict, list)):
            continue
        value = str(value)
        if not _is_text(key) or not _is_text(value):  # JSON's "\ud800": no character, cannot be sent on
            raise Open311Error(400, f"{key[:40]!r} holds a lone surrogate, not text")
        if value.strip():
            form[key] = value
    return form


# What only the hotline's platform sets on a ticket (domain.PLATFORM_FIELDS), with the GeoReport name
# of the received time; the category is the citizen's choice here, as `service_code`.
_PLATFORM_PARAMS = frozenset(f for f in PLATFORM_FIELDS if f != "category_hint") | {"requested_datetime"}
_PARAM_NAME = re.compile(r"(?:attribute\[)?([^\[\]]*)")


def platform_param(key: str) -> str | None:
    """The platform-only field a parameter names (`received_at`, `attribute[channel]`,
    `collected_by[unit_code]`), else None."""
    match = _PARAM_NAME.match(key.strip())
    assert match is not None  # every part of the pattern may be empty: it matches any string
    name = match.group(1).strip().lower()
    return name if name in _PLATFORM_PARAMS else None


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(form: Mapping[str, str], param: str) -> float:
    try:
        return float(form[param])
    except ValueError:
        raise Open311Error(400, f"{param} must be a number, got {form[param]!r}") from None


def _flag(value: str, param: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise Open311Error(400, f"{param} must be true or false, got {value!r}")


def _full_name(first: str | None, last: str | None) -> str | None:
    first, last = (first or "").strip(), (last or "").strip()
    if first and last:
        # Chinese names put the family name first, without a space.
        return f"{last}{first}" if _CJK.search(first + last) else f"{first} {last}"
    return first or last or None


def raw_record_from_form(
    form: Mapping[str, str], *, taxonomy: Taxonomy, now: datetime, source_id: str
) -> dict:
    """The raw record (hotline.raw contract) for a POSTed request, or an Open311Error."""
    code = form.get("service_code")
    if not code:
        raise Open311Error(400, "service_code is required")
    category = taxonomy.categories.get(code)
    if category is None:
        raise Open311Error(400, f"service_code {code!r} is not a known service (see services.json)")
    has_lat, has_long = "lat" in form, "long" in form
    if has_lat != has_long:
        missing = "long" if has_lat else "lat"
        raise Open311Error(400, f"{missing} is required with {'lat' if has_lat else 'long'}")
    address = form.get("address_string", "").strip()
    if not has_lat and not address:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    description = form.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(
            400, f"description is {len(description)} characters, at most {MAX_DESCRIPTION}"
        )
    record: dict = {
        "channel": Channel.OPEN311.value,
        "source_id": source_id,
        "received_at": now.astimezone(BUSINESS_TZ).isoformat(),
        "content": description or service_name(category),
        "address": address,
        "caller": {},
        "category_hint": code,
    }
    if has_lat:
        record["lat"], record["lon"] = _number(form, "lat"), _number(form, "long")
    if phone := form.get("phone", "").strip():
        record["caller"]["phone"] = phone
    if name := _full_name(form.get("first_name"), form.get("last_name")):
        record["caller"]["name"] = name
    if community := form.get("attribute[community]", "").strip():
        record["community"] = community
    if request_type := form.get("attribute[request_type]", "").strip():
        allowed = [t.value for t in RequestType]
        if request_type not in allowed:
            raise Open311Error(
                400, f"attribute[request_type] must be one of {', '.join(allowed)}, got {request_type!r}"
            )
        record["request_type"] = request_type
    if "attribute[anonymous]" in form:
        record["anonymous"] = _flag(form["attribute[anonymous]"], "attribute[anonymous]")
    return record


def rejection_error(rejection: Rejection) -> Open311Error:
    """Intake's reason for refusing the record, naming the Open311 parameter it came from."""
    return refused_field(rejection.field, rejection.reason)


def refused_field(field: str | None, reason: str) -> Open311Error:
    """A refusal of a raw-record field (intake's `Invalid`), as GeoReport v2 says it: 400, naming
    the Open311 parameter the field came from."""
    if field is None:
        return Open311Error(400, reason)
    param = PARAM_OF_FIELD.get(field, field)
    return Open311Error(400, f"{param}: {reason}")
