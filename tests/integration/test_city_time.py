"""Each city in its own time zone, with its own rules, through the four services on the real broker
and store: a New York ticket of 31 January 23:00 local time counts in January; an English routine
request gets the general clock, not Beijing's emergency or utilities one; and a new city whose
catalogue is not registered yet starts."""

import csv
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.contracts import topics
from hotline.devkit import Namespace
from hotline.replay.mapping import REPLAY_DATA, load_replay_mapping
from hotline.replay.runner import run_replay
from hotline.runtime.settings import ServiceSettings
from tests.integration.conftest import client_for, four_services
from tests.support import WAIT_FACTOR, eventually

NEW_YORK = ZoneInfo("America/New_York")
HISTORY = REPLAY_DATA / "nyc" / "nyc311_2024-04-16_api.csv"
# (unique_key, created, closed, agency, agency name, complaint type, descriptor): New York times.
ROWS = [
    ("990000001", "2024-01-31T23:00:00", "2024-02-01T09:00:00", "DOT", "Department of Transportation",
     "Street Condition", "Pothole"),
    ("990000002", "2024-01-15T10:00:00", "2024-01-16T10:00:00", "NYPD", "New York City Police Department",
     "Illegal Fireworks", "N/A"),
    ("990000003", "2024-01-16T10:00:00", "2024-01-17T10:00:00", "HPD",
     "Department of Housing Preservation and Development", "HEAT/HOT WATER", "ENTIRE BUILDING"),
]


def _history(path: Path) -> Path:
    """A slice of New York's history in the export's own columns."""
    with HISTORY.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        for key, created, closed, agency, name, kind, descriptor in ROWS:
            writer.writerow({"unique_key": key, "created_date": created, "closed_date": closed, "agency": agency,
                             "agency_name": name, "complaint_type": kind, "descriptor": descriptor,
                             "location_type": "Street", "status": "Closed", "open_data_channel_type": "PHONE",
                             "incident_address": "100 BROADWAY", "borough": "MANHATTAN"})
    return path


@pytest.fixture(scope="module")
async def city_space(stack):
    """A namespace of this module's own: the replay's business-time ticks are two years back."""
    async with Namespace.fresh(stack, "ct").created(topics.core_topics()) as space:
        yield space


async def _ranking(client, period: str) -> dict[str, dict]:
    response = await client.get("/v1/rankings", params={"period": period, "kind": "department"})
    assert response.status_code == 200, response.text
    body = response.json()
    return {row["unit_code"]: row for row in body["rows"] + body["unranked"]}


async def test_a_new_york_ticket_late_on_31_january_counts_in_january(city_space, tmp_path):
    mapping = load_replay_mapping("nyc")
    settings = ServiceSettings(kafka_bootstrap_servers=city_space.kafka, topic_prefix=city_space.prefix)
    async with four_services(city_space, city_path=mapping.city) as apps:
        summary = await run_replay(_history(tmp_path / "history.csv"), mapping, settings=settings,
                                   timeout_s=90 * WAIT_FACTOR)
        records = {r.unit_code: r for r in summary.plan.records}
        assert set(records) == {"nyc-dot", "nyc-nypd", "nyc-hpd"}, summary.plan.rejected
        late = records["nyc-dot"]
        assert late.opened_at == datetime(2024, 1, 31, 23, tzinfo=NEW_YORK)

        async with client_for(apps["metrics"]) as metrics:
            async def counted():
                rows = await _ranking(metrics, "2024-01")
                return rows if all(rows.get(u, {}).get("dispatched") == 1 for u in records) else None

            january = await eventually(counted, timeout_s=90)
            assert january["nyc-dot"]["dispatched"] == 1
            # In Beijing's time it is 1 February noon: it must not count there.
            february = (await metrics.get("/v1/rankings", params={"period": "2024-02", "kind": "department"}))
            assert february.status_code in (200, 404)
            if february.status_code == 200:
                assert "nyc-dot" not in {r["unit_code"] for r in february.json()["rows"] + february.json()["unranked"]}

        # The urgency each dispatch carried: New York has no urgency rules of its own, so every
        # ticket is general (24 h to the first contact), not Beijing's emergency (30 min, on
        # "fireworks") or utilities (2 h, on "heat").
        facts = apps["metrics"].state.projection.facts
        for unit in ("nyc-nypd", "nyc-hpd"):
            dispatch = facts[records[unit].ticket_id]["dispatches"]["1"]
            assert dispatch["response_due_at"] - dispatch["dispatched_at"] == timedelta(hours=24), unit


async def test_a_new_city_starts_before_its_first_replay(city_space, tmp_path):
    city = tmp_path / "city.yaml"
    city.write_text("name: Boston\ncode: bos\ntimezone: America/New_York\nplaces: none\ncatalogue: catalogue.yaml\n",
                    encoding="utf-8")
    assert not (tmp_path / "catalogue.yaml").exists()
    async with four_services(city_space, city_path=city) as apps:
        for name, app in apps.items():
            async with client_for(app) as client:
                response = await client.get("/healthz")
                assert response.status_code == 200, (name, response.text)
