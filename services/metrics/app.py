"""Metrics' live use cases: records in, the in-memory projection moved, the store written.

Every process reads all partitions of the five topics itself (`hotline.metrics.follow.LogReader`)
and applies them to its projection (`Metrics.apply`); on start it folds the whole log before it
serves (`Metrics.load`). A group's batch (`Metrics.take`) sends its share's dead letters, waits
until the reader has applied its records and a flush has written them (`Writer`), so its offsets
are committed only once the store holds what they cover. A rebuild folds the log into a fresh
projection and writes all of it (`rebuild`). The reads for HTTP are `hotline.metrics.queries`.

All of it is over the protocols below; `main` wires the MongoDB store, the log reader and the
Kafka publisher in, a test may pass others.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aiokafka import ConsumerRecord

from hotline.contracts import topics
from hotline.metrics.coalesce import Coalesced
from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import MonthKey, fact_update
from hotline.metrics.events import TOPIC_EVENTS, Rejected, decode, decode_ticks, parse
from hotline.metrics.figures import Figures, PeriodUnit
from hotline.metrics.observe import Telemetry
from hotline.metrics.projection import Projection, Stamped
from hotline.metrics.settle import SettlePolicy, record_time
from hotline.runtime.kafka import Outgoing

log = logging.getLogger(__name__)

# Collections whose documents carry a version vector (see `hotline.metrics.store`).
FIGURES, RANKINGS, HOTSPOTS = "metrics_unit_figures", "metrics_rankings", "metrics_hotspots"
VERSIONED = (FIGURES, RANKINGS, HOTSPOTS)
# collection -> _id -> a document's content (without `_id` and the bookkeeping the store adds)
Held = dict[str, dict[str, Mapping[str, Any]]]
# (period, its units' figures) -> (rankings by _id, hotspots)
Views = Callable[[str, list[PeriodUnit]], tuple[dict[str, dict[str, Any]], dict[str, Any]]]


class UnitFigures(MonthKey):
    """A unit-month's figures as they are written (`metrics_unit_figures`), with its month's settle
    state (`settled`, `settled_at` or `settles_at`, the rule and policy version)."""

    figures: Figures
    settle: dict[str, Any]


@dataclass(frozen=True)
class Settling:
    """How months settle: the policy, the city's time zone and business time now (the wall clock,
    or the log's with HOTLINE_BUSINESS_CLOCK=log)."""

    policy: SettlePolicy
    tz: ZoneInfo
    now: Callable[[], datetime | None]


class FigureStore(Protocol):
    """Where metrics writes what queries read (`hotline.metrics.store.MetricsStore`)."""

    async def prepare(self) -> None: ...

    async def drop_all(self) -> None: ...

    async def held(self) -> Held: ...

    async def write_versioned(self, collection: str, docs: Mapping[str, Mapping[str, Any]],
                              vector: dict[str, int]) -> set[str]: ...

    async def index(self, units: dict[str, set[str]], latest: str | None, settled: str | None = None) -> None: ...


class Log(Protocol):
    """Every partition of the five topics (`hotline.metrics.follow.LogReader`)."""

    async def fold(self) -> dict[str, int]: ...

    async def reached(self, topic: str, records: list[ConsumerRecord], projection: Projection) -> None: ...

    async def stop(self) -> None: ...


class DeadLetters(Protocol):
    """Sends dead letters (`hotline.runtime.kafka.Publisher`)."""

    def dead_letter(self, record: ConsumerRecord, *, reason: str, field: str | None = None) -> Outgoing: ...

    async def publish_all(self, items: Iterable[Outgoing]) -> None: ...


@dataclass
class Folded:
    """What applying some records did: how many records and events, the rejected, the conflicts."""

    records: int = 0
    events: int = 0
    rejected: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (ticket, path)


def fold_records(projection: Projection, topic: str, partition: str, records: list[ConsumerRecord]) -> Folded:
    """Apply a partition's records (of `topic`, without prefix; `partition` its vector key) in order;
    dead letters are the group subscribers' (`Metrics.take`). Business-time ticks (`hotline.clock`)
    move the projection's business time; a bad tick is followup's dead letter, skipped here."""
    if topic == topics.CLOCK:
        ticks = decode_ticks(records)
        for tick in ticks:
            projection.advance(tick.now)
        if records:
            projection.covered(partition, records[-1].offset + 1)
        return Folded(len(records), len(ticks), 0, [])
    folded = Folded(len(records))

    def stamped() -> Iterator[Stamped]:
        # One event at a time: each parsed event is dropped as soon as its entries are taken. A
        # batch of v3 dispatches held at once (each carries the received ticket) kept the cyclic
        # collector traversing the whole projection again and again.
        for item in parse(topic, records):
            if isinstance(item, Rejected):
                folded.rejected += 1
            else:
                folded.events += 1
                yield (record_time(item), *fact_update(item, response_due=response_due))

    folded.conflicts = projection.apply_records(partition, stamped())
    if records:
        projection.covered(partition, records[-1].offset + 1)
    return folded


