"""Routing's composition root: settings, broker, store, handlers and HTTP side."""

from fastapi import FastAPI

from hotline.routing.handlers import register
from hotline.routing.http import http_router
from hotline.routing.settings import RoutingSettings
from hotline.routing.store import DispatchStore
from hotline.runtime.auth import CredentialStore
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service

SERVICE = "routing"


def build_app(settings: RoutingSettings | None = None) -> FastAPI:
    """Wire routing together."""
    runtime = ServiceRuntime.create(SERVICE, settings or RoutingSettings())
    store = DispatchStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    register(runtime, store, runtime.publisher)
    app = build_http_app(runtime, title="Hotline routing")
    app.include_router(http_router(runtime, store, CredentialStore(runtime.db, ttl=runtime.settings.token_ttl)))
    return app


def main() -> None:
    """Run routing until stopped."""
    run_service(SERVICE, RoutingSettings(), build_app)
