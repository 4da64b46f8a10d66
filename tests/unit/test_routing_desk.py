"""The hotline centre's desk, pure: its dispatch (派单, 改派), return review (退单审核) and category
correction, and whether a closed ticket moves."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hotline.catalogue import default_catalogue
from hotline.contracts import Caller, Channel, Location, QueueAssignment, TicketDispatched, TicketReceived
from hotline.contracts.routing import (
    CategoryCorrected,
    CommandRefused,
    CorrectCategory,
    DispatchTicket,
    ReturnRequested,
    ReturnReviewed,
    ReturnTicket,
    ReviewReturn,
    TicketRedispatched,
    TicketReturned,
)
from hotline.deadlines import ClockKind, default_policy
from hotline.gazetteer import beijing
from hotline.routing.desk import handle_correction, handle_dispatch, handle_review
from hotline.routing.domain import RoutingState, decide, handle_return
from hotline.taxonomy import default_taxonomy

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
REF = {"gazetteer": beijing(), "catalogue": default_catalogue()}


def state(*, triage=False, category="sanitation", closed=False) -> RoutingState:
    ticket = TicketReceived(
        event_id="e", ticket_id="TK1", occurred_at=T0, channel=Channel.PHONE, source_id="s",
        received_at=T0, content="垃圾没人清运", caller=Caller(phone="13800000000"),
        location=Location(address="良乡", district_code="110111", unit_code="110111008"),
        category=category, urgency="general", needs_triage=triage,
    )
    return RoutingState(ticket, decide(ticket, **REF), 1, T0, closed=closed)


def dispatch(lead="110111001", co=(), cid="d1", minutes=30, reason="wrong_unit") -> DispatchTicket:
    return DispatchTicket(command_id=cid, ticket_id="TK1", unit_code="centre", lead_unit=lead, co_handlers=list(co),
                          reason_code=reason, note="改派", dispatched_at=T0 + timedelta(minutes=minutes))


def ret(minutes=30, unit="110111008") -> ReturnTicket:
    return ReturnTicket(command_id="r1", ticket_id="TK1", unit_code=unit, reason_code="not_our_jurisdiction",
                        returned_at=T0 + timedelta(minutes=minutes))


def review(approved: bool, minutes=300, cid="v1") -> ReviewReturn:
    return ReviewReturn(command_id=cid, ticket_id="TK1", unit_code="centre", approved=approved, note="审核",
                        reviewed_at=T0 + timedelta(minutes=minutes))


def correct(category="education", urgency=None, cid="k1", minutes=60) -> CorrectCategory:
    return CorrectCategory(command_id=cid, ticket_id="TK1", unit_code="centre", category=category, urgency=urgency,
                           corrected_at=T0 + timedelta(minutes=minutes))


def requested(s: RoutingState) -> RoutingState:
    new, events = handle_return(s, ret(), window=timedelta(hours=2), **REF, review=True)
    assert [type(e) for e in events] == [ReturnRequested] and new.pending_return is not None
    return new


def codes(events) -> list[str]:
    return [e.code for e in events if isinstance(e, CommandRefused)]


def test_the_centre_sends_a_triage_ticket_to_a_street_as_a_new_attempt_with_full_periods():
    s = state(triage=True)
    assert s.dispatch.lead.unit_code == "triage"
    new, events = handle_dispatch(s, dispatch(lead="110111008", co=["m-housing"], reason="triage_sorted"), **REF)
    redispatched, dispatched, *copies = events
    assert isinstance(redispatched, TicketRedispatched) and redispatched.from_unit_code == "triage"
    assert (redispatched.unit_code, redispatched.co_handlers, redispatched.dispatched_by) == (
        "110111008", ["m-housing"], "centre")
    assert isinstance(dispatched, TicketDispatched)
    assert (dispatched.attempt, dispatched.reason, dispatched.rule_id) == (2, "centre", "centre:triage_sorted")
    at = T0 + timedelta(minutes=30)
    assert dispatched.dispatched_at == at
    assert dispatched.report_back_due_at == default_policy().dispatch_deadlines(
        urgency="general", dispatched_at=at)[ClockKind.REPORT_BACK]
    assert [(c.unit_code, c.role, c.attempt) for c in copies if isinstance(c, QueueAssignment)] == [
        ("110111008", "lead", 2), ("m-housing", "co_handler", 2)]
    assert (new.attempt, new.dispatch.lead.unit_code, new.returns, new.returned_by) == (2, "110111008", 0, frozenset())


@pytest.mark.parametrize(("command", "code"), [
    (dispatch(lead="110111008"), "same_holder"),  # the street already holds it, without co-handlers
    (dispatch(lead="triage"), "not_a_unit"),
    (dispatch(lead="nowhere"), "not_a_unit"),
    (dispatch(co=["nowhere"]), "not_a_unit"),
])
def test_dispatch_refusals(command, code):
    s = state()
    new, events = handle_dispatch(s, command, **REF)
    assert new is s and codes(events) == [code]


def test_a_closed_or_unknown_ticket_is_not_dispatched():
    assert codes(handle_dispatch(state(closed=True), dispatch(), **REF)[1]) == ["closed"]
    assert codes(handle_dispatch(None, dispatch(), **REF)[1]) == ["unknown_ticket"]


def test_another_co_handler_set_is_not_the_same_holder():
    _, events = handle_dispatch(state(), dispatch(lead="110111008", co=["m-housing"]), **REF)
    assert isinstance(events[0], TicketRedispatched)


def test_with_review_a_return_waits_and_a_second_one_is_refused():
    waiting = requested(state())
    assert waiting.attempt == 1 and waiting.dispatch.lead.unit_code == "110111008"
    _, again = handle_return(waiting, ret(minutes=40), window=timedelta(hours=2), **REF, review=True)
    assert codes(again) == ["return_pending"]


def test_the_triage_desks_hand_off_does_not_wait_for_review():
    s = state(triage=True)
    new, events = handle_return(s, ret(unit="triage"), window=timedelta(hours=2), **REF, review=True)
    assert isinstance(events[0], TicketReturned) and new.attempt == 2 and new.pending_return is None


def test_an_approved_return_is_carried_out_at_the_review_time():
    new, events = handle_review(requested(state()), review(True, minutes=300), **REF)
    assert [type(e) for e in events][:3] == [ReturnReviewed, TicketReturned, TicketDispatched]
    assert events[0].approved and events[0].unit_code == "110111008" and events[0].reviewed_by == "centre"
    # The window was judged at the request's time (30 min); the re-dispatch happens at the review's.
    assert events[2].dispatched_at == T0 + timedelta(minutes=300) and events[2].attempt == 2
    assert new.returns == 1 and new.pending_return is None and "110111008" in new.returned_by


def test_a_rejected_return_leaves_the_ticket_and_its_clocks_with_the_unit():
    waiting = requested(state())
    new, events = handle_review(waiting, review(False), **REF)
    assert [type(e) for e in events] == [ReturnReviewed] and not events[0].approved
    assert new.pending_return is None
    assert (new.attempt, new.dispatched_at, new.dispatch, new.returns) == (1, T0, waiting.dispatch, 0)


def test_a_review_without_a_waiting_return_is_refused():
    assert codes(handle_review(state(), review(True), **REF)[1]) == ["no_pending_return"]
    assert codes(handle_review(None, review(True), **REF)[1]) == ["unknown_ticket"]
    # A re-dispatch by the centre clears the waiting return.
    moved, _ = handle_dispatch(requested(state()), dispatch(), **REF)
    assert moved.pending_return is None
    assert codes(handle_review(moved, review(False), **REF)[1]) == ["no_pending_return"]


def test_an_approval_of_a_closed_tickets_return_is_refused():
    closed = replace(requested(state()), closed=True)
    assert codes(handle_review(closed, review(True), **REF)[1]) == ["closed"]


def apply_correction(s, command):
    return handle_correction(s, command, **REF, taxonomy=default_taxonomy())


def test_a_correction_that_names_another_unit_redispatches():
    new, events = apply_correction(state(), correct("education", urgency="complex"))
    corrected, dispatched, *_ = events
    assert isinstance(corrected, CategoryCorrected)
    assert (corrected.from_category, corrected.category, corrected.from_urgency, corrected.urgency) == (
        "sanitation", "education", "general", "complex")
    assert corrected.redispatched and corrected.attempt == 2 and corrected.corrected_by == "centre"
    assert (dispatched.unit_code, dispatched.attempt, dispatched.category, dispatched.urgency) == (
        "m-education", 2, "education", "complex")
    assert new.ticket.category == "education" and new.ticket.first_level == "教育文体"


def test_a_correction_that_keeps_the_unit_only_says_so():
    s = state()
    new, events = apply_correction(s, correct("sanitation", urgency="complex"))
    assert [type(e) for e in events] == [CategoryCorrected] and not events[0].redispatched
    assert events[0].attempt == 1 and new.attempt == 1 and new.ticket.urgency == "complex"


def test_correcting_a_triage_tickets_category_clears_triage():
    new, events = apply_correction(state(triage=True), correct("sanitation"))
    assert events[0].redispatched and events[1].unit_code == "110111008" and events[1].reason == "street_town"
    assert not new.ticket.needs_triage and new.dispatch.lead.unit_code == "110111008"


def test_a_closed_tickets_correction_is_kept_but_not_redispatched():
    new, events = apply_correction(state(closed=True), correct("education"))
    assert [type(e) for e in events] == [CategoryCorrected] and not events[0].redispatched
    assert new.ticket.category == "education" and new.dispatch.lead.unit_code == "110111008"


@pytest.mark.parametrize("command", [correct("no_such_category"), correct("education", urgency="whenever")])
def test_an_unknown_category_or_urgency_class_is_refused(command):
    s = state()
    new, events = apply_correction(s, command)
    assert new is s and codes(events) == ["unknown_category"]


def test_the_same_command_gives_the_same_events():
    """Redelivery: deterministic ids, so the consumer's applied map replays the very same events."""
    s = state(triage=True)
    assert handle_dispatch(s, dispatch(), **REF)[1] == handle_dispatch(s, dispatch(), **REF)[1]
    assert apply_correction(s, correct())[1] == apply_correction(s, correct())[1]


def test_after_a_rejection_the_unit_may_ask_again_as_another_request():
    first = requested(state())
    rejected, [no] = handle_review(first, review(False), **REF)
    again = ReturnTicket(command_id="r2", ticket_id="TK1", unit_code="110111008", reason_code="wrong_address",
                         returned_at=T0 + timedelta(minutes=90))
    waiting, [asked] = handle_return(rejected, again, window=timedelta(hours=2), **REF, review=True)
    assert isinstance(asked, ReturnRequested) and waiting.pending_return == again
    _, [yes, *_] = handle_review(waiting, review(True, cid="v2"), **REF)
    assert no.event_id != yes.event_id and yes.approved
