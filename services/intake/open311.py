"""Open311 GeoReport v2 on intake: the service list, service definitions and service requests.

Pure mapping and rendering come first (form to raw record, stored ticket to request object,
JSON and XML); the FastAPI routes at the end only read the HTTP request, call them, and answer.
Spec: wiki.open311.org/GeoReport_v2. The caller's phone and name go into the raw record for
the handling unit and are never part of any answer.
"""

import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pymongo.errors import PyMongoError

from hotline.contracts import BUSINESS_TZ, Channel, RequestType
from hotline.contracts.text import xml_safe
from hotline.gazetteer import Gazetteer, beijing
from hotline.intake.domain import IntakePolicy, Rejection
from hotline.intake.door import PLATFORM_FIELDS
from hotline.intake.public import is_public, public_text
from hotline.intake.store import IntakeStore
from hotline.intake.submit import submit_raw
from hotline.runtime.service import ServiceRuntime
from hotline.taxonomy import Category, Taxonomy, default_taxonomy

MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
ERROR_RESPONSES = {
    400: {"description": "GeoReport v2 error list naming the parameter"},
    404: {"description": "GeoReport v2 error list: no such service, request or format"},
}
MAX_SPAN = timedelta(days=90)
MAX_RESULTS = 1000
MAX_DESCRIPTION = 4000  # GeoReport v2 limits description to 4,000 characters
HOTLINE_AGENCY = "12345热线"

REQUEST_TYPE_NAMES = {
    RequestType.CONSULTATION: "咨询 Consultation",
    RequestType.HELP: "求助 Help",
    RequestType.COMPLAINT: "投诉 Complaint",
    RequestType.REPORT: "举报 Report",
    RequestType.SUGGESTION: "建议 Suggestion",
    RequestType.PRAISE: "表扬 Praise",
}

# The taxonomy has no groups yet; a category missing here falls back on its utility flag.
_GROUPS = {
    "公用事业 Utilities": ("water_supply", "heating", "power", "gas", "drainage"),
    "城市环境 City environment": (
        "noise", "sanitation", "environment_pollution", "parks_greenery", "construction",
    ),
    "交通出行 Transport": ("roads_traffic", "public_transport", "parking"),
    "住房物业 Housing": ("property_management", "housing_certificates"),
    "民生服务 Public services": ("education", "wages_social_security", "elderly_care", "medical_health"),
    "市场与秩序 Markets and public order": ("market_consumer", "public_order"),
    "其他 Other": ("other",),
}
GROUP_OF = {code: group for group, codes in _GROUPS.items() for code in codes}

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