class Writer:
    """Flushes the projection's changes into the store, coalesced.

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

    def __init__(self, projection: Projection, store: FigureStore, views: Views, *, spacing_s: float,
                 settling: Settling | None = None) -> None:
        self._projection, self._store, self._views = projection, store, views
        self._settling = settling
        # What the store holds as far as this process knows: collection -> _id -> content.
        self._written: Held = {c: {} for c in VERSIONED}
        self._indexed: set[tuple[str, str]] = set()
        self._latest: str | None = None
        self._settled_latest: str | None = None
        self._periods_again: set[str] = set()  # months whose rankings a flush could not write
        self._shared = Coalesced(self._flush, merge=list.extend, fresh=list, spacing_s=spacing_s)

    async def start(self) -> None:
        """Learn what the store holds, so the first flush writes only what differs."""
        held = await self._store.held()
        for name in VERSIONED:
            self._written[name] = dict(held[name])
        self._indexed = {(u, p) for u, d in held["metrics_units"].items() for p in d.get("periods", {})}
        self._latest = (held["metrics_meta"].get("latest") or {}).get("period")
        self._settled_latest = (held["metrics_meta"].get("settled") or {}).get("period")

    async def flush(self) -> None:
        """Return once a flush that started after this call has written everything applied before it."""
        await self._shared([True])

    async def _flush(self, _: list) -> None:
        p = self._projection
        # Computed in one go, with no await between: the content matches the vector it is written with.
        vector = dict(p.vector)
        months = p.recompute()
        periods = {p.months[m]["meta"]["period"] for m in months}
        settle = self._settling
        if settle is not None:
            # A month that settles now is written again, frozen (a late event leaves it as it is).
            frozen = p.settle_periods(settle.now(), settle.policy, settle.tz, changed=periods)
            months |= {f"{u}:{period}" for period in frozen for u in p.periods[period]}
            periods |= frozen
        periods |= self._periods_again
        self._periods_again = set()
        states = {period: self._settle_fields(period) for period in periods}
        figures: dict[str, UnitFigures] = {}
        for m in months:
            meta = p.months[m]["meta"]
            figures[m] = {"unit_code": meta["unit_code"], "period": meta["period"], "figures": p.figures(m),
                          "settle": states[meta["period"]]}
        rankings: dict[str, dict[str, Any]] = {}
        hotspots: dict[str, dict[str, Any]] = {}
        ranking_period: dict[str, str] = {}
        for period in sorted(periods):
            by_id, spots = self._views(period, p.period_units(period))
            by_id = {i: {**doc, **states[period]} for i, doc in by_id.items()}
            rankings.update(by_id)
            ranking_period.update(dict.fromkeys(by_id, period))
            hotspots[period] = spots
        pairs = {(p.months[m]["meta"]["unit_code"], p.months[m]["meta"]["period"]) for m in months} - self._indexed
        latest = max(p.periods, default=None)
        if latest is not None and self._latest is not None and latest <= self._latest:
            latest = None
        settled_latest = max(p.settled, default=None)
        if settled_latest is not None and self._settled_latest is not None and settled_latest <= self._settled_latest:
            settled_latest = None
        try:
            refused: dict[str, set[str]] = {}
            docs: Mapping[str, Mapping[str, Any]]
            for name, docs in ((FIGURES, figures), (RANKINGS, rankings), (HOTSPOTS, hotspots)):
                changed = {i: d for i, d in docs.items() if self._written[name].get(i) != d}
                refused[name] = await self._store.write_versioned(name, changed, vector)
                for i in changed.keys() - refused[name]:
                    self._written[name][i] = changed[i]
            by_unit: dict[str, set[str]] = {}
            for unit, period in pairs:
                by_unit.setdefault(unit, set()).add(period)
            await self._store.index(by_unit, latest, settled_latest)
        except BaseException:
            # Nothing is known to be in: all of it again next time.
            p.dirty |= months
            self._periods_again |= periods
            raise
        self._indexed |= pairs
        self._latest = latest or self._latest
        self._settled_latest = settled_latest or self._settled_latest
        # Refused: offered again, recomputed from the vector of the next flush.
        p.dirty |= refused[FIGURES]
        for name in VERSIONED:
            for i in refused[name]:
                self._written[name].pop(i, None)
        self._periods_again |= {ranking_period[i] for i in refused[RANKINGS]} | refused[HOTSPOTS]


    def _settle_fields(self, period: str) -> dict[str, Any]:
        """A month's settle state as its documents carry it (provisional, settle time unknown, without a policy)."""
        if self._settling is None:
            return {"settled": False, "settled_at": None, "settles_at": None}
        return self._projection.settle_state(period, self._settling.policy).as_fields()

    async def settle_forever(self, interval_s: float) -> None:
        """Flush every `interval_s`, so that a month settles when business time passes its settle
        time though no record of the five topics comes (a tick, or the wall clock, moved it)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next pass tries again
                log.error("metrics could not write its projections, retrying: %r", exc)


class Metrics:
    """The live use cases of one metrics process."""

    def __init__(self, projection: Projection, writer: Writer, log: Log, dead_letters: DeadLetters,
                 telemetry: Telemetry) -> None:
        self._projection, self._writer, self._log = projection, writer, log
        self._dead_letters, self._telemetry = dead_letters, telemetry
        # The fold on start re-reads conflicts that were logged and counted when they first came.
        self._live = False

    def apply(self, topic: str, partition: str, records: list[ConsumerRecord]) -> None:
        """The reader's records of one partition (`partition`: its vector key), in order."""
        folded = fold_records(self._projection, topic, partition, records)
        if self._live:
            for ticket_id, path in folded.conflicts:
                entry = path.split(".", 1)[0]
                log.warning("an event came again under its id with other content; the first stands",
                            extra={"ticket_id": ticket_id, "event_type": entry})
                self._telemetry.conflict(entry)

    async def load(self) -> None:
        """Before serving: the whole log into memory, then what differs from it into the store."""
        for partition, offset in (await self._log.fold()).items():
            self._projection.covered(partition, offset)
        self._live = True
        await self._writer.start()
        await self._writer.flush()

    async def take(self, topic: str, records: list[ConsumerRecord]) -> None:
        """A group's batch of `topic` (without prefix): its dead letters sent, its records applied by
        the reader and written by a flush; then its offsets may be committed."""
        started = time.perf_counter()
        events, rejected = decode(topic, records)
        await self._dead_letters.publish_all(
            [self._dead_letters.dead_letter(r.record, reason=r.reason, field=r.field) for r in rejected]
        )
        await self._log.reached(topic, list(records), self._projection)
        await self._writer.flush()
        self._telemetry.reflected(events)
        self._telemetry.batch_done(topic, events=len(events), rejected=len(rejected),
                                   seconds=time.perf_counter() - started)


