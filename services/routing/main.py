"""Routing's composition root: settings, broker, store, use cases, handlers and HTTP side."""

from datetime import timedelta

from fastapi import FastAPI

from hotline.city import deployment_catalogue, deployment_city
from hotline.contracts import topics
from hotline.gazetteer import beijing
from hotline.routing.app import Reference, Routing
from hotline.routing.handlers import CLOSURE_EVENTS, KafkaCommands, register
from hotline.routing.http import http_router
from hotline.routing.settings import RoutingSettings
from hotline.routing.store import DispatchStore
from hotline.runtime.auth import CredentialStore
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service

SERVICE = "routing"


def build_app(settings: RoutingSettings | None = None) -> FastAPI:
    """Wire routing together."""
    settings = settings or RoutingSettings()
    runtime = ServiceRuntime.create(SERVICE, settings, used_events={topics.TICKETS_FOLLOWUP: CLOSURE_EVENTS})
    store = DispatchStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    city = deployment_city(settings)
    ref = Reference(beijing(), deployment_catalogue(settings), city.deadline_policy(), city.calendar(),
                    city.taxonomy())
    routing = Routing(store, runtime.publisher, KafkaCommands(runtime.broker, settings), ref,
                      return_window=timedelta(seconds=settings.return_window_s), return_review=settings.return_review)
    register(runtime, routing, runtime.publisher)
    app = build_http_app(runtime, title="Hotline routing")
    app.include_router(http_router(routing, CredentialStore(runtime.db, ttl=settings.token_ttl)))
    return app


def main() -> None:
    """Run routing until stopped."""
    run_service(SERVICE, RoutingSettings(), build_app)
