"""Metrics' state in memory: every ticket's fact, each unit-month's tickets, and what the log
prefix it was computed from is (`vector`).

All of it is a pure function of the records read so far, so it is rebuilt from the topics on
every start and never stored; the store holds only what queries need (figures, rankings,
hotspots, indexes), written from here by `hotline.metrics.writer`. The functions are the
domain's (`fact_update`, `contributions`, `unit_month_figures`), the same a rebuild and the tests'
pure projection use.
"""

import logging
from collections.abc import Iterable
from typing import Any

from hotline.metrics.domain import apply_entries, contributions, unit_month_figures

log = logging.getLogger(__name__)


def vector_key(topic_index: int, partition: int) -> str:
    """A partition's key in a version vector (a field name: no dots)."""
    return f"{topic_index}_{partition}"


class Projection:
    """Facts, unit-months and the offsets they cover; months whose figures changed are `dirty`."""

    def __init__(self) -> None:
        self.facts: dict[str, dict[str, Any]] = {}
        # ticket -> {month id: (section, summary)}: where it counts now
        self._counted: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}
        # month id -> {"meta", "tickets", "returned"}
        self.months: dict[str, dict[str, Any]] = {}
        self.periods: dict[str, set[str]] = {}  # period -> unit codes with figures
        self.dirty: set[str] = set()
        self._figures: dict[str, dict[str, Any]] = {}  # of the months not dirty
        # partition key -> the next offset not yet applied
        self.vector: dict[str, int] = {}

    def apply(self, updates: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
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
        now = contributions(self.facts[ticket_id])
        before = self._counted.get(ticket_id, {})
        for month_id in before.keys() - now.keys():
            section, _ = before[month_id]
            self.months[month_id][section].pop(ticket_id, None)
            self.dirty.add(month_id)
        for month_id, (section, summary, meta) in now.items():
            if before.get(month_id) == (section, summary):
                continue
            month = self.months.get(month_id)
            if month is None:
                month = self.months[month_id] = {"meta": meta, "tickets": {}, "returned": {}}
                self.periods.setdefault(meta["period"], set()).add(meta["unit_code"])
            other = "returned" if section == "tickets" else "tickets"
            month[other].pop(ticket_id, None)
            month[section][ticket_id] = summary
            self.dirty.add(month_id)
        self._counted[ticket_id] = {m: (section, summary) for m, (section, summary, _) in now.items()}

    def settle(self) -> set[str]:
        """Recompute the figures of the months that changed; return those months (no longer dirty)."""
        changed, self.dirty = self.dirty, set()
        for month_id in changed:
            month = self.months[month_id]
            self._figures[month_id] = unit_month_figures(month["tickets"], month["returned"])
        return changed

    def figures(self, month_id: str) -> dict[str, Any]:
        """A settled unit-month's figures."""
        return self._figures[month_id]

    def period_units(self, period: str) -> list[dict[str, Any]]:
        """Every unit's figures of a month, as the ranking views take them."""
        return [{"unit_code": u, "figures": self.figures(f"{u}:{period}")} for u in sorted(self.periods[period])]
