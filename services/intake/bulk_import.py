"""Bulk import: CSV exports of other hotlines (311, 12345) become raw records on `hotline.raw`.

A mapping file (YAML, data not code) says how a row's columns become a `RawRecord`; the mapping,
the CSV reader and the row -> record step are shared (`hotline.ingest`). This is the runner
(`run_import`): it reads the CSV, checks each record with intake's own admission rule, and
publishes the accepted ones with one idempotent producer; and `hotline import` around it.
"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from hotline.contracts import topics
from hotline.ingest.admission import Rejection, parse_record
from hotline.ingest.files import SourceError, csv_rows
from hotline.ingest.mapping import Mapping, MappingError, load_mapping
from hotline.ingest.records import RowRejection, map_row

# ---------------------------------------------------------------------------------------------
# The runner: read, validate with intake's admission rule, publish, summarise
# ---------------------------------------------------------------------------------------------

CHUNK = 1000  # send() futures awaited together; bounds memory and makes progress visible


class BulkImportError(RuntimeError):
    """The import cannot go on: an unreadable file, a mapping that does not fit it, a broker error."""


@dataclass
class ImportSummary:
    """What an import did."""

    file: str
    mapping: str
    topic: str | None
    dry_run: bool
    rows_read: int = 0
    accepted: int = 0
    published: int = 0
    rejected: Counter = field(default_factory=Counter)  # "field: reason" -> rows
    seconds: float = 0.0

    @property
    def rejected_total(self) -> int:
        """Rows rejected, for any reason."""
        return sum(self.rejected.values())

    @property
    def rows_per_second(self) -> float:
        """Rows read (mapped, validated and, unless dry, published) per second."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


async def run_import(
    path: Path,
    mapping: Mapping,
    *,
    kafka: str | dict[str, Any] = "127.0.0.1:9092",
    topic: str = topics.RAW,
    dry_run: bool = False,
    limit: int | None = None,
    rejects: Path | None = None,
    console=None,
    now: datetime | None = None,
) -> ImportSummary:
    """Import one CSV file: map, validate with intake's admission rule, publish the accepted rows."""
    now = now or datetime.now(UTC)
    summary = ImportSummary(str(path), mapping.name, None if dry_run else topic, dry_run)
    try:
        size = path.stat().st_size
        # TextIO: its buffer has tell(), which the progress bar reads (open() types it as a bare wrapper)
        handle: TextIO = path.open(encoding=mapping.file_encoding, newline="")
    except OSError as exc:
        raise BulkImportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        rejects_out = rejects.open("w", encoding="utf-8") if rejects else None
    except OSError as exc:
        handle.close()
        raise BulkImportError(f"cannot write the rejects file {rejects}: {exc.strerror or exc}") from exc

    def check(row: dict) -> tuple[bytes, None] | tuple[None, RowRejection]:
        if None in row:
            return None, RowRejection("row", "wrong number of fields", row[None])
        record = map_row(row, mapping)
        if isinstance(record, RowRejection):
            return None, record
        payload = json.dumps(record, ensure_ascii=False).encode("utf-8")
        # What intake refuses is the record's own fault only (parse_record): the category and place
        # never refuse a record, so the classifier is not loaded for an import.
        checked = parse_record(payload, now=now)
        if isinstance(checked, Rejection):
            return None, RowRejection(checked.field, checked.reason, _value_at(record, checked.field))
        return payload, None

    producer = None
    progress = _progress(console)
    started = time.perf_counter()
    try:
        if not dry_run:
            producer = await _start_producer(kafka)
        # The bar follows the bytes read, or the rows when --limit stops early.
        total = limit if limit is not None else size
        task = progress.add_task(f"import {path.name}", total=total, rows=0) if progress else None
        pending: list[asyncio.Future] = []
        for number, line, row in _rows(handle, mapping, path):
            if limit is not None and summary.rows_read >= limit:
                break
            summary.rows_read += 1
            if progress and summary.rows_read % 200 == 0:
                done = summary.rows_read if limit is not None else handle.buffer.tell()
                progress.update(task, completed=done, rows=summary.rows_read)
            payload, rejection = check(row)
            if rejection is not None:
                _reject(summary, rejection, number, line, rejects_out)
                continue
            summary.accepted += 1
            if producer is not None:
                pending.append(await producer.send(topic, payload))
                if len(pending) >= CHUNK:
                    await _settle(pending, summary)
        await _settle(pending, summary)
        if progress:
            progress.update(task, completed=total, rows=summary.rows_read)
    finally:
        summary.seconds = time.perf_counter() - started
        if progress:
            progress.stop()
        if producer is not None:
            await producer.stop()
        handle.close()
        if rejects_out:
            rejects_out.close()
    return summary


