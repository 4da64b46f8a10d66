"""The department console (`hotline dept watch`): one unit's queue of assignments, live.

A street, town, district fallback, department, enterprise or the triage desk watches its own
queue topic `queue.<unit_code>` and sees its assignments in a table, newest first. The screen is
shared, so it shows the caller's masked phone only (never the full number, never a name), and
phone-like numbers inside the content are masked too.

Offsets: the console reads with its own consumer group, `<prefix>console-<unit_code>`, on a
manual assignment of the queue's partitions (every screen of the same unit sees every
assignment; none waits for a rebalance) and commits after each batch it has shown. So a restart
continues where the last run stopped: `--from-beginning` (the default) means "from the group's
committed offset, or the start of the topic the first time"; `--new-only` skips whatever is in
the queue now and marks it as passed.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import httpx
from pydantic import ValidationError
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hotline.contracts import BUSINESS_TZ, QueueAssignment, mask_phone, topics

DEFAULT_MAX_ROWS = 50
CONTENT_CHARS = 40
ONCE_TIMEOUT_S = 10.0
IDLE_S = 1.5
MAX_NOTES = 5

ROLE_LABELS = {"lead": "lead 主办", "co_handler": "co 协办", "summoned": "summoned 报到"}
URGENCY_STYLES = {"emergency": "bold red", "utilities": "yellow", "complex": "cyan"}
# Phone-like numbers in free text, masked on screen: mobiles (138 0000 1234, 138-0000-1234),
# landlines with an area code (010-12345678) and any run of seven or more digits.
_PHONE_LIKE = re.compile(
    r"(?<!\d)(?:1\d{2}[- ]?\d{4}[- ]?\d{4}|0\d{2,3}[- ]?\d{7,8}|\d{7,})(?!\d)"
)


@dataclass(frozen=True)
class UnitInfo:
    """A unit with a queue: its code, Chinese name and kind."""

    code: str
    name: str
    kind: str


def find_unit(code: str) -> UnitInfo | None:
    """The unit a queue code names: a street or town, a district fallback, a department, an
    enterprise or triage; None for an unknown code."""
    from hotline.city import deployment_catalogue
    from hotline.gazetteer import beijing
    from hotline.runtime.settings import ServiceSettings

    gazetteer = beijing()
    if (unit := gazetteer.units.get(code)) is not None:
        return UnitInfo(unit.code, unit.name, unit.kind.value)
    if (district := gazetteer.districts.get(code)) is not None:
        return UnitInfo(district.code, f"{district.name}接诉即办指挥中心", "district_fallback")
    if (org := deployment_catalogue(ServiceSettings()).units_by_code.get(code)) is not None:
        return UnitInfo(org.code, org.zh, org.kind)
    if code == topics.TRIAGE_QUEUE_CODE:
        return UnitInfo(code, "12345热线分拨", "triage")
    return None


@cache
def _labels() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Chinese names of categories, urgency classes and offices (codes stay the fallback)."""
    from hotline.city import deployment_catalogue
    from hotline.runtime.settings import ServiceSettings
    from hotline.taxonomy import default_taxonomy

    taxonomy = default_taxonomy()
    return (
        {code: c.zh for code, c in taxonomy.categories.items()},
        {code: u.zh for code, u in taxonomy.urgency_classes.items()},
        dict(deployment_catalogue(ServiceSettings()).offices),
    )


# ---------------------------------------------------------------------------------------------
# Pure rendering


def business_time(value: datetime | None) -> str:
    """A time as the unit reads it: Asia/Shanghai, month-day hour:minute."""
    return value.astimezone(BUSINESS_TZ).strftime("%m-%d %H:%M") if value else "—"


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else "<1m"


def is_overdue(due: datetime | None, now: datetime) -> bool:
    """Whether the report-back deadline has passed."""
    return due is not None and due <= now


def time_left(due: datetime | None, now: datetime) -> str:
    """Time until the report-back deadline (`2h 05m`, `3d 4h`), or `overdue 1h 20m`."""
    if due is None:
        return "—"
    if is_overdue(due, now):
        return f"overdue {_span(now - due)}"
    return _span(due - now)


