"""The soak: the running system (`make up`: the simulator's catch-up) plus a second load for
half an hour, watched from outside.

The second load is the test suite (`--load tests`, what a developer runs beside `make up`), then,
if time is left, raw records at an offered rate into the live city (`--load offered` alone skips
the suite). Every few seconds it samples each process's memory (the pid files under .local/run),
the store's file, every live consumer group's lag. When the load ends it waits for every lag to
drain, then checks that no raw record was lost on the way to a ticket or a dead letter and that
every ticket was dispatched. It fails when a process died (a supervisor's restart counts), a lag
did not drain in time, a record was lost or the test suite failed. Results go to
bench/results/<date>-soak.json.
"""

import asyncio
import json
import re
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import typer
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from common import addresses, raw_record
from soak_watch import ROOT, LagWatch, ProcessWatch, group_lags, losses, our_pids, store_bytes, topic_records

from hotline.runtime.settings import ServiceSettings

RESULTS = ROOT / "bench" / "results"
LOGS = ROOT / ".local" / "logs"
AIMS = {"drain_s": 120, "store_kb_per_ticket": 20}
console = Console()
# The processes `make up` starts; the soak refuses to run without them.
NEEDED = ("kafka", "mongo", "intake", "routing", "followup", "metrics")


async def offered_load(bootstrap: str, rate: float, until: float, run: str) -> int:
    """Raw records into the live city at `rate` a second until `until` (monotonic)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    places, sent, started = addresses(), 0, time.monotonic()
    try:
        while time.monotonic() < until:
            due = int((time.monotonic() - started) * rate) - sent
            for _ in range(max(0, due)):
                await producer.send("hotline.raw", raw_record(sent, f"soak-{run}", places))
                sent += 1
            await asyncio.sleep(0.05)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def run_tests(log: Path) -> dict:
    """The test suite as a second load; its counts from pytest's last line."""
    started = time.monotonic()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv" / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", cwd=ROOT,
            stdout=out, stderr=subprocess.STDOUT)
        code = await process.wait()
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped)", tail[0])}
    return {"exit_code": code, "summary": tail[0], "counts": counts, "log": str(log.relative_to(ROOT)),
            "seconds": round(time.monotonic() - started, 1)}


async def soak(seconds: float, load: str, rate: float, sample_s: float, drain_limit_s: float) -> dict:
    bootstrap = ServiceSettings().kafka_bootstrap_servers
    missing = [name for name in NEEDED if name not in our_pids()]
    if missing:
        raise typer.BadParameter(f"not running: {', '.join(missing)} (start the system with `make up`)")
    processes, lags = ProcessWatch(dict(our_pids())), LagWatch()
    started = time.monotonic()
    tickets_at_start = await topic_records(bootstrap, "tickets.received")
    store_at_start, store_peak = store_bytes(), store_bytes()
    stop_sampling = asyncio.Event()

    async def sample() -> None:
        nonlocal store_peak
        while not stop_sampling.is_set():
            at = time.monotonic() - started
            processes.sample(at)
            store_peak = max(store_peak, store_bytes())
            try:
                lags.sample(await group_lags(bootstrap), at)
            except Exception as exc:  # a busy broker may time out one sample; the next one counts
                console.print(f"[yellow]lag sample failed: {exc!r}[/]")
            await asyncio.sleep(sample_s)

    sampler = asyncio.create_task(sample())
    until = started + seconds
    result: dict = {"at": datetime.now(UTC).isoformat(), "seconds_planned": seconds, "load": load}
    try:
        if load == "tests":
            console.print(f"second load: the test suite (log {LOGS / 'soak-tests.log'})")
            result["tests"] = await run_tests(LOGS / "soak-tests.log")
        if time.monotonic() < until:
            console.print(f"second load: raw records at {rate:g}/s until {seconds:.0f} s")
            result["offered_records"] = await offered_load(bootstrap, rate, until, uuid.uuid4().hex[:8])
        lags.load_ended_at = time.monotonic()
        result["load_seconds"] = round(lags.load_ended_at - started, 1)
        console.print("load ended; waiting for every consumer group to drain")
        while time.monotonic() - lags.load_ended_at < drain_limit_s:
            if not lags.undrained(await group_lags(bootstrap)):
                break
            await asyncio.sleep(1)
    finally:
        stop_sampling.set()
        await sampler
    final_lags = await group_lags(bootstrap)
    lags.sample(final_lags, time.monotonic() - started)
    tickets = await topic_records(bootstrap, "tickets.received")
    end_bytes = store_bytes()
    result.update({
        "tickets": {"at_start": tickets_at_start, "at_end": tickets},
        "processes": {"peak_rss_mb": {k: round(v) for k, v in processes.peak_rss_mb.items()},
                      "deaths": processes.deaths},
        "store": {"bytes_at_start": store_at_start, "bytes_peak": store_peak, "bytes_at_end": end_bytes,
                  "kb_per_ticket_at_end": round(end_bytes / 1024 / max(1, tickets), 1),
                  "kb_per_ticket_at_peak": round(store_peak / 1024 / max(1, tickets), 1)},
        "lags": {"peak": lags.peak, "peak_at_s": lags.peak_at_s, "drained_after_s": lags.drained_after_s,
                 "undrained": lags.undrained(final_lags)},
        "losses": await losses(bootstrap),
        "aims": AIMS,
    })
    result["failures"] = failures(result, drain_limit_s)
    return result


