"""Metrics's composition root: settings, broker, store, handlers and HTTP side."""

from fastapi import FastAPI

from hotline.metrics.handlers import http_router, register
from hotline.metrics.settings import MetricsSettings
from hotline.metrics.store import MetricsStore
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service

SERVICE = "metrics"


def build_app(settings: MetricsSettings | None = None) -> FastAPI:
    """Wire metrics together."""
    runtime = ServiceRuntime.create(SERVICE, settings or MetricsSettings())
    store = MetricsStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    register(runtime, store, runtime.publisher)
    app = build_http_app(runtime, title="Hotline metrics")
    app.include_router(http_router(store))
    return app


def main() -> None:
    """Run metrics until stopped."""
    run_service(SERVICE, MetricsSettings(), build_app)
