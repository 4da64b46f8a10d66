"""Routing's composition root."""

from fastapi import FastAPI

from hotline.routing.handlers import register
from hotline.routing.settings import RoutingSettings
from hotline.routing.store import DispatchStore
from hotline.runtime.kafka import Publisher, build_broker
from hotline.runtime.logs import configure_logging
from hotline.runtime.mongo import make_client
from hotline.runtime.service import ServiceRuntime, build_http_app, serve

SERVICE = "routing"


def build_app(settings: RoutingSettings | None = None) -> FastAPI:
    """Wire routing together."""
    settings = settings or RoutingSettings()
    broker = build_broker(settings, SERVICE)
    runtime = ServiceRuntime(SERVICE, settings, broker, make_client(settings))
    store = DispatchStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    register(runtime, store, Publisher(broker, settings, SERVICE))
    return build_http_app(runtime, title="Hotline routing")


def main() -> None:
    """Run routing until stopped."""
    settings = RoutingSettings()
    configure_logging(SERVICE, settings.log_level)
    serve(build_app(settings), settings, settings.http_port)
