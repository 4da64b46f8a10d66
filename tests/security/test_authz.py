"""Who may call what, for every HTTP endpoint of the four services.

The routes are enumerated from the apps themselves: a route is either listed in PUBLIC with the
reason it needs no token, or has a case in CASES saying who may call it. A new endpoint with
neither fails `test_every_route_is_public_with_a_reason_or_has_an_authz_case`. Each case is then
called with no token (401), a revoked or unknown token (401), another unit's token (403), another
unit's token in the right unit's name (403), the unit's own token (neither) and the centre's.
"""

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from hotline.contracts import BUSINESS_TZ, ticket_id_for, topics
from hotline.devkit import raw_record
from hotline.runtime.auth import CredentialStore, Role
from tests.integration.conftest import client_for
from tests.support import citizen_record, eventually, issue_token, publish

pytestmark = pytest.mark.stack

A, B, DEPT = "110111008", "110108005", "m-housing"  # 良乡地区 (holds the ticket), a Haidian street, a department
PLACE = "房山区良乡镇云景台小区二期"
ANY = "*"

# (service or ANY, method, path) -> why no token is asked.
PUBLIC: dict[tuple[str, str, str], str] = {
    (ANY, "GET", "/healthz"): "liveness for the orchestrator: only whether broker and store answer",
    (ANY, "GET", "/metrics"): "Prometheus scrape: counters and per-unit aggregates, no ticket or citizen data "
                              "(restrict it to the monitoring network in production)",
    (ANY, "GET", "/asyncapi"): "documentation of the message contracts",
    (ANY, "GET", "/asyncapi.json"): "documentation of the message contracts",
    (ANY, "GET", "/openapi.json"): "documentation of the HTTP API",
    (ANY, "GET", "/docs"): "documentation of the HTTP API",
    (ANY, "GET", "/docs/oauth2-redirect"): "part of the API documentation page",
    (ANY, "GET", "/redoc"): "documentation of the HTTP API",
    ("intake", "POST", "/v1/tickets"): "citizens submit requests (rate and size limited); intake sets channel, "
                                       "source id and time; the fields of PLATFORM_ONLY need a platform token",
    ("intake", "GET", "/open311/v2/services.{fmt}"): "GeoReport v2 is a public API: the service list",
    ("intake", "GET", "/open311/v2/services/{service_code}.{fmt}"): "GeoReport v2: a service's attributes",
    ("intake", "POST", "/open311/v2/requests.{fmt}"): "GeoReport v2: citizens file requests (rate and size "
                                                      "limited); the fields of PLATFORM_ONLY are refused",
    ("intake", "GET", "/open311/v2/requests.{fmt}"): "GeoReport v2: request status; answers hold no caller data",
    ("intake", "GET", "/open311/v2/requests/{service_request_id}.{fmt}"): "GeoReport v2: one request, no caller data",
    ("metrics", "GET", "/"): "redirects to the public dashboard",
    ("metrics", "GET", "/dashboard"): "the public ranking (Beijing publishes the monthly ranking); aggregates only",
    ("metrics", "GET", "/dashboard/{name}"): "the dashboard's script and style sheet",
    ("metrics", "GET", "/v1/rankings"): "the public ranking: per-unit aggregates, no ticket or citizen data",
    ("metrics", "GET", "/v1/rankings/stream"): "the public ranking, live",
    ("metrics", "GET", "/v1/units/{unit_code}"): "a unit's public monthly figures and rank",
    ("metrics", "GET", "/v1/units/{unit_code}/months/{period}"): "a unit's public figures for a month",
    ("metrics", "GET", "/v1/hotspots"): "categories and community clusters by count, no ticket or citizen data",
    ("followup", "GET", "/workbench"): "the workbench's page: static, no data; it calls the API with the user's token",
    ("followup", "GET", "/workbench/config.json"): "where the workbench's page finds routing (its address only)",
    ("followup", "GET", "/workbench/{name}"): "the workbench's scripts and style sheet",
}

# Public writes whose body may name fields that are the hotline platform's to set: each is refused
# (403 naming it) without a token of role `platform`; `None`: refused whatever the token (Open311
# is the citizens' door only; a platform submits on POST /v1/tickets).
PLATFORM_GATE = {("intake", "POST", "/v1/tickets"): "platform",
                 ("intake", "POST", "/open311/v2/requests.{fmt}"): None}
