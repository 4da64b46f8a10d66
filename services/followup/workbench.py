"""The centre's and the units' workbench: static HTML, JS and CSS shipped in hotline/data/workbench
(no CDN, works offline), and where the page finds routing (`FOLLOWUP_ROUTING_URL`). The page holds
no data of its own: it calls followup and routing with the token the user pastes."""

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from hotline.domain_errors import NotFound

_FILES = {
    "index.html": "text/html; charset=utf-8",
    "workbench.js": "text/javascript; charset=utf-8",
    "ticket.js": "text/javascript; charset=utf-8",
    "centre.js": "text/javascript; charset=utf-8",
    "unit.js": "text/javascript; charset=utf-8",
    "workbench.css": "text/css; charset=utf-8",
}
_NO_CACHE = {"Cache-Control": "no-cache"}


@cache
def _asset(name: str) -> bytes:
    return (resources.files("hotline") / "data" / "workbench" / name).read_bytes()


def workbench_router(routing_url: str, time_zone: str = "Asia/Shanghai") -> APIRouter:
    """GET /workbench, its scripts and style sheet, and /workbench/config.json (routing's address, and
    the city's time zone: a dispatcher reads the city's clock, whatever the browser's is)."""
    router = APIRouter(tags=["workbench"])

    @router.get("/workbench", summary="The centre's and the units' workbench (HTML)")
    async def page() -> Response:
        return Response(_asset("index.html"), media_type=_FILES["index.html"], headers=_NO_CACHE)

    @router.get("/workbench/config.json", include_in_schema=False)
    async def config() -> dict[str, str]:
        return {"routing_url": routing_url.rstrip("/"), "time_zone": time_zone}

    @router.get("/workbench/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in _FILES or name == "index.html":
            raise NotFound("name", "no such workbench file", location="path")
        return Response(_asset(name), media_type=_FILES[name], headers=_NO_CACHE)

    return router
