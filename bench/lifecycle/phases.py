"""The offered load and the saturating burst through the whole lifecycle, on the four services as
processes; on an empty store, or on a second run's store after the simulator played a history into it."""

import asyncio
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from common import (
    HEALTHY_WITHIN_S,
    SERVICE_LOG_LEVEL,
    CpuWindow,
    addresses,
    create_topics,
    fresh_namespace,
    producer,
    raw_record,
    records_written,
    run_of,
    stack_pids,
    store_commands,
    store_commands_between,
)
from history import load_history

from hotline.contracts import topics
from hotline.devkit import Namespace, ServiceProcess, wait_all_healthy
from lifecycle.driver import Driver
from lifecycle.hops import hop_latencies
from lifecycle.ranking_watch import RankingWatch
from lifecycle.timing import now_ms, settled, wait_for

SERVICES = ("intake", "routing", "followup", "metrics")
WARM_UP_TICKETS = 1000


async def publish_paced(ns: Namespace, run: str, phase: str, count: int, rate: float | None) -> None:
    """`count` raw records at `rate` per second (None: as fast as the producer goes)."""
    places, sender = addresses(), producer(ns.kafka)
    await sender.start()
    try:
        started, futures = time.monotonic(), []
        for i in range(count):
            if rate:
                ahead = started + i / rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            futures.append(await sender.send(ns.topic(topics.RAW), raw_record(i, f"{run}-{phase}", places)))
        await asyncio.gather(*futures)
    finally:
        await sender.stop()


async def lifecycle_phases(ns: Namespace, logs: Path, *, rate: float, seconds: float, tickets: int,
                           contact_delay_s: float, poll_s: float, timeout_s: float, profile: str | None,
                           history: int = 0, history_months: int = 3) -> dict:
    services, before, run = {}, {}, run_of(ns)
    try:
        for name in SERVICES:
            services[name] = ServiceProcess.spawn(name, ns.env(LOG_LEVEL=SERVICE_LOG_LEVEL), logs / f"{name}.log")
        wait_all_healthy(list(services.values()), HEALTHY_WITHIN_S)
        if history:
            loader = Driver(ns, contact_delay_s)
            await loader.start()
            try:
                before["history"] = await load_history(ns, services, loader, tickets=history, months=history_months,
                                                       timeout_s=max(timeout_s, 1800))
            finally:
                await loader.stop()
            history_records = await records_written(ns)
        pids = {name: s.process.pid for name, s in services.items()}
        driver, watch = Driver(ns, contact_delay_s), RankingWatch(ns, poll_s)
        await driver.start()
        watch.start()
        await wait_for(lambda: watch.baseline is not None, timeout_s, "the rankings' first read")
        own, shared = {**pids, "bench driver": os.getpid()}, stack_pids(ns)
        try:
            # Warm-up: consumer groups join, first batches pay their set-up costs, and the store's
            # JVM compiles its hot paths (a store just started took twice the CPU per ticket).
            await publish_paced(ns, run, "warm", WARM_UP_TICKETS, None)
            await wait_for(lambda: len(driver.closed) >= WARM_UP_TICKETS, timeout_s, "warm-up lifecycle")
            # Closed is not yet ranked: a warm-up callback counted after the next phase began
            # would be taken for one of that phase's, and its callback freshness read too low.
            await settled(lambda: WARM_UP_TICKETS - watch.total("callbacks"), timeout_s)

            offered = int(rate * seconds)
            window, closed_before = CpuWindow(own, shared), len(driver.closed)
            trips = store_commands(list(services.values()))
            window.start()
            since = now_ms()
            await publish_paced(ns, run, "load", offered, rate)
            await wait_for(lambda: len(driver.closed) >= closed_before + offered, timeout_s, "offered-load lifecycle")
            load_shortfall = await settled(lambda: closed_before + offered - watch.total("callbacks"), timeout_s)
            load = {"offered_tickets_per_s": rate, "seconds": seconds, "processes": window.stop(),
                    "store_round_trips": store_commands_between(
                        trips, store_commands(list(services.values())), offered),
                    "callbacks_missing_from_rankings": load_shortfall,
                    **await hop_latencies(ns, run, "load", watch, since)}

            window, closed_before = CpuWindow(own, shared), len(driver.closed)
            profiler = _profile(pids[profile], logs) if profile else None
            trips = store_commands(list(services.values()))
            window.start()
            started = now_ms()
            await publish_paced(ns, run, "burst", tickets, None)
            published = now_ms()
            await wait_for(lambda: len(driver.closed) >= closed_before + tickets, timeout_s, "burst lifecycle")
            all_closed = now_ms()
            shortfall = await settled(lambda: closed_before + tickets - watch.total("callbacks"), timeout_s)
            done = now_ms()
            processes = window.stop()
            round_trips = store_commands_between(trips, store_commands(list(services.values())), tickets)
            burst = {
                "tickets": tickets, "seconds": (done - started) / 1000,
                "tickets_per_s": tickets / ((done - started) / 1000),
                "publish_seconds": (published - started) / 1000,
                "all_closed_seconds": (all_closed - started) / 1000, "processes": processes,
                "command_refusals_retried": driver.refusals, "callbacks_missing_from_rankings": shortfall,
                "store_round_trips": round_trips,
            }
            if profiler:
                burst["profile"] = {"service": profile, **_profile_summary(profiler, logs)}
            # Every ticket of the run (warm-up, offered load, burst) is closed: what it cost in records.
            written = await records_written(ns)
            if history:
                written = {t: n - history_records.get(t, 0) for t, n in written.items()
                           if n > history_records.get(t, 0)}
            run_tickets = WARM_UP_TICKETS + offered + tickets
            burst["kafka_records"] = {"tickets": run_tickets, "by_topic": written,
                                      "per_ticket": sum(written.values()) / run_tickets}
        finally:
            await watch.stop()
            await driver.stop()
    finally:
        for service in services.values():
            service.stop()
    return {**before, "offered_load": load, "saturation": burst}


