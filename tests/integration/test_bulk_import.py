"""Bulk import through the real broker: whole sample files in, the same records on hotline.raw."""

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotline.cli import app
from hotline.contracts import topics
from hotline.ingest.mapping import load_mapping
from hotline.intake.bulk_import import run_import
from hotline.runtime.kafka import ensure_topics
from tests.support import read_topic

pytestmark = pytest.mark.stack

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _prefix(namespace) -> str:
    # A raw topic of its own: no intake in the test session consumes these 11,000 records.
    return namespace.prefix + "import-"


def _cli(namespace, *args: str):
    env = {"KAFKA_BOOTSTRAP_SERVERS": namespace.kafka, "HOTLINE_TOPIC_PREFIX": _prefix(namespace)}
    return CliRunner().invoke(app, ["import", *args], env=env)


@pytest.fixture(scope="module")
async def imported(namespace):
    """The NYC export and the SF sample imported by the runner, 200 NYC API rows by the command."""
    topic = _prefix(namespace) + topics.RAW
    await ensure_topics(namespace.kafka, [topics.TopicSpec(topic, topics.TICKET_PARTITIONS)])
    summaries = {}
    for name, mapping in [("nyc311_2022-05-01_export.csv", "nyc311-export"), ("cases_sample_10000.csv", "sf311")]:
        summaries[mapping] = await run_import(
            SAMPLES / name, load_mapping(mapping), kafka=namespace.kafka, topic=topic
        )
    # The command runs its own event loop, so it runs in a thread here.
    cli = await asyncio.to_thread(
        _cli, namespace, str(SAMPLES / "nyc311_2024-04-16_api.csv"), "--mapping", "nyc311-api", "--limit", "200"
    )
    expected = sum(s.accepted for s in summaries.values()) + 200
    records = await read_topic(namespace.kafka, topic, until=lambda r: len(r) >= expected, timeout_s=30)
    by_id = {record["source_id"]: record for record in (json.loads(r.value) for r in records)}
    return {"summaries": summaries, "cli": cli, "records": records, "by_id": by_id, "expected": expected}


async def test_every_accepted_row_arrives_once_on_the_raw_topic(imported):
    nyc, sf = imported["summaries"]["nyc311-export"], imported["summaries"]["sf311"]
    assert (nyc.rows_read, sf.rows_read) == (924, 10_000)
    assert (nyc.published, sf.published) == (nyc.accepted, sf.accepted)
    assert nyc.accepted + nyc.rejected_total == 924 and sf.accepted + sf.rejected_total == 10_000
    assert len(imported["records"]) == imported["expected"]
    assert len(imported["by_id"]) == len(imported["records"])  # no source id twice
    print(f"\nimport rates: NYC export {nyc.rows_per_second:,.0f} rows/s, SF {sf.rows_per_second:,.0f} rows/s")


@pytest.mark.parametrize(
    ("source_id", "channel", "received_at", "address"),
    [
        ("sf311-3600298", "phone", "2014-04-30T14:51:52-07:00", "420 BERRY ST, SAN FRANCISCO, CA, 94107"),
        ("sf311-5489340", "phone", "2016-01-21T14:27:45-08:00", "Intersection of POWELL ST and PACIFIC AVE"),
        ("sf311-673156", "weibo", "2010-06-11T07:15:19-07:00", None),
        ("nyc311-54049402", "web", "2022-05-01T00:00:03-04:00", "1006 GERARD AVENUE"),
        ("nyc311-54049277", "phone", "2022-05-01T00:27:53-04:00", "Queensboro/59th St Br, Manhattan Bound"),
        ("nyc311-60879417", "enterprise", "2024-04-16T03:03:15-04:00", "Intersection of 133 AVENUE and 231 STREET"),
    ],
)
async def test_known_rows_arrive_with_their_source_ids_and_aware_times(
    imported, source_id, channel, received_at, address
):
    record = imported["by_id"][source_id]
    assert (record["channel"], record["received_at"]) == (channel, received_at)
    assert datetime.fromisoformat(record["received_at"]).utcoffset() is not None
    assert address is None or record["address"] == address


async def test_the_command_publishes_and_prints_the_summary(imported, namespace):
    result = imported["cli"]
    assert result.exit_code == 0, result.output
    assert "rows read" in result.output and "200" in result.output
    assert f"published to {_prefix(namespace)}hotline.raw" in result.output
    assert "records/s" in result.output


def test_the_command_dry_run_and_its_errors(namespace, tmp_path):
    result = _cli(namespace, str(SAMPLES / "nyc311_2024-04-16_api.csv"), "--mapping", "nyc311-api", "--dry-run",
                  "--rejects", str(tmp_path / "rejects.jsonl"))
    assert result.exit_code == 0, result.output
    assert "1,000" in result.output and "dry run: nothing" in result.output
    bad = _cli(namespace, str(SAMPLES / "nyc311_2024-04-16_api.csv"), "--mapping", "sf311", "--dry-run")
    assert bad.exit_code != 0 and "does not have: Address, CaseID" in bad.output
    missing = _cli(namespace, str(tmp_path / "none.csv"), "--mapping", "sf311")
    assert missing.exit_code != 0 and "cannot read" in missing.output
