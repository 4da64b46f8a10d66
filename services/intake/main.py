"""Intake's composition root: settings, classifier, broker, store, use cases, handlers and HTTP side
(its own `/v1/` door, Open311, and the limits in front of both)."""

import gc
import sys
from datetime import timedelta

from fastapi import FastAPI

from hotline.city import deployment_city
from hotline.contracts import topics
from hotline.gazetteer import beijing
from hotline.ingest.admission import IntakePolicy
from hotline.ingest.classify import Classifier
from hotline.intake.app import EventPublisher, Intake, TicketStore
from hotline.intake.handlers import STATUS_EVENTS, KafkaRaw, register
from hotline.intake.http import http_router
from hotline.intake.limits import Guarded, IntakeLimits, RateLimiter, body_limits
from hotline.intake.open311.routes import open311_router
from hotline.intake.settings import IntakeSettings
from hotline.intake.store import IntakeStore
from hotline.runtime.auth import CredentialStore
from hotline.runtime.service import ServiceRuntime, build_http_app, run_service

SERVICE = "intake"


def build_app(settings: IntakeSettings | None = None) -> FastAPI:
    """Wire intake together."""
    settings = settings or IntakeSettings()
    classifier = load_classifier(settings)  # first: an unusable artifact stops intake before it connects
    runtime = ServiceRuntime.create(SERVICE, settings, used_events={topics.TICKETS_FOLLOWUP: STATUS_EVENTS})
    store = IntakeStore(runtime.db)
    runtime.start_hooks.append(store.ensure_indexes)
    city = deployment_city(settings)
    taxonomy = city.taxonomy()  # the city's urgency classes, not Beijing's keywords
    policy = IntakePolicy(
        max_record_bytes=settings.max_record_bytes,
        future_tolerance=timedelta(seconds=settings.future_tolerance_s),
        repeat_window=timedelta(days=settings.repeat_window_days),
        classifier=classifier,
        taxonomy=taxonomy,
        deadlines=city.deadline_policy(),  # the report-back answer by the rule routing's dispatch follows
        calendar=city.calendar(),
    )
    intake = build_intake(runtime, store, runtime.publisher, policy)
    register(runtime, intake, runtime.publisher)
    # Percent-encoding triples Chinese text, so an Open311 form may be larger than its record.
    form_bytes = 4 * settings.max_record_bytes
    guarded = [Guarded("/v1/", settings.max_record_bytes), Guarded("/open311/", form_bytes, open311=True)]
    app = build_http_app(runtime, title="Hotline intake", body_limits=body_limits(guarded))
    app.include_router(http_router(intake, CredentialStore(runtime.db, ttl=settings.token_ttl)))
    app.include_router(open311_router(intake, max_form_bytes=form_bytes, taxonomy=taxonomy))
    limiter = RateLimiter(rate=settings.rate_limit_per_s, burst=settings.rate_limit_burst,
                          max_clients=settings.rate_limit_clients) if settings.rate_limit_per_s > 0 else None
    # Added after build_http_app's body check, so outside it: a flood is refused before any body is read.
    app.add_middleware(IntakeLimits, limiter=limiter, guarded=guarded)
    return app


def build_intake(runtime: ServiceRuntime[IntakeSettings], store: TicketStore, publisher: EventPublisher,
                 policy: IntakePolicy) -> Intake:
    """Intake's use cases over `store` and `publisher`, sending raw records on the runtime's broker:
    what `build_app` wires, and what a test wires with a store or publisher of its own."""
    return Intake(store, publisher, KafkaRaw(runtime.broker, runtime.settings), policy,
                  gazetteer=beijing(), repeat_salt=runtime.settings.repeat_salt)


class ClassifierUnusable(ValueError):
    """INTAKE_CLASSIFIER_MODEL names an artifact intake cannot use."""


def load_classifier(settings: IntakeSettings) -> Classifier:
    """The classifier, loaded now (about 2.5 s with its libraries), not on the first message."""
    from hotline.classifier import ModelError, load_model

    try:
        return Classifier(load_model(settings.classifier_model), settings.classifier_min_confidence)
    except ModelError as exc:
        raise ClassifierUnusable(f"INTAKE_CLASSIFIER_MODEL: {exc}") from exc


def _built_and_frozen(settings: IntakeSettings) -> FastAPI:
    app = build_app(settings)
    # Everything loaded by now (scikit-learn, the model, the gazetteer) lives as long as the
    # process: out of the garbage collector's full passes, which otherwise walk it all again and
    # again (a tenth of intake's time per record once the classifier is in).
    gc.freeze()
    return app


def main() -> None:
    """Run intake until stopped; a classifier it cannot use stops it with the reason (exit 2)."""
    try:
        run_service(SERVICE, IntakeSettings(), _built_and_frozen)
    except ClassifierUnusable as exc:
        print(f"intake: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