PLATFORM_ONLY = {
    "channel": "leader_board", "source_id": "board-1", "received_at": "2026-01-05T09:00:00+08:00",
    "collected_by": {"unit_code": A, "staff_id": "s-1"}, "answered_directly": True,
    "category_hint": "water_supply",
}


@dataclass
class World:
    ticket_id: str
    contact_id: str
    tokens: dict[str, dict[str, str]]


def _now(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


@dataclass(frozen=True)
class Case:
    """Who may call an endpoint. `rule`: `ticket` (a unit on the ticket), `own_unit` (the unit in
    the path), `centre` (the hotline centre only), `summoned` (a department summoned to the
    ticket), `resolver` (the resolving unit or the centre), `any_unit` (any authenticated unit)."""

    service: str
    method: str
    path: str
    rule: str
    body: Callable[[World, str], dict] | None = None  # (world, acting unit) -> JSON body
    legit: str = A  # a caller that passes the authorization check
    query: str = ""  # appended to the path, formatted as it is (a unit named in the query)

    def url(self, world: World, unit: str = A) -> str:
        return (self.path + self.query).format(ticket_id=world.ticket_id, contact_id=world.contact_id,
                                               command_id="c-1", unit_code=unit, period=_this_month())


def _this_month() -> str:
    """The month the world's ticket is dispatched in (Beijing's)."""
    return datetime.now(UTC).astimezone(BUSINESS_TZ).strftime("%Y-%m")


def contact(w, unit):
    return {"unit_code": unit, "kind": "phone", "contacted_at": _now(), "staff_id": "s-1"}


CASES = [
    Case("followup", "POST", "/v1/tickets/{ticket_id}/contacts", "ticket", contact),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/resolution", "ticket", lambda w, u: {
        "unit_code": u, "outcome": "resolved", "resolution_code": "R1", "resolved_at": _now()}),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/extensions", "ticket", lambda w, u: {
        "unit_code": u, "reason": "需协调多部门", "requested_due_at": _now(timedelta(days=20)),
        "requested_at": _now()}),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/extensions/decision", "centre", lambda w, u: {
        "approved": True, "decided_at": _now()}, legit="centre"),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/exemptions", "ticket", lambda w, u: {
        "unit_code": u, "reason_code": "duplicate", "note": "与此前工单为同一诉求", "requested_at": _now()}),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/exemptions/decision", "centre", lambda w, u: {
        "approved": False, "decided_at": _now()}, legit="centre"),
    # The reason codes are the policy's, the same for every unit.
    Case("followup", "GET", "/v1/exemption-reasons", "any_unit"),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/on-site", "summoned", lambda w, u: {
        "unit_code": u, "staff_id": "s-9", "reported_at": _now()}, legit=DEPT),
    Case("followup", "GET", "/v1/units/{unit_code}/tickets", "own_unit"),
    Case("followup", "GET", "/v1/tickets/{ticket_id}", "ticket"),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/sign", "ticket", lambda w, u: {
        "unit_code": u, "staff_id": "s-1", "signed_at": _now()}),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/notes", "ticket", lambda w, u: {
        "unit_code": u, "staff_id": "s-1", "text": "已约见", "noted_at": _now()}),
    Case("followup", "GET", "/v1/tickets/{ticket_id}/notes", "ticket"),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/contacts/{contact_id}/demands", "ticket", lambda w, u: {
        "unit_code": u, "demands": [{"description": "小区路灯不亮", "place": "云景台小区"}]}),
    Case("followup", "POST", "/v1/tickets/{ticket_id}/case", "resolver", lambda w, u: {
        "tags": ["垃圾清运"], "lesson": "及时见面"}),
    # The case library is for training across units: cases hold no citizen data.
    Case("followup", "GET", "/v1/cases", "any_unit"),
    Case("followup", "GET", "/v1/cases/{ticket_id}", "any_unit"),
    Case("followup", "GET", "/v1/units/{unit_code}/brief", "own_unit"),
    # The centre's desk (issue #28): who is calling; the search, a unit's own tickets only (another
    # unit's code is 403); the waiting requests, the centre's all and a unit's its own.
    Case("followup", "GET", "/v1/whoami", "any_unit"),
    Case("followup", "GET", "/v1/tickets", "own_unit", query="?unit_code={unit_code}"),
    Case("followup", "GET", "/v1/exemptions", "any_unit"),
    Case("followup", "GET", "/v1/extensions", "any_unit"),
    # Three hours after the dispatch, past the return window: routing refuses it, so the lead's
    # own call below passes authorization without moving the ticket away.
    Case("routing", "POST", "/v1/tickets/{ticket_id}/returns", "ticket", lambda w, u: {
        "unit_code": u, "reason_code": "wrong_address", "returned_at": _now(timedelta(hours=3))}),
    Case("routing", "POST", "/v1/tickets/{ticket_id}/summons", "ticket", lambda w, u: {
        "unit_code": u, "departments": [DEPT]}),
    Case("routing", "GET", "/v1/tickets/{ticket_id}/dispatch", "ticket"),
    Case("routing", "GET", "/v1/tickets/{ticket_id}/commands/{command_id}", "ticket"),
    # The centre's desk. The centre's own calls are refused for what they ask (the triage desk as
    # lead, an unknown category: 422; no return waiting: 409), so the world's ticket stays with A.
    Case("routing", "POST", "/v1/tickets/{ticket_id}/dispatches", "centre", lambda w, u: {
        "lead_unit": "triage", "reason_code": "wrong_unit"}, legit="centre"),
    Case("routing", "POST", "/v1/tickets/{ticket_id}/returns/decision", "centre", lambda w, u: {
        "approved": False}, legit="centre"),
    Case("routing", "POST", "/v1/tickets/{ticket_id}/category", "centre", lambda w, u: {
        "category": "no-such-category"}, legit="centre"),
    Case("routing", "GET", "/v1/returns/pending", "centre", legit="centre"),
    # Units, categories and reason codes: the same for every unit (the workbench's pickers).
    Case("routing", "GET", "/v1/reference", "any_unit"),
    Case("metrics", "GET", "/v1/units/{unit_code}/months/{period}/explain", "own_unit"),
]
CASE_IDS = [f"{c.service} {c.method} {c.path}" for c in CASES]
# Catalogue edits, should they ever get an endpoint, are the centre's alone (test below).
CENTRE_ONLY = {"centre"}


