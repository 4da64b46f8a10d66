"""Intake's composition root: settings, broker, store, handlers and HTTP side."""

from fastapi import FastAPI

from hotline.intake.handlers import register
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.kafka import Publisher, build_broker
from hotline.runtime.logs import configure_logging
from hotline.runtime.mongo import make_client
from hotline.runtime.service import ServiceRuntime, build_http_app, serve

SERVICE = "intake"


def build_app(settings: IntakeSettings | None = None) -> FastAPI:
    """Wire intake together."""
    settings = settings or IntakeSettings()
    broker = build_broker(settings, SERVICE)
    runtime = ServiceRuntime(SERVICE, settings, broker, make_client(settings))
    store = IntakeStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    register(runtime, store, Publisher(broker, settings, SERVICE))
    return build_http_app(runtime, title="Hotline intake")


def main() -> None:
    """Run intake until stopped."""
    settings = IntakeSettings()
    configure_logging(SERVICE, settings.log_level)
    serve(build_app(settings), settings, settings.http_port)
