"""The bench's aims, its ratios to the limit, and the tables it prints."""

from rich.table import Table

from lifecycle.phases import SERVICES

# Issue #25's aims: a saturated lifecycle of 300 tickets/s, raw -> queue p99 of 100 ms on an empty
# store and 500 ms on one holding five months, at most 8 documents written and 20 KB of store file
# per ticket.
AIMS = {"lifecycle_tickets_per_s": 300, "raw_to_queue_p99_ms": 100, "raw_to_queue_p99_ms_with_history": 500,
        "ranking_freshness_p99_ms": 2_000, "rebuild_events_per_s": 20_000, "service_peak_rss_mb": 150,
        "documents_written_per_ticket": 8, "store_kb_per_ticket": 20}


def history_table(results: dict) -> Table | None:
    """The empty store's figures beside the same figures on a store holding a history."""
    if not (other := results.get("with_history")):
        return None
    h = other["history"]
    out = Table(title=f"Empty store beside one holding {h['tickets']:,} tickets ({h['months']} months of the "
                      f"simulated city, loaded at {h['tickets_per_s']:,.0f} tickets/s)")
    for column in ("measure", "empty store", "with history", "aim"):
        out.add_column(column, justify="left" if column == "measure" else "right")
    queue = "raw record -> unit queue (intake + routing)"

    def p99(r: dict) -> str:
        p = r["offered_load"]["hops_ms"][queue]
        return f"{p['p50']:,.0f} / {p['p99']:,.0f}" if p["p50"] is not None else "no samples"

    def written(r: dict, phase: str) -> str:
        by_service = r[phase]["store_round_trips"]["documents_written_per_ticket_by_service"]
        return f"{sum(by_service.values()):.1f}"

    out.add_row(f"{queue} at {results['offered_load']['offered_tickets_per_s']:g}/s, ms p50 / p99",
                p99(results), p99(other),
                f"p99 ≤ {AIMS['raw_to_queue_p99_ms']} / {AIMS['raw_to_queue_p99_ms_with_history']}")
    out.add_row("full lifecycle, saturated", f"{results['saturation']['tickets_per_s']:,.0f} tickets/s",
                f"{other['saturation']['tickets_per_s']:,.0f} tickets/s", f"≥ {AIMS['lifecycle_tickets_per_s']}")
    for phase, label in (("offered_load", "at the offered load"), ("saturation", "saturated")):
        out.add_row(f"store documents written per ticket {label} (all services)", written(results, phase),
                    written(other, phase), f"≤ {AIMS['documents_written_per_ticket']}")
    out.add_row("store documents written per ticket while the history loaded", "",
                f"{sum(h['documents_written_per_ticket_by_service'].values()):.1f}",
                f"≤ {AIMS['documents_written_per_ticket']}")
    out.add_row("store file growth per ticket while the history loaded", "",
                f"{h['store']['file_growth_kb_per_ticket']:.1f} KB", f"≤ {AIMS['store_kb_per_ticket']} KB")
    out.add_row("the documents' own BSON per ticket after the history", "",
                f"{h['store']['bson_kb_per_ticket']:.1f} KB")
    store = "mongodb-protocol store"
    for phase, label in (("offered_load", "at the offered load"), ("saturation", "saturated")):
        a, b = results[phase]["processes"].get(store), other[phase]["processes"].get(store)
        if a and b:
            out.add_row(f"store {label}: CPU, peak RSS", f"{a['cpu_percent']:.0f}%, {a['peak_rss_mb']:.0f} MB",
                        f"{b['cpu_percent']:.0f}%, {b['peak_rss_mb']:.0f} MB")
    return out


def ratios(results: dict) -> dict:
    limit = results["limit"]["raw_kafka_records_per_s"]
    relay = results["limit"]["faststream_relay"]["records_per_s"]
    lifecycle = results["saturation"]["tickets_per_s"]
    rebuild_ = results["rebuild"]
    per_ticket = results["saturation"].get("kafka_records", {}).get("per_ticket")
    return {
        "relay_to_raw": relay / limit,
        "lifecycle_tickets_to_raw_records": lifecycle / limit,
        "lifecycle_tickets_to_relay_records": lifecycle / relay,
        "rebuild_to_raw_read": rebuild_["events_per_s"] / rebuild_["raw_read_records_per_s"],
        **({"lifecycle_tickets_to_raw_ceiling": lifecycle / (limit / per_ticket)} if per_ticket else {}),
    }


def _per_service(results: dict | None, phase: str, figure: str = "per_ticket_by_service") -> str:
    """A phase's store figure per ticket (round trips unless named), service by service."""
    trips = ((results or {}).get(phase) or {}).get("store_round_trips", {}).get(figure, {})
    return ", ".join(f"{name} {n:.2f}" for name, n in trips.items())