class Open311Error(Exception):
    """A request GeoReport v2 answers with an error list: HTTP status and a description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def error_list(error: Open311Error) -> list[dict]:
    """The GeoReport v2 error body."""
    return [{"code": error.status, "description": error.description}]


# -- services -------------------------------------------------------------------------------


def service_name(category: Category) -> str:
    """Chinese name, then English: 供水 Water supply."""
    return f"{category.zh} {category.en}"


def _period(delta: timedelta) -> tuple[str, str]:
    hours = int(delta.total_seconds() // 3600)
    return (f"{hours}小时", f"{hours} hours") if hours < 48 else (f"{hours // 24}天", f"{hours // 24} days")


def service_entry(category: Category, taxonomy: Taxonomy) -> dict:
    """One service of the GeoReport service list."""
    usual_zh, usual_en = _period(taxonomy.urgency("", category.code).period)
    zh = f"{category.zh}方面的诉求，{usual_zh}内答复"
    en = f"Requests about {category.en.lower()}; report back within {usual_en}"
    emergency = taxonomy.urgency_classes.get("emergency")
    if emergency is not None:
        urgent_zh, urgent_en = _period(emergency.period)
        zh += f"（危及生命财产时{urgent_zh}）"
        en += f" ({urgent_en} when life or property is at risk)"
    description = f"{zh}。{en}."
    keywords = dict.fromkeys((*category.aliases, *category.keywords_zh, *category.keywords_en))
    return {
        "service_code": category.code,
        "service_name": service_name(category),
        "description": description,
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(keywords),
        "group": GROUP_OF.get(
            category.code, "公用事业 Utilities" if category.utility else "其他 Other"
        ),
    }


def service_list(taxonomy: Taxonomy) -> list[dict]:
    """GET services: every category of the taxonomy, in its order."""
    return [service_entry(c, taxonomy) for c in taxonomy.categories.values()]


def service_definition(service_code: str, taxonomy: Taxonomy) -> dict:
    """GET services/{code}: the attributes a request of this service may carry."""
    if service_code not in taxonomy.categories:
        raise Open311Error(404, f"service_code {service_code!r} not found")
    return {
        "service_code": service_code,
        "attributes": [
            {
                "variable": True,
                "code": "community",
                "datatype": "string",
                "required": False,
                "datatype_description": "社区、小区或楼栋名称，如 云景台小区 "
                "(name of the community, estate or building)",
                "order": 1,
                "description": "社区或楼栋 Community (社区) or building",
                "values": [],
            },
            {
                "variable": True,
                "code": "request_type",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "不填时按内容判断 (inferred from the description when absent)",
                "order": 2,
                "description": "诉求类型 Kind of request",
                "values": [
                    {"key": t.value, "name": REQUEST_TYPE_NAMES.get(t, t.value)} for t in RequestType
                ],
            },
            {
                "variable": True,
                "code": "anonymous",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": None,
                "order": 3,
                "description": "是否匿名 Ask not to be identified to the handling unit",
                "values": [
                    {"key": "false", "name": "实名 Named"},
                    {"key": "true", "name": "匿名 Anonymous"},
                ],
            },
        ],
    }


# -- POST requests --------------------------------------------------------------------------


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
        pairs = []
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


# What only the hotline's platform sets on a ticket (door.PLATFORM_FIELDS), with the GeoReport name
# of the received time; the category is the citizen's choice here, as `service_code`.
_PLATFORM_PARAMS = frozenset(f for f in PLATFORM_FIELDS if f != "category_hint") | {"requested_datetime"}
_PARAM_NAME = re.compile(r"(?:attribute\[)?([^\[\]]*)")


def platform_param(key: str) -> str | None:
    """The platform-only field a parameter names (`received_at`, `attribute[channel]`,
    `collected_by[unit_code]`), else None."""
    name = _PARAM_NAME.match(key.strip()).group(1).strip().lower()
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
    if rejection.field is None:
        return Open311Error(400, rejection.reason)
    param = PARAM_OF_FIELD.get(rejection.field, rejection.field)
    return Open311Error(400, f"{param}: {rejection.reason}")


def agency_responsible(unit_code: str | None, district_code: str | None, gazetteer: Gazetteer) -> str:
    """The street or town, else the district (兜底), else the hotline itself (triage)."""
    if unit_code and unit_code in gazetteer.units:
        return gazetteer.units[unit_code].name
    if district_code and district_code in gazetteer.districts:
        return gazetteer.districts[district_code].name
    return HOTLINE_AGENCY


def _business_time(value: datetime) -> datetime:
    if value.tzinfo is None:  # a store client without tz_aware gives naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(BUSINESS_TZ)


def w3_time(value: datetime | None) -> str | None:
    """ISO 8601 (w3 profile) in business time, with its offset: 2026-11-26T17:30:00+08:00."""
    return None if value is None else _business_time(value).isoformat(timespec="seconds")


def service_notice(agency: str, due: datetime | None) -> str:
    """What happens next, in Chinese and English."""
    if due is None:
        return f"已受理，由{agency}办理。Received; {agency} will handle it."
    return (
        f"已受理，由{agency}办理，{_business_time(due):%Y-%m-%d %H:%M}前答复。"
        f"Received; {agency} will report back by {w3_time(due)}."
    )


def created_response(
    ticket_id: str, unit_code: str | None, district_code: str | None, due: datetime | None,
    *, gazetteer: Gazetteer,
) -> list[dict]:
    """POST requests' answer: the request id at once (service type realtime)."""
    agency = agency_responsible(unit_code, district_code, gazetteer)
    return [{
        "service_request_id": ticket_id,
        "service_notice": service_notice(agency, due),
        "account_id": None,
    }]


# -- GET requests ---------------------------------------------------------------------------


