"""Table-driven: 63 realistic records (Chinese and English) and what intake makes of them."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from hotline.contracts import Channel, TicketReceived
from hotline.deadlines import report_back_due
from hotline.gazetteer import beijing
from hotline.ingest.admission import normalize
from hotline.taxonomy import default_taxonomy

TABLE = yaml.safe_load((Path(__file__).parents[1] / "data" / "intake_records.yaml").read_text("utf-8"))
RECEIVED = "2026-11-20T09:15:00+08:00"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def as_payload(record: dict) -> bytes:
    return json.dumps({"received_at": RECEIVED, **record}, ensure_ascii=False).encode()


def check(ticket: TicketReceived, expect: dict) -> None:
    """Assert a ticket matches a row's expectations (shared with the integration test)."""
    assert ticket.category == expect["category"]
    assert ticket.urgency == expect["urgency"]
    assert ticket.request_type.value == expect["request_type"]
    if "unit" in expect:
        assert ticket.location.unit_code == expect["unit"]
        assert ticket.location.district_code == expect["unit"][:6]
    if "district" in expect:
        assert ticket.location.district_code == expect["district"]
    assert ticket.location.ambiguous is expect.get("ambiguous", False)
    if expect.get("ambiguous"):
        assert ticket.location.unit_code is None
    assert ticket.answered_directly is expect.get("answered_directly", False)
    assert ticket.anonymous is expect.get("anonymous", False)
    assert ticket.needs_triage is expect.get("needs_triage", False)
    assert ticket.report_back_due_at == report_back_due(expect["urgency"], ticket.received_at)


@pytest.mark.parametrize("row", TABLE, ids=[r["record"]["source_id"] for r in TABLE])
def test_record(row):
    ticket = normalize(as_payload(row["record"]), now=NOW, gazetteer=beijing())
    assert isinstance(ticket, TicketReceived), ticket
    check(ticket, row["expect"])


def test_the_table_covers_every_channel_category_and_urgency_class():
    assert {r["record"]["channel"] for r in TABLE} == {c.value for c in Channel}
    assert {r["expect"]["category"] for r in TABLE} == set(default_taxonomy().categories)
    assert {r["expect"]["urgency"] for r in TABLE} == set(default_taxonomy().urgency_classes)
    assert any(r["expect"].get("ambiguous") for r in TABLE)
    assert len(TABLE) >= 60


def test_deadlines_follow_the_urgency_class():
    # The deadline policy's report-back periods (calendar days since #27; the taxonomy kept
    # 2/24/360/168 hours of its own until then, which these equal outside a DST change).
    received = datetime(2026, 11, 2, 9, tzinfo=UTC)
    spans = {code: report_back_due(code, received) - received for code in default_taxonomy().urgency_classes}
    assert spans == {"emergency": timedelta(hours=2), "utilities": timedelta(hours=24),
                     "complex": timedelta(days=15), "general": timedelta(days=7)}
