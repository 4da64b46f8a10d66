"""The `hotline` command line."""

import asyncio
import importlib
import json
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hotline.city import deployment_catalogue
from hotline.contracts import BUSINESS_TZ, topics
from hotline.gazetteer import beijing
from hotline.runtime.settings import ServiceSettings
from hotline.topology import all_topic_specs

if TYPE_CHECKING:  # the command imports it when it runs
    from hotline.classifier.corrections import Corrections

app = typer.Typer(help="Hotline: Beijing-style 12345 citizen hotline services.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
units_app = typer.Typer(help="Handling units' credentials.", no_args_is_help=True)
app.add_typer(units_app, name="units")
platform_app = typer.Typer(help="Channel platforms' credentials (intake's platform-only fields).",
                           no_args_is_help=True)
app.add_typer(platform_app, name="platform")
dept_app = typer.Typer(help="Department console: a handling unit's own queue.", no_args_is_help=True)
app.add_typer(dept_app, name="dept")
metrics_app = typer.Typer(help="Metrics projections (rankings, hotspots).", no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")
model_app = typer.Typer(help="The trained category classifier (first-level class of a message).", no_args_is_help=True)
app.add_typer(model_app, name="model")
corrections_app = typer.Typer(help="The centre's category corrections (routing_corrections) as training examples.",
                              no_args_is_help=True)
model_app.add_typer(corrections_app, name="corrections")
eval_app = typer.Typer(help="Evaluations: quality and speed, written to bench/results/.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


class ServiceName(StrEnum):
    """The four services."""

    INTAKE = "intake"
    ROUTING = "routing"
    FOLLOWUP = "followup"
    METRICS = "metrics"


@app.command()
def serve(service: ServiceName) -> None:
    """Run one service (its Kafka consumers and its HTTP side) until stopped."""
    importlib.import_module(f"hotline.{service.value}.main").main()


@topics_app.command("ensure")
def topics_ensure(
    prefix: Annotated[str | None, typer.Option(help="Topic prefix (default: HOTLINE_TOPIC_PREFIX).")] = None,
) -> None:
    """Create every topic the system uses, with its partition count and replication factor, set each
    class's retention on new and existing topics, and verify what the cluster holds (exit 1 if not)."""
    from hotline import topic_report

    settings = ServiceSettings()
    specs = all_topic_specs(settings.topic_prefix if prefix is None else prefix, settings=settings)
    raise typer.Exit(topic_report.ensure_and_report(settings, specs, typer.echo))


@topics_app.command("list")
def topics_list() -> None:
    """Print every topic name and partition count."""
    for spec in all_topic_specs(ServiceSettings().topic_prefix):
        typer.echo(f"{spec.name}\t{spec.partitions}")


@dept_app.command("watch")
def dept_watch(
    unit_code: Annotated[str, typer.Argument(
        help="Unit code: 9-digit street/town, 6-digit district, m-*/e-*, triage.")],
    from_beginning: Annotated[bool, typer.Option(
        "--from-beginning/--new-only",
        help="Read the backlog from the console group's committed offset (the topic's start the first time), "
        "or skip what is queued now.")] = True,
    once: Annotated[bool, typer.Option(help="Read what is there, print the table once and exit.")] = False,
    timeout_s: Annotated[float | None, typer.Option(
        min=0, help="Stop after N seconds (with --once: read for at most N seconds, default 10).")] = None,
) -> None:
    """Show a unit's assignments from queue.<unit_code> live, newest first (masked phones only)."""
    from hotline import console

    raise typer.Exit(console.main(unit_code, from_beginning=from_beginning, once=once, timeout_s=timeout_s))


@dept_app.command("brief")
def dept_brief(
    unit_code: Annotated[str, typer.Argument(help="Unit code: 9-digit street/town, 6-digit district, m-*/e-*.")],
    date: Annotated[str | None, typer.Option(help="Meeting day YYYY-MM-DD (Asia/Shanghai); default today.")] = None,
    url: Annotated[str, typer.Option(help="Followup service base URL.")] = "http://127.0.0.1:8003",
    token: Annotated[str | None, typer.Option(
        envvar="HOTLINE_TOKEN", help="The unit's (or the centre's) bearer token.", show_default=False)] = None,
) -> None:
    """Print the agenda of the unit's daily dispatch meeting: new, due today, overdue, awaiting a
    visit, reopened, repeats, and the demands collected the day before."""
    from hotline import dept_brief as brief

    raise typer.Exit(brief.main(unit_code, day=date, url=url, token=token))


@dept_app.command("explain")
def dept_explain(
    unit_code: Annotated[str, typer.Argument(help="Unit code: 9-digit street/town, 6-digit district, m-*/e-*.")],
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default the unit's latest month with figures.")] = None,
    url: Annotated[str, typer.Option(help="Metrics service base URL.")] = "http://127.0.0.1:8004",
    token: Annotated[str | None, typer.Option(
        envvar="HOTLINE_TOKEN", help="The unit's (or the centre's) bearer token.", show_default=False)] = None,
) -> None:
    """Print the tickets that cost the unit points in a month, costliest first: what went wrong, the
    points, and the score and rank had it gone right."""
    from hotline import dept_explain as explain

    raise typer.Exit(explain.main(unit_code, month=month, url=url, token=token))


@metrics_app.command("rebuild")
def metrics_rebuild(
    force: Annotated[bool, typer.Option(help="Rebuild even while metrics consumers are running.")] = False,
) -> None:
    """Drop the metrics projections and rebuild them from the topics' retained records."""
    from hotline.metrics import rebuild

    raise typer.Exit(rebuild.main(force=force))


@model_app.command("train")
def model_train(
    seed: Annotated[int, typer.Option(help="The same seed (and data) gives the same artifact.")] = 0,
    out: Annotated[Path | None, typer.Option(
        help="Where to write the artifact (default: the one shipped in the package, data/classifier/model.zip).")]
    = None,
    extra: Annotated[Path | None, typer.Option(
        help="A CSV of corrected examples (columns text, label) to train on beside the shipped data.")] = None,
    corrections: Annotated[bool, typer.Option(
        help="Also train on the centre's category corrections in the store (routing_corrections).")] = False,
) -> None:
    """Train the category classifier on the shipped labelled messages (and --extra examples, and
    the --corrections in the store)."""
    from hotline.classifier import model, training

    start = time.perf_counter()
    found = _read_corrections() if corrections else None
    try:
        artifact = training.train(seed=seed, extra=extra, corrections=found)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    path = out or model.DEFAULT_PATH
    size = model.save(artifact, path)
    rows = sum(d["rows"] for d in artifact.meta["data"])
    typer.echo(f"model {artifact.meta['version']}: {rows} messages, {len(artifact.vocabulary)} features, "
               f"{time.perf_counter() - start:.1f} s; {size} bytes written to {path}")


@corrections_app.command("export")
def corrections_export(
    path: Annotated[Path, typer.Argument(help="The CSV to write (columns text, label), for `model train --extra`.")],
) -> None:
    """Write the centre's category corrections as training examples: each ticket's text scrubbed of
    personal data, labelled with the first-level class of its corrected category."""
    from hotline.classifier.corrections import write_csv

    found = _read_corrections()
    write_csv(found, path)
    typer.echo(f"{len(found.texts)} corrections written to {path}")


def _read_corrections() -> "Corrections":
    """The corrections in the store (settings' MongoDB), each skipped one named on stderr; exit 1
    when the store cannot be read."""
    from hotline.classifier import corrections

    try:
        found = corrections.load(ServiceSettings())
    except corrections.StoreError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    for skipped in found.skipped:
        typer.echo(f"skipped the correction of {skipped.ticket_id}: {skipped.reason}", err=True)
    typer.echo(f"{len(found.texts)} corrections read from {corrections.COLLECTION}"
               + (f" ({found.skipped_summary()})" if found.skipped else ""))
    return found


@model_app.command("predict")
def model_predict(
    text: Annotated[str, typer.Argument(help="A message as a citizen wrote it.")],
    top: Annotated[int, typer.Option(min=1, help="How many classes to list.")] = 3,
    path: Annotated[Path | None, typer.Option(help="An artifact (default: the shipped one).")] = None,
) -> None:
    """Print the first-level classes the classifier gives a message, with their probabilities."""
    from hotline.classifier import ModelError, load_model

    try:
        model = load_model(path)
    except ModelError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    for label, confidence in model.predict(text, top=top).candidates:
        typer.echo(f"{label}\t{confidence:.3f}")


@eval_app.command("classify")
def eval_classify(
    out: Annotated[Path | None, typer.Option(
        help="JSON results file (default: bench/results/<date>-classify.json under the current directory).")] = None,
    variants: Annotated[bool, typer.Option(help="Also cross-validate the variants tried (about 5 minutes more).")]
    = False,
) -> None:
    """Cross-validated accuracy and macro-F1 of the category classifier (segmented and raw messages),
    per class, confusion, size, time per message, and the keyword classifier it replaces."""
    from hotline.classifier import evaluate

    path = out or Path("bench") / "results" / f"{datetime.now(UTC).date().isoformat()}-classify.json"
    evaluate.run(path, with_variants=variants)


@app.command("asyncapi")
def asyncapi_(
    check: Annotated[bool, typer.Option(help="Only check that the committed document is current (exit 1 if not).")]
    = False,
    path: Annotated[Path | None, typer.Option(help="Where the document is (default: docs/asyncapi.json).")] = None,
) -> None:
    """Regenerate the AsyncAPI contract of every topic and message from the contracts (or --check it)."""
    from hotline.runtime import asyncapi

    ok, message = asyncapi.write_or_check(path or asyncapi.DOCUMENT_PATH, check=check)
    typer.echo(message, err=not ok)
    raise typer.Exit(0 if ok else 1)


@units_app.command("token")
def units_token(
    unit_code: Annotated[str, typer.Argument(help="Unit code, or `centre` for the hotline centre.")],
    revoke_others: Annotated[bool, typer.Option(help="Invalidate the unit's other tokens.")] = False,
) -> None:
    """Issue a bearer token for a unit (printed once; only its hash is stored)."""
    from hotline.runtime.auth import CENTRE_CODE, Role

    settings = ServiceSettings()
    gazetteer = beijing()
    known = {*gazetteer.units, *gazetteer.districts, *deployment_catalogue(settings).units_by_code,
             topics.TRIAGE_QUEUE_CODE, CENTRE_CODE}
    if unit_code not in known:
        typer.echo(f"unknown unit code {unit_code!r}", err=True)
        raise typer.Exit(2)

    role = Role.CENTRE if unit_code == CENTRE_CODE else Role.UNIT
    typer.echo(asyncio.run(_issue_token(settings, unit_code, role, revoke_others=revoke_others)))


async def _issue_token(settings: ServiceSettings, code: str, role, *, revoke_others: bool) -> str:
    """A new token for the credential `code` (its other tokens revoked first when asked)."""
    from pymongo import AsyncMongoClient

    from hotline.runtime.auth import CredentialStore

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url,
                                                                timeoutMS=settings.mongodb_timeout_ms)
    try:
        store = CredentialStore(client[settings.mongodb_database])
        if revoke_others:
            await store.revoke_all(unit_code=code)
        return await store.issue(unit_code=code, role=role)
    finally:
        await client.close()


@platform_app.command("token")
def platform_token(
    gateway: Annotated[str | None, typer.Argument(
        help="The gateway's name (web, app, wechat...): its own credential `platform-<gateway>`; "
             "none for the one credential `platform`.", show_default=False)] = None,
    revoke_others: Annotated[bool, typer.Option(help="Invalidate this credential's other tokens.")] = False,
) -> None:
    """Issue a channel platform's bearer token (printed once; only its hash is stored).

    With it, `POST /v1/tickets` takes the platform's own channel, source id, received time,
    `collected_by` and `answered_directly`; without it intake sets them itself.
    """
    import re

    from hotline.runtime.auth import PLATFORM_CODE, Role

    if gateway is not None and not re.fullmatch(r"[a-z0-9]{1,32}", gateway):
        typer.echo(f"gateway name {gateway!r} is not 1 to 32 lower-case letters or digits", err=True)
        raise typer.Exit(2)
    code = PLATFORM_CODE if gateway is None else f"{PLATFORM_CODE}-{gateway}"
    settings = ServiceSettings()

    typer.echo(asyncio.run(_issue_token(settings, code, Role.PLATFORM, revoke_others=revoke_others)))


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(help="JSON-lines file of raw records, or - for stdin.")],
    topic: Annotated[str, typer.Option(help="Topic to publish to.")] = topics.RAW,
) -> None:
    """Publish raw records (one JSON object a line) as the hotline platform would."""
    from aiokafka import AIOKafkaProducer

    settings = ServiceSettings()
    lines = (typer.get_text_stream("stdin") if str(file) == "-" else file.open(encoding="utf-8"))
    records = [line.strip() for line in lines if line.strip()]

    async def run() -> None:
        producer = AIOKafkaProducer(**settings.kafka_producer_options())
        await producer.start()
        try:
            for line in records:
                await producer.send_and_wait(settings.topic(topic), line.encode())
        finally:
            await producer.stop()

    asyncio.run(run())
    typer.echo(f"published {len(records)} records to {settings.topic(topic)}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV export of another hotline (311, 12345).")],
    mapping: Annotated[str, typer.Option(help="Shipped mapping name (sf311, nyc311-export, nyc311-api) or YAML path.")],
    dry_run: Annotated[bool, typer.Option(help="Validate and summarise only; publish nothing.")] = False,
    limit: Annotated[int | None, typer.Option(min=0, help="Read at most N rows.")] = None,
    rejects: Annotated[Path | None, typer.Option(help="Write rejected rows here as JSON lines.")] = None,
) -> None:
    """Import a CSV export through a column mapping, publishing accepted rows to hotline.raw."""
    from hotline.intake import bulk_import

    raise typer.Exit(bulk_import.main(file, mapping=mapping, dry_run=dry_run, limit=limit, rejects=rejects))


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="A hotline's history: CSV export or Open311 JSON.")],
    mapping: Annotated[str, typer.Option(help="Shipped replay mapping (sf, nyc, chicago) or YAML path.")],
    speed: Annotated[float | None, typer.Option(
        min=0, help="Seconds of history per second (3600: an hour a second); full speed when unset.")] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Read at most N records.")] = None,
    since: Annotated[str | None, typer.Option(help="Only records opened at or after (ISO date or time).")] = None,
    until: Annotated[str | None, typer.Option(help="Only records opened before (ISO date or time).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Map, check and summarise only; publish nothing.")] = False,
    register: Annotated[bool, typer.Option(
        help="Add the history's units to its city's unit registry and exit "
        "(then restart routing and metrics).")] = False,
    timeout_s: Annotated[float, typer.Option(help="How long to wait for the services to catch up.")] = 120,
) -> None:
    """Replay a history through the pipeline, lifecycle included (opened, unit, closed, target date)."""
    from hotline.replay import runner

    raise typer.Exit(runner.main(file, mapping=mapping, speed=speed, limit=limit, since=since, until=until,
                                 dry_run=dry_run, register=register, timeout_s=timeout_s))


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="The same seed gives the same records and acts.")] = 12345,
    speed: Annotated[float, typer.Option(
        min=0, help="Business seconds per wall second while catching up (20000: a month in about "
        "2 minutes, if the services keep up); 0: as fast as they go.")] = 20000,
    scenario: Annotated[str | None, typer.Option(
        help="`liangxiang`: the town's switch to collecting complaints.")] = None,
    months: Annotated[int, typer.Option(
        min=0, help="Start on the first day of the month this many months back.")] = 5,
    tickets_per_day: Annotated[float, typer.Option(min=0, help="Records a day, city-wide (weekdays more).")] = 240,
    units: Annotated[str | None, typer.Option(
        help="Comma-separated unit codes (streets, towns, m-*, e-*); default every street, town, department "
        "and enterprise.")] = None,
    follow: Annotated[bool, typer.Option(
        help="Once caught up with the wall clock, go on at real time; --no-follow stops there.")] = True,
    resume: Annotated[bool, typer.Option(
        "--resume/--fresh",
        help="Continue after the last business time the simulator published on hotline.clock, or play "
        "the plan from its start (every act is idempotent).")] = True,
    followup_url: Annotated[str, typer.Option(help="Followup service base URL.")] = "http://127.0.0.1:8003",
) -> None:
    """Simulate a Beijing-like city: callers, units and callback surveys on business time."""
    from hotline.simulator import plan, run

    now = datetime.now(UTC)
    chosen = tuple(u.strip() for u in units.split(",") if u.strip()) if units else plan.default_units()
    if scenario == "liangxiang" and plan.LIANGXIANG not in chosen:
        chosen = (*chosen, plan.LIANGXIANG)
    try:
        config = plan.SimConfig(seed=seed, start=plan.month_start(now, months), tickets_per_day=tickets_per_day,
                                units=tuple(sorted(set(chosen))), scenario=scenario)
        plan.city_of(config.units)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(run.main(config, speed=speed or None, until=None if follow else now,
                              followup_url=followup_url, resume=resume))


