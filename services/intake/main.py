"""Intake's composition root: settings, broker, store, handlers and HTTP side."""

from datetime import timedelta

from fastapi import FastAPI

from hotline.intake.domain import IntakePolicy
from hotline.intake.handlers import register
from hotline.intake.http import http_router
from hotline.intake.open311 import open311_router
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service

SERVICE = "intake"


def build_app(settings: IntakeSettings | None = None) -> FastAPI:
    """Wire intake together."""
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime.create(SERVICE, settings)
    store = IntakeStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    policy = IntakePolicy(
        max_record_bytes=settings.max_record_bytes,
        future_tolerance=timedelta(seconds=settings.future_tolerance_s),
        repeat_window=timedelta(days=settings.repeat_window_days),
    )
    register(runtime, store, runtime.publisher, policy)
    app = build_http_app(runtime, title="Hotline intake")
    app.include_router(http_router(runtime, policy))
    app.include_router(open311_router(runtime, store, policy))
    return app


def main() -> None:
    """Run intake until stopped."""
    run_service(SERVICE, IntakeSettings(), build_app)