def _profile(pid: int, logs: Path) -> subprocess.Popen:
    """py-spy sampling the service for the whole burst (stopped with SIGINT, it writes its stacks)."""
    return subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid), "--rate", "50",
                             "--format", "raw", "--idle", "-o", str(logs / "profile.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _profile_summary(profiler: subprocess.Popen, logs: Path, top: int = 12) -> dict:
    """From py-spy's collapsed stacks of the service's event loop (the thread in `run_service`): the
    share of samples idle in the selector (waiting for the broker or the store), and the frames of
    our code and our clients where the rest went (inclusive shares of all event-loop samples)."""
    import signal

    profiler.send_signal(signal.SIGINT)
    profiler.wait(timeout=60)
    path = logs / "profile.txt"
    loop_samples, idle, inclusive = 0, 0, defaultdict(int)
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any("run_service" in f for f in frames):
            continue  # worker threads: idle by design
        loop_samples += int(count)
        if frames[-1].split(" ")[0].endswith("Selector.select"):
            idle += int(count)
            continue
        for frame in set(frames):
            if any(part in frame for part in ("hotline/", "pymongo/", "aiokafka/")) and "run_service" not in frame \
                    and "cli.py" not in frame:
                inclusive[frame] += int(count)
    if not loop_samples:
        return {"samples": 0}
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return {"event_loop_samples": loop_samples, "event_loop_idle_share": round(idle / loop_samples, 3),
            "busy_frames_share": {frame: round(n / loop_samples, 3) for frame, n in ranked}}


async def history_phases(logs: Path, *, history: int, history_months: int, **phases) -> dict:
    """The offered load and the saturation on a second run whose store holds a history first."""
    ns = fresh_namespace("benchh")
    try:
        await create_topics(ns)
        return await lifecycle_phases(ns, logs, profile=None, history=history, history_months=history_months,
                                      **phases)
    finally:
        await ns.clean_up()