def table(results: dict, baseline: dict | None) -> Table:
    r = ratios(results)
    hops = results["offered_load"]["hops_ms"]
    title = (f"Hotline end to end ({results['saturation']['tickets']:,} tickets at once; "
             f"{results['offered_load']['offered_tickets_per_s']:.0f}/s "
             f"for {results['offered_load']['seconds']:.0f} s; "
             f"load average {results['machine_before']['loadavg_1_5_15'][0]:.1f} "
             f"on {results['machine_before']['cpus']} cores)")
    out = Table(title=title)
    for column in ("measure", "value", "ratio to the limit", "aim"):
        out.add_column(column, justify="left" if column == "measure" else "right")
    if baseline:
        out.add_column("before the fix", justify="right")
    limit = results["limit"]["raw_kafka_records_per_s"]

    def row(measure: str, value: str, ratio: str = "", aim: str = "", before: str = "") -> None:
        out.add_row(measure, value, ratio, aim, *([before] if baseline else []))

    def fig(path: tuple, fmt: str) -> str:
        value = baseline
        for step in path:
            value = (value or {}).get(step) if isinstance(value, dict) else None
        return fmt.format(value) if isinstance(value, int | float) else ""

    phases = (("offered_load", f"at {results['offered_load']['offered_tickets_per_s']:g}/s"),
              ("saturation", "saturated"))
    row("raw aiokafka produce + consume (the limit)", f"{limit:,.0f} records/s", "1.00")
    row("no-op FastStream relay", f"{results['limit']['faststream_relay']['records_per_s']:,.0f} records/s",
        f"{r['relay_to_raw']:.2f}", "", fig(("limit", "faststream_relay", "records_per_s"), "{:,.0f}"))
    row("full lifecycle (every projection reflects every ticket)",
        f"{results['saturation']['tickets_per_s']:,.0f} tickets/s",
        f"{r['lifecycle_tickets_to_raw_records']:.2g} (relay {r['lifecycle_tickets_to_relay_records']:.2g})",
        f"≥ {AIMS['lifecycle_tickets_per_s']:,}", fig(("saturation", "tickets_per_s"), "{:,.0f}"))
    records = results["saturation"].get("kafka_records")
    if records:
        # A ticket's lifecycle is this many records, each produced and consumed at least once: the
        # raw limit alone caps the lifecycle at limit / records, before any processing.
        row("Kafka records written per ticket's lifecycle (every topic)", f"{records['per_ticket']:.1f}")
        row("lifecycle ceiling at the raw limit (limit / records per ticket)",
            f"{limit / records['per_ticket']:,.0f} tickets/s", "1.00")
        row("full lifecycle against that ceiling", f"{results['saturation']['tickets_per_s']:,.0f} tickets/s",
            f"{r['lifecycle_tickets_to_raw_ceiling']:.2f}")
    for name, p in hops.items():
        if p["p50"] is None:
            row(f"{name} (ms)", "no samples")
            continue
        aim = {"raw record -> unit queue (intake + routing)": f"p99 ≤ {AIMS['raw_to_queue_p99_ms']}",
               "metrics: dispatch -> ranking shows it": f"p99 ≤ {AIMS['ranking_freshness_p99_ms']:,}"}.get(name, "")
        before = fig(("offered_load", "hops_ms", name, "p99"), "p99 {:,.0f}")
        row(f"{name}, ms p50 / p95 / p99", f"{p['p50']:,.0f} / {p['p95']:,.0f} / {p['p99']:,.0f}", "", aim, before)
    for phase, label in phases:
        if _per_service(results, phase):
            row(f"store round trips per ticket {label}", _per_service(results, phase), "", "",
                _per_service(baseline, phase))
    # The store rewrites a whole document per change: its work follows the documents written.
    for phase, label in phases:
        if written := _per_service(results, phase, "documents_written_per_ticket_by_service"):
            row(f"store documents written per ticket {label}", written, "", "",
                _per_service(baseline, phase, "documents_written_per_ticket_by_service"))
    rb = results["rebuild"]
    row("raw read of the metrics topics (rebuild's limit)", f"{rb['raw_read_records_per_s']:,.0f} records/s", "1.00")
    row(f"metrics rebuild ({rb['records']:,} records, {rb.get('tickets', 0):,} tickets)",
        f"{rb['events_per_s']:,.0f} events/s", f"{r['rebuild_to_raw_read']:.3f}",
        f"≥ {AIMS['rebuild_events_per_s']:,}", fig(("rebuild", "events_per_s"), "{:,.0f}"))
    for size, p in results.get("busy_month_update_ms", {}).items():
        row(f"metrics: one contact into a unit-month of {int(size):,} tickets, ms p50 / p95",
            f"{p['p50']:,.1f} / {p['p95']:,.1f}", "", "", fig(("busy_month_update_ms", size, "p50"), "p50 {:,.1f}"))
    for phase, label in phases:
        for name, p in results[phase]["processes"].items():
            aim = f"≤ {AIMS['service_peak_rss_mb']} MB" if name in SERVICES else ""
            before = fig((phase, "processes", name, "cpu_percent"), "{:.0f}% CPU")
            row(f"{name} {label}: CPU, peak RSS", f"{p['cpu_percent']:.0f}% CPU, {p['peak_rss_mb']:.0f} MB", "", aim,
                before)
    return out
