"""`hotline dept explain` without a server: the requests it makes, the table it prints, exit codes."""

import httpx
from typer.testing import CliRunner

from hotline import dept_explain
from hotline.cli import app

UNIT = "110111008"
FOUND = {
    "unit_code": UNIT, "period": "2026-03", "score": 74.0, "gap": 26.0, "rank": 3, "ranked_units": 6,
    "policy": {"version": "2026.12"},
    "labels": {"reasons": {"unresolved": {"zh": "未解决", "en": "Unresolved"},
                           "dissatisfied": {"zh": "不满意", "en": "Dissatisfied"}}},
    "items": [
        {"ticket_id": "TKC000000000001", "category": "noise", "reasons": ["unresolved", "dissatisfied"],
         "points": 17.0, "points_by_rate": {}, "score_if_right": 91.0, "rank_if_right": 1},
        {"ticket_id": "TKD000000000001", "category": "noise", "reasons": ["unresolved"],
         "points": 9.0, "points_by_rate": {}, "score_if_right": 83.0, "rank_if_right": 2},
    ],
}


def serving(seen: list, status: int = 200) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if status != 200:
            return httpx.Response(status, json={"detail": [{"loc": ["path", "unit_code"], "msg": "not yours"}]})
        if request.url.path == f"/v1/units/{UNIT}":
            return httpx.Response(200, json={"months": [{"period": "2026-02"}, {"period": "2026-03"}]})
        return httpx.Response(200, json=FOUND)

    return httpx.MockTransport(handler)


def test_the_latest_month_is_asked_for_with_the_token_and_printed(capsys):
    seen: list[httpx.Request] = []
    code = dept_explain.main(UNIT, month=None, url="http://metrics", token=f"{UNIT}.secret", transport=serving(seen))
    out = capsys.readouterr().out
    assert code == 0
    assert [r.url.path for r in seen] == [f"/v1/units/{UNIT}", f"/v1/units/{UNIT}/months/2026-03/explain"]
    assert "authorization" not in seen[0].headers and seen[1].headers["authorization"] == f"Bearer {UNIT}.secret"
    for text in ("良乡", "74.00", "26.00", "rank 3 / 6", "TKC000000000001", "未解决 Unresolved", "17.0000", "91.0000",
                 "26.0000 points = 100 − score"):
        assert text in out, text


def test_a_month_asked_for_is_asked_for_directly(capsys):
    seen: list[httpx.Request] = []
    assert dept_explain.main(UNIT, month="2026-02", url="http://m", token="t", transport=serving(seen)) == 0
    assert [r.url.path for r in seen] == [f"/v1/units/{UNIT}/months/2026-02/explain"]


def test_refused_and_bad_arguments(capsys):
    seen: list[httpx.Request] = []
    assert dept_explain.main(UNIT, month="2026-03", url="http://m", token="t", transport=serving(seen, 403)) == 1
    assert "metrics answered 403: not yours" in capsys.readouterr().err
    assert dept_explain.main(UNIT, month="March", url="http://m", token="t") == 2
    assert dept_explain.main("nowhere", month=None, url="http://m", token="t") == 2
    assert dept_explain.main(UNIT, month=None, url="http://m", token=None) == 2


def test_the_command_is_wired():
    result = CliRunner().invoke(app, ["dept", "explain", "--help"])
    assert result.exit_code == 0 and "--month" in result.output
