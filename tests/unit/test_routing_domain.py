from datetime import UTC, datetime

import pytest

from hotline.contracts import Caller, Channel, Location, TicketReceived
from hotline.gazetteer import beijing
from hotline.routing.domain import DispatchReason, decide, dispatch_events

RECEIVED = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def ticket(unit_code=None, district_code=None) -> TicketReceived:
    return TicketReceived(
        event_id="e1", ticket_id="TK1", occurred_at=RECEIVED, channel=Channel.PHONE,
        source_id="s1", received_at=RECEIVED, content="路灯不亮",
        caller=Caller(phone="13912345678", name="李女士"),
        location=Location(address="某处", district_code=district_code, unit_code=unit_code),
    )


@pytest.mark.parametrize(
    ("unit_code", "district_code", "expected_unit", "reason"),
    [
        ("110111008", "110111", "110111008", DispatchReason.STREET_TOWN),
        (None, "110105", "110105", DispatchReason.DISTRICT_FALLBACK),
        ("999999999", "110105", "110105", DispatchReason.DISTRICT_FALLBACK),
        (None, None, "triage", DispatchReason.TRIAGE),
    ],
)
def test_owner_is_the_street_town_else_the_district_else_triage(
    unit_code, district_code, expected_unit, reason
):
    dispatch = decide(ticket(unit_code, district_code), beijing())
    assert (dispatch.unit_code, dispatch.reason) == (expected_unit, reason)


def test_events_are_deterministic_and_the_queue_copy_masks_for_display():
    t = ticket("110111008", "110111")
    first = dispatch_events(t, decide(t, beijing()))
    assert first == dispatch_events(t, decide(t, beijing()))
    dispatched, assignment = first
    assert dispatched.unit_name == "良乡地区"
    assert dispatched.dispatched_at == RECEIVED
    assert assignment.caller_phone == "13912345678"
    assert assignment.caller_phone_masked == "139****5678"
    assert "13912345678" not in dispatched.model_dump_json()