@app.command("trace")
def trace_ticket(
    ticket_id: Annotated[str, typer.Argument(help="The ticket's id (TK...).")],
    traces_dir: Annotated[Path | None, typer.Option(
        "--dir", help="Directory of the services' trace files (default: HOTLINE_TRACES_DIR, "
        "$HOTLINE_LOCAL_DIR/traces, else .local/traces in the repository).")] = None,
) -> None:
    """Print a ticket's span tree (intake, routing, followup, metrics) with timings, from the
    services' JSON-lines trace files."""
    from rich.console import Console

    from hotline.runtime.telemetry import traces_dir as default_dir
    from hotline.runtime.trace_files import span_tree, ticket_spans, trace_files

    directory = traces_dir or default_dir(ServiceSettings())
    if not trace_files(directory):
        typer.echo(f"no trace files in {directory}: start the services (make up), or pass --dir", err=True)
        raise typer.Exit(1)
    spans = ticket_spans(directory, ticket_id)
    if not spans:
        typer.echo(f"no spans of ticket {ticket_id} in {directory} (spans are written about a second "
                   "after they end)", err=True)
        raise typer.Exit(1)
    Console().print(span_tree(spans, ticket_id))


@app.command()
def demo(
    metrics_url: Annotated[str, typer.Option(help="Metrics service base URL.")] = "http://127.0.0.1:8004",
    timeout_s: Annotated[float, typer.Option(help="How long to wait for the figures.")] = 30,
) -> None:
    """Send one complaint from Liangxiang and follow it to the metrics store."""
    from aiokafka import AIOKafkaProducer

    settings = ServiceSettings()
    now = datetime.now(UTC)
    record = {
        "channel": "phone",
        "source_id": f"demo-{now.strftime('%Y%m%d%H%M%S%f')}",
        "received_at": now.isoformat(),
        "content": "小区门口道路破损，雨天积水严重，请尽快维修。",
        "address": "房山区良乡镇云景台小区二期",
        "caller": {"phone": "13800001234", "name": "王先生"},
    }

    async def send() -> None:
        producer = AIOKafkaProducer(**settings.kafka_producer_options())
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic(topics.RAW), json.dumps(record).encode())
        finally:
            await producer.stop()

    period = now.astimezone(BUSINESS_TZ).strftime("%Y-%m")
    url = f"{metrics_url}/v1/units/110111008/months/{period}"
    before = _dispatched(url)
    asyncio.run(send())
    typer.echo(f"sent {record['source_id']} (Liangxiang, 110111008) to {settings.topic(topics.RAW)}")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        after = _dispatched(url)
        if after > before:
            typer.echo(f"metrics: Liangxiang has {after} dispatched tickets in {period}")
            return
        time.sleep(0.5)
    typer.echo("the ticket did not reach the metrics store in time", err=True)
    raise typer.Exit(1)


def _dispatched(url: str) -> int:
    import httpx

    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError as exc:
        typer.echo(f"metrics is not reachable at {url} ({exc}); start the system with `make up`", err=True)
        raise typer.Exit(1) from exc
    return response.json().get("dispatched", 0) if response.status_code == 200 else 0
