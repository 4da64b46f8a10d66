"""The workbench's files as followup serves them (the router alone, no broker or store): the page,
its scripts and style sheet with their types and no CDN, where the page finds routing, and 404 for
anything else. The page itself is tested in a real browser (tests/browser/test_workbench.py)."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hotline.followup.settings import FollowupSettings
from hotline.followup.workbench import workbench_router
from hotline.runtime.errors import install_error_handlers


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(workbench_router("http://127.0.0.1:9802/", "America/Los_Angeles"))
    return TestClient(app)


def test_the_page_loads_its_own_scripts_and_style_sheet_only(client: TestClient) -> None:
    page = client.get("/workbench")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "接诉即办工作台" in page.text and "Hotline workbench" in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/workbench/") for s in sources), sources  # no CDN, nothing remote
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        kind = "text/css" if source.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind)
        # Nothing from elsewhere: the only address is routing's default, before config.json answers.
        assert not re.search(r"https?://", asset.text.replace("http://127.0.0.1:8002", "")), source


def test_config_names_routing_without_a_trailing_slash_and_the_citys_time_zone(client: TestClient) -> None:
    assert client.get("/workbench/config.json").json() == {"routing_url": "http://127.0.0.1:9802",
                                                           "time_zone": "America/Los_Angeles"}


def test_other_names_are_not_served(client: TestClient) -> None:
    for name in ("secret.py", "dashboard.js", "index.html"):
        answer = client.get(f"/workbench/{name}")
        assert answer.status_code == 404, name
        assert answer.json()["detail"][0]["loc"] == ["path", "name"]


def test_routing_url_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert FollowupSettings().routing_url == "http://127.0.0.1:8002"
    monkeypatch.setenv("FOLLOWUP_ROUTING_URL", "http://routing.internal:8002")
    assert FollowupSettings().routing_url == "http://routing.internal:8002"
