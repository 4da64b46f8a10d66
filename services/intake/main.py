"""Intake's composition root: settings, broker, store, handlers and HTTP side."""

from fastapi import FastAPI

from hotline.intake.handlers import register
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service

SERVICE = "intake"


def build_app(settings: IntakeSettings | None = None) -> FastAPI:
    """Wire intake together."""
    runtime = ServiceRuntime.create(SERVICE, settings or IntakeSettings())
    store = IntakeStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    register(runtime, store, runtime.publisher)
    app = build_http_app(runtime, title="Hotline intake")
    return app


def main() -> None:
    """Run intake until stopped."""
    run_service(SERVICE, IntakeSettings(), build_app)
