"""Metrics' state in memory: every ticket's fact, each unit-month's tickets, and what the log
prefix it was computed from is (`vector`).

All of it is a pure function of the records read so far, so it is rebuilt from the topics on
every start and never stored; the store holds only what queries need (figures, rankings,
hotspots, indexes), written from here by the use cases' flush (`hotline.metrics.app.Writer`).
The functions are the domain's (`fact_update`, `contributions`, `unit_month_figures`), the same a
rebuild and the tests' pure projection use. Pure: no I/O, so it belongs to the domain.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any, TypedDict, cast
from zoneinfo import ZoneInfo

from hotline.contracts import BUSINESS_TZ
from hotline.metrics.domain import (
    Entries,
    Fact,
    MonthKey,
    Returned,
    Section,
    Summary,
    apply_entries,
    contributions,
    fact_as_of,
    holder,
)
from hotline.metrics.figures import Figures, PeriodUnit, unit_month_figures
from hotline.metrics.settle import SettlePolicy, SettleRule, SettleState, Span, is_settled, month_end, settle_time

UNTIMED = datetime.min.replace(tzinfo=UTC)  # an entry applied without a time: before any settle time
# (the record's business time, or None for an untimed update; ticket id; the entries it sets)
Stamped = tuple[datetime | None, str, Entries]


class HeldMonth(TypedDict):
    """A unit-month in memory: which it is, and the tickets it keeps in each section."""

    meta: MonthKey
    tickets: dict[str, Summary]
    returned: dict[str, Returned]


def vector_key(topic_index: int, partition: int) -> str:
    """A partition's key in a version vector (a field name: no dots)."""
    return f"{topic_index}_{partition}"


