"""The rebuild benchmark's copies of a run's records: each copy a consistent history of other
tickets, the run itself unchanged."""

import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def about_other_tickets(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    from common import about_other_tickets

    return about_other_tickets


def test_a_copy_maps_each_ticket_id_the_same_way_and_leaves_the_rest(about_other_tickets):
    record = (b'{"ticket_id":"TKB6AB07E0E1B28819","repeat_of":"TK00000000000000FF",'
              b'"content":"TK","source_id":"bench-1"}')
    assert about_other_tickets(record, 0) == record
    first, second = about_other_tickets(record, 1), about_other_tickets(record, 2)
    ids = re.findall(rb"TK[0-9A-F]{16}", first)
    assert len(ids) == 2 and not set(ids) & {b"TKB6AB07E0E1B28819", b"TK00000000000000FF"}
    assert about_other_tickets(b"TKB6AB07E0E1B28819", 1) == ids[0]  # the same id, the same way
    assert first.replace(ids[0], b"").replace(ids[1], b"") == \
        record.replace(b"TKB6AB07E0E1B28819", b"").replace(b"TK00000000000000FF", b"")
    assert set(re.findall(rb"TK[0-9A-F]{16}", second)).isdisjoint(ids)  # copies never share tickets
