"""Metrics' composition root: settings, runtime, store, projection, use cases, the log reader,
handlers and HTTP side; and the parts a rebuild, the tests and the bench build the same way."""

from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from hotline.city import deployment_catalogue, deployment_city
from hotline.contracts import topics
from hotline.gazetteer import beijing
from hotline.metrics.app import Metrics, Settling, Views, Writer
from hotline.metrics.dashboard import dashboard_router
from hotline.metrics.directory import Directory
from hotline.metrics.events import TOPIC_EVENTS
from hotline.metrics.figures import PeriodUnit
from hotline.metrics.follow import TOPICS, LogReader, check_partitions
from hotline.metrics.handlers import register
from hotline.metrics.http import http_router
from hotline.metrics.observe import Telemetry, business_exposition
from hotline.metrics.projection import Projection
from hotline.metrics.queries import Queries
from hotline.metrics.ranking import period_views
from hotline.metrics.settings import MetricsSettings
from hotline.metrics.settle import default_settle_policy
from hotline.metrics.store import MetricsStore
from hotline.metrics.streams import StreamSlots
from hotline.runtime.auth import CredentialStore
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service
from hotline.taxonomy import default_taxonomy

SERVICE = "metrics"


def make_directory(settings: MetricsSettings) -> Directory:
    """Units from the gazetteer and the deployment's catalogue; categories from the taxonomy."""
    return Directory(beijing(), deployment_catalogue(settings), default_taxonomy())


def make_views(settings: MetricsSettings, directory: Directory) -> Views:
    """Rankings and hotspots of a month, with the deployment's ranking policy and limits."""
    policy = settings.policy

    def views(period: str, units: list[PeriodUnit]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        return period_views(period, units, directory, policy,
                            top=settings.hotspot_top, cluster_min=settings.cluster_min)

    return views


def make_settling(settings: MetricsSettings, projection: Projection) -> Settling:
    """The settle policy (its rule overridden by METRICS_SETTLE_RULE), the city's time zone, and
    business time: the wall clock, or the log's."""
    policy = default_settle_policy()
    if settings.settle_rule is not None:
        policy = policy.model_copy(update={"rule": settings.settle_rule})
    tz = deployment_city(settings).zone
    now = projection.business_now if settings.business_clock == "log" else lambda: datetime.now(UTC)
    return Settling(policy, tz, now)


def make_writer(db: AsyncDatabase, settings: MetricsSettings, directory: Directory,
                projection: Projection) -> tuple[MetricsStore, Writer]:
    """The store, and what flushes the projection into it (settling months as business time passes)."""
    store = MetricsStore(db)
    return store, Writer(projection, store, make_views(settings, directory), spacing_s=settings.flush_interval_s,
                         settling=make_settling(settings, projection))


def build_app(settings: MetricsSettings | None = None) -> FastAPI:
    """Wire metrics together."""
    settings = settings or MetricsSettings()
    runtime = ServiceRuntime.create(
        SERVICE, settings, used_events={t: types for t, types in TOPIC_EVENTS.items() if types is not None})
    directory = make_directory(settings)
    zone = deployment_city(settings).zone
    projection = Projection(zone)
    store, writer = make_writer(runtime.db, settings, directory, projection)
    telemetry = Telemetry(runtime.metrics.registry)
    # Every partition of the five topics, as `hotline topics` creates them (checked on start).
    spec = {s.name: s.partitions for s in topics.core_topics()}
    parts = [TopicPartition(settings.topic(t), p) for t in TOPICS for p in range(spec[t])]
    reader = LogReader(settings, parts, lambda topic, partition, records: metrics.apply(topic, partition, records))
    metrics = Metrics(projection, writer, reader, runtime.publisher, telemetry)

    async def load() -> None:
        """Before serving: what older releases kept dropped, the partitions checked, the log folded."""
        await store.prepare()
        await check_partitions(settings, parts)
        await metrics.load()

    runtime.start_hooks.append(load)
    runtime.background_jobs.append(reader.follow)
    runtime.background_jobs.append(lambda: writer.settle_forever(settings.settle_check_s))
    register(runtime, metrics, runtime.publisher)
    app = build_http_app(runtime, title="Hotline metrics")
    app.state.projection = projection  # what it holds in memory (tests look at a ticket's fact)
    settling = make_settling(settings, projection)
    queries = Queries(store, directory, settings.policy, settings.bottom_n, settle_policy=settling.policy,
                      zone=zone, held_tickets=projection.held_tickets)
    slots = StreamSlots(per_client=settings.stream_max_per_client, total=settings.stream_max_total)
    credentials = CredentialStore(runtime.db, ttl=settings.token_ttl)
    app.include_router(http_router(queries, credentials, stream_poll_s=settings.stream_poll_s, stream_slots=slots))
    runtime.metrics.add_exposition(business_exposition(queries.snapshot))
    app.include_router(dashboard_router())
    return app


def main() -> None:
    """Run metrics until stopped."""
    run_service(SERVICE, MetricsSettings(), build_app)