def _rows(handle: TextIO, mapping: Mapping, path: Path) -> Iterator[tuple[int, int, dict]]:
    """The file's rows (`csv_rows`), a file that does not fit the mapping a BulkImportError."""
    try:
        yield from csv_rows(handle, mapping, path)
    except SourceError as exc:
        raise BulkImportError(str(exc)) from exc


def _progress(console):
    if console is None:
        return None
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(), console=console, transient=True,
    )
    progress.start()
    return progress


async def _start_producer(kafka: str | dict[str, Any]):
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from hotline.runtime.kafka import client_options

    options = client_options(kafka)
    # `options` carries the settings' acks (always "all"); a bare address gets "all" too.
    producer = AIOKafkaProducer(**{"acks": "all", **options}, enable_idempotence=True, linger_ms=5)
    try:
        await producer.start()
    except KafkaError as exc:
        await producer.stop()
        raise BulkImportError(f"cannot reach Kafka at {options['bootstrap_servers']}: {exc}") from exc
    return producer


async def _settle(pending: list, summary: ImportSummary) -> None:
    """Wait for the broker to acknowledge every sent record of the chunk."""
    if not pending:
        return
    from aiokafka.errors import KafkaError

    try:
        await asyncio.gather(*pending)
    except KafkaError as exc:
        raise BulkImportError(
            f"publishing failed after {summary.published} acknowledged records ({exc}); "
            "importing the file again is safe: intake treats a resent record as the same ticket"
        ) from exc
    summary.published += len(pending)
    pending.clear()


def _value_at(record: dict, field_path: str | None) -> str | None:
    value: Any = record
    for key in (field_path or "").split("."):
        if not key or not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return None if value is None else str(value)[:200]


def _reject(summary: ImportSummary, rejection: RowRejection, number: int, line: int, out) -> None:
    summary.rejected[f"{rejection.field or 'record'}: {rejection.reason}"] += 1
    if out is None:
        return
    entry = {"row": number, "line": line, "field": rejection.field, "reason": rejection.reason}
    # Caller fields are personal data: the rejects file says what is wrong, not the number.
    if rejection.value is not None and not (rejection.field or "").startswith("caller"):
        entry["value"] = rejection.value
    out.write(json.dumps(entry, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# The command line (`hotline import`)
# ---------------------------------------------------------------------------------------------


def summary_table(summary: ImportSummary):
    """The summary as a rich table."""
    from rich.table import Table

    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("rows read", f"{summary.rows_read:,}")
    table.add_row("accepted", f"{summary.accepted:,}")
    if summary.dry_run:
        table.add_row("published", "dry run: nothing")
    else:
        table.add_row(f"published to {summary.topic}", f"{summary.published:,}")
    table.add_row("rejected", f"{summary.rejected_total:,}")
    for reason, count in summary.rejected.most_common():
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("time", f"{summary.seconds:.2f} s")
    table.add_row("records/s", f"{summary.rows_per_second:,.0f}")
    return table


def main(
    file: Path, *, mapping: str, dry_run: bool = False, limit: int | None = None, rejects: Path | None = None
) -> int:
    """Run an import from the command line: progress bar, summary table; the exit code."""
    from rich.console import Console
    from rich.markup import escape

    from hotline.runtime.settings import ServiceSettings

    out, err = Console(), Console(stderr=True)
    try:
        spec = load_mapping(mapping)
        settings = ServiceSettings()
        summary = asyncio.run(
            run_import(
                file, spec, kafka=settings.kafka_producer_options(),
                topic=settings.topic(topics.RAW), dry_run=dry_run, limit=limit, rejects=rejects,
                console=err if err.is_terminal else None,
            )
        )
    except (MappingError, BulkImportError) as exc:
        err.print("[bold red]error:[/]", escape(str(exc)), highlight=False)
        return 2 if isinstance(exc, MappingError) else 1
    out.print(f"{summary.file} with mapping {summary.mapping!r}", highlight=False)
    out.print(summary_table(summary))
    if rejects and summary.rejected_total:
        out.print(f"rejected rows written to {rejects}", highlight=False)
    return 0
