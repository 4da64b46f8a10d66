"""The end-to-end benchmark (`make bench`): the four services as real processes on the real broker
and store, against the raw-Kafka limit measured in the same run.

1. The limit: raw aiokafka produce-and-consume of the same records, and a no-op FastStream relay.
2. Offered load: raw records at a fixed rate; each hop's latency from the records' own timestamps
   (raw record -> TicketReceived -> the lead unit's queue record; a unit's command -> its followup
   event) and ranking freshness (a dispatch or a callback -> the month's ranking showing it).
3. Saturation: a burst of tickets taken through the whole lifecycle (received, dispatched,
   contacted, resolved, called back and closed) until every ticket is closed and the rankings count
   every callback: tickets/s.
4. Rebuild: the metrics projections recomputed from the run's metrics records and copies of them
   about other tickets (ten times the run by default), beside a raw read of the same records.
5. With history (`--history N`, on by default): the same offered load and saturation again on a
   second run's store after the city simulator played N tickets over some months into it (the
   store's growth and documents written per ticket are reported), beside the empty store's.
6. A busy month: metrics' store alone, one contact at a time into a unit-month that already holds
   thousands of tickets (a Beijing street's month is 4,000-5,000): what each live update costs
   once a month is full, which the short runs above never reach.
The bench plays the handling units and the callback centre: it answers each dispatch with a
contact, each contact with a resolution (commands on `followup.commands`), each resolution with a
satisfied callback on `hotline.callbacks`. Each service's CPU share and peak RSS are read from
/proc for each phase. Writes bench/results/<date>.json and prints the table with the ratios.
"""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from common import RESULTS, create_topics, fresh_namespace, machine, raw_limit, raw_records, run_of
from history import tickets_over
from lifecycle.limit import relay_rate
from lifecycle.metrics_phases import busy_month_updates, rebuild_rates
from lifecycle.phases import history_phases, lifecycle_phases
from lifecycle.report import AIMS, history_table, ratios, table
from rich.console import Console

# Wide enough for the table when the output is not a terminal (make, CI logs).
console = Console(width=max(190, Console().width))


async def run(limit_records: int, rate: float, seconds: float, tickets: int, contact_delay_s: float,
              poll_s: float, timeout_s: float, profile: str | None, rebuild_copies: int,
              history: int = 0, history_months: int = 3) -> dict:
    ns = fresh_namespace("bench")
    logs = RESULTS.parents[1] / ".local" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict = {"at": datetime.now(UTC).isoformat(), "machine_before": machine()}
    try:
        with console.status("creating the run's topics"):
            await create_topics(ns)
        with console.status("the limit: raw Kafka produce and consume"):
            payloads = raw_records(limit_records, run_of(ns))
            # Untimed first: a broker just started runs its first seconds in the JVM's interpreter
            # (one run measured 16,000 records/s cold and 41,000 warm).
            await raw_limit(ns, payloads, name="bench.raw-warm-up")
            results["limit"] = {"records": limit_records, "raw_kafka_records_per_s": await raw_limit(ns, payloads)}
        with console.status("the limit: a no-op FastStream relay"):
            results["limit"]["faststream_relay"] = await relay_rate(ns, payloads, logs)
        with console.status(f"the lifecycle: {rate:.0f} tickets/s for {seconds:.0f} s, then {tickets:,} at once"):
            results.update(await lifecycle_phases(
                ns, logs, rate=rate, seconds=seconds, tickets=tickets, contact_delay_s=contact_delay_s,
                poll_s=poll_s, timeout_s=timeout_s, profile=profile))
        if history:
            with console.status(f"with history: {history:,} tickets over {history_months} months, then the same load"):
                results["with_history"] = await history_phases(
                    logs, history=history, history_months=history_months, rate=rate, seconds=seconds,
                    tickets=tickets, contact_delay_s=contact_delay_s, poll_s=poll_s, timeout_s=timeout_s)
        with console.status(f"rebuild from the run's metrics records and {rebuild_copies} copies of them"):
            results["rebuild"] = await rebuild_rates(ns, rebuild_copies)
        with console.status("a busy month: live updates into unit-months of 5,000 and 20,000 tickets"):
            results["busy_month_update_ms"] = await busy_month_updates(ns)
    finally:
        await ns.clean_up()
    results["machine_after"] = machine()
    return results


def main(
    limit_records: int = typer.Option(10_000, help="Records for the raw limit and the relay."),
    rate: float = typer.Option(100, help="Offered load, tickets per second."),
    seconds: float = typer.Option(5, help="How long the offered load lasts."),
    tickets: int = typer.Option(1000, help="Tickets published at once for the saturating run."),
    contact_delay_s: float = typer.Option(0.5, help="How long a unit takes to contact the citizen."),
    poll_s: float = typer.Option(0.1, help="How often the rankings are read (freshness is accurate to it)."),
    timeout_s: float = typer.Option(420, help="Give up on a phase after this long."),
    profile: str | None = typer.Option(None, help="Sample this service with py-spy during the saturating run."),
    history: int = typer.Option(-1, help="Tickets the simulator plays into a second run's store before the same "
                                         "offered load and saturation run again on it (0: empty store only; "
                                         "default: the simulated city's 240 a day over --history-months)."),
    history_months: int = typer.Option(5, help="Months the history spans (ending now)."),
    rebuild_copies: int = typer.Option(9, help="Copies of the run's metrics records (about other tickets) "
                                               "that the rebuild reads besides the run's own."),
    baseline: Path | None = typer.Option(None, help="An earlier results file to show beside this run."),
    out: Path | None = typer.Option(None, help="Results file (default bench/results/<date>.json)."),
) -> None:
    """Run the end-to-end benchmark on the local stack, print the table, write the results."""
    if history < 0:
        history = round(tickets_over(history_months))
    results = asyncio.run(run(limit_records, rate, seconds, tickets, contact_delay_s, poll_s, timeout_s, profile,
                              rebuild_copies, history, history_months))
    results["ratios"] = ratios(results)
    results["aims"] = AIMS
    before = json.loads(baseline.read_text()) if baseline else None
    if before:
        results["before"] = {"file": baseline.name, "at": before.get("at"),
                             "saturation": before.get("saturation"), "offered_load": before.get("offered_load"),
                             "rebuild": before.get("rebuild"), "limit": before.get("limit"),
                             "busy_month_update_ms": before.get("busy_month_update_ms")}
    console.print(table(results, before))
    if (beside := history_table(results)) is not None:
        console.print(beside)
    target = out or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}.json"
    target.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    console.print(f"written {target}")


if __name__ == "__main__":
    typer.run(main)