def routes(app) -> list[tuple[str, str, object]]:
    """(method, full path, route) of every route, including those of included routers."""
    try:
        from fastapi.routing import iter_route_contexts
        contexts = [(rc.methods, rc.path, rc.original_route) for rc in iter_route_contexts(app.routes)]
    except ImportError:  # older FastAPI: included routes are flat in app.routes
        contexts = [(getattr(r, "methods", None), r.path, r) for r in app.routes]
    return [(m, path, route) for methods, path, route in contexts for m in sorted(methods or {"WS"}) if m != "HEAD"]


def needs_token(route) -> bool:
    """Whether the route depends on the bearer-token check (runtime.auth)."""
    def walk(dependant) -> bool:
        return any(getattr(d.call, "__name__", "") == "current_principal" or walk(d) for d in dependant.dependencies)
    dependant = getattr(route, "dependant", None)
    return dependant is not None and walk(dependant)


def public_reason(service: str, method: str, path: str) -> str | None:
    return PUBLIC.get((service, method, path)) or PUBLIC.get((ANY, method, path))


def test_every_route_is_public_with_a_reason_or_has_an_authz_case(services):
    cases = {(c.service, c.method, c.path) for c in CASES}
    seen, unclassified, wrong = set(), [], []
    for service, app in services.items():
        for method, path, route in routes(app):
            key = (service, method, path)
            seen.add(key)
            if key in cases:
                if not needs_token(route):
                    wrong.append(f"{key}: has an authz case but asks for no token")
            elif public_reason(*key) is not None:
                if needs_token(route):
                    wrong.append(f"{key}: listed public but asks for a token")
            else:
                unclassified.append(key)
            if service == "intake" and method == "POST" and key not in PLATFORM_GATE:
                wrong.append(f"{key}: a public write of intake must say who may set the platform's fields")
            if "catalogue" in path and method != "GET" and key not in cases:
                wrong.append(f"{key}: catalogue edits are the centre's alone and need a case")
    assert not unclassified, f"endpoints with neither an authz case nor a public reason: {unclassified}"
    assert not wrong, wrong
    assert not cases - seen, f"authz cases for endpoints that do not exist: {cases - seen}"
    assert all(reason.strip() for reason in PUBLIC.values())