def failures(result: dict, drain_limit_s: float) -> list[str]:
    found = [f"{d['process']} (pid {d['pid']}) died at {d['at_s']} s" for d in result["processes"]["deaths"]]
    found += [f"group {g} still {lag} behind {drain_limit_s:.0f} s after the load"
              for g, lag in result["lags"]["undrained"].items()]
    loss = result["losses"]
    if loss["raw_records_lost"]:
        found.append(f"{loss['raw_records_lost']} raw records became neither a ticket nor a dead letter")
    if loss["tickets_never_dispatched"]:
        found.append(f"{loss['tickets_never_dispatched']} tickets were never dispatched")
    tests = result.get("tests")
    if tests and tests["exit_code"] != 0:
        found.append(f"the test suite failed: {tests['summary']}")
    return found


def table(result: dict) -> Table:
    out = Table(title=f"Soak: {result['load_seconds']:.0f} s of load ({result['load']}), then drain")
    for column in ("measure", "value", "aim"):
        out.add_column(column, justify="left" if column == "measure" else "right")
    store, lags = result["store"], result["lags"]
    t = result["tickets"]
    out.add_row("tickets in the live city (start -> end)", f"{t['at_start']:,} -> {t['at_end']:,}")
    if tests := result.get("tests"):
        out.add_row("test suite beside it", tests["summary"], "passes")
    if "offered_records" in result:
        out.add_row("offered raw records", f"{result['offered_records']:,}")
    for name, mb in sorted(result["processes"]["peak_rss_mb"].items()):
        out.add_row(f"peak RSS {name}", f"{mb:,} MB")
    out.add_row("processes that died", str(len(result["processes"]["deaths"])), "0")
    out.add_row("store file at start / peak / end", " / ".join(
        f"{store[k] / 2**20:,.0f} MB" for k in ("bytes_at_start", "bytes_peak", "bytes_at_end")))
    out.add_row("store file per ticket (end / peak)",
                f"{store['kb_per_ticket_at_end']:.1f} / {store['kb_per_ticket_at_peak']:.1f} KB",
                f"≤ {AIMS['store_kb_per_ticket']} KB")
    worst = max(lags["peak"].items(), key=lambda kv: kv[1], default=("-", 0))
    out.add_row("largest consumer lag (group)", f"{worst[1]:,} ({worst[0]})")
    slowest = max(lags["drained_after_s"].items(), key=lambda kv: kv[1], default=("-", 0.0))
    out.add_row("slowest drain after the load (group)", f"{slowest[1]:.0f} s ({slowest[0]})",
                f"≤ {AIMS['drain_s']} s")
    loss = result["losses"]
    out.add_row("raw records lost / tickets never dispatched",
                f"{loss['raw_records_lost']} / {loss['tickets_never_dispatched']}", "0 / 0")
    return out


def main(
    seconds: float = typer.Option(1800, help="How long the second load lasts (the suite may make it longer)."),
    load: str = typer.Option("tests", help="tests: the test suite, then offered records; offered: records only."),
    rate: float = typer.Option(20, help="Offered raw records a second into the live city."),
    sample_s: float = typer.Option(5, help="How often processes, the store and lags are sampled."),
    drain_limit_s: float = typer.Option(AIMS["drain_s"], help="Fail when a lag has not drained by then."),
    out: Path | None = typer.Option(None, help="Results file (default bench/results/<date>-soak.json)."),
) -> None:
    """Soak the running system; exit 1 when a process died, a lag stayed or a record was lost."""
    if load not in ("tests", "offered"):
        raise typer.BadParameter("--load is tests or offered")
    result = asyncio.run(soak(seconds, load, rate, sample_s, drain_limit_s))
    console.print(table(result))
    target = out or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-soak.json"
    target.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print(f"written {target}")
    for failure in result["failures"]:
        console.print(f"[red]FAIL[/] {failure}")
    raise typer.Exit(1 if result["failures"] else 0)


if __name__ == "__main__":
    typer.run(main)
