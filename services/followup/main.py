"""Followup's composition root: settings, broker, store, handlers and HTTP side."""

from datetime import timedelta

from fastapi import FastAPI

from hotline.business_calendar import default_calendar
from hotline.deadline_policy import default_policy
from hotline.followup.actions import FollowupActions
from hotline.followup.casework.app import Casework
from hotline.followup.casework.http import casework_router
from hotline.followup.casework.store import CaseworkStore
from hotline.followup.domain import Refusal
from hotline.followup.handlers import (
    DispatchWaits,
    http_router,
    refusal_response,
    register,
    register_callbacks,
    register_clock,
    register_commands,
    register_summons,
)
from hotline.followup.observe import FollowupGauges
from hotline.followup.scheduler import DeadlineScheduler, TimerBuckets
from hotline.followup.settings import FollowupSettings
from hotline.followup.store import FollowupStore
from hotline.gazetteer import beijing
from hotline.runtime.auth import CredentialStore
from hotline.runtime.kafka import published_event_ids
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service

SERVICE = "followup"


def build_app(settings: FollowupSettings | None = None) -> FastAPI:
    """Wire followup together."""
    settings = settings or FollowupSettings()
    runtime = ServiceRuntime.create(SERVICE, settings)
    store = FollowupStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    gauges = FollowupGauges(runtime.metrics.registry, runtime.db, lambda: scheduler.business_now())
    scheduler = DeadlineScheduler(
        store, TimerBuckets(runtime.db), runtime.publisher, default_policy(), default_calendar(),
        instance=settings.instance_id, business_clock=settings.business_clock,
        claim_timeout=timedelta(seconds=settings.claim_timeout_s), interval_s=settings.scheduler_interval_s,
        already_published=lambda names, since: published_event_ids(settings.kafka_client_options(), names,
                                                                    since=since),
        on_sent=gauges.count_breaches,
    )
    runtime.background_jobs.append(scheduler.run_forever)
    runtime.background_jobs.append(gauges.sample_forever)
    dispatch_waits = DispatchWaits()
    register(runtime, store, runtime.publisher, scheduler, dispatch_waits)
    register_callbacks(runtime, store, runtime.publisher, scheduler)
    register_summons(runtime, store, runtime.publisher, scheduler)
    if settings.business_clock == "log":
        register_clock(runtime, runtime.publisher, scheduler)
    app = build_http_app(runtime, title="Hotline followup")
    app.state.scheduler = scheduler
    credentials = CredentialStore(runtime.db, ttl=settings.token_ttl)
    casework = CaseworkStore(runtime.db)
    actions = FollowupActions(store, runtime.publisher, scheduler, timedelta(seconds=settings.clock_skew_s), casework)
    register_commands(runtime, actions, runtime.publisher, dispatch_waits)
    app.include_router(http_router(runtime, store, actions, credentials))
    app.include_router(casework_router(Casework(store, casework, actions, runtime.publisher, beijing()), credentials))
    # Starlette types a handler as taking any Exception; it calls this one only with a Refusal.
    app.add_exception_handler(Refusal, refusal_response)  # type: ignore[arg-type]
    return app


def main() -> None:
    """Run followup until stopped."""
    run_service(SERVICE, FollowupSettings(), build_app)