@pytest.fixture(scope="module")
async def world(services, namespace) -> World:
    """A ticket dispatched to A (良乡地区), with A's face-to-face contact; tokens of A, B, the
    summoned department and the centre."""
    record = raw_record(f"authz-{uuid.uuid4().hex}", PLACE, content="小区垃圾三天没人清运")
    await publish(namespace.kafka, namespace.prefix + topics.RAW, record)
    ticket_id = ticket_id_for("phone", record["source_id"])
    tokens = {code: await issue_token(namespace, code) for code in (A, B, DEPT, "centre")}
    async with client_for(services["followup"]) as followup:
        async def dispatched():
            response = await followup.get(f"/v1/tickets/{ticket_id}", headers=tokens["centre"])
            return response.status_code == 200 and response.json().get("unit_code") == A
        await eventually(dispatched)
        async with client_for(services["metrics"]) as metrics:  # A's month, whose lost points A reads
            async def counted():
                response = await metrics.get(f"/v1/units/{A}/months/{_this_month()}")
                return response.status_code == 200
            await eventually(counted)
        visit = await followup.post(f"/v1/tickets/{ticket_id}/contacts", headers=tokens[A], json={
            "unit_code": A, "kind": "face_to_face", "contacted_at": _now(), "staff_id": "s-1", "place": "小区门口"})
        assert visit.status_code == 201, visit.text
    return World(ticket_id, visit.json()["contact_id"], tokens)


async def call(services, case: Case, world: World, *, headers: dict, unit: str, path_unit: str = A):
    async with client_for(services[case.service]) as client:
        body = case.body(world, unit) if case.body else None
        return await client.request(case.method, case.url(world, path_unit), headers=headers, json=body)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
async def test_no_token_or_an_unknown_one_is_401(services, world, case):
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": f"Bearer {A}.not-a-real-secret"},
                    {"Authorization": "Basic YTpi"}):
        response = await call(services, case, world, headers=headers, unit=A)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers.get("www-authenticate") == "Bearer"


@pytest.mark.parametrize("case", [c for c in CASES if c.rule != "any_unit"], ids=[
    i for c, i in zip(CASES, CASE_IDS) if c.rule != "any_unit"])
async def test_another_unit_can_neither_read_nor_act_on_the_ticket(services, world, case):
    # B in its own name, on A's ticket (or A's worklist and brief).
    response = await call(services, case, world, headers=world.tokens[B], unit=B)
    assert response.status_code == 403, response.text
    assert response.json()["detail"][0]["msg"]
    if case.body and "unit_code" in case.body(world, B):
        # B in A's name.
        response = await call(services, case, world, headers=world.tokens[B], unit=A)
        assert response.status_code == 403, response.text


@pytest.mark.parametrize("case", [c for c in CASES if c.rule in CENTRE_ONLY], ids=[
    i for c, i in zip(CASES, CASE_IDS) if c.rule in CENTRE_ONLY])
async def test_the_units_own_token_is_not_enough_for_the_centres_decisions(services, world, case):
    response = await call(services, case, world, headers=world.tokens[A], unit=A)
    assert response.status_code == 403, response.text


async def test_a_summoned_department_reports_on_site_and_others_cannot(services, world):
    case = next(c for c in CASES if c.rule == "summoned")
    async with client_for(services["routing"]) as routing:
        summons = await routing.post(f"/v1/tickets/{world.ticket_id}/summons", headers=world.tokens[A],
                                     json={"unit_code": A, "departments": [DEPT], "summoned_at": _now()})
        assert summons.status_code == 202, summons.text

    async def reported():
        response = await call(services, case, world, headers=world.tokens[DEPT], unit=DEPT)
        return response.status_code == 201 and response
    await eventually(reported)
    other_department = await call(services, case, world, headers=world.tokens[B], unit=B)
    assert other_department.status_code == 403


@pytest.mark.parametrize("case", [c for c in CASES if c.rule != "summoned"], ids=[
    i for c, i in zip(CASES, CASE_IDS) if c.rule != "summoned"])
async def test_the_right_caller_passes_the_check(services, world, case):
    """Not a blanket refusal: the legitimate caller gets past authorization (the action itself may
    still be refused for its state, e.g. 409 with no extension pending or 422 for a return window)."""
    response = await call(services, case, world, headers=world.tokens[case.legit], unit=A)
    assert response.status_code not in (401, 403), response.text
    assert response.status_code < 500, response.text


