"""Metrics's composition root: settings, broker, store, handlers and HTTP side."""

from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from hotline.catalogue import catalogue_at
from hotline.gazetteer import beijing
from hotline.metrics.dashboard import dashboard_router
from hotline.metrics.directory import Directory, RankingKind
from hotline.metrics.events import TOPIC_EVENTS
from hotline.metrics.handlers import register
from hotline.metrics.http import RankingViews, http_router
from hotline.metrics.observe import Telemetry, business_exposition
from hotline.metrics.ranking import period_views, ranking_id
from hotline.metrics.settings import MetricsSettings
from hotline.metrics.store import MetricsStore
from hotline.metrics.streams import StreamSlots
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service
from hotline.taxonomy import default_taxonomy

SERVICE = "metrics"


def make_directory(settings: MetricsSettings) -> Directory:
    """Units from the gazetteer and the deployment's catalogue; categories from the taxonomy."""
    return Directory(beijing(), catalogue_at(settings.catalogue_path), default_taxonomy())


def make_store(db: AsyncDatabase, settings: MetricsSettings, directory: Directory) -> MetricsStore:
    """The store, computing rankings and hotspots with the settings' weights and limits."""
    def views(period, units):
        return period_views(period, units, directory, settings.weights,
                            top=settings.hotspot_top, cluster_min=settings.cluster_min)

    return MetricsStore(db, views, refresh_spacing_s=settings.ranking_refresh_spacing_s)


def build_app(settings: MetricsSettings | None = None) -> FastAPI:
    """Wire metrics together."""
    settings = settings or MetricsSettings()
    runtime = ServiceRuntime.create(
        SERVICE, settings, used_events={t: types for t, types in TOPIC_EVENTS.items() if types is not None})
    directory = make_directory(settings)
    store = make_store(runtime.db, settings, directory)
    telemetry = Telemetry(runtime.metrics.registry)
    store.on_conflict = telemetry.conflict
    runtime.start_hooks.append(store.prepare)
    register(runtime, store, runtime.publisher, telemetry)
    app = build_http_app(runtime, title="Hotline metrics")
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
