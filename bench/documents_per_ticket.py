"""Documents each service writes to the store per ticket, by collection, for a full lifecycle.

A quick measurement to run alone (not part of `make bench`): the four services in this process
(as tests/integration do), on a topic prefix and database of the run's own on the running stack,
N tickets taken through received, dispatched, contacted, resolved, called back and closed by the
bench's own driver; then `hotline_store_documents_written` read from each service's /metrics.

    .venv/bin/python bench/documents_per_ticket.py --tickets 300

`--months N` receives the tickets over the N months before now instead (as `make bench`'s
history does): their deadlines are past when they are dispatched, so the scheduler fires them.
"""

import asyncio
import json
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).parent))
from common import create_topics, fresh_namespace, run_of  # noqa: E402
from history import publish_history  # noqa: E402
from lifecycle.driver import Driver  # noqa: E402
from lifecycle.phases import publish_paced  # noqa: E402


async def _written(apps: dict) -> dict[str, float]:
    totals: dict[str, float] = {}
    for name, app in apps.items():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as client:
            text = (await client.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            if family.name == "hotline_store_documents_written":
                for s in family.samples:
                    if s.name.endswith("_total"):
                        totals[f"{s.labels['service']} {s.labels['collection']}"] = s.value
    return totals


async def measure(tickets: int, rate: float, settle_s: float, months: int = 0) -> dict:
    from hotline.followup.main import build_app as build_followup
    from hotline.followup.settings import FollowupSettings
    from hotline.intake.main import build_app as build_intake
    from hotline.intake.settings import IntakeSettings
    from hotline.metrics.main import build_app as build_metrics
    from hotline.metrics.settings import MetricsSettings
    from hotline.routing.main import build_app as build_routing
    from hotline.routing.settings import RoutingSettings

    ns = fresh_namespace("docs")
    await create_topics(ns)
    common = dict(**ns.service_settings(), log_level="WARNING")
    apps = {"intake": build_intake(IntakeSettings(**common)), "routing": build_routing(RoutingSettings(**common)),
            "followup": build_followup(FollowupSettings(**common)), "metrics": build_metrics(MetricsSettings(**common))}
    driver = Driver(ns, contact_delay_s=0.2)
    try:
        async with AsyncExitStack() as stack:
            for app in apps.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            await driver.start()
            started = time.monotonic()
            if months:
                await publish_history(ns, tickets, months)
            else:
                await publish_paced(ns, run_of(ns), "docs", tickets, rate)
            while len(driver.closed) < tickets and time.monotonic() - started < 300:
                await asyncio.sleep(0.2)
            await asyncio.sleep(settle_s)  # the consumers of the last events finish their batches
            written = await _written(apps)
            await driver.stop()
    finally:
        await ns.clean_up()
    per_ticket = {k: round(v / tickets, 2) for k, v in sorted(written.items())}
    by_service: dict[str, float] = {}
    for key, value in per_ticket.items():
        by_service[key.split()[0]] = round(by_service.get(key.split()[0], 0) + value, 2)
    return {"tickets": tickets, "closed": len(driver.closed), "refusals": driver.refusals,
            "by_service": by_service, "by_collection": per_ticket}


def main(tickets: int = 300, rate: float = 100.0, settle_s: float = 5.0, months: int = 0) -> None:
    """Print documents written per ticket, per service and per collection (JSON)."""
    print(json.dumps(asyncio.run(measure(tickets, rate, settle_s, months)), indent=2))


if __name__ == "__main__":
    typer.run(main)
