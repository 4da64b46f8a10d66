"""`hotline dept brief`: the agenda of a unit's daily dispatch meeting, from followup's API.

Followup's `GET /v1/units/{code}/brief?date=` selects the agenda (new tickets, due today,
overdue, awaiting a face-to-face visit, reopened, repeats, demands collected the day before);
this prints it as tables. The screen is shared at the meeting, so phone-like numbers in the
collected demands' descriptions are masked, as in `hotline dept watch`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hotline.console import (
    NO_TOKEN,
    UnitInfo,
    _labels,
    business_time,
    find_unit,
    get_json,
    refuse,
    report_console,
    snippet,
    time_left_text,
)

DEFAULT_URL = "http://127.0.0.1:8003"
SECTIONS = [
    ("new", "新派单 new today"),
    ("due_today", "今日到期 due today"),
    ("overdue", "已超期 overdue"),
    ("awaiting_visit", "待见面 awaiting a face-to-face visit"),
    ("reopened", "重办 reopened"),
    ("repeats", "重复诉求 repeats"),
]


class BriefError(Exception):
    """Why the brief could not be fetched (exit code 1)."""


def fetch_brief(url: str, unit_code: str, *, token: str, day: date | None = None,
                transport: httpx.BaseTransport | None = None, timeout_s: float = 10) -> dict:
    """The brief as followup serves it; a BriefError names what went wrong (never the token)."""
    params = {"date": day.isoformat()} if day else {}
    with httpx.Client(base_url=url, transport=transport, timeout=timeout_s) as client:
        return get_json(client, f"/v1/units/{unit_code}/brief", service="followup", error=BriefError,
                        headers={"Authorization": f"Bearer {token}"}, params=params)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _ticket_table(items: list[dict], now: datetime) -> Table:
    categories, urgencies, _ = _labels()
    table = Table(expand=False)
    for name in ("ticket", "category", "urgency", "state", "dispatched", "report back by", "time left", "visit",
                 "repeats"):
        table.add_column(name, no_wrap=True)
    for item in items:
        due = _when(item.get("report_back_due_at"))
        state = item.get("state", "open") + (f" · round {item['round']}" if item.get("round") else "")
        repeats = f"{item['repeat_count']} ← {item['repeat_of']}" if item.get("repeat_count") else "—"
        table.add_row(
            Text(item["ticket_id"]),
            Text(categories.get(item.get("category") or "", item.get("category") or "—")),
            Text(urgencies.get(item.get("urgency") or "", item.get("urgency") or "—")),
            Text(state),
            Text(business_time(_when(item.get("dispatched_at")))),
            Text(business_time(due)),
            time_left_text(due, now) if item.get("state", "open") == "open" else Text("—"),
            Text("见面 yes" if item.get("face_to_face") else "no", style="" if item.get("face_to_face") else "yellow"),
            Text(repeats),
        )
    return table


def _demands_table(demands: list[dict]) -> Table:
    categories, _, _ = _labels()
    table = Table(expand=False)
    for name in ("new ticket", "category", "place", "demand", "visit (ticket)", "recorded"):
        table.add_column(name, no_wrap=True)
    for d in demands:
        category = d.get("category") or d.get("category_hint") or "—"
        table.add_row(
            Text(d["ticket_id"]), Text(categories.get(category, category)), Text(snippet(d.get("place") or "—", 24)),
            Text(snippet(d.get("description") or "")), Text(d.get("visit_ticket_id") or "—"),
            Text(business_time(_when(d.get("recorded_at")))),
        )
    return table


def render(brief: dict, unit: UnitInfo, now: datetime | None = None) -> Group:
    """The agenda: a header with the counts, one table per section, then yesterday's demands."""
    now = now or datetime.now(UTC)
    counts = brief.get("counts", {})
    header = Text()
    header.append(f"{unit.name} {unit.code}", style="bold")
    header.append(f"  调度会 daily dispatch meeting {brief['date']} (Asia/Shanghai)  ")
    header.append(" · ".join(f"{key} {counts.get(key, 0)}" for key, _ in SECTIONS))
    parts: list = [header]
    for key, title in SECTIONS:
        items = brief.get(key, [])
        style = "bold red" if key == "overdue" and items else "bold"
        parts.append(Text(f"\n{title} ({len(items)})", style=style))
        parts.append(_ticket_table(items, now) if items else Text("none", style="dim"))
    collected = brief.get("collected_yesterday", {})
    demands = collected.get("demands", [])
    parts.append(Text(f"\n昨日收集诉求 demands collected {collected.get('date', '')} ({len(demands)})", style="bold"))
    parts.append(_demands_table(demands) if demands else Text("none", style="dim"))
    return Group(*parts)


def main(unit_code: str, *, day: str | None, url: str, token: str | None,
         transport: httpx.BaseTransport | None = None) -> int:
    """Run `hotline dept brief`; the exit code (2: bad arguments, 1: followup refused or unreachable)."""
    err = Console(stderr=True)
    unit = find_unit(unit_code)
    if unit is None:
        err.print(f"[bold red]error:[/] unknown unit code {escape(repr(unit_code))}", highlight=False)
        return 2
    try:
        wanted = date.fromisoformat(day) if day else None
    except ValueError:
        err.print(f"[bold red]error:[/] --date must be YYYY-MM-DD, not {escape(repr(day))}", highlight=False)
        return 2
    if not token:
        refuse(err, NO_TOKEN)
        return 2
    try:
        brief = fetch_brief(url, unit.code, token=token, day=wanted, transport=transport)
    except BriefError as exc:
        refuse(err, str(exc))
        return 1
    out = report_console()
    out.print(render(brief, unit))
    return 0
