"""Moved to `hotline.deadlines` (the one deadlines module); these names stay importable from here."""

from hotline.deadlines import (
    Clock,
    ClockKind,
    EscalationPolicy,
    ExtensionRefused,
    Mark,
    MarkKind,
    due_marks,
    extend,
    live_marks,
    marks,
    met_in_time,
    next_mark_after,
    stop,
)

__all__ = [
    "Clock", "ClockKind", "EscalationPolicy", "ExtensionRefused", "Mark", "MarkKind", "due_marks", "extend",
    "live_marks", "marks", "met_in_time", "next_mark_after", "stop",
]
