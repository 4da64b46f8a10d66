"""Metrics' composition root."""

from fastapi import FastAPI

from hotline.metrics.handlers import http_router, register
from hotline.metrics.settings import MetricsSettings
from hotline.metrics.store import MetricsStore
from hotline.runtime.kafka import Publisher, build_broker
from hotline.runtime.logs import configure_logging
from hotline.runtime.mongo import make_client
from hotline.runtime.service import ServiceRuntime, build_http_app, serve

SERVICE = "metrics"


def build_app(settings: MetricsSettings | None = None) -> FastAPI:
    """Wire metrics together."""
    settings = settings or MetricsSettings()
    broker = build_broker(settings, SERVICE)
    runtime = ServiceRuntime(SERVICE, settings, broker, make_client(settings))
    store = MetricsStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    register(runtime, store, Publisher(broker, settings, SERVICE))
    app = build_http_app(runtime, title="Hotline metrics")
    app.include_router(http_router(store))
    return app


def main() -> None:
    """Run metrics until stopped."""
    settings = MetricsSettings()
    configure_logging(SERVICE, settings.log_level)
    serve(build_app(settings), settings, settings.http_port)
