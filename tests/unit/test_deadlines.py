"""Deadline arithmetic: marks, what is due, extensions and stops (pure), and the shipped policy."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hotline.business_calendar import BusinessCalendar
from hotline.deadlines import (
    Clock,
    ClockKind,
    Duration,
    EscalationPolicy,
    ExtensionRefused,
    MarkKind,
    default_policy,
    due_marks,
    extend,
    marks,
    met_in_time,
    stop,
)

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Beijing
WARN = (0.5, 0.8)
ESC = EscalationPolicy(every=timedelta(hours=24), times=3)


def clock(hours=10, **kw) -> Clock:
    return Clock("TK1", ClockKind.REPORT_BACK, "110111008", T0, T0 + timedelta(hours=hours), **kw)


def test_marks_of_a_ten_hour_clock():
    found = [(m.label, m.at - T0) for m in marks(clock(), warnings=WARN, escalation=ESC)]
    assert found == [
        ("warning_50", timedelta(hours=5)), ("warning_80", timedelta(hours=8)),
        ("breach", timedelta(hours=10)), ("escalation_1", timedelta(hours=10)),
        ("escalation_2", timedelta(hours=34)), ("escalation_3", timedelta(hours=58)),
    ]


def test_what_is_due_fires_once_and_not_after_the_clock_is_met():
    c = clock()
    first = due_marks(c, T0 + timedelta(hours=9), frozenset(), warnings=WARN, escalation=ESC)
    assert [m.label for m in first] == ["warning_50", "warning_80"]
    fired = frozenset(m.mark_id for m in first)
    assert due_marks(c, T0 + timedelta(hours=9), fired, warnings=WARN, escalation=ESC) == []
    met = stop(c, T0 + timedelta(hours=9, minutes=30))
    assert due_marks(met, T0 + timedelta(days=5), fired, warnings=WARN, escalation=ESC) == []
    assert met_in_time(met) is True


def test_an_extension_moves_the_deadline_forward_once_and_before_the_breach():
    c = extend(clock(), T0 + timedelta(hours=20), at=T0 + timedelta(hours=6))
    assert c.due_at == T0 + timedelta(hours=20) and c.extensions == 1
    due = due_marks(c, T0 + timedelta(hours=21), frozenset(), warnings=WARN, escalation=ESC)
    # Marks already passed when the extension was granted are not fired late.
    assert [m.label for m in due] == ["warning_50@1", "warning_80@1", "breach@1", "escalation_1@1"]
    with pytest.raises(ExtensionRefused, match="once"):
        extend(c, T0 + timedelta(hours=30), at=T0 + timedelta(hours=7))
    with pytest.raises(ExtensionRefused, match="breached"):
        extend(clock(), T0 + timedelta(hours=30), at=T0 + timedelta(hours=10))
    with pytest.raises(ExtensionRefused, match="later"):
        extend(clock(), T0 + timedelta(hours=9), at=T0 + timedelta(hours=1))
    with pytest.raises(ExtensionRefused, match="met"):
        extend(stop(clock(), T0), T0 + timedelta(hours=30), at=T0 + timedelta(hours=1))


spans = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=40))
moments = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=200))


@given(spans, st.lists(st.floats(min_value=0.01, max_value=0.99), min_size=1, max_size=3, unique=True))
@example(timedelta(minutes=1), [0.010000000000000002, 0.01])  # equal to 12 digits: one warning, one id
def test_warnings_precede_the_breach_and_escalations_follow_it(span, shares):
    c = Clock("TK", ClockKind.RESPONSE, "u", T0, T0 + span)
    found = marks(c, warnings=tuple(shares), escalation=ESC)
    breach = next(m for m in found if m.kind is MarkKind.BREACH)
    assert all(m.at <= breach.at for m in found if m.kind is MarkKind.WARNING)
    assert all(m.at >= breach.at for m in found if m.kind is MarkKind.ESCALATION)
    assert [m.at for m in found] == sorted(m.at for m in found)
    assert len({m.mark_id for m in found}) == len(found)


@given(spans, spans, moments)
def test_extensions_only_move_forward(span, more, when):
    c = Clock("TK", ClockKind.REPORT_BACK, "u", T0, T0 + span)
    at = T0 + when
    try:
        extended = extend(c, c.due_at + more, at=at)
    except ExtensionRefused:
        assert at >= c.due_at
        return
    assert extended.due_at > c.due_at and at < c.due_at


@given(spans, st.lists(moments, min_size=1, max_size=6))
def test_firing_in_steps_fires_each_mark_once_whatever_the_steps(span, steps):
    c = Clock("TK", ClockKind.RESPONSE, "u", T0, T0 + span)
    fired: list[str] = []
    for step in sorted(steps):
        due = due_marks(c, T0 + step, frozenset(fired), warnings=WARN, escalation=ESC)
        fired += [m.mark_id for m in due]
    at_once = due_marks(c, T0 + max(steps), frozenset(), warnings=WARN, escalation=ESC)
    assert sorted(fired) == sorted(m.mark_id for m in at_once)


@pytest.mark.parametrize(
    ("kind", "urgency", "started", "due"),
    [
        (ClockKind.REPORT_BACK, "emergency", "2026-11-02T09:00+08:00", "2026-11-02T11:00+08:00"),
        (ClockKind.REPORT_BACK, "utilities", "2026-11-02T09:00+08:00", "2026-11-03T09:00+08:00"),
        # 7 and 15 calendar days (天) from the Friday before Spring Festival 2026 (holiday
        # 15-23 Feb): the holiday does not move them (was 7 working days, 2 March, until #27).
        (ClockKind.REPORT_BACK, "general", "2026-02-13T10:00+08:00", "2026-02-20T10:00+08:00"),
        (ClockKind.REPORT_BACK, "complex", "2026-02-13T10:00+08:00", "2026-02-28T10:00+08:00"),
        (ClockKind.RESPONSE, "emergency", "2026-11-02T09:00+08:00", "2026-11-02T09:30+08:00"),
        (ClockKind.ON_SITE, "general", "2026-11-02T09:00+08:00", "2026-11-02T09:30+08:00"),
    ],
)
def test_the_shipped_policy(kind, urgency, started, due):
    c = default_policy().start_clock(ticket_id="TK", kind=kind, unit_code="u", urgency=urgency,
                                     started_at=datetime.fromisoformat(started))
    assert c.due_at == datetime.fromisoformat(due)


def test_calendar_days_end_at_the_same_local_time_and_hours_are_elapsed_time_across_a_dst_change():
    new_york = BusinessCalendar(time_zone="America/New_York")
    start = datetime.fromisoformat("2026-03-07T10:00-05:00")  # the clocks go forward on 8 March
    assert Duration(days=7).after(start, new_york) == datetime.fromisoformat("2026-03-14T10:00-04:00")
    assert Duration(hours=168).after(start, new_york) == datetime.fromisoformat("2026-03-14T11:00-04:00")
    with pytest.raises(ValueError, match="naive"):
        Duration(days=7).after(datetime(2026, 3, 7, 10), new_york)


def test_a_duration_says_its_span_as_a_citizen_reads_it():
    assert Duration(days=7).label() == ("7天", "7 days")
    assert Duration(working_days=15).label() == ("15个工作日", "15 working days")
    assert Duration(hours=2).label() == ("2小时", "2 hours")
