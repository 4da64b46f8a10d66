"""The department console's rendering, without Kafka: masked phones, time left, overdue, codes."""

from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hotline.cli import app
from hotline.console import (
    Board,
    display_phone,
    find_unit,
    is_overdue,
    row_cells,
    snippet,
    time_left,
    time_left_text,
)
from hotline.contracts import QueueAssignment, deterministic_event_id, mask_phone

NOW = datetime(2026, 5, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
PHONE = "13800001234"


def assignment(ticket_id: str = "TK0000000000000001", *, due_in: timedelta = timedelta(hours=5),
               **overrides) -> QueueAssignment:
    fields = {
        "event_id": deterministic_event_id("QueueAssignment", ticket_id, "1", "110111008"),
        "ticket_id": ticket_id,
        "occurred_at": NOW - timedelta(hours=1),
        "unit_code": "110111008",
        "role": "lead",
        "office": "urban_management",
        "lead_unit_code": "110111008",
        "category": "water_supply",
        "urgency": "utilities",
        "report_back_due_at": NOW + due_in,
        "content": "家里停水两天了，请尽快处理。",
        "address": "房山区良乡镇云景台小区二期",
        "caller_phone": PHONE,
        "caller_phone_masked": mask_phone(PHONE),
        "received_at": NOW - timedelta(hours=1),
        "dispatched_at": NOW - timedelta(hours=1),
    }
    fields.update(overrides)
    return QueueAssignment(**fields)


def text_of(renderable, width: int = 220) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


def board(*items: QueueAssignment, max_rows: int = 50) -> Board:
    b = Board(find_unit("110111008"), max_rows=max_rows)
    for item in items:
        b.add(item)
    return b


def test_a_row_shows_the_masked_phone_and_never_the_full_one():
    cells = [c.plain for c in row_cells(assignment(), NOW)]
    assert "138****1234" in cells
    assert not any(PHONE in c for c in cells)
    out = text_of(board(assignment()).render(NOW))
    assert "138****1234" in out and PHONE not in out


def test_the_phone_is_masked_even_when_the_producer_sent_no_masked_copy():
    assert display_phone(assignment(caller_phone_masked=None)) == "138****1234"
    assert display_phone(assignment(caller_phone_masked=PHONE)) == "138****1234"
    assert display_phone(assignment(caller_phone=None, caller_phone_masked=None)) == "—"


def test_phone_numbers_inside_the_content_are_masked_and_the_content_is_cut():
    text = snippet(f"请回电{PHONE}或 010-12345678，另：138 0000 1234。" + "很长的内容" * 20)
    assert PHONE not in text and "12345678" not in text and "138 0000 1234" not in text
    assert "138****1234" in text and len(text) == 40 and text.endswith("…")
    assert snippet("2026-05-20 停水") == "2026-05-20 停水"  # dates are left alone
    out = text_of(board(assignment(content=f"联系电话 {PHONE}")).render(NOW))
    assert PHONE not in out


def test_the_row_shows_business_times_and_chinese_labels():
    cells = [c.plain for c in row_cells(assignment(), NOW)]
    assert cells[0] == "TK0000000000000001"
    assert cells[1].startswith("lead")
    assert cells[2] == "城市管理办公室" and cells[3] == "供水" and cells[4] == "水电气热"
    assert cells[5] == "05-20 09:00"  # received 01:00 UTC is 09:00 in Asia/Shanghai
    assert cells[6] == "05-20 15:00"
    co = [c.plain for c in row_cells(assignment(role="co_handler", lead_unit_code="m-housing", attempt=2), NOW)]
    assert co[0] == "TK0000000000000001 #2" and "co" in co[1] and "m-housing" in co[1]


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=3, hours=4, minutes=10), "3d 4h"),
        (timedelta(hours=2, minutes=5), "2h 05m"),
        (timedelta(minutes=45), "45m"),
        (timedelta(seconds=30), "<1m"),
        (timedelta(0), "overdue <1m"),
        (-timedelta(hours=1, minutes=20), "overdue 1h 20m"),
        (-timedelta(days=2, hours=1), "overdue 2d 1h"),
    ],
)
def test_time_left_formatting(delta, expected):
    assert time_left(NOW + delta, NOW) == expected


def test_no_deadline_shows_a_dash():
    assert time_left(None, NOW) == "—" and not is_overdue(None, NOW)


def test_overdue_is_marked_red_and_counted():
    late, soon, later = NOW - timedelta(minutes=5), NOW + timedelta(minutes=30), NOW + timedelta(days=1)
    assert "red" in str(time_left_text(late, NOW).style)
    assert "red" not in str(time_left_text(soon, NOW).style) and "yellow" in str(time_left_text(soon, NOW).style)
    assert str(time_left_text(later, NOW).style) == ""
    b = board(assignment("TK0000000000000001", due_in=-timedelta(minutes=5)),
              assignment("TK0000000000000002", due_in=timedelta(days=1)))
    assert "overdue 1" in b.header(NOW).plain
    overdue_span = [s for s in b.header(NOW).spans if "red" in str(s.style)]
    assert overdue_span, "the overdue count is red when not zero"


def test_the_header_names_the_unit_and_counts():
    b = board(assignment("TK0000000000000001"), assignment("TK0000000000000002", role="co_handler"))
    header = b.header(NOW).plain
    assert "良乡地区 110111008" in header
    assert "2 shown of 2 received" in header and "lead 1" in header and "co_handler 1" in header


def test_newest_first_capped_and_redeliveries_shown_once():
    items = [assignment(f"TK{i:016d}") for i in range(8)]
    b = board(*items, items[-1], max_rows=5)
    assert [a.ticket_id for a in b.rows] == [f"TK{i:016d}" for i in (7, 6, 5, 4, 3)]
    out = text_of(b.render(NOW))
    assert out.index("TK0000000000000007") < out.index("TK0000000000000003")
    assert "TK0000000000000002" not in out


def test_messages_that_do_not_parse_are_skipped_with_a_note_and_no_value():
    b = Board(find_unit("110111008"))
    assert b.add_record(b"not json", offset=3) is None
    assert b.add_record(b'{"ticket_id": "TK1", "caller_phone": "13800001234"}', offset=4) is None
    assert b.add_record(None, offset=5) is None
    other = assignment(unit_code="110111009").model_dump_json().encode()
    assert b.add_record(other, offset=6) is None
    good = b.add_record(assignment().model_dump_json().encode(), offset=7)
    assert good is not None and b.read == 5 and b.skipped == 4 and len(b.rows) == 1
    notes = list(b.notes)
    assert notes[0].startswith("skipped offset 3:") and "110111009" in notes[3]
    assert all("\n" not in n and PHONE not in n for n in notes)
    out = text_of(b.render(NOW))
    assert "skipped offset 4" in out and "skipped 4" in out and PHONE not in out


@pytest.mark.parametrize(
    ("code", "name"),
    [("110111008", "良乡地区"), ("110111", "房山区接诉即办指挥中心"), ("m-housing", None), ("triage", "12345热线分拨")],
)
def test_every_kind_of_unit_is_known(code, name):
    unit = find_unit(code)
    assert unit is not None and unit.code == code
    assert name is None or unit.name == name


@pytest.mark.parametrize("code", ["999999999", "110111999", "m-nothing", "TRIAGE", ""])
def test_an_unknown_unit_code_exits_2_naming_the_code(code):
    result = CliRunner().invoke(app, ["dept", "watch", code, "--once"])
    assert result.exit_code == 2
    assert f"unknown unit code {code!r}" in result.stderr
