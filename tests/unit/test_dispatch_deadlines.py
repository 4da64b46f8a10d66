"""TicketDispatched version 3 carries the deadlines the dispatch started, worked out by routing from
the one deadlines module; followup and metrics take them from the event, and work them out the same
way for an older record without them; the simulator's preview reads the same policy."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hotline.business_calendar import default_calendar
from hotline.catalogue import default_catalogue
from hotline.contracts import Caller, Channel, Location, TicketDispatched, TicketReceived
from hotline.contracts.routing import ReturnTicket
from hotline.deadlines import ClockKind, default_policy, report_back_due
from hotline.followup.deadlines.domain import live_clocks
from hotline.followup.tickets.domain import FollowupTicket
from hotline.gazetteer import beijing
from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import fact_update
from hotline.routing.domain import RoutingState, decide, dispatch_events, handle_return

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def ticket(urgency="general", report_back_due_at=T0 + timedelta(days=7)) -> TicketReceived:
    return TicketReceived(
        event_id="e", ticket_id="TK1", occurred_at=T0, channel=Channel.PHONE, source_id="s", received_at=T0,
        content="垃圾没人清运", caller=Caller(phone="13800000000"),
        location=Location(address="良乡", district_code="110111", unit_code="110111008"),
        category="sanitation", urgency=urgency, report_back_due_at=report_back_due_at,
    )


def dispatched(t: TicketReceived) -> TicketDispatched:
    return dispatch_events(t, decide(t, beijing(), default_catalogue()))[0]


def older(event: TicketDispatched, version: int = 2) -> str:
    """The event as a version-2 routing wrote it: no deadlines."""
    data = json.loads(event.model_dump_json())
    return json.dumps({k: v for k, v in data.items() if k not in {"response_due_at", "deadlines"}}
                      | {"schema_version": version})


@pytest.mark.parametrize(("urgency", "span"), [("general", timedelta(hours=24)), ("emergency", timedelta(minutes=30)),
                                               ("utilities", timedelta(hours=2)), (None, timedelta(hours=24))])
def test_the_dispatch_says_when_first_contact_and_the_report_back_are_due(urgency, span):
    event = dispatched(ticket(urgency=urgency or "general").model_copy(update={"urgency": urgency}))
    assert event.schema_version == 3
    assert event.response_due_at == T0 + span
    # Reporting back by the policy from the dispatch (until #27 it was the ticket's own deadline).
    assert [(d.clock, d.due_at) for d in event.deadlines] == [
        ("response", T0 + span), ("report_back", report_back_due(urgency, T0))]
    assert event.report_back_due_at == report_back_due(urgency, T0)
    # As the shared policy has it.
    assert default_policy().dispatch_deadlines(urgency=urgency, dispatched_at=T0) == {
        ClockKind.RESPONSE: event.response_due_at, ClockKind.REPORT_BACK: event.report_back_due_at}


@pytest.mark.parametrize("carried", [None, T0 + timedelta(hours=168), T0 + timedelta(days=30)])
def test_the_dispatchs_report_back_deadline_is_the_policys_whatever_the_ticket_carries(carried):
    event = dispatched(ticket(report_back_due_at=carried))
    report_back = next(d.due_at for d in event.deadlines if d.clock == "report_back")
    assert report_back == event.report_back_due_at == T0 + timedelta(days=7)  # 7 calendar days


def test_a_redispatch_starts_its_clocks_at_the_return():
    t = ticket()
    state = RoutingState(t, decide(t, beijing(), default_catalogue()), 1, T0)
    returned_at = T0 + timedelta(minutes=30)
    _, events = handle_return(state, ReturnTicket(
        command_id="c1", ticket_id="TK1", unit_code="110111008", reason_code="belongs_to_unit",
        returned_at=returned_at), window=timedelta(hours=2), gazetteer=beijing(), catalogue=default_catalogue())
    again = next(e for e in events if isinstance(e, TicketDispatched))
    assert again.attempt == 2 and again.response_due_at == returned_at + timedelta(hours=24)
    # The new holder's report-back clock starts at the re-dispatch too (#27: before, it kept the
    # ticket's deadline from receipt).
    assert again.report_back_due_at == returned_at + timedelta(days=7)
    assert {d.clock: d.due_at for d in again.deadlines}["report_back"] == again.report_back_due_at


def test_a_version_3_dispatch_round_trips_an_older_one_reads_without_deadlines_a_newer_one_is_refused():
    event = dispatched(ticket())
    assert TicketDispatched.model_validate_json(event.model_dump_json()) == event
    for version in (1, 2):
        old = TicketDispatched.model_validate_json(older(event, version))
        assert old.schema_version == version and old.response_due_at is None and old.deadlines == []
    with pytest.raises(ValidationError, match="unknown schema version 4"):
        TicketDispatched.model_validate({**json.loads(event.model_dump_json()), "schema_version": 4})


def test_metrics_takes_the_events_response_deadline_and_works_out_an_older_records_the_same():
    event = dispatched(ticket(urgency="emergency"))
    _, new = fact_update(event, response_due=lambda at, urgency: None)
    assert new["dispatches.1"]["response_due_at"] == T0 + timedelta(minutes=30)
    _, old = fact_update(TicketDispatched.model_validate_json(older(event)), response_due=response_due)
    assert old == new


def test_followup_runs_the_response_clock_to_the_events_deadline_and_an_older_records_by_the_policy():
    base = FollowupTicket(ticket_id="TK1", unit_code="110111008", first_dispatched_at=T0, dispatched_at=T0,
                          urgency="general", report_back_due_at=T0 + timedelta(days=7))

    def response(t: FollowupTicket):
        return next(c for c in live_clocks(t, default_policy(), default_calendar()) if c.kind is ClockKind.RESPONSE)

    assert response(base).due_at == T0 + timedelta(hours=24)  # by the policy: a dispatch that did not say
    said = FollowupTicket(**{**vars(base), "response_due_at": T0 + timedelta(hours=5)})
    assert response(said).due_at == T0 + timedelta(hours=5)
    assert response(said).clock_id == response(base).clock_id  # the same clock, due when the dispatch says


def test_the_preview_reads_the_same_policy():
    from hotline.simulator.preview import _response_due

    for urgency in ("emergency", "utilities", "general", "complex"):
        assert _response_due(T0, urgency) == dispatched(ticket(urgency=urgency)).response_due_at
