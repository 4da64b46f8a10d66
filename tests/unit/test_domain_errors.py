"""Domain errors are answered once, by the runtime: each with its status and the one error body."""

import httpx
import pytest
from fastapi import FastAPI

from hotline.domain_errors import Closed, Conflict, DomainError, Invalid, NotFound, NotYours
from hotline.runtime.errors import install_error_handlers


def app_raising(error: DomainError) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refused")
    async def refused() -> None:
        raise error

    @app.get("/fine")
    async def fine(n: int) -> dict:
        return {"n": n}

    return app


async def answer(app: FastAPI, path: str = "/refused") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path)


@pytest.mark.parametrize(("error", "status", "loc"), [
    (NotFound("ticket_id", "routing holds no dispatch for ticket TK1", location="path"), 404, ["path", "ticket_id"]),
    (NotYours("unit_code", "a unit acts in its own name only", location="body"), 403, ["body", "unit_code"]),
    (Conflict("Idempotency-Key", "used before", location="header"), 409, ["header", "Idempotency-Key"]),
    (Closed("ticket_id", "the ticket is closed"), 409, ["ticket_id"]),  # followup's bodies name the field alone
    (Invalid("departments", "unknown unit code 'm-x'", location="body"), 422, ["body", "departments"]),
])
async def test_each_domain_error_has_its_status_and_names_the_field(error, status, loc):
    response = await answer(app_raising(error))
    assert response.status_code == status
    assert response.json() == {"detail": [{"loc": loc, "msg": error.reason}]}


async def test_the_other_refusals_keep_their_shape_beside_them():
    app = app_raising(NotFound("ticket_id", "gone"))
    invalid = await answer(app, "/fine?n=x")
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["query", "n"]
    missing = await answer(app, "/nowhere")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