def request_object(doc: Mapping, *, taxonomy: Taxonomy, gazetteer: Gazetteer) -> dict:
    """A stored ticket as a GeoReport v2 request; built field by field, so no caller data leaks.
    Its text was scrubbed when stored; scrubbed again here for records stored before that."""
    code = doc.get("category") or "other"
    category = taxonomy.categories.get(code)
    agency = agency_responsible(doc.get("unit_code"), doc.get("district_code"), gazetteer)
    description = public_text(doc.get("content"))
    address = public_text(doc.get("address")) or ""
    community = public_text(doc.get("community"))
    if community and community not in address:
        address = f"{address} {community}".strip()
    due = doc.get("report_back_due_at")
    status = doc.get("status") or "open"
    return {
        "service_request_id": doc["_id"],
        "status": status,
        "status_notes": public_text(doc.get("status_notes")),
        "service_name": service_name(category) if category else code,
        "service_code": code,
        "description": description[:MAX_DESCRIPTION] if description else None,
        "agency_responsible": agency,
        "service_notice": service_notice(agency, due) if status == "open" else None,
        "requested_datetime": w3_time(doc.get("received_at")),
        "updated_datetime": w3_time(doc.get("updated_at") or doc.get("received_at")),
        "expected_datetime": w3_time(due),
        "address": address or None,
        "address_id": None,
        "zipcode": None,
        "lat": doc.get("lat"),
        "long": doc.get("lon"),
        "media_url": None,
    }


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
    if start is None and end is None:
        end = now
    if start is None:
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > MAX_SPAN:
        raise Open311Error(
            400, f"start_date to end_date spans {(end - start).days} days; at most 90 days"
        )
    return RequestQuery(start=start, end=end, service_codes=codes, statuses=statuses)


# -- rendering ------------------------------------------------------------------------------

# Element names of list items in XML; lists at the top are named by the caller.
_XML_ITEMS = {"attributes": "attribute", "values": "value"}


def _xml_append(parent: ET.Element, name: str, value) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _xml_append(element, key, item)
    elif isinstance(value, list):
        for item in value:
            _xml_append(element, _XML_ITEMS.get(name, "item"), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = xml_safe(str(value))  # a record stored before intake refused such characters


def to_xml(payload: list | Mapping, *, root: str, item: str | None = None) -> bytes:
    """GeoReport v2 XML: `<root><item>…</item></root>` for a list, `<root>…</root>` for a mapping."""
    top = ET.Element(root)
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            _xml_append(top, key, value)
    else:
        for value in payload:
            _xml_append(top, item or "item", value)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="unicode").encode()


def serialize(fmt: str, payload: list | Mapping, *, root: str, item: str | None = None) -> bytes:
    """The payload as JSON or as GeoReport v2 XML."""
    if fmt == "xml":
        return to_xml(payload, root=root, item=item)
    return json.dumps(payload, ensure_ascii=False).encode()


def error_body(fmt: str, error: Open311Error) -> bytes:
    """An error list in the asked format (`<errors><error><code/><description/>`)."""
    return serialize(fmt, error_list(error), root="errors", item="error")


# -- routes ---------------------------------------------------------------------------------


def _format(fmt: str) -> str:
    if fmt not in MEDIA_TYPES:
        raise Open311Error(404, f"format {fmt!r} not supported: use .json or .xml")
    return fmt


def _answer(fmt: str, payload, *, root: str, item: str | None = None, status: int = 200) -> Response:
    return Response(serialize(fmt, payload, root=root, item=item), status_code=status,
                    media_type=MEDIA_TYPES[fmt])


def _fail(fmt: str, error: Open311Error) -> Response:
    fmt = fmt if fmt in MEDIA_TYPES else "json"
    return Response(error_body(fmt, error), status_code=error.status, media_type=MEDIA_TYPES[fmt])


_UNAVAILABLE = Open311Error(503, "the hotline is briefly unavailable; please try again")


