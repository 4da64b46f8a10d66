"""`hotline dept brief` without a server: the request it makes, the agenda it prints, exit codes."""

import json
from datetime import UTC, datetime

import httpx
from typer.testing import CliRunner

from hotline import dept_brief
from hotline.cli import app

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def item(ticket_id: str, **overrides) -> dict:
    return {"ticket_id": ticket_id, "category": "noise", "urgency": "general", "state": "open", "round": 0,
            "dispatched_at": "2026-11-26T01:00:00+00:00", "report_back_due_at": "2026-12-03T01:00:00+00:00",
            "face_to_face": False, "repeat_of": None, "repeat_count": 0, **overrides}


BRIEF = {
    "unit_code": "110111008", "date": "2026-11-26", "time_zone": "Asia/Shanghai",
    "counts": {"new": 1, "due_today": 0, "overdue": 1, "awaiting_visit": 2, "reopened": 0, "repeats": 1,
               "collected_yesterday": 1},
    "new": [item("TKNEW0000000001", repeat_of="TKOLD0000000001", repeat_count=2)],
    "due_today": [],
    "overdue": [item("TKLATE000000001", report_back_due_at="2026-11-25T10:00:00+00:00", face_to_face=True)],
    "awaiting_visit": [item("TKNEW0000000001")],
    "reopened": [],
    "repeats": [item("TKNEW0000000001", repeat_of="TKOLD0000000001", repeat_count=2)],
    "collected_yesterday": {"date": "2026-11-25", "demands": [{
        "ticket_id": "TKDEMAND0000001", "category": "elderly_care", "category_hint": "elderly_care",
        "place": "良乡地区云景台小区二期", "description": "居民希望开设老年餐桌，联系人13912345678",
        "visit_ticket_id": "TKVISIT00000001", "recorded_at": "2026-11-25T08:00:00+00:00"}]},
}


def serving(brief: dict | None = None, status: int = 200, seen: list | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if status != 200:
            return httpx.Response(status, json={"detail": [{"loc": ["unit_code"], "msg": "a unit reads its own brief only"}]})
        return httpx.Response(200, json=brief or BRIEF)

    return httpx.MockTransport(handler)


def test_the_brief_is_asked_for_with_the_token_and_the_day_and_printed_as_an_agenda(capsys):
    seen: list[httpx.Request] = []
    code = dept_brief.main("110111008", day="2026-11-26", url="http://followup", token="110111008.secret",
                           transport=serving(seen=seen))
    out = capsys.readouterr().out
    assert code == 0
    request = seen[0]
    assert request.url.path == "/v1/units/110111008/brief" and request.url.params["date"] == "2026-11-26"
    assert request.headers["authorization"] == "Bearer 110111008.secret"
    assert "良乡地区 110111008" in out and "2026-11-26" in out
    for title in ("new today", "due today", "overdue", "awaiting a face-to-face visit", "reopened", "repeats",
                  "demands collected 2026-11-25"):
        assert title in out
    assert "TKNEW0000000001" in out and "TKLATE000000001" in out and "TKDEMAND0000001" in out
    assert "2 ← TKOLD0000000001" in out
    assert "139****5678" in out and "13912345678" not in out  # the shared screen masks numbers
    assert "110111008.secret" not in out


def test_a_refusal_or_an_unreachable_service_exits_1_without_echoing_the_token(capsys):
    code = dept_brief.main("110111008", day=None, url="http://followup", token="110111008.secret",
                           transport=serving(status=403))
    err = capsys.readouterr().err
    assert code == 1 and "403" in err and "own brief only" in err and "secret" not in err


def test_render_shows_empty_sections_and_overdue_time():
    text = json.dumps(BRIEF)  # the renderer reads the JSON form, times as ISO strings
    from rich.console import Console

    console = Console(record=True, width=220, color_system=None)
    console.print(dept_brief.render(json.loads(text), dept_brief.find_unit("110111008"), now=NOW))
    shown = console.export_text()
    assert "今日到期 due today (0)" in shown and "none" in shown
    assert "overdue 16h" in shown  # due 18:00 the day before, seen at 10:00


def test_the_command_checks_its_arguments():
    runner = CliRunner()
    unknown = runner.invoke(app, ["dept", "brief", "999999999", "--token", "t"])
    bad_date = runner.invoke(app, ["dept", "brief", "110111008", "--date", "26/11/2026", "--token", "t"])
    no_token = runner.invoke(app, ["dept", "brief", "110111008"], env={"HOTLINE_TOKEN": ""})
    unreachable = runner.invoke(app, ["dept", "brief", "110111008", "--token", "t", "--url", "http://127.0.0.1:9"])
    assert (unknown.exit_code, bad_date.exit_code, no_token.exit_code, unreachable.exit_code) == (2, 2, 2, 1)
    assert "unknown unit code" in unknown.output and "YYYY-MM-DD" in bad_date.output
    assert "HOTLINE_TOKEN" in no_token.output and "not reachable" in unreachable.output
