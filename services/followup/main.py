"""Followup's composition root: settings, broker, store, handlers and HTTP side."""

from fastapi import FastAPI

from hotline.followup.domain import Refusal
from hotline.followup.handlers import http_router, refusal_response, register, register_callbacks, register_summons
from hotline.followup.settings import FollowupSettings
from hotline.followup.store import FollowupStore
from hotline.runtime.auth import CredentialStore
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service

SERVICE = "followup"


def build_app(settings: FollowupSettings | None = None) -> FastAPI:
    """Wire followup together."""
    runtime = ServiceRuntime.create(SERVICE, settings or FollowupSettings())
    store = FollowupStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    register(runtime, store, runtime.publisher)
    register_callbacks(runtime, store, runtime.publisher)
    register_summons(runtime, store, runtime.publisher)
    app = build_http_app(runtime, title="Hotline followup")
    credentials = CredentialStore(runtime.db)
    app.include_router(http_router(runtime, store, runtime.publisher, credentials))
    app.add_exception_handler(Refusal, refusal_response)
    return app


def main() -> None:
    """Run followup until stopped."""
    run_service(SERVICE, FollowupSettings(), build_app)