class Projection:
    """Facts, unit-months and the offsets they cover; months whose figures changed are `dirty`.

    Each fact entry also keeps when its record came (`recorded`, see `hotline.metrics.settle`), so
    the figures of a month as they stood at its settle time can be computed at any time from the
    facts alone (`settle_periods`): the same live and in a rebuild.
    """

    def __init__(self, zone: tzinfo = BUSINESS_TZ) -> None:
        self.zone = zone  # the city's: its months
        self.facts: dict[str, Fact] = {}
        # ticket -> {month id: (section, summary)}: where it counts now
        self._counted: dict[str, dict[str, tuple[Section, Summary | Returned]]] = {}
        self.months: dict[str, HeldMonth] = {}
        self.periods: dict[str, set[str]] = {}  # period -> unit codes with figures
        self.dirty: set[str] = set()
        self._figures: dict[str, Figures] = {}  # of the months not dirty
        # partition key -> the next offset not yet applied
        self.vector: dict[str, int] = {}
        # Settling: ticket -> path -> when its record came; ticket -> its latest such time;
        # partition key -> the latest record time there; the clock's latest tick.
        self.recorded: dict[str, dict[str, datetime]] = {}
        self._latest_record: dict[str, datetime] = {}
        self.high_water: dict[str, datetime] = {}
        self.clock: datetime | None = None
        self._period_tickets: dict[str, set[str]] = {}  # period -> tickets with a month in it
        self.settled: dict[str, datetime] = {}  # period -> its settle time, once settled
        self._settled_figures: dict[str, Figures] = {}  # month id -> as it stood when its month settled
        # month id -> its tickets' summaries as they stood then (mostly the live summaries themselves)
        self._settled_tickets: dict[str, dict[str, Summary]] = {}
        self._settled_again: set[str] = set()  # tickets with an entry recorded before a settled month's time
        self._known_settle: dict[str, datetime | None] = {}  # provisional period -> when it will settle

    def apply(self, updates: Iterable[tuple[str, Entries]]) -> list[tuple[str, str]]:
        """Untimed updates (tests): as `apply_records`, their entries recorded before any settle time."""
        return self.apply_records("", ((None, ticket_id, entries) for ticket_id, entries in updates))

    def apply_records(self, partition: str, stamped: Iterable[Stamped]) -> list[tuple[str, str]]:
        """Set the facts' new entries of one partition's records, in order (the first event under an
        id stands), note when each came, and recount the tickets touched; return (ticket, path) of
        each event that came again with other content."""
        conflicts: list[tuple[str, str]] = []
        touched: set[str] = set()
        latest_settled = max(self.settled.values(), default=None)
        for at, ticket_id, entries in stamped:
            fact = self.facts.setdefault(ticket_id, {})
            conflicts += [(ticket_id, path) for path in apply_entries(fact, entries)]
            touched.add(ticket_id)
            seen = None
            if at is not None:
                seen = self.high_water.get(partition)
                if seen is None or at > seen:
                    self.high_water[partition] = seen = at
                recorded = self.recorded.setdefault(ticket_id, {})
                for path in entries:
                    recorded.setdefault(path, seen)
                if ticket_id not in self._latest_record or seen > self._latest_record[ticket_id]:
                    self._latest_record[ticket_id] = seen
            if latest_settled is not None and (seen is None or seen <= latest_settled):
                # Recorded before a settled month's time: only a quiet partition's record (or a
                # process still catching up with the log) does this; the month is frozen again.
                self._settled_again.add(ticket_id)
        for ticket_id in touched:
            self._recount(ticket_id)
        return conflicts

    def covered(self, key: str, offset: int) -> None:
        """Records before `offset` of a partition are applied."""
        if offset > self.vector.get(key, 0):
            self.vector[key] = offset

    def _recount(self, ticket_id: str) -> None:
        now = contributions(self.facts[ticket_id], self.zone)
        before = self._counted.get(ticket_id, {})
        for month_id in before.keys() - now.keys():
            section, _ = before[month_id]
            self._section(self.months[month_id], section).pop(ticket_id, None)
            self.dirty.add(month_id)
        for month_id, (section, summary, meta) in now.items():
            self._period_tickets.setdefault(meta["period"], set()).add(ticket_id)
            if before.get(month_id) == (section, summary):
                continue
            month = self.months.get(month_id)
            if month is None:
                month = self.months[month_id] = {"meta": meta, "tickets": {}, "returned": {}}
                self.periods.setdefault(meta["period"], set()).add(meta["unit_code"])
            other: Section = "returned" if section == "tickets" else "tickets"
            self._section(month, other).pop(ticket_id, None)
            self._section(month, section)[ticket_id] = summary
            self.dirty.add(month_id)
        self._counted[ticket_id] = {m: (section, summary) for m, (section, summary, _) in now.items()}

    @staticmethod
    def _section(month: HeldMonth, section: Section) -> dict[str, Any]:
        return cast(dict[str, Any], month[section])  # summaries or returns, by section

    def advance(self, moment: datetime) -> None:
        """A business-time tick from the log (`hotline.clock`): business time has reached `moment`."""
        if self.clock is None or moment > self.clock:
            self.clock = moment

    def business_now(self) -> datetime | None:
        """Business time as the log tells it: the latest tick or record time read."""
        return max([*self.high_water.values(), *([self.clock] if self.clock else [])], default=None)

    def recompute(self) -> set[str]:
        """Recompute the figures of the months that changed; return those months (no longer dirty)."""
        changed, self.dirty = self.dirty, set()
        for month_id in changed:
            month = self.months[month_id]
            self._figures[month_id] = unit_month_figures(month["tickets"], month["returned"])
        return changed

    def figures(self, month_id: str) -> Figures:
        """A unit-month's figures as they are written: frozen at its settle time once its month has
        settled, else as they are now (after `recompute`)."""
        frozen = self._settled_figures.get(month_id)
        return frozen if frozen is not None else self._figures[month_id]

    def held_tickets(self, unit_code: str, period: str) -> dict[str, Summary] | None:
        """The summaries of the tickets a unit holds in a month (None: no such unit-month): what
        the explanation of its lost points reads; the store keeps no per-ticket state."""
        month_id = f"{unit_code}:{period}"
        month = self.months.get(month_id)
        if month is None:
            return None
        # A settled month is explained as it was frozen, so the items add up to its settled score.
        frozen = self._settled_tickets.get(month_id)
        return dict(frozen if frozen is not None else month["tickets"])

    def period_units(self, period: str) -> list[PeriodUnit]:
        """Every unit's figures of a month, as the ranking views take them."""
        return [{"unit_code": u, "figures": self.figures(f"{u}:{period}")} for u in sorted(self.periods[period])]

    def settle_state(self, period: str, policy: SettlePolicy) -> SettleState:
        """Whether a month has settled and when it did, or will."""
        if period in self.settled:
            return SettleState(True, self.settled[period], policy.rule, policy.version)
        return SettleState(False, self._known_settle.get(period), policy.rule, policy.version)

    def settle_periods(self, now: datetime | None, policy: SettlePolicy, tz: ZoneInfo, *,
                       changed: set[str]) -> set[str]:
        """Settle every month whose time has come by business time `now`, freezing its figures as
        they stood at its settle time; refreeze a settled month a late-arriving early record moved
        (a quiet partition's, see `is_settled`). `changed`: periods whose months changed (an
        all_callbacks settle time is worked out again for those only). "Every partition has passed
        the settle time" is over the partitions with records (live and rebuilt alike); one without is
        as quiet as can be, and waits for the grace. Returns the periods settled or refrozen."""
        parts = list(self.high_water)
        moved: set[str] = set()
        again, self._settled_again = self._settled_again, set()
        for period in sorted(self.settled):
            if any(t in self._period_tickets.get(period, ()) for t in again):
                self._freeze(period, self.settled[period])
                moved.add(period)
        for period in sorted(self.periods.keys() - self.settled.keys()):
            if policy.rule is SettleRule.ALL_CALLBACKS:
                if now is None or now < month_end(period, tz):
                    self._known_settle.pop(period, None)  # not worked out before the month has ended
                    continue
                if period in changed:
                    self._known_settle.pop(period, None)
            if period not in self._known_settle:
                self._known_settle[period] = settle_time(period, policy, tz, self._spans(period))
            at = self._known_settle[period]
            passed = at is not None and all(p in self.high_water and self.high_water[p] > at for p in parts)
            if is_settled(at, now, passed=passed, grace=policy.grace) and at is not None:
                self.settled[period] = at
                self._known_settle.pop(period, None)
                self._freeze(period, at)
                moved.add(period)
        return moved

    def _spans(self, period: str) -> list[Span]:
        """Each ticket held in a month of `period`: when its dispatch and its first callback came."""
        spans: list[Span] = []
        for ticket_id in self._period_tickets.get(period, ()):
            counted = self._counted.get(ticket_id, {})
            if not any(m.endswith(":" + period) and section == "tickets" for m, (section, _) in counted.items()):
                continue
            recorded = self.recorded.get(ticket_id, {})
            found = holder(self.facts[ticket_id])
            dispatched = recorded.get(f"dispatches.{found[0]}") if found else None
            called = [recorded.get(f"callbacks.{k}", UNTIMED) for k in self.facts[ticket_id].get("callbacks", {})]
            spans.append((dispatched, min(called, default=None)))
        return spans

    def _freeze(self, period: str, at: datetime) -> None:
        """Every unit-month of `period` as it stood at `at`: from the entries recorded by then."""
        held: dict[str, HeldMonth] = {}
        for ticket_id in sorted(self._period_tickets.get(period, ())):
            latest = self._latest_record.get(ticket_id)
            if latest is None or latest <= at:
                now = {m: (section, summary) for m, (section, summary) in self._counted.get(ticket_id, {}).items()}
            else:
                fact = fact_as_of(self.facts[ticket_id], self.recorded.get(ticket_id, {}), at)
                now = {m: (c.section, c.summary) for m, c in contributions(fact, self.zone).items()}
            for month_id, (section, summary) in now.items():
                if not month_id.endswith(":" + period):
                    continue
                month = held.setdefault(month_id, {"meta": self.months[month_id]["meta"], "tickets": {},
                                                   "returned": {}})
                self._section(month, section)[ticket_id] = summary
        for unit in self.periods.get(period, set()):
            month_id = f"{unit}:{period}"
            kept = held.get(month_id)
            self._settled_tickets[month_id] = dict(kept["tickets"]) if kept else {}
            self._settled_figures[month_id] = unit_month_figures(
                kept["tickets"] if kept else {}, kept["returned"] if kept else {})