async def test_the_centre_reads_every_ticket(services, world):
    for case in (c for c in CASES if c.method == "GET" and c.rule in ("ticket", "own_unit")):
        response = await call(services, case, world, headers=world.tokens["centre"], unit=A)
        assert response.status_code == 200, (case.path, response.text)


async def test_tokens_are_stored_only_as_hashes_and_revocation_bites(services, namespace, world):
    client = AsyncMongoClient(namespace.mongodb_url)
    try:
        store = CredentialStore(client[namespace.database])
        unit = "110111001"
        token = await store.issue(unit_code=unit, role=Role.UNIT)
        doc = await client[namespace.database]["unit_credentials"].find_one({"_id": unit})
        secret = token.partition(".")[2]
        assert token not in repr(doc) and secret not in repr(doc)
        assert hashlib.sha256(token.encode()).hexdigest() in doc["token_hashes"]
        assert (await store.verify(token=token)).unit_code == unit
        headers = {"Authorization": f"Bearer {token}"}
        async with client_for(services["followup"]) as followup:
            assert (await followup.get(f"/v1/units/{unit}/tickets", headers=headers)).status_code == 200
            await store.revoke_all(unit_code=unit)
            assert (await followup.get(f"/v1/units/{unit}/tickets", headers=headers)).status_code == 401
        # A unit cannot present its token as another unit's: the unit code is part of what is hashed.
        forged = f"{A}.{secret}"
        assert await store.verify(token=forged) is None
    finally:
        await client.close()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
async def test_a_channel_platforms_token_acts_as_no_unit(services, namespace, world, case):
    platform = await issue_token(namespace, "platform")
    response = await call(services, case, world, headers=platform, unit=A)
    assert response.status_code == 403, response.text
    assert response.json()["detail"][0]["loc"] == ["header", "authorization"]


def _platform_value(field: str):
    if field == "received_at":  # back-dated: the platform's own record of when the call came in
        return (datetime.now(UTC) - timedelta(days=40)).isoformat()
    if field == "source_id":
        return f"board-{uuid.uuid4().hex}"
    return PLATFORM_ONLY[field]


def _submission(path: str, field: str, *, platform: bool) -> dict:
    """A valid submission of the route holding `field`: a citizen's (nothing else of the
    platform's), or a platform's whole raw record."""
    if path.startswith("/open311/"):
        return {"service_code": "water_supply", "address_string": PLACE, "description": "家里停水两天了",
                field: _platform_value(field)}
    record = raw_record(f"authz-door-{uuid.uuid4().hex}", PLACE, content="小区垃圾三天没人清运")
    if not platform:
        record = citizen_record(record)
    return {**record, field: _platform_value(field)}


@pytest.mark.parametrize("route", list(PLATFORM_GATE), ids=[f"{s} {m} {p}" for s, m, p in PLATFORM_GATE])
async def test_the_platforms_fields_need_the_platforms_token(services, namespace, world, route):
    _, method, path = route
    url = path.format(fmt="json")
    platform = await issue_token(namespace, "platform")
    async with client_for(services["intake"]) as intake:
        for field in PLATFORM_ONLY:
            if path.startswith("/open311/") and field == "category_hint":
                continue  # Open311's service_code is the citizen's choice of category
            body = _submission(path, field, platform=False)
            for who, headers in (("nobody", {}), ("a unit", world.tokens[A]), ("the centre", world.tokens["centre"])):
                response = await intake.request(method, url, json=body, headers=headers)
                assert response.status_code == 403, (field, who, response.text)
                assert field in response.text, (field, who, response.text)
            response = await intake.request(method, url, json=_submission(path, field, platform=True),
                                            headers=platform)
            if PLATFORM_GATE[route] == "platform":
                assert response.status_code == 202, (field, response.text)
            else:
                assert response.status_code == 403, (field, response.text)
        # A revoked or unknown token is not served as a citizen.
        for headers in ({"Authorization": "Bearer platform.not-a-real-secret"}, {"Authorization": "Basic YTpi"}):
            if PLATFORM_GATE[route] == "platform":
                response = await intake.request(method, url, json=_submission(path, "channel", platform=True),
                                                headers=headers)
                assert response.status_code == 401 and response.headers.get("www-authenticate") == "Bearer"
