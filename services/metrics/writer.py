"""Writes the in-memory projection's changes into the store, coalesced.

A flush writes only the documents whose content changed since this process last wrote them (or
since they were read from the store on start): the figures of the unit-months that moved, the
rankings and hotspots of their months, new unit -> month index entries and the latest month.
Flushes start at least `spacing_s` apart and every caller waiting meanwhile shares the next one,
so the documents written per ticket fall as the load rises: a unit-month that took ten events in
the interval is written once. Each caller returns after a flush that started after it asked, so
its records are in the store before its offsets are committed.

A document the store refused (another instance wrote it from further along some partition) is
computed and offered again on the next flush, from this process's then later vector.
"""

from collections.abc import Callable
from typing import Any

from hotline.metrics.projection import Projection
from hotline.metrics.store import VERSIONED, Coalesced, MetricsStore

# (period, [{unit_code, figures}]) -> (rankings by _id, hotspots)
Views = Callable[[str, list[dict[str, Any]]], tuple[dict[str, dict[str, Any]], dict[str, Any]]]
_BOOKKEEPING = ("_id", "o", "seq")


class Writer:
    """Flushes `projection` into `store`."""

    def __init__(self, projection: Projection, store: MetricsStore, views: Views, *, spacing_s: float) -> None:
        self._projection, self._store, self._views = projection, store, views
        # What the store holds as far as this process knows: collection -> _id -> content.
        self._written: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in VERSIONED}
        self._indexed: set[tuple[str, str]] = set()
        self._latest: str | None = None
        self._periods_again: set[str] = set()  # months whose rankings a flush could not write
        self._shared = Coalesced(self._flush, merge=list.extend, fresh=list, spacing_s=spacing_s)

    async def start(self) -> None:
        """Learn what the store holds, so the first flush writes only what differs."""
        held = await self._store.held()
        for name in VERSIONED:
            self._written[name] = {i: _content(d) for i, d in held[name].items()}
        self._indexed = {(u, p) for u, d in held["metrics_units"].items() for p in d.get("periods", {})}
        self._latest = (held["metrics_meta"].get("latest") or {}).get("period")

    async def flush(self) -> None:
        """Return once a flush that started after this call has written everything applied before it."""
        await self._shared([True])

    async def _flush(self, _: list) -> None:
        p = self._projection
        # Computed in one go, with no await between: the content matches the vector it is written with.
        vector = dict(p.vector)
        months = p.settle()
        figures = {m: {**p.months[m]["meta"], "figures": p.figures(m)} for m in months}
        periods = {p.months[m]["meta"]["period"] for m in months} | self._periods_again
        self._periods_again = set()
        rankings: dict[str, dict[str, Any]] = {}
        hotspots: dict[str, dict[str, Any]] = {}
        ranking_period: dict[str, str] = {}
        for period in sorted(periods):
            by_id, spots = self._views(period, p.period_units(period))
            rankings.update(by_id)
            ranking_period.update(dict.fromkeys(by_id, period))
            hotspots[period] = spots
        pairs = {(p.months[m]["meta"]["unit_code"], p.months[m]["meta"]["period"]) for m in months} - self._indexed
        latest = max(p.periods, default=None)
        if latest is not None and self._latest is not None and latest <= self._latest:
            latest = None
        try:
            refused = {}
            for name, docs, extra in (("metrics_unit_figures", figures, {}),
                                      ("metrics_rankings", rankings, {"seq": sum(vector.values())}),
                                      ("metrics_hotspots", hotspots, {"seq": sum(vector.values())})):
                changed = {i: d for i, d in docs.items() if self._written[name].get(i) != d}
                refused[name] = await self._store.write_versioned(
                    name, {i: {**d, **extra} for i, d in changed.items()}, vector)
                for i in changed.keys() - refused[name]:
                    self._written[name][i] = changed[i]
            by_unit: dict[str, set[str]] = {}
            for unit, period in pairs:
                by_unit.setdefault(unit, set()).add(period)
            await self._store.index(by_unit, latest)
        except BaseException:
            # Nothing is known to be in: all of it again next time.
            p.dirty |= months
            self._periods_again |= periods
            raise
        self._indexed |= pairs
        self._latest = latest or self._latest
        # Refused: offered again, recomputed from the vector of the next flush.
        p.dirty |= refused["metrics_unit_figures"]
        for name in ("metrics_unit_figures", "metrics_rankings", "metrics_hotspots"):
            for i in refused[name]:
                self._written[name].pop(i, None)
        self._periods_again |= {ranking_period[i] for i in refused["metrics_rankings"]} | refused["metrics_hotspots"]


def _content(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in _BOOKKEEPING}
