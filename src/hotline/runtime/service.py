"""The composition root's building blocks: a service's FastAPI side, health and lifecycle."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import InitVar, dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

import uvicorn
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from hotline.runtime import asyncapi, errors, service_metrics, telemetry
from hotline.runtime.http_limits import BodyLimit, RequestLimits
from hotline.runtime.http_server import server_options
from hotline.runtime.kafka import Publisher, build_broker
from hotline.runtime.logs import configure_logging
from hotline.runtime.mongo import make_client
from hotline.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

StartHook = Callable[[], Awaitable[None]]
Job = Callable[[], Coroutine[Any, Any, None]]  # run as a task
# A service's own settings class: its runtime hands them out typed (ServiceRuntime[IntakeSettings]).
# Covariant, so shared code taking a ServiceRuntime[ServiceSettings] accepts every service's runtime.
SettingsT_co = TypeVar("SettingsT_co", bound=ServiceSettings, covariant=True)
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass
class ServiceRuntime(Generic[SettingsT_co]):
    """What one service process holds: its settings, broker and store."""

    name: str
    settings: SettingsT_co
    broker: KafkaBroker
    mongo: AsyncMongoClient
    start_hooks: list[StartHook] = field(default_factory=list)
    # Long-running jobs (a scheduler) started once consuming has begun, cancelled on stop.
    background_jobs: list[Job] = field(default_factory=list)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    # Its Prometheus registry and common metrics (served on /metrics by build_http_app): those
    # given, else new ones for its name and settings.
    given_metrics: InitVar[service_metrics.ServiceMetrics | None] = None
    metrics: service_metrics.ServiceMetrics = field(init=False)

    def __post_init__(self, given_metrics: service_metrics.ServiceMetrics | None) -> None:
        if given_metrics is None:
            given_metrics = service_metrics.ServiceMetrics(self.name, self.settings)
        self.metrics = given_metrics

    @classmethod
    def create(cls: "type[ServiceRuntime[SettingsT]]", name: str, settings: SettingsT,
               used_events: Mapping[str, Collection[str]] | None = None) -> "ServiceRuntime[SettingsT]":
        """A runtime whose broker and store client come from the settings; `used_events`: the
        event types the service uses on topics where it skips the others (see telemetry)."""
        metrics = service_metrics.ServiceMetrics(name, settings)
        middlewares = [*telemetry.kafka_middlewares(name, settings, used_events),
                       *service_metrics.kafka_middlewares(metrics)]
        return cls(name, settings, build_broker(settings, name, middlewares),
                   make_client(settings, [metrics.store_listener()]), given_metrics=metrics)

    @cached_property
    def publisher(self) -> Publisher:
        """Publishes this service's events and dead letters."""
        return Publisher(self.broker, self.settings, self.name, on_dead_letters=self.metrics.count_dead_letters)

    @property
    def db(self) -> AsyncDatabase:
        """The service's database."""
        return self.mongo[self.settings.mongodb_database]

    async def health(self) -> dict[str, bool]:
        """Whether the broker and the store answer right now."""
        results: dict[str, bool] = {}
        try:
            results["kafka"] = bool(await self.broker.ping(timeout=2))
        except Exception:  # any failure means unhealthy
            results["kafka"] = False
        try:
            await asyncio.wait_for(self.db.command("ping"), timeout=2)
            results["mongodb"] = True
        except Exception:
            results["mongodb"] = False
        return results

    async def start(self, *, timeout_s: float = 90) -> None:
        """Run start hooks (indexes) and start consuming, waiting for a broker that is booting."""
        for hook in self.start_hooks:
            await hook()
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                await self.broker.start()
                self._tasks = [asyncio.create_task(job(), name=f"{self.name}-job") for job in self.background_jobs]
                return
            except (KafkaConnectionError, OSError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                log.warning("kafka not reachable yet, retrying")
                await self.broker.stop()
                await asyncio.sleep(1)

    async def stop(self) -> None:
        """Stop the jobs, stop consuming (committing what was processed) and close the store."""
        pending = set(self._tasks)
        while pending:  # a job that swallowed one cancellation gets another
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=5)
        self._tasks = []
        await self.broker.stop()
        await self.mongo.close()
        # Spans wait in a batch: export them before the process (or a test) moves on.
        await asyncio.to_thread(telemetry.flush)


def build_http_app(
    runtime: ServiceRuntime[ServiceSettings], *, title: str, body_limits: Sequence[BodyLimit] = ()
) -> FastAPI:
    """A FastAPI app whose lifespan runs the service's consumers, with `GET /healthz`, `GET /metrics`
    (Prometheus) and the AsyncAPI contract (`GET /asyncapi.json`, a page at `GET /asyncapi`); the
    settings' `cors_origins` may call it from a browser.
    Every request's body is limited (`HTTP_MAX_BODY_BYTES`, or the first of `body_limits` whose
    prefix the path has) and timed (`HTTP_READ_TIMEOUT_S`) before any route runs."""
    metrics = runtime.metrics
    runtime.background_jobs.append(lambda: metrics.lag_forever(runtime.broker))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info("service started")
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service stopped")

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.runtime = runtime
    errors.install_error_handlers(app)  # every refusal names the field, domain errors included
    app.add_middleware(RequestLimits, max_body_bytes=runtime.settings.http_max_body_bytes,
                       read_timeout_s=runtime.settings.http_read_timeout_s, limits=body_limits)
    if runtime.settings.cors_origins:
        # A page of another origin (the workbench) calls with a bearer header: no cookies, no credentials.
        app.add_middleware(CORSMiddleware, allow_origins=runtime.settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key"], allow_credentials=False)

    @app.get("/healthz", tags=["ops"], summary="200 when the broker and the store are reachable")
    async def healthz() -> JSONResponse:
        checks = await runtime.health()
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"service": runtime.name, "checks": checks}, status_code=status)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics: Kafka, lag, dead letters, business figures")
    async def prometheus_metrics() -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi.json", tags=["ops"], summary="The AsyncAPI 3.0 contract of every topic and message")
    async def asyncapi_document() -> JSONResponse:
        return JSONResponse(asyncapi.document())

    @app.get("/asyncapi", tags=["ops"], summary="The AsyncAPI contract as a page", response_class=HTMLResponse)
    async def asyncapi_page() -> HTMLResponse:
        return HTMLResponse(asyncapi.html_page())

    return app


def run_service(name: str, settings: SettingsT, build_app: Callable[[SettingsT], FastAPI]) -> None:
    """Run a service under uvicorn, logging JSON lines and tracing, until SIGTERM or SIGINT."""
    configure_logging(name, settings.log_level)
    # One service per process: its provider is the process's, flushed at exit by the SDK.
    telemetry.use_globally(name, settings)
    app = build_app(settings)
    telemetry.instrument_http(app, name, settings)
    uvicorn.run(app, **server_options(settings))
