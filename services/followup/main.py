"""Followup's composition root: settings, broker, stores, the ticket use cases, the deadline
scheduler, the Kafka handlers and the HTTP side, wired together here and nowhere else."""

from datetime import timedelta

from fastapi import FastAPI

from hotline.city import deployment_city
from hotline.exemptions import default_exemption_policy
from hotline.followup.casework.app import Casework
from hotline.followup.casework.http import casework_router
from hotline.followup.casework.store import CaseworkStore
from hotline.followup.deadlines import handlers as deadline_handlers
from hotline.followup.deadlines.app import DeadlineScheduler
from hotline.followup.deadlines.store import MarkClaims, TimerBuckets
from hotline.followup.desk.app import Desk
from hotline.followup.desk.http import desk_router
from hotline.followup.desk.store import DeskStore
from hotline.followup.exemptions.app import Exemptions
from hotline.followup.exemptions.http import exemptions_router
from hotline.followup.exemptions.store import ExemptionStore
from hotline.followup.observe import FollowupGauges
from hotline.followup.settings import FollowupSettings
from hotline.followup.tickets import handlers as ticket_handlers
from hotline.followup.tickets.app import FollowupActions
from hotline.followup.tickets.commands import DispatchWaits, FollowupCommands
from hotline.followup.tickets.http import http_router
from hotline.followup.tickets.store import FollowupStore
from hotline.followup.workbench import workbench_router
from hotline.gazetteer import beijing
from hotline.runtime.auth import CredentialStore
from hotline.runtime.kafka import published_event_ids
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service

SERVICE = "followup"


def build_app(settings: FollowupSettings | None = None) -> FastAPI:
    """Wire followup together."""
    settings = settings or FollowupSettings()
    runtime = ServiceRuntime.create(SERVICE, settings)
    city = deployment_city(settings)  # its deadlines, working days and days
    store = FollowupStore(runtime.db, zone=city.zone)
    desk = DeskStore(runtime.db)  # the centre's desk: search, and the requests waiting for a decision
    runtime.start_hooks.append(store.ensure_indexes)
    gauges = FollowupGauges(runtime.metrics.registry, runtime.db, lambda: scheduler.business_now())
    scheduler = DeadlineScheduler(
        store, TimerBuckets(runtime.db), MarkClaims(runtime.db), runtime.publisher, city.deadline_policy(),
        city.calendar(), instance=settings.instance_id, business_clock=settings.business_clock,
        claim_timeout=timedelta(seconds=settings.claim_timeout_s), interval_s=settings.scheduler_interval_s,
        already_published=lambda names, since: published_event_ids(settings.kafka_client_options(), names,
                                                                    since=since),
        on_sent=gauges.count_breaches,
    )
    runtime.background_jobs.append(scheduler.run_forever)
    runtime.background_jobs.append(gauges.sample_forever)
    dispatch_waits = DispatchWaits()
    casework = CaseworkStore(runtime.db)
    actions = FollowupActions(
        store, runtime.publisher, scheduler, timedelta(seconds=settings.clock_skew_s), casework,
        reopen_period=timedelta(hours=settings.reopen_report_back_hours),
        due_soon=timedelta(hours=settings.due_soon_hours), dispatch_waits=dispatch_waits, waiting=desk,
    )
    exemptions = Exemptions(ExemptionStore(runtime.db), runtime.publisher, default_exemption_policy(),
                            clock_skew=timedelta(seconds=settings.clock_skew_s), waiting=desk)
    commands = FollowupCommands(actions, dispatch_waits, dispatch_wait_s=settings.command_dispatch_wait_s,
                                exemptions=exemptions)
    ticket_handlers.register(runtime, actions, commands, runtime.publisher)
    if settings.business_clock == "log":
        deadline_handlers.register(runtime, scheduler, runtime.publisher)
    app = build_http_app(runtime, title="Hotline followup")
    app.state.scheduler = scheduler
    app.include_router(workbench_router(settings.routing_url, city.timezone))
    credentials = CredentialStore(runtime.db, ttl=settings.token_ttl)
    app.include_router(http_router(actions, credentials))
    app.include_router(exemptions_router(exemptions, credentials))
    app.include_router(casework_router(Casework(store, casework, actions, runtime.publisher, beijing(),
                                                zone=city.zone), credentials))
    app.include_router(desk_router(Desk(desk, zone=city.zone), credentials))
    return app


def main() -> None:
    """Run followup until stopped."""
    run_service(SERVICE, FollowupSettings(), build_app)
