"""`hotline dept explain`: the tickets that cost a unit points in a month, from metrics' API.

Metrics' `GET /v1/units/{code}/months/{YYYY-MM}/explain` lists them, costliest first, each with
the points it cost and the score and rank the unit would have had had it gone right; the items add
up to the gap between the score and 100. Only the unit's own token and the centre's read it. With
no month asked, the unit's latest month with figures (`GET /v1/units/{code}`, public).
"""

from __future__ import annotations

import re

import httpx
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hotline.console import NO_TOKEN, UnitInfo, _labels, find_unit, get_json, refuse, report_console

DEFAULT_URL = "http://127.0.0.1:8004"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ExplainError(Exception):
    """Why the explanation could not be fetched (exit code 1)."""


def fetch_explanation(url: str, unit_code: str, *, token: str, month: str | None = None,
                      transport: httpx.BaseTransport | None = None, timeout_s: float = 10) -> dict:
    """The explanation as metrics serves it; an ExplainError names what went wrong (never the token)."""
    with httpx.Client(base_url=url, transport=transport, timeout=timeout_s) as client:
        if month is None:
            months = get_json(client, f"/v1/units/{unit_code}", service="metrics", error=ExplainError).get("months", [])
            if not months:
                raise ExplainError(f"metrics has no month with figures for {unit_code}")
            month = months[-1]["period"]
        return get_json(client, f"/v1/units/{unit_code}/months/{month}/explain", service="metrics",
                        error=ExplainError, headers={"Authorization": f"Bearer {token}"})


def _number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render(found: dict, unit: UnitInfo) -> Group:
    """A header (score, gap, rank), then one row per ticket, costliest first."""
    categories, _, _ = _labels()
    reasons = (found.get("labels") or {}).get("reasons", {})
    header = Text()
    header.append(f"{unit.name} {unit.code}", style="bold")
    header.append(f"  {found['period']}  得分 score {_number(found.get('score'))}"
                  f"  失分 lost {_number(found.get('gap'))}")
    rank = found.get("rank")
    header.append(f"  排名 rank {rank} / {found.get('ranked_units')}" if rank is not None else "  not ranked")
    header.append(f"  (policy {found.get('policy', {}).get('version', '?')})", style="dim")
    table = Table(expand=False)
    for name in ("ticket", "category", "what went wrong", "points lost", "score had it gone right", "rank"):
        table.add_column(name, no_wrap=True)
    for item in found.get("items", []):
        said = ", ".join(reasons.get(r, {}).get("zh", r) + " " + reasons.get(r, {}).get("en", "")
                         for r in item["reasons"])
        table.add_row(
            Text(item["ticket_id"]), Text(categories.get(item["category"], item["category"])), Text(said.strip()),
            Text(_number(item["points"], 4), style="bold red" if item["points"] else "dim"),
            Text(_number(item["score_if_right"], 4)),
            Text("—" if item["rank_if_right"] is None else str(item["rank_if_right"])),
        )
    total = sum(i["points"] for i in found.get("items", []))
    footer = Text(f"{len(found.get('items', []))} tickets, {total:.4f} points = 100 − score", style="dim")
    return Group(header, table if found.get("items") else Text("no ticket cost points", style="dim"), footer)


def main(unit_code: str, *, month: str | None, url: str, token: str | None,
         transport: httpx.BaseTransport | None = None) -> int:
    """Run `hotline dept explain`; the exit code (2: bad arguments, 1: metrics refused or unreachable)."""
    err = Console(stderr=True)
    unit = find_unit(unit_code)
    if unit is None:
        err.print(f"[bold red]error:[/] unknown unit code {escape(repr(unit_code))}", highlight=False)
        return 2
    if month is not None and not _MONTH.match(month):
        err.print(f"[bold red]error:[/] --month must be YYYY-MM, not {escape(repr(month))}", highlight=False)
        return 2
    if not token:
        refuse(err, NO_TOKEN)
        return 2
    try:
        found = fetch_explanation(url, unit.code, token=token, month=month, transport=transport)
    except ExplainError as exc:
        refuse(err, str(exc))
        return 1
    out = report_console()
    out.print(render(found, unit))
    return 0
