"""The deadline policy (shared by followup and metrics), read from data/policies/deadlines.yaml,
and the clocks it starts."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from hotline.business_calendar import BusinessCalendar, default_calendar
from hotline.deadline_clocks import Clock, ClockKind, EscalationPolicy


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
        """The moment this span after `start` ends."""
        if self.working_days is not None:
            return calendar.add_working_days(start, self.working_days)
        delta = timedelta(minutes=self.minutes or 0, hours=self.hours or 0, days=self.days or 0)
        return calendar.add_calendar_duration(start, delta)


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


@cache
def default_policy() -> DeadlinePolicy:
    """The shipped policy."""
    text = (resources.files("hotline") / "data" / "policies" / "deadlines.yaml").read_text("utf-8")
    return DeadlinePolicy.model_validate(yaml.safe_load(text))
