"""Deadlines, shared by routing, followup, metrics and the simulator's preview: the policy read
from data/policies/deadlines.yaml, the clocks it starts, and their arithmetic.

A clock runs from `started_at` to `due_at`. Its marks are warnings at shares of that span (50%
and 80% by default), the breach at `due_at`, and escalations at the breach and every further
period after it. Meeting the clock stops it; marks after the stop never fire. An approved
extension moves `due_at` forward only; marks already passed at the extension are not fired late.
Each mark has a stable id, so firing is idempotent: what fired is remembered by id.

A dispatch starts its holder's response clock (first contact) and report-back clock
(`DeadlinePolicy.dispatch_deadlines`); routing puts their due times on `TicketDispatched`, so
its consumers read them from the event rather than working them out again. Intake's answer to
the citizen is `report_back_due` at the receipt: the same function routing applies at the first
dispatch, which it makes at the receipt time (the rule is stated in deadlines.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from hotline.business_calendar import BusinessCalendar, default_calendar


class ClockKind(StrEnum):
    """What a clock measures."""

    RESPONSE = "response"  # first contact with the citizen
    REPORT_BACK = "report_back"  # report the result back to the citizen
    ON_SITE = "on_site"  # a summoned department reports on site (吹哨报到)


class MarkKind(StrEnum):
    """What happens at a mark."""

    WARNING = "warning"
    BREACH = "breach"
    ESCALATION = "escalation"


@dataclass(frozen=True)
class EscalationPolicy:
    """Escalate at the breach, then every `every`, `times` times in all."""

    every: timedelta
    times: int


@dataclass(frozen=True)
class Clock:
    """One deadline of one ticket for one unit."""

    ticket_id: str
    kind: ClockKind
    unit_code: str
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None = None
    extensions: int = 0
    extended_at: datetime | None = None
    # Tells apart the clocks of one kind and unit: a dispatch attempt, a round, a summons.
    series: str = ""

    @property
    def clock_id(self) -> str:
        """Stable id: a ticket has one clock of a kind per unit and series."""
        base = f"{self.ticket_id}:{self.kind.value}:{self.unit_code}"
        return f"{base}:{self.series}" if self.series else base


@dataclass(frozen=True)
class Mark:
    """A moment at which a clock warns, breaches or escalates."""

    clock_id: str
    kind: MarkKind
    at: datetime
    label: str  # warning_50, breach, escalation_1, ...

    @property
    def mark_id(self) -> str:
        """Stable id: the same mark is recognised however often it is computed."""
        return f"{self.clock_id}:{self.label}"


def marks(clock: Clock, *, warnings: tuple[float, ...], escalation: EscalationPolicy) -> list[Mark]:
    """Every mark of a clock, in time order."""
    span = clock.due_at - clock.started_at
    suffix = f"@{clock.extensions}" if clock.extensions else ""
    # Shares equal to 12 digits are one warning: a mark's id is its label, fired once.
    labelled = {f"warning_{share * 100:.12g}{suffix}": share for share in sorted(warnings, reverse=True)}
    found = [
        Mark(clock.clock_id, MarkKind.WARNING, clock.started_at + span * share, label)
        for label, share in labelled.items()
    ]
    found.append(Mark(clock.clock_id, MarkKind.BREACH, clock.due_at, f"breach{suffix}"))
    found += [
        Mark(clock.clock_id, MarkKind.ESCALATION, clock.due_at + escalation.every * n,
             f"escalation_{n + 1}{suffix}")
        for n in range(escalation.times)
    ]
    return sorted(found, key=lambda m: (m.at, m.kind != MarkKind.BREACH))


def due_marks(
    clock: Clock,
    now: datetime,
    fired: frozenset[str],
    *,
    warnings: tuple[float, ...],
    escalation: EscalationPolicy,
) -> list[Mark]:
    """Marks that business time has reached and that have not fired, while the clock runs."""
    return [
        m
        for m in live_marks(clock, warnings=warnings, escalation=escalation)
        if m.at <= now and m.mark_id not in fired
    ]


def live_marks(clock: Clock, *, warnings: tuple[float, ...], escalation: EscalationPolicy) -> list[Mark]:
    """The marks that can still fire: before the stop and after the extension, in time order."""
    return [
        m
        for m in marks(clock, warnings=warnings, escalation=escalation)
        if (clock.stopped_at is None or m.at < clock.stopped_at)
        and (clock.extended_at is None or m.at > clock.extended_at)
    ]


def next_mark_after(clock: Clock, now: datetime, *, warnings: tuple[float, ...],
                    escalation: EscalationPolicy) -> Mark | None:
    """The first live mark later than `now`: when the scheduler must look at this clock again."""
    return next((m for m in live_marks(clock, warnings=warnings, escalation=escalation) if m.at > now), None)


class ExtensionRefused(Exception):
    """An extension that cannot be granted, with the reason."""


def extend(clock: Clock, new_due: datetime, *, at: datetime) -> Clock:
    """Move the deadline forward once, before it is breached; else refuse."""
    if clock.stopped_at is not None:
        raise ExtensionRefused("the deadline has been met")
    if at >= clock.due_at:
        raise ExtensionRefused("the deadline has already been breached")
    if clock.extensions >= 1:
        raise ExtensionRefused("the deadline has already been extended once")
    if new_due <= clock.due_at:
        raise ExtensionRefused("an extension must move the deadline later")
    return replace(clock, due_at=new_due, extensions=clock.extensions + 1, extended_at=at)


def stop(clock: Clock, at: datetime) -> Clock:
    """The clock is met at `at` (the first time counts)."""
    return clock if clock.stopped_at is not None else replace(clock, stopped_at=at)


def met_in_time(clock: Clock) -> bool | None:
    """Whether the clock was met by its deadline; None while it runs."""
    if clock.stopped_at is None:
        return None
    return clock.stopped_at <= clock.due_at


# ---------------------------------------------------------------- the policy (data/policies/deadlines.yaml)

class Duration(BaseModel):
    """A span of minutes, hours, calendar days or working days (exactly one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    minutes: int | None = None
    hours: int | None = None
    days: int | None = None
    working_days: int | None = None

    @model_validator(mode="after")
    def _one(self) -> Duration:
        given = [v for v in (self.minutes, self.hours, self.days, self.working_days) if v is not None]
        if len(given) != 1 or given[0] <= 0:
            raise ValueError("give exactly one positive duration: minutes, hours, days or working_days")
        return self

    def after(self, start: datetime, calendar: BusinessCalendar) -> datetime:
        """The moment this span after `start` ends: calendar days at the same local clock time
        (holidays and weekends count), working days by the calendar, minutes and hours elapsed."""
        if self.working_days is not None:
            return calendar.add_working_days(start, self.working_days)
        if self.days is not None:
            if start.utcoffset() is None:
                raise ValueError(f"naive datetime {start.isoformat()}: business times must carry their zone")
            # Aware arithmetic within one zone keeps the wall-clock time across a DST change.
            return start.astimezone(calendar.time_zone) + timedelta(days=self.days)
        delta = timedelta(minutes=self.minutes or 0, hours=self.hours or 0)
        return calendar.add_calendar_duration(start, delta)

    def label(self) -> tuple[str, str]:
        """The span in Chinese and in English, as a citizen reads it: 7天 / 7 days."""
        for value, zh, en in ((self.working_days, "个工作日", "working days"), (self.days, "天", "days"),
                              (self.hours, "小时", "hours"), (self.minutes, "分钟", "minutes")):
            if value is not None:
                return f"{value}{zh}", f"{value} {en}"
        raise AssertionError("a duration has exactly one unit")  # guaranteed by the validator


class Escalation(BaseModel):
    """Escalation after the breach."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    every: Duration
    times: int


class DeadlinePolicy(BaseModel):
    """Durations by clock and urgency, warning shares and escalation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    clocks: dict[ClockKind, dict[str, Duration]]
    warnings: tuple[float, ...]
    escalation: Escalation

    @model_validator(mode="after")
    def _sane(self) -> DeadlinePolicy:
        if any(not 0 < share < 1 for share in self.warnings):
            raise ValueError("warnings are shares strictly between 0 and 1")
        if self.escalation.every.working_days is not None:
            raise ValueError("escalation.every is elapsed time: minutes, hours or days")
        return self

    @property
    def escalation_policy(self) -> EscalationPolicy:
        """The escalation as the pure domain takes it."""
        every = self.escalation.every
        delta = timedelta(minutes=every.minutes or 0, hours=every.hours or 0, days=every.days or 0)
        return EscalationPolicy(every=delta, times=self.escalation.times)

    def start_clock(self, *, ticket_id: str, kind: ClockKind, unit_code: str, urgency: str,
                    started_at: datetime, calendar: BusinessCalendar | None = None) -> Clock:
        """A clock of this kind, due by the policy for the ticket's urgency class."""
        due = self.due_at(kind=kind, urgency=urgency, started_at=started_at, calendar=calendar)
        return Clock(ticket_id=ticket_id, kind=kind, unit_code=unit_code, started_at=started_at, due_at=due)

    def due_at(self, *, kind: ClockKind, urgency: str, started_at: datetime,
               calendar: BusinessCalendar | None = None) -> datetime:
        """When a clock of this kind, started then, is due for the urgency class."""
        durations = self.clocks[kind]
        duration = durations.get(urgency) or durations.get("any") or durations["general"]
        return duration.after(started_at, calendar or default_calendar())

    def dispatch_deadlines(self, *, urgency: str | None, dispatched_at: datetime,
                           calendar: BusinessCalendar | None = None) -> dict[ClockKind, datetime]:
        """When the clocks a dispatch starts for its holder are due, both by the policy from the
        dispatch: first contact and reporting back. An unknown urgency counts as general."""
        urgency = urgency or "general"
        response = self.due_at(kind=ClockKind.RESPONSE, urgency=urgency, started_at=dispatched_at, calendar=calendar)
        report_back = report_back_due(urgency, dispatched_at, policy=self, calendar=calendar)
        return {ClockKind.RESPONSE: response, ClockKind.REPORT_BACK: report_back}


@cache
def default_policy() -> DeadlinePolicy:
    """The shipped policy."""
    text = (resources.files("hotline") / "data" / "policies" / "deadlines.yaml").read_text("utf-8")
    return DeadlinePolicy.model_validate(yaml.safe_load(text))


def report_back_due(urgency: str | None, started_at: datetime, *, policy: DeadlinePolicy | None = None,
                    calendar: BusinessCalendar | None = None) -> datetime:
    """When the citizen must hear back on a ticket of this urgency class whose clock starts then:
    intake's answer (started at receipt), routing's dispatch deadline, followup's clock for a
    dispatch that does not say. The shipped policy and calendar unless given; general when unknown."""
    return (policy or default_policy()).due_at(
        kind=ClockKind.REPORT_BACK, urgency=urgency or "general", started_at=started_at, calendar=calendar)
