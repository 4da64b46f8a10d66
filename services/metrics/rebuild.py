"""`hotline metrics rebuild`: drop the projections and recompute them from the retained topics.

A consumer without a group reads every partition of the five topics up to the end offsets taken
after the drop, folds the events into memory with the live path's functions (the use case is
`hotline.metrics.app.Rebuild`, the same fold a metrics process makes on start) and writes every
figure, ranking and hotspot. Records published later are the live service's; anything read twice
is idempotent. It refuses while metrics consumers are running: theirs would not write again what
they think the store holds. This module wires it and draws its progress and summary.
"""

from aiokafka.admin import AIOKafkaAdminClient

from hotline.city import deployment_city
from hotline.metrics.app import Progress, Rebuild, RebuildReport
from hotline.metrics.events import TOPIC_EVENTS
from hotline.metrics.follow import LogReader, partitions
from hotline.metrics.main import SERVICE, make_directory, make_writer
from hotline.metrics.projection import Projection
from hotline.metrics.settings import MetricsSettings
from hotline.runtime.mongo import make_client


async def active_consumers(settings: MetricsSettings) -> list[str]:
    """The live metrics consumer groups that have members right now."""
    groups = [f"{settings.group_id(SERVICE)}.{topic}" for topic in TOPIC_EVENTS]
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        # One group a request: aiokafka 0.14 fails to decode an answer about several live groups.
        responses = [r for g in groups for r in await admin.describe_consumer_groups([g])]
    finally:
        await admin.close()
    # Raw DescribeGroups answers: (error_code, group_id, state, protocol_type, protocol, members, ...).
    return sorted(g[1] for r in responses for g in r.groups if g[2] not in ("Empty", "Dead", ""))


async def rebuild(settings: MetricsSettings, *, progress: Progress | None = None,
                  idle_timeout_s: float = 30) -> RebuildReport:
    """Drop every metrics projection and rebuild it from the topics."""
    client = make_client(settings)
    projection = Projection(deployment_city(settings).zone)  # the live service's months
    store, writer = make_writer(client[settings.mongodb_database], settings, make_directory(settings), projection)
    use_case = Rebuild(projection, writer, store, progress or (lambda *_: None))

    async def open_log() -> LogReader:
        return LogReader(settings, await partitions(settings), use_case.apply, idle_timeout_s=idle_timeout_s)

    try:
        return await use_case.run(open_log)
    finally:
        await client.close()


def main(*, force: bool = False) -> int:
    """`hotline metrics rebuild`: progress bars on a terminal, a summary table; the exit code."""
    import asyncio

    from aiokafka.errors import KafkaError
    from pymongo.errors import PyMongoError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
    from rich.table import Table

    out, err = Console(), Console(stderr=True)
    settings = MetricsSettings()
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True, disable=not err.is_terminal)
    tasks: dict[str, TaskID] = {}
    labels = {"read": "reading the topics (records)", "write": "writing the projections (unit-months)"}

    def step(stage: str, total: int | None, advance: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(labels[stage], total=total)
        bars.update(tasks[stage], advance=advance)

    async def run() -> RebuildReport:
        if not force:
            busy = await active_consumers(settings)
            if busy:
                raise RuntimeError(f"metrics is consuming ({', '.join(busy)}): stop it first, or pass --force")
        with bars:
            return await rebuild(settings, progress=step)

    try:
        report = asyncio.run(run())
    except (RuntimeError, KafkaError, PyMongoError, TimeoutError, OSError) as exc:
        err.print(f"[bold red]rebuild failed:[/] {exc}", highlight=False)
        return 1
    table = Table(show_header=False, title="metrics rebuilt from the topics")
    table.add_column("what")
    table.add_column("value", justify="right")
    for topic, count in sorted(report.by_topic.items()):
        table.add_row(f"records from {settings.topic(topic)}", f"{count:,}")
    table.add_row("events used", f"{report.events:,}")
    table.add_row("records that did not parse (skipped)", f"{report.rejected:,}")
    if report.conflicts:
        table.add_row("events under a used id with other content (the first stands)", f"{report.conflicts:,}")
    table.add_row("tickets", f"{report.tickets:,}")
    table.add_row("unit-months", f"{report.unit_months:,}")
    table.add_row("time", f"{report.seconds:.2f} s")
    table.add_row("records/s", f"{report.events_per_s:,.0f}")
    out.print(table)
    return 0
