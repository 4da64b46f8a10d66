"""The FastAPI routes of GeoReport v2 under /open311/v2: read the HTTP request, map it with the pure
modules, call intake's use cases, answer.

Errors keep the GeoReport v2 form the standard gives them (an error list of `code` and
`description`, in the asked format), not the runtime's `detail` body: the use cases' domain
errors are translated here into an `Open311Error`, which every route answers with `_fail`.
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pymongo.errors import PyMongoError

from hotline.domain_errors import Invalid, NotFound
from hotline.gazetteer import Gazetteer, beijing
from hotline.intake.app import Intake
from hotline.intake.open311.errors import Open311Error
from hotline.intake.open311.form import parse_form, raw_record_from_form, refused_field
from hotline.intake.open311.query import MAX_RESULTS, parse_request_query
from hotline.intake.open311.render import error_body, serialize
from hotline.intake.open311.service_requests import created_response, request_object
from hotline.intake.open311.services import service_definition, service_list
from hotline.taxonomy import Taxonomy, default_taxonomy

MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "GeoReport v2 error list naming the parameter"},
    404: {"description": "GeoReport v2 error list: no such service, request or format"},
}


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
    intake: Intake,
    *,
    max_form_bytes: int,
    taxonomy: Taxonomy | None = None,
    gazetteer: Gazetteer | None = None,
) -> APIRouter:
    """GeoReport v2 under /open311/v2: services, service definitions, POST and GET requests.
    `max_form_bytes`: the largest POSTed form (larger than a raw record: see `post_request`)."""
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
            if len(body) > max_form_bytes:
                raise Open311Error(400, f"the request is {len(body)} bytes, too large")
            form = parse_form(body, request.headers.get("content-type", ""))
            now = datetime.now(UTC)
            record = raw_record_from_form(
                form, taxonomy=taxonomy, now=now, source_id=f"o311-{uuid.uuid4().hex}"
            )
            payload = json.dumps(record, ensure_ascii=False).encode()
            try:
                # The source id is intake's own (o311-<uuid4>), never reused: not checked.
                ticket = await intake.submit(payload, now=now)
            except Invalid as refused:
                raise refused_field(refused.field, refused.reason) from None
            except KafkaError:
                raise _UNAVAILABLE from None
            answer = created_response(
                ticket.ticket_id, ticket.location.unit_code, ticket.location.district_code,
                ticket.report_back_due_at, gazetteer=gazetteer,
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
                    docs = await intake.public_requests(query.ids)
                else:
                    # Without ids, parse_request_query always sets the window.
                    assert query.start is not None and query.end is not None
                    docs = await intake.public_requests_between(
                        query.start, query.end, categories=query.service_codes, statuses=query.statuses,
                        limit=MAX_RESULTS,
                    )
            except PyMongoError:
                raise _UNAVAILABLE from None
            found = [request_object(d, taxonomy=taxonomy, gazetteer=gazetteer) for d in docs]
            return _answer(fmt, found, root="service_requests", item="request")
        except Open311Error as error:
            return _fail(fmt, error)

    @router.get("/requests/{service_request_id}.{fmt}", summary="One GeoReport v2 service request",
                responses=ERROR_RESPONSES)
    async def get_request(service_request_id: str, fmt: str) -> Response:
        try:
            _format(fmt)
            try:
                doc = await intake.public_request(service_request_id)
            except NotFound:  # another channel's ticket too: as if unknown
                raise Open311Error(404, f"service_request_id {service_request_id!r} not found") from None
            except PyMongoError:
                raise _UNAVAILABLE from None
            found = [request_object(doc, taxonomy=taxonomy, gazetteer=gazetteer)]
            return _answer(fmt, found, root="service_requests", item="request")
        except Open311Error as error:
            return _fail(fmt, error)

    return router
