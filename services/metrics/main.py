"""Metrics's composition root: settings, broker, store, handlers and HTTP side."""

import logging

from aiokafka import TopicPartition
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from hotline.city import deployment_catalogue
from hotline.contracts import topics
from hotline.gazetteer import beijing
from hotline.metrics.dashboard import dashboard_router
from hotline.metrics.directory import Directory, RankingKind
from hotline.metrics.events import TOPIC_EVENTS
from hotline.metrics.follow import TOPICS, LogReader, folder, key_of, partitions
from hotline.metrics.handlers import register
from hotline.metrics.http import RankingViews, http_router
from hotline.metrics.observe import Telemetry, business_exposition
from hotline.metrics.projection import Projection
from hotline.metrics.ranking import period_views, ranking_id
from hotline.metrics.settings import MetricsSettings
from hotline.metrics.store import MetricsStore
from hotline.metrics.streams import StreamSlots
from hotline.metrics.writer import Views, Writer
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service
from hotline.taxonomy import default_taxonomy

SERVICE = "metrics"
log = logging.getLogger(__name__)


def make_directory(settings: MetricsSettings) -> Directory:
    """Units from the gazetteer and the deployment's catalogue; categories from the taxonomy."""
    return Directory(beijing(), deployment_catalogue(settings), default_taxonomy())


def make_views(settings: MetricsSettings, directory: Directory) -> Views:
    """Rankings and hotspots of a month, with the settings' weights and limits."""
    def views(period, units):
        return period_views(period, units, directory, settings.weights,
                            top=settings.hotspot_top, cluster_min=settings.cluster_min)

    return views


def make_writer(db: AsyncDatabase, settings: MetricsSettings, directory: Directory,
                projection: Projection) -> tuple[MetricsStore, Writer]:
    """The store, and what flushes the projection into it."""
    store = MetricsStore(db)
    return store, Writer(projection, store, make_views(settings, directory), spacing_s=settings.flush_interval_s)


def build_app(settings: MetricsSettings | None = None) -> FastAPI:
    """Wire metrics together."""
    settings = settings or MetricsSettings()
    runtime = ServiceRuntime.create(
        SERVICE, settings, used_events={t: types for t, types in TOPIC_EVENTS.items() if types is not None})
    directory = make_directory(settings)
    projection = Projection()
    store, writer = make_writer(runtime.db, settings, directory, projection)
    telemetry = Telemetry(runtime.metrics.registry)

    def conflict(ticket_id: str, entry: str) -> None:
        log.warning("an event came again under its id with other content; the first stands",
                    extra={"ticket_id": ticket_id, "event_type": entry})
        telemetry.conflict(entry)

    # Every partition of the five topics, as `hotline topics` creates them (checked on start).
    spec = {s.name: s.partitions for s in topics.core_topics()}
    parts = [TopicPartition(settings.topic(t), p) for t in TOPICS for p in range(spec[t])]
    live = folder(projection, on_conflict=conflict)
    reader = LogReader(settings, parts, lambda *args: folding(*args))
    folding = folder(projection)  # the fold re-reads conflicts counted when they first came

    async def fold() -> None:
        """Before serving: the whole log into memory, then what differs from it into the store."""
        nonlocal folding
        await store.prepare()
        found = await partitions(settings)
        if sorted(found) != sorted(parts):
            raise RuntimeError(f"the metrics topics have partitions {sorted(map(str, found))}, not the "
                               f"{len(parts)} this release reads ({sorted(map(str, parts))})")
        names = {settings.topic(t): t for t in TOPICS}
        for tp, offset in (await reader.fold()).items():
            projection.covered(key_of(names[tp.topic], tp.partition), offset)
        folding = live
        await writer.start()
        await writer.flush()

    runtime.start_hooks.append(fold)
    runtime.background_jobs.append(reader.follow)
    register(runtime, projection, reader, writer, runtime.publisher, telemetry)
    app = build_http_app(runtime, title="Hotline metrics")
    app.state.projection = projection  # what it holds in memory (tests look at a ticket's fact)
    views = RankingViews(store, directory, settings.weights, settings.bottom_n)
    slots = StreamSlots(per_client=settings.stream_max_per_client, total=settings.stream_max_total)
    app.include_router(http_router(store, directory, views, stream_poll_s=settings.stream_poll_s, stream_slots=slots))

    async def snapshot():
        period = await store.latest_period()
        if period is None:
            return None, [], None
        found = await store.rankings(ranking_ids=[ranking_id(period, k) for k in RankingKind])
        return period, list(found.values()), await store.hotspots(period=period)

    runtime.metrics.add_exposition(business_exposition(snapshot))
    app.include_router(dashboard_router())
    return app


def main() -> None:
    """Run metrics until stopped."""
    run_service(SERVICE, MetricsSettings(), build_app)