# (stage, total or None, advance): stages are "read" (records) and "write" (unit-months).
Progress = Callable[[str, int | None, int], None]


@dataclass
class RebuildReport:
    """What a rebuild read and wrote."""

    records: int = 0
    events: int = 0
    rejected: int = 0
    conflicts: int = 0  # events under an applied event's id with other content: the first stands
    tickets: int = 0
    unit_months: int = 0
    seconds: float = 0.0
    read_seconds: float = 0.0
    by_topic: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        """Records read per second, end to end."""
        return self.records / self.seconds if self.seconds else 0.0

    def count(self, topic: str, folded: Folded) -> None:
        """Add what applying some records of `topic` did."""
        self.records += folded.records
        self.events += folded.events
        self.rejected += folded.rejected
        self.conflicts += len(folded.conflicts)
        self.by_topic[topic] = self.by_topic.get(topic, 0) + folded.records


class Rebuild:
    """Drop every metrics projection and recompute it from the retained topics, from the start.

    The log is folded into memory with the live path's functions and every figure, ranking and
    hotspot is written. `apply` is the log reader's callback."""

    def __init__(self, projection: Projection, writer: Writer, store: FigureStore, progress: Progress) -> None:
        self._projection, self._writer, self._store, self._progress = projection, writer, store, progress
        self.report = RebuildReport()

    def apply(self, topic: str, partition: str, records: list[ConsumerRecord]) -> None:
        """The reader's records of one partition, in order."""
        self.report.count(topic, fold_records(self._projection, topic, partition, records))
        self._progress("read", None, len(records))

    async def run(self, open_log: Callable[[], Awaitable[Log]]) -> RebuildReport:
        """Drop, then fold the log (`open_log()`: a reader of every partition that exists after the
        drop) to its end offsets of now, and write everything."""
        started = time.perf_counter()
        report, projection = self.report, self._projection
        await self._store.drop_all()
        log = await open_log()
        try:
            ends = await log.fold()
        finally:
            await log.stop()
        for partition, offset in ends.items():
            projection.covered(partition, offset)
        report.read_seconds = time.perf_counter() - started
        report.by_topic = {t: report.by_topic[t] for t in TOPIC_EVENTS if report.by_topic.get(t)}
        report.tickets, report.unit_months = len(projection.facts), len(projection.months)
        self._progress("write", len(projection.months), 0)
        await self._writer.start()
        await self._writer.flush()
        self._progress("write", None, len(projection.months))
        report.seconds = time.perf_counter() - started
        return report