def open311_router(
    runtime: ServiceRuntime,
    store: IntakeStore,
    policy: IntakePolicy,
    *,
    taxonomy: Taxonomy | None = None,
    gazetteer: Gazetteer | None = None,
) -> APIRouter:
    """GeoReport v2 under /open311/v2: services, service definitions, POST and GET requests."""
    taxonomy = taxonomy or default_taxonomy()
    gazetteer = gazetteer or beijing()
    router = APIRouter(prefix="/open311/v2", tags=["open311"])

    @router.get("/services.{fmt}", summary="GeoReport v2 service list (the category taxonomy)")
    async def get_services(fmt: str) -> Response:
        try:
            return _answer(_format(fmt), service_list(taxonomy), root="services", item="service")
        except Open311Error as error:
            return _fail(fmt, error)

    @router.get("/services/{service_code}.{fmt}", summary="GeoReport v2 service definition",
                responses=ERROR_RESPONSES)
    async def get_service_definition(service_code: str, fmt: str) -> Response:
        try:
            _format(fmt)
            return _answer(fmt, service_definition(service_code, taxonomy), root="service_definition")
        except Open311Error as error:
            return _fail(fmt, error)

    @router.post(
        "/requests.{fmt}",
        status_code=201,
        summary="File a GeoReport v2 service request (form-encoded, or JSON)",
        responses=ERROR_RESPONSES,
    )
    async def post_request(fmt: str, request: Request) -> Response:
        try:
            _format(fmt)
            body = await request.body()
            # Percent-encoding triples the bytes of Chinese text, so the form may be larger
            # than the raw record it becomes; the record itself is held to the policy's limit.
            if len(body) > 4 * policy.max_record_bytes:
                raise Open311Error(400, f"the request is {len(body)} bytes, too large")
            form = parse_form(body, request.headers.get("content-type", ""))
            now = datetime.now(UTC)
            record = raw_record_from_form(
                form, taxonomy=taxonomy, now=now, source_id=f"o311-{uuid.uuid4().hex}"
            )
            payload = json.dumps(record, ensure_ascii=False).encode()
            try:
                outcome = await submit_raw(runtime, policy, payload, now=now)
            except KafkaError:
                raise _UNAVAILABLE from None
            if isinstance(outcome, Rejection):
                raise rejection_error(outcome)
            answer = created_response(
                outcome.ticket_id, outcome.location.unit_code, outcome.location.district_code,
                outcome.report_back_due_at, gazetteer=gazetteer,
            )
            return _answer(fmt, answer, root="service_requests", item="request", status=201)
        except Open311Error as error:
            return _fail(fmt, error)

    @router.get("/requests.{fmt}", summary="GeoReport v2 service requests (at most 90 days, 1,000)",
                responses=ERROR_RESPONSES)
    async def get_requests(fmt: str, request: Request) -> Response:
        try:
            _format(fmt)
            params = {k: ",".join(request.query_params.getlist(k)) for k in request.query_params}
            query = parse_request_query(params, now=datetime.now(UTC), taxonomy=taxonomy)
            try:
                if query.ids:
                    docs = await store.get_by_ticket_ids(ticket_ids=list(query.ids))
                else:
                    docs = await store.find_requests(
                        received_from=query.start, received_to=query.end,
                        categories=list(query.service_codes), statuses=list(query.statuses),
                        limit=MAX_RESULTS,
                    )
            except PyMongoError:
                raise _UNAVAILABLE from None
            found = [request_object(d, taxonomy=taxonomy, gazetteer=gazetteer) for d in docs if is_public(d)]
            return _answer(fmt, found, root="service_requests", item="request")
        except Open311Error as error:
            return _fail(fmt, error)

    @router.get("/requests/{service_request_id}.{fmt}", summary="One GeoReport v2 service request",
                responses=ERROR_RESPONSES)
    async def get_request(service_request_id: str, fmt: str) -> Response:
        try:
            _format(fmt)
            try:
                doc = await store.get_by_ticket_id(ticket_id=service_request_id)
            except PyMongoError:
                raise _UNAVAILABLE from None
            if doc is None or not is_public(doc):  # another channel's ticket: as if unknown
                raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
            found = [request_object(doc, taxonomy=taxonomy, gazetteer=gazetteer)]
            return _answer(fmt, found, root="service_requests", item="request")
        except Open311Error as error:
            return _fail(fmt, error)

    return router
