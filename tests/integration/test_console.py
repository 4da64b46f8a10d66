"""`hotline dept watch` on the real broker: a unit's queue shown once, offsets committed.

What a restart shows: the console reads with its own group (`<prefix>console-<unit>`) and
commits after each batch, so a second run continues after what the first one showed:
`--from-beginning` (the default) starts at the group's committed offset, or at the start of
the topic the first time. `--new-only` skips what is queued when it starts and commits past it.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from hotline.cli import app
from hotline.contracts import QueueAssignment, deterministic_event_id, mask_phone, topics
from hotline.runtime.kafka import ensure_topics
from tests.support import publish

pytestmark = pytest.mark.stack

UNIT = "110111008"  # 良乡地区, Fangshan


def _assignment(phone: str, *, due_in: timedelta, content: str = "小区门口道路破损，雨天积水严重，请尽快维修。") -> dict:
    ticket_id = f"TK{uuid.uuid4().hex[:16].upper()}"
    now = datetime.now(UTC)
    return QueueAssignment(
        event_id=deterministic_event_id("QueueAssignment", ticket_id, "1", UNIT),
        ticket_id=ticket_id,
        occurred_at=now,
        unit_code=UNIT,
        role="lead",
        office="urban_management",
        lead_unit_code=UNIT,
        category="roads_traffic",
        urgency="general",
        report_back_due_at=now + due_in,
        content=content,
        address="房山区良乡镇云景台小区二期",
        caller_phone=phone,
        caller_phone_masked=mask_phone(phone),
        received_at=now - timedelta(minutes=3),
        dispatched_at=now,
    ).model_dump(mode="json")


def _prefix(namespace) -> str:
    # A queue of its own: the bytes this test sends must not reach other tests' readers.
    return namespace.prefix + "console-"


@pytest.fixture
async def queue(namespace) -> str:
    name = _prefix(namespace) + topics.queue_topic(UNIT)
    await ensure_topics(namespace.kafka, [topics.TopicSpec(name, 1)])
    return name


async def _send(namespace, queue: str, *items: dict | bytes) -> None:
    for item in items:
        key = item["ticket_id"].encode() if isinstance(item, dict) else None
        await publish(namespace.kafka, queue, item, key=key)


async def _watch(namespace, *args: str):
    env = {"KAFKA_BOOTSTRAP_SERVERS": namespace.kafka, "HOTLINE_TOPIC_PREFIX": _prefix(namespace)}
    # The command runs its own event loop (asyncio.run): keep it off the test's loop.
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["dept", "watch", UNIT, "--once", "--timeout-s", "20", *args], env=env
    )
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_the_console_shows_the_queue_once_with_masked_phones_and_continues_after_a_restart(
    namespace, queue
):
    first = _assignment("13912345678", due_in=timedelta(days=7))
    late = _assignment("13687654321", due_in=-timedelta(hours=2))
    await _send(namespace, queue, first, late)

    shown = await _watch(namespace)
    assert "良乡地区 110111008" in shown
    for item in (first, late):
        assert item["ticket_id"] in shown
    assert "139****5678" in shown and "136****4321" in shown
    assert "13912345678" not in shown and "13687654321" not in shown
    assert "overdue 2h" in shown or "overdue 1h 59m" in shown
    assert shown.index(late["ticket_id"]) < shown.index(first["ticket_id"]), "newest first"

    # Same group, committed offsets: the restart continues after what the first run showed.
    again = await _watch(namespace)
    assert "良乡地区 110111008" in again
    assert first["ticket_id"] not in again and late["ticket_id"] not in again

    # Only the new assignment shows; a message that is not an assignment is skipped with a note.
    third = _assignment("13700001111", due_in=timedelta(hours=20), content="我的电话是13700001111，请回电")
    await _send(namespace, queue, b"not an assignment", third)
    shown = await _watch(namespace)
    assert third["ticket_id"] in shown and first["ticket_id"] not in shown
    assert "skipped offset" in shown and "not a QueueAssignment" in shown
    assert "137****1111" in shown and "13700001111" not in shown


async def test_new_only_skips_the_backlog_and_commits_past_it(namespace, queue):
    waiting = _assignment("13811112222", due_in=timedelta(days=1))
    await _send(namespace, queue, waiting)

    shown = await _watch(namespace, "--new-only")
    assert "良乡地区 110111008" in shown and waiting["ticket_id"] not in shown
    # The skipped backlog stays skipped for the group's next run.
    assert waiting["ticket_id"] not in await _watch(namespace)

    later = _assignment("13811113333", due_in=timedelta(days=1))
    await _send(namespace, queue, later)
    shown = await _watch(namespace)
    assert later["ticket_id"] in shown and "138****3333" in shown and "13811113333" not in shown
