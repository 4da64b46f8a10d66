from datetime import UTC, datetime

import pytest

from hotline.catalogue import default_catalogue
from hotline.contracts import Caller, Channel, Location, TicketReceived
from hotline.gazetteer import beijing
from hotline.routing.domain import DispatchReason, decide, dispatch_events

RECEIVED = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def ticket(unit_code=None, district_code=None, category="roads_traffic", anonymous=False) -> TicketReceived:
    return TicketReceived(
        event_id="e1", ticket_id="TK1", occurred_at=RECEIVED, channel=Channel.PHONE,
        source_id="s1", received_at=RECEIVED, content="路灯不亮",
        caller=Caller(phone="13912345678", name="李女士"),
        location=Location(address="某处", district_code=district_code, unit_code=unit_code),
        category=category, anonymous=anonymous,
    )


def route(t: TicketReceived, **kw):
    return decide(t, beijing(), default_catalogue(), **kw)


@pytest.mark.parametrize(
    ("unit_code", "district_code", "expected_unit", "reason"),
    [
        ("110111008", "110111", "110111008", DispatchReason.STREET_TOWN),
        (None, "110105", "110105", DispatchReason.DISTRICT_FALLBACK),
        ("999999999", "110105", "110105", DispatchReason.DISTRICT_FALLBACK),
        (None, None, "triage", DispatchReason.TRIAGE),
    ],
)
def test_a_local_matter_goes_to_the_street_else_the_district_else_triage(
    unit_code, district_code, expected_unit, reason
):
    dispatch = route(ticket(unit_code, district_code))
    assert (dispatch.lead.unit_code, dispatch.reason) == (expected_unit, reason)


def test_a_utility_company_leads_and_the_street_co_handles():
    dispatch = route(ticket("110111008", "110111", category="water_supply"))
    assert (dispatch.lead.unit_code, dispatch.reason) == ("e-water", DispatchReason.ENTERPRISE)
    assert [(a.unit_code, a.office) for a in dispatch.co_handlers] == [("110111008", "urban_management")]
    assert dispatch.rule_id == "utility-water"
    assert dispatch.catalogue_version == default_catalogue().version


def test_a_unit_that_returned_the_ticket_is_passed_over():
    dispatch = route(ticket("110111008", "110111", category="water_supply"), skip=frozenset({"e-water"}))
    assert dispatch.lead.unit_code != "e-water"


def test_events_are_deterministic_and_each_assignee_gets_a_queue_copy():
    t = ticket("110111008", "110111", category="water_supply")
    first = dispatch_events(t, route(t))
    assert first == dispatch_events(t, route(t))
    dispatched, assignments = first
    assert dispatched.unit_name == "北京市自来水集团"
    assert dispatched.dispatched_at == RECEIVED
    assert [(a.unit_code, a.role) for a in assignments] == [("e-water", "lead"), ("110111008", "co_handler")]
    assert assignments[0].caller_phone == "13912345678"
    assert assignments[0].caller_phone_masked == "139****5678"
    assert "13912345678" not in dispatched.model_dump_json()


def test_an_anonymous_callers_number_does_not_reach_the_unit():
    t = ticket("110111008", "110111", anonymous=True)
    _, assignments = dispatch_events(t, route(t))
    assert {a.caller_phone for a in assignments} == {None}