def time_left_text(due: datetime | None, now: datetime) -> Text:
    """`time_left` styled: red when overdue, yellow within two hours."""
    label = time_left(due, now)
    if is_overdue(due, now):
        return Text(label, style="bold red")
    if due is not None and due - now <= timedelta(hours=2):
        return Text(label, style="yellow")
    return Text(label)


def mask_digits(text: str) -> str:
    """Mask phone-like numbers inside free text (138****1234)."""
    return _PHONE_LIKE.sub(lambda m: mask_phone(m.group(0)) or "", text)


def snippet(content: str, limit: int = CONTENT_CHARS) -> str:
    """The first `limit` characters of the content on one line, phone numbers masked."""
    flat = " ".join(mask_digits(content).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def display_phone(assignment: QueueAssignment) -> str:
    """The masked phone only; never the full number."""
    masked = assignment.caller_phone_masked or mask_phone(assignment.caller_phone)
    # A masked value that is itself a full number (a producer's bug) is masked again.
    return mask_phone(masked) if masked and "*" not in masked else (masked or "—")


def row_cells(assignment: QueueAssignment, now: datetime) -> list[Text]:
    """One table row: ticket, role, office, category, urgency, received, deadline, time left,
    masked phone, content."""
    categories, urgencies, offices = _labels()
    ticket = assignment.ticket_id + (f" #{assignment.attempt}" if assignment.attempt > 1 else "")
    role = ROLE_LABELS.get(assignment.role, assignment.role)
    if assignment.role != "lead" and assignment.lead_unit_code:
        role += f" ← {assignment.lead_unit_code}"
    role_text = Text(role)
    # A summoned department reports on site within 30 minutes (field added with that role).
    on_site = getattr(assignment, "on_site_due_at", None)
    if on_site is not None:
        role_text.append(f" · on site by {on_site.astimezone(BUSINESS_TZ):%H:%M}",
                         style="bold red" if is_overdue(on_site, now) else "")
    office = offices.get(assignment.office, assignment.office) if assignment.office else "—"
    category = categories.get(assignment.category, assignment.category) if assignment.category else "—"
    if assignment.unit_code == topics.TRIAGE_QUEUE_CODE and assignment.candidates:
        # What the triage desk sorts by: the classifier's best classes (the category is a guess).
        category += " ? " + " / ".join(f"{c.first_level} {c.confidence:.2f}" for c in assignment.candidates)
    urgency = assignment.urgency or "—"
    return [
        Text(ticket),
        role_text,
        Text(office),
        Text(category),
        Text(urgencies.get(urgency, urgency), style=URGENCY_STYLES.get(urgency, "")),
        Text(business_time(assignment.received_at)),
        Text(business_time(assignment.report_back_due_at)),
        time_left_text(assignment.report_back_due_at, now),
        Text(display_phone(assignment)),
        Text(snippet(assignment.content)),
    ]


class Board:
    """What the console shows: the last `max_rows` assignments of one unit, and counts.

    Memory stays bounded: the rows, the recent event ids (to drop redeliveries) and the notes
    are bounded deques.
    """

    def __init__(self, unit: UnitInfo, *, topic: str = "", max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.unit = unit
        self.topic = topic or topics.queue_topic(unit.code)
        self.rows: deque[QueueAssignment] = deque(maxlen=max_rows)
        self._recent_ids: deque[str] = deque(maxlen=max(1_000, max_rows))
        self.notes: deque[str] = deque(maxlen=MAX_NOTES)
        self.read = 0  # messages read from the topic
        self.received = 0  # assignments among them (redeliveries counted once)
        self.skipped = 0
        self.roles: Counter[str] = Counter()

    def add_record(self, value: bytes | None, *, offset: int | None = None) -> QueueAssignment | None:
        """Parse one queue message and add it; a message that does not parse is skipped with a
        one-line note naming the offset, the field and the reason (never the value)."""
        self.read += 1
        where = f"offset {offset}" if offset is not None else "a message"
        try:
            if value is None:
                raise ValueError("empty message")
            assignment = QueueAssignment.model_validate_json(value)
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            field = ".".join(str(part) for part in first["loc"]) or "message"
            self._skip(f"skipped {where}: not a QueueAssignment ({field}: {first['msg']})")
            return None
        except ValueError as exc:
            self._skip(f"skipped {where}: {exc}")
            return None
        if assignment.unit_code != self.unit.code:
            self._skip(f"skipped {where}: an assignment for unit {assignment.unit_code}")
            return None
        self.add(assignment)
        return assignment

    def _skip(self, note: str) -> None:
        self.skipped += 1
        self.notes.append(note)

    def add(self, assignment: QueueAssignment) -> None:
        """Show an assignment at the top; a redelivered one (same event id) is shown once."""
        if assignment.event_id in self._recent_ids:
            return
        self._recent_ids.append(assignment.event_id)
        self.received += 1
        self.roles[assignment.role] += 1
        self.rows.appendleft(assignment)

    def header(self, now: datetime) -> Text:
        """The unit's name and code, and counts."""
        overdue = sum(is_overdue(a.report_back_due_at, now) for a in self.rows)
        roles = " · ".join(f"{role} {n}" for role, n in sorted(self.roles.items()))
        text = Text()
        text.append(f"{self.unit.name} {self.unit.code}", style="bold")
        text.append(f"  {self.topic}  ", style="dim")
        parts = [f"{len(self.rows)} shown of {self.received} received"]
        if roles:
            parts.append(roles)
        text.append(" · ".join(parts))
        text.append(" · ")
        text.append(f"overdue {overdue}", style="bold red" if overdue else "")
        if self.skipped:
            text.append(f" · skipped {self.skipped}", style="yellow")
        text.append(f"  as of {now.astimezone(BUSINESS_TZ):%Y-%m-%d %H:%M:%S} (Asia/Shanghai)", style="dim")
        return text

    def table(self, now: datetime) -> Table:
        """The assignments, newest first."""
        table = Table(expand=False, show_lines=False)
        columns: list[tuple[str, dict[str, Any]]] = [
            ("ticket", {"no_wrap": True}),
            ("role", {"no_wrap": True}),
            ("office", {}),
            ("category", {}),
            ("urgency", {"no_wrap": True}),
            ("received", {"no_wrap": True}),
            ("report back by", {"no_wrap": True}),
            ("time left", {"no_wrap": True}),
            ("phone", {"no_wrap": True}),
            ("content", {"no_wrap": True, "overflow": "ellipsis"}),
        ]
        for name, kwargs in columns:
            table.add_column(name, **kwargs)
        for assignment in self.rows:
            table.add_row(*row_cells(assignment, now))
        return table

    def render(self, now: datetime | None = None) -> Group:
        """Header, table and the latest notes."""
        now = now or datetime.now(UTC)
        notes = [Text(note, style="yellow") for note in self.notes]
        empty = [] if self.rows else [Text("no assignments yet", style="dim")]
        return Group(self.header(now), self.table(now), *empty, *notes)


# ---------------------------------------------------------------------------------------------
# Kafka


class ConsoleError(Exception):
    """A reason the console cannot run (exit code 1)."""


async def _partitions(kafka: dict[str, Any], topic: str) -> list[int]:
    """The queue's partitions; an error when the topic does not exist (no auto-creation)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(**kafka, request_timeout_ms=10_000)
    try:
        await admin.start()
        # Listing every topic never creates one; describing a missing one could.
        if topic not in await admin.list_topics():
            raise ConsoleError(f"topic {topic} does not exist: run `hotline topics ensure`")
        described = (await admin.describe_topics([topic]))[0]
        return sorted(p["partition"] for p in described["partitions"])
    except KafkaError as exc:
        raise ConsoleError(
            f"Kafka is not reachable at {kafka['bootstrap_servers']} ({exc.__class__.__name__})"
        ) from exc
    finally:
        await admin.close()


async def watch(
    board: Board,
    *,
    kafka: str | dict[str, Any],
    group_id: str,
    from_beginning: bool = True,
    once: bool = False,
    timeout_s: float | None = None,
    console: Console | None = None,
    idle_s: float = IDLE_S,
) -> None:
    """Consume the unit's queue into the board.

    With `once`, read what is there (until the end offsets seen at start are reached and nothing
    new came for `idle_s`, or `timeout_s`) and print the board once. Otherwise show it live
    (`rich.live.Live`) until cancelled, or for `timeout_s` when given.
    """
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError
    from aiokafka.structs import TopicPartition
    from rich.live import Live

    from hotline.runtime.kafka import client_options

    console = console or Console()
    kafka = client_options(kafka)
    partitions = [TopicPartition(board.topic, p) for p in await _partitions(kafka, board.topic)]
    consumer = AIOKafkaConsumer(
        **kafka, group_id=group_id, enable_auto_commit=False,
        auto_offset_reset="earliest", request_timeout_ms=10_000,
    )
    try:
        await consumer.start()
        # A manual assignment with a group only for offsets: every screen of the unit sees
        # every assignment, and none waits for a rebalance.
        consumer.assign(partitions)
        if not from_beginning:
            await consumer.seek_to_end(*partitions)
            await consumer.commit({tp: await consumer.position(tp) for tp in partitions})

        async def poll(timeout_ms: int) -> int:
            batches = await consumer.getmany(*partitions, timeout_ms=timeout_ms, max_records=500)
            count = 0
            for records in batches.values():
                for record in records:
                    board.add_record(record.value, offset=record.offset)
                    count += 1
            if count:
                await consumer.commit()
            return count

        started = time.monotonic()
        if once:
            limit = ONCE_TIMEOUT_S if timeout_s is None else timeout_s
            ends = await consumer.end_offsets(partitions)
            last = time.monotonic()
            while time.monotonic() - started < limit:
                if await poll(200):
                    last = time.monotonic()
                    continue
                caught_up = all([await consumer.position(tp) >= end for tp, end in ends.items()])
                if caught_up and time.monotonic() - last >= idle_s:
                    break
            console.print(board.render())
            return
        with Live(board.render(), console=console, refresh_per_second=2, auto_refresh=False) as live:
            while timeout_s is None or time.monotonic() - started < timeout_s:
                await poll(1_000)
                # Re-rendered every second even when idle: the time left runs down.
                live.update(board.render(), refresh=True)
    except KafkaError as exc:
        raise ConsoleError(f"Kafka error on {board.topic} ({exc.__class__.__name__}: {exc})") from exc
    finally:
        await consumer.stop()


def get_json(client: httpx.Client, path: str, *, service: str, error: type[Exception],
             headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> dict:
    """A unit command's GET of a service: its JSON, else `error` naming the service and its answer's
    reasons (never the token)."""
    try:
        response = client.get(path, headers=headers, params=params)
    except httpx.HTTPError as exc:
        raise error(f"{service} is not reachable at {client.base_url} ({exc.__class__.__name__})") from exc
    if response.status_code != 200:
        try:
            reason = "; ".join(d.get("msg", "") for d in response.json().get("detail", []))
        except (ValueError, AttributeError, TypeError):
            reason = response.text[:200]
        raise error(f"{service} answered {response.status_code}: {reason}")
    return response.json()


NO_TOKEN = "a bearer token is needed: --token or HOTLINE_TOKEN (`hotline units token <unit_code>` issues one)"


def refuse(err: Console, message: str) -> None:
    """A unit command's error line on standard error."""
    err.print("[bold red]error:[/]", escape(message), highlight=False, soft_wrap=True)


def report_console() -> Console:
    """Standard output; piped or captured (tests, logs), wide enough that ticket ids and phones never wrap."""
    out = Console()
    return out if out.is_terminal else Console(width=max(out.width, 200))


def main(
    unit_code: str,
    *,
    from_beginning: bool = True,
    once: bool = False,
    timeout_s: float | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> int:
    """Run the console from the command line; the exit code (2: unknown unit, 1: Kafka)."""
    from hotline.runtime.settings import ServiceSettings

    err = Console(stderr=True)
    unit = find_unit(unit_code)
    if unit is None:
        err.print(
            f"[bold red]error:[/] unknown unit code {escape(repr(unit_code))}: not a street or town "
            "(9 digits), district (6 digits), department, enterprise or triage",
            highlight=False, soft_wrap=True,
        )
        return 2
    settings = ServiceSettings()
    out = report_console()
    board = Board(unit, topic=settings.topic(topics.queue_topic(unit.code)), max_rows=max_rows)
    try:
        asyncio.run(
            watch(
                board, kafka=settings.kafka_client_options(),
                group_id=f"{settings.topic_prefix}console-{unit.code}",
                from_beginning=from_beginning, once=once, timeout_s=timeout_s, console=out,
            )
        )
    except ConsoleError as exc:
        refuse(err, str(exc))
        return 1
    except KeyboardInterrupt:
        out.print(f"stopped; {board.read} read, offsets committed", highlight=False)
    return 0
