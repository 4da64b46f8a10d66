"""Prometheus: the service's own counters, and business gauges read from the rankings at scrape.

Everything lands in the runtime's registry and is served by the common `GET /metrics`."""

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class Telemetry:
    """Counters of one metrics process (a registry per app: tests run several in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._events = Counter("hotline_metrics_events", "Events applied to the projections.", ["topic"],
                               registry=self.registry)
        self._rejected = Counter("hotline_metrics_dead_letters", "Records sent to the dead-letter topic.",
                                 ["topic"], registry=self.registry)
        self._seconds = Histogram("hotline_metrics_batch_seconds", "Time to project one consumer batch.",
                                  ["topic"], registry=self.registry,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self._conflicts = Counter(
            "hotline_metrics_event_conflicts", "Events that came again under an applied event's id with other "
            "content (the first stands), by the fact entry they would have rewritten.", ["entry"],
            registry=self.registry)
        self._last = Gauge("hotline_metrics_last_batch_timestamp_seconds", "When the last batch was projected.",
                           ["topic"], registry=self.registry)
        self._freshness = Histogram(
            "hotline_ranking_freshness_seconds",
            "Seconds from an event's business time to the moment the rankings reflected it (a replay of old "
            "events lands in the top buckets).", ["service"], registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400))

    def batch_done(self, topic: str, *, events: int, rejected: int, seconds: float) -> None:
        """Count a projected batch."""
        self._events.labels(topic).inc(events)
        if rejected:
            self._rejected.labels(topic).inc(rejected)
        self._seconds.labels(topic).observe(seconds)
        self._last.labels(topic).set_to_current_time()

    def conflict(self, entry: str) -> None:
        """Count an event refused for rewriting a fact entry another event with its id set."""
        self._conflicts.labels(entry).inc()

    def reflected(self, events: Iterable[Any]) -> None:
        """The rankings now include these events: observe how long after their business time."""
        now = datetime.now(UTC)
        for event in events:
            at = getattr(event, "occurred_at", None) or getattr(event, "surveyed_at", None) \
                or getattr(event, "received_at", None)
            if at is not None:
                self._freshness.labels("metrics").observe(max((now - at).total_seconds(), 0.0))


class _Snapshot(Collector):
    """Gauges from one month's ranking and hotspot documents."""

    def __init__(self, period: str | None, rankings: list[dict[str, Any]], hotspots: dict[str, Any] | None) -> None:
        self._period, self._rankings, self._hotspots = period, rankings, hotspots

    def collect(self):
        info = GaugeMetricFamily("hotline_metrics_period", "The month the business gauges describe.",
                                 labels=["period"])
        if self._period:
            info.add_metric([self._period], 1)
        yield info
        labels = ["unit_code", "kind", "district_code"]
        score = GaugeMetricFamily("hotline_unit_score", "Composite score (0-100) of a unit this month.", labels=labels)
        rank = GaugeMetricFamily("hotline_unit_rank", "Rank of a unit within its kind this month.", labels=labels)
        rate = GaugeMetricFamily("hotline_unit_rate", "A unit's response, resolution or satisfaction rate (0-1).",
                                 labels=[*labels, "rate"])
        dispatched = GaugeMetricFamily("hotline_unit_dispatched", "Tickets a unit holds this month.", labels=labels)
        face = GaugeMetricFamily("hotline_unit_face_to_face_share",
                                 "Share of a unit's tickets with a face-to-face contact.", labels=labels)
        ranked = GaugeMetricFamily("hotline_units_ranked", "Units ranked (a score and the minimum sample), by kind.",
                                   labels=["kind"])
        for doc in self._rankings:
            kind = doc["kind"]
            ranked.add_metric([kind], len(doc["rows"]))
            for row in doc["rows"] + doc["unranked"]:
                values = [row["unit_code"], kind, row["district_code"] or ""]
                dispatched.add_metric(values, row["dispatched"])
                if row["face_to_face_share"] is not None:
                    face.add_metric(values, row["face_to_face_share"])
                if row["score"] is not None:
                    score.add_metric(values, row["score"])
                if row["rank"] is not None:  # a unit below the minimum sample has a score, no rank
                    rank.add_metric(values, row["rank"])
                for name, value in row["rates"].items():
                    if value is not None:
                        rate.add_metric([*values, name], value)
        yield from (score, rank, rate, dispatched, face, ranked)
        tickets = GaugeMetricFamily("hotline_category_tickets", "Tickets this month by category, city-wide.",
                                    labels=["category"])
        for entry in (self._hotspots or {}).get("city", []):
            tickets.add_metric([entry["category"]], entry["count"])
        yield tickets


def exposition(period: str | None, rankings: list[dict[str, Any]], hotspots: dict[str, Any] | None) -> bytes:
    """The business gauges in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(period, rankings, hotspots))
    return generate_latest(registry)


def business_exposition(snapshot: Callable[[], Awaitable[tuple]]) -> Callable[[], Awaitable[bytes]]:
    """The business gauges of the latest month for `/metrics`; `snapshot()` reads them at scrape."""
    async def render() -> bytes:
        period, rankings, hotspots = await snapshot()
        return exposition(period, rankings, hotspots)

    return render
