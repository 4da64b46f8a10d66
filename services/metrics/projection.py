"""Metrics' state in memory: every ticket's fact, each unit-month's tickets, and what the log
prefix it was computed from is (`vector`).

All of it is a pure function of the records read so far, so it is rebuilt from the topics on
every start and never stored; the store holds only what queries need (figures, rankings,
hotspots, indexes), written from here by the use cases' flush (`hotline.metrics.app.Writer`).
The functions are the domain's (`fact_update`, `contributions`, `unit_month_figures`), the same a
rebuild and the tests' pure projection use. Pure: no I/O, so it belongs to the domain.
"""

from collections.abc import Iterable
from datetime import tzinfo
from typing import Any, TypedDict, cast

from hotline.contracts import BUSINESS_TZ
from hotline.metrics.domain import Entries, Fact, MonthKey, Returned, Section, Summary, apply_entries, contributions
from hotline.metrics.figures import Figures, PeriodUnit, unit_month_figures


class HeldMonth(TypedDict):
    """A unit-month in memory: which it is, and the tickets it keeps in each section."""

    meta: MonthKey
    tickets: dict[str, Summary]
    returned: dict[str, Returned]


def vector_key(topic_index: int, partition: int) -> str:
    """A partition's key in a version vector (a field name: no dots)."""
    return f"{topic_index}_{partition}"


class Projection:
    """Facts, unit-months and the offsets they cover; months whose figures changed are `dirty`."""

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

    def apply(self, updates: Iterable[tuple[str, Entries]]) -> list[tuple[str, str]]:
        """Set the facts' new entries (the first event under an id stands) and recount the tickets
        touched; return (ticket, path) of each event that came again with other content."""
        conflicts: list[tuple[str, str]] = []
        touched: set[str] = set()
        for ticket_id, entries in updates:
            fact = self.facts.setdefault(ticket_id, {})
            conflicts += [(ticket_id, path) for path in apply_entries(fact, entries)]
            touched.add(ticket_id)
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

    def settle(self) -> set[str]:
        """Recompute the figures of the months that changed; return those months (no longer dirty)."""
        changed, self.dirty = self.dirty, set()
        for month_id in changed:
            month = self.months[month_id]
            self._figures[month_id] = unit_month_figures(month["tickets"], month["returned"])
        return changed

    def figures(self, month_id: str) -> Figures:
        """A settled unit-month's figures."""
        return self._figures[month_id]

    def held_tickets(self, unit_code: str, period: str) -> dict[str, Summary] | None:
        """The summaries of the tickets a unit holds in a month (None: no such unit-month): what
        the explanation of its lost points reads; the store keeps no per-ticket state."""
        month = self.months.get(f"{unit_code}:{period}")
        return dict(month["tickets"]) if month is not None else None

    def period_units(self, period: str) -> list[PeriodUnit]:
        """Every unit's figures of a month, as the ranking views take them."""
        return [{"unit_code": u, "figures": self.figures(f"{u}:{period}")} for u in sorted(self.periods[period])]
