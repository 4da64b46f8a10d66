"""Returns (退单) and whistle summons (吹哨报到): pure decisions."""

from datetime import UTC, datetime, timedelta

import pytest

from hotline.catalogue import default_catalogue
from hotline.contracts import Caller, Channel, Location, TicketDispatched, TicketReceived
from hotline.contracts.routing import (
    CommandRefused,
    DepartmentsSummoned,
    ReturnTicket,
    SummonDepartments,
    TicketEscalated,
    TicketReturned,
)
from hotline.gazetteer import beijing
from hotline.routing.domain import RoutingState, decide, handle_return, handle_summon

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=2)


def state(category="sanitation", unit_code="110111008") -> RoutingState:
    ticket = TicketReceived(
        event_id="e", ticket_id="TK1", occurred_at=T0, channel=Channel.PHONE, source_id="s",
        received_at=T0, content="垃圾没人清运", caller=Caller(phone="13800000000"),
        location=Location(address="良乡", district_code="110111", unit_code=unit_code),
        category=category,
    )
    return RoutingState(ticket, decide(ticket, beijing(), default_catalogue()), 1, T0)


def ret(unit="110111008", minutes=30, suggested=None, cid="c1") -> ReturnTicket:
    return ReturnTicket(command_id=cid, ticket_id="TK1", unit_code=unit, reason_code="belongs_to_unit",
                        suggested_unit=suggested, returned_at=T0 + timedelta(minutes=minutes))


def apply(s, command):
    return handle_return(s, command, window=WINDOW, gazetteer=beijing(), catalogue=default_catalogue())


def test_a_return_by_the_lead_in_time_is_redispatched_elsewhere():
    new, events = apply(state(), ret())
    kinds = [type(e) for e in events]
    assert kinds[:2] == [TicketReturned, TicketDispatched]
    dispatched = events[1]
    assert dispatched.attempt == 2 and dispatched.unit_code == "110111"  # the district takes it
    assert dispatched.dispatched_at == T0 + timedelta(minutes=30)
    assert new.returned_by == {"110111008"} and new.returns == 1


def test_the_suggested_unit_takes_it_when_it_has_a_queue():
    new, events = apply(state(), ret(suggested="110111001"))
    assert new.dispatch.lead.unit_code == "110111001"
    assert events[1].rule_id == "suggested-by:110111008"


def test_an_unknown_suggested_unit_falls_back_to_the_catalogue():
    new, _ = apply(state(), ret(suggested="nowhere"))
    assert new.dispatch.lead.unit_code == "110111"


def test_the_second_return_escalates_to_the_district_coordinator():
    first, _ = apply(state(), ret(suggested="110111001"))
    second, events = apply(first, ret(unit="110111001", minutes=60, cid="c2"))
    assert [type(e) for e in events][:3] == [TicketReturned, TicketEscalated, TicketDispatched]
    assert second.escalated and second.dispatch.lead.unit_code == "110111"
    assert events[2].reason == "escalation" and events[2].attempt == 3
    _, refused = apply(second, ret(unit="110111", minutes=70, cid="c3"))
    assert isinstance(refused[0], CommandRefused) and refused[0].code == "escalated"


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (ret(minutes=121), "window_passed"),
        (ret(unit="110111001"), "not_holder"),
    ],
)
def test_refusals(command, code):
    s = state()
    new, events = apply(s, command)
    assert new is s
    assert [(type(e), e.code) for e in events] == [(CommandRefused, code)]


def test_a_co_handler_cannot_return_the_ticket():
    s = state(category="water_supply")  # e-water leads, the town co-handles
    _, events = apply(s, ret(unit="110111008"))
    assert events[0].code == "co_handler"


def test_a_return_for_an_unknown_ticket_is_refused():
    _, events = apply(None, ret())
    assert events[0].code == "unknown_ticket"


def summon(unit="110111008", departments=("m-housing", "e-gas")) -> SummonDepartments:
    return SummonDepartments(command_id="w1", ticket_id="TK1", unit_code=unit,
                             departments=list(departments), summoned_at=T0 + timedelta(hours=1))


def test_a_town_summons_departments_with_a_30_minute_deadline():
    events = handle_summon(state(), summon(), gazetteer=beijing(), catalogue=default_catalogue())
    summoned, *copies = events
    assert isinstance(summoned, DepartmentsSummoned)
    assert summoned.report_on_site_due_at == T0 + timedelta(hours=1, minutes=30)
    assert [(c.unit_code, c.role, c.on_site_due_at) for c in copies] == [
        ("m-housing", "summoned", summoned.report_on_site_due_at),
        ("e-gas", "summoned", summoned.report_on_site_due_at),
    ]
    assert all(c.caller_phone is None for c in copies)


@pytest.mark.parametrize(
    ("s", "command", "code"),
    [
        (state(), summon(departments=("m-nowhere",)), "unknown_unit"),
        (state(), summon(unit="110111001"), "not_holder"),
        (state(category="education"), summon(unit="m-education"), "not_street_town"),
        (None, summon(), "unknown_ticket"),
    ],
)
def test_summon_refusals(s, command, code):
    events = handle_summon(s, command, gazetteer=beijing(), catalogue=default_catalogue())
    assert [(type(e), e.code) for e in events] == [(CommandRefused, code)]
