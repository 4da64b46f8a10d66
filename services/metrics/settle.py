"""When a month settles, and what is recorded by then (pure; data/policies/settle.yaml,
docs/services/metrics.md "Settled and provisional months").

A month is provisional until its settle time; then its figures and ranking are those of the
entries recorded by that time, and a later event moves neither. "Recorded by" must come from the
log itself, or a rebuild would settle differently from the live process that read the same log
in another interleaving of its partitions: an entry's time is the business time of its record
(`record_time`), raised to the latest record time seen before it in the same partition (the
projection's high-water mark). So the first record past the settle time in a partition is that
partition's cut, and everything after it there is late, whatever time it claims (a contact
recorded after the settle with an earlier `contacted_at` is late).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field

from hotline.contracts import CallbackResult
from hotline.metrics.domain import MetricsEvent


class SettleRule(StrEnum):
    """Which moment settles a month."""

    DAY_OF_NEXT_MONTH = "day_of_next_month"
    ALL_CALLBACKS = "all_callbacks"
    NEVER = "never"  # every month stays provisional: every event counts (analysing a replayed history)


class SettlePolicy(BaseModel):
    """data/policies/settle.yaml (its comments give each value's source)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    rule: SettleRule
    day_of_next_month: int = Field(ge=1, le=28)
    all_callbacks_latest_day: int | None = Field(default=None, ge=1, le=28)
    quiet_partition_grace_hours: float = Field(ge=0)

    @property
    def grace(self) -> timedelta:
        """How long after its settle time a month waits for a partition with no later record."""
        return timedelta(hours=self.quiet_partition_grace_hours)


@cache
def default_settle_policy() -> SettlePolicy:
    """The shipped policy."""
    text = (resources.files("hotline") / "data" / "policies" / "settle.yaml").read_text("utf-8")
    return SettlePolicy.model_validate(yaml.safe_load(text))


def day_of_next_month(period: str, day: int, tz: tzinfo) -> datetime:
    """00:00 (in `tz`) of a day of the month after a YYYY-MM month."""
    year, month = int(period[:4]), int(period[5:7])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, day, tzinfo=tz)


def month_end(period: str, tz: tzinfo) -> datetime:
    """When a month ends (the next one's first moment) in `tz`."""
    return day_of_next_month(period, 1, tz)


# A ticket of the month: (when its dispatch was recorded, when its first callback was; None: none yet).
# An untimed entry (None dispatch time) counts as recorded before anything.
Span = tuple[datetime | None, datetime | None]


def callbacks_complete_at(end: datetime, spans: Iterable[Span]) -> datetime | None:
    """The first moment, not before the month's `end`, at which every ticket recorded by then has
    had its callback: a ticket holds the month open from its dispatch to its callback (for ever
    without one). None while some ticket holds it open for ever."""
    never = datetime.max.replace(tzinfo=end.tzinfo)
    floor = datetime.min.replace(tzinfo=end.tzinfo)
    ordered = sorted(((d or floor), (c or never)) for d, c in spans)
    moment, reach, i = end, end, 0
    while True:
        while i < len(ordered) and ordered[i][0] <= moment:
            reach = max(reach, ordered[i][1])
            i += 1
        if reach <= moment:
            return moment
        if reach == never:
            return None
        moment = reach


def settle_time(period: str, policy: SettlePolicy, tz: tzinfo, spans: Iterable[Span] = ()) -> datetime | None:
    """When the month settles by the policy's rule (None: not known yet, or never)."""
    if policy.rule is SettleRule.NEVER:
        return None
    if policy.rule is SettleRule.DAY_OF_NEXT_MONTH:
        return day_of_next_month(period, policy.day_of_next_month, tz)
    complete = callbacks_complete_at(month_end(period, tz), spans)
    if policy.all_callbacks_latest_day is None:
        return complete
    latest = day_of_next_month(period, policy.all_callbacks_latest_day, tz)
    return latest if complete is None else min(complete, latest)


def is_settled(settle_at: datetime | None, now: datetime | None, *, passed: bool, grace: timedelta) -> bool:
    """Whether a month with this settle time is settled at business time `now`: once every partition
    has a record past the settle time (`passed`: nothing recorded before it can still arrive), or
    `grace` after it (a quiet partition)."""
    if settle_at is None or now is None or now < settle_at:
        return False
    return passed or now >= settle_at + grace


def record_time(event: MetricsEvent) -> datetime:
    """A record's business time: the survey's, or when the event's fact happened."""
    return event.surveyed_at if isinstance(event, CallbackResult) else event.occurred_at


@dataclass(frozen=True)
class SettleState:
    """A month's settle state, as rankings and figures carry it."""

    settled: bool
    settle_at: datetime | None  # when it settled, or will (None: not known yet)
    rule: SettleRule
    policy_version: str

    def as_fields(self) -> dict[str, object]:
        """`settled`, `settled_at` (when it settled, else None) and `settles_at` (when it will, if
        known, while provisional; else None), the rule and the policy's version. Both times are
        always there: a document's fields are set, not replaced, so neither may linger."""
        return {"settled": self.settled, "settled_at": self.settle_at if self.settled else None,
                "settles_at": None if self.settled else self.settle_at,
                "settle_rule": self.rule.value, "settle_policy_version": self.policy_version}
