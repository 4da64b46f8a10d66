"""The dashboard page: static HTML, JS and CSS shipped in hotline/data/dashboard, no CDN."""

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from hotline.domain_errors import NotFound

_FILES = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


@cache
def _asset(name: str) -> bytes:
    return (resources.files("hotline") / "data" / "dashboard" / name).read_bytes()


def dashboard_router() -> APIRouter:
    """GET /dashboard (and / redirecting to it), with its script and style sheet."""
    router = APIRouter(tags=["dashboard"])

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard", status_code=307)

    @router.get("/dashboard", summary="The live ranking dashboard (HTML)")
    async def page() -> Response:
        return Response(_asset("index.html"), media_type=_FILES["index.html"],
                        headers={"Cache-Control": "no-cache"})

    @router.get("/dashboard/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in _FILES or name == "index.html":
            raise NotFound("name", "no such dashboard file", location="path")
        return Response(_asset(name), media_type=_FILES[name], headers={"Cache-Control": "no-cache"})

    return router
