"""Followup's composition root."""

from fastapi import FastAPI

from hotline.followup.domain import Refusal
from hotline.followup.handlers import http_router, refusal_response, register
from hotline.followup.settings import FollowupSettings
from hotline.followup.store import FollowupStore
from hotline.runtime.kafka import Publisher, build_broker
from hotline.runtime.logs import configure_logging
from hotline.runtime.mongo import make_client
from hotline.runtime.service import ServiceRuntime, build_http_app, serve

SERVICE = "followup"


def build_app(settings: FollowupSettings | None = None) -> FastAPI:
    """Wire followup together."""
    settings = settings or FollowupSettings()
    broker = build_broker(settings, SERVICE)
    runtime = ServiceRuntime(SERVICE, settings, broker, make_client(settings))
    store = FollowupStore(runtime.db)
    publisher = Publisher(broker, settings, SERVICE)
    runtime.start_hooks.append(store.ensure_indexes)
    register(runtime, store, publisher)
    app = build_http_app(runtime, title="Hotline followup")
    app.include_router(http_router(runtime, store, publisher))
    app.add_exception_handler(Refusal, refusal_response)
    return app


def main() -> None:
    """Run followup until stopped."""
    settings = FollowupSettings()
    configure_logging(SERVICE, settings.log_level)
    serve(build_app(settings), settings, settings.http_port)
