"""The composition root's building blocks: a service's FastAPI side, health and lifecycle."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property

import uvicorn
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from hotline.runtime.kafka import Publisher, build_broker
from hotline.runtime.logs import configure_logging
from hotline.runtime.mongo import make_client
from hotline.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

StartHook = Callable[[], Awaitable[None]]


@dataclass
class ServiceRuntime:
    """What one service process holds: its settings, broker and store."""

    name: str
    settings: ServiceSettings
    broker: KafkaBroker
    mongo: AsyncMongoClient
    start_hooks: list[StartHook] = field(default_factory=list)
    # Long-running jobs (a scheduler) started once consuming has begun, cancelled on stop.
    background_jobs: list[StartHook] = field(default_factory=list)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, settings: ServiceSettings) -> "ServiceRuntime":
        """A runtime whose broker and store client come from the settings."""
        return cls(name, settings, build_broker(settings, name), make_client(settings))

    @cached_property
    def publisher(self) -> Publisher:
        """Publishes this service's events and dead letters."""
        return Publisher(self.broker, self.settings, self.name)

    @property
    def db(self) -> AsyncDatabase:
        """The service's database."""
        return self.mongo[self.settings.mongodb_database]

    async def health(self) -> dict[str, bool]:
        """Whether the broker and the store answer right now."""
        results: dict[str, bool] = {}
        try:
            results["kafka"] = bool(await self.broker.ping(timeout=2))
        except Exception:  # noqa: BLE001 - any failure means unhealthy
            results["kafka"] = False
        try:
            await asyncio.wait_for(self.db.command("ping"), timeout=2)
            results["mongodb"] = True
        except Exception:  # noqa: BLE001
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


def build_http_app(runtime: ServiceRuntime, *, title: str) -> FastAPI:
    """A FastAPI app whose lifespan runs the service's consumers, with `GET /healthz`."""

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

    @app.get("/healthz", tags=["ops"], summary="200 when the broker and the store are reachable")
    async def healthz() -> JSONResponse:
        checks = await runtime.health()
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"service": runtime.name, "checks": checks}, status_code=status)

    return app


def run_service(name: str, settings: ServiceSettings, build_app: Callable[[ServiceSettings], FastAPI]) -> None:
    """Run a service under uvicorn, logging JSON lines, until SIGTERM or SIGINT."""
    configure_logging(name, settings.log_level)
    uvicorn.run(
        build_app(settings), host=settings.http_host, port=settings.http_port,  # type: ignore[attr-defined]
        log_config=None, access_log=False,
    )
