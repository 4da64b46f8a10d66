"""Which clocks a ticket has, derived from what followup knows, and what firing a mark publishes."""

from datetime import UTC, datetime, timedelta

from hotline.business_calendar import default_calendar
from hotline.contracts import DeadlineEscalated, DeadlineWarned, SupervisionNotice, topics
from hotline.deadlines import ClockKind, default_policy, live_marks
from hotline.followup.deadlines.domain import live_clocks, mark_messages
from hotline.followup.tickets.domain import Extension, FollowupTicket, TicketState

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
POLICY, CALENDAR = default_policy(), default_calendar()


def ticket(**kw) -> FollowupTicket:
    base = dict(ticket_id="TK1", unit_code="110111008", first_dispatched_at=T0, dispatched_at=T0,
                urgency="general", district_code="110111", report_back_due_at=T0 + timedelta(hours=100))
    return FollowupTicket(**{**base, **kw})


def by_kind(t: FollowupTicket) -> dict:
    return {c.kind: c for c in live_clocks(t, POLICY, CALENDAR)}


def test_a_fresh_dispatch_runs_a_response_and_a_report_back_clock():
    clocks = by_kind(ticket())
    assert clocks[ClockKind.RESPONSE].due_at == T0 + timedelta(hours=24)  # general: 24 h
    assert clocks[ClockKind.REPORT_BACK].due_at == T0 + timedelta(hours=100)
    assert all(c.stopped_at is None for c in clocks.values())


def test_the_holders_first_contact_stops_the_response_clock_and_another_units_does_not():
    at = T0 + timedelta(hours=3)
    assert by_kind(ticket(contacts=(("m-water", at),)))[ClockKind.RESPONSE].stopped_at is None
    later = at + timedelta(hours=1)
    assert by_kind(ticket(contacts=(("110111008", later), ("110111008", at))))[ClockKind.RESPONSE].stopped_at == at


def test_a_redispatch_gives_new_clock_ids_so_the_old_holders_marks_do_not_carry_over():
    first, second = by_kind(ticket()), by_kind(ticket(attempt=2, unit_code="110111009"))
    assert first[ClockKind.RESPONSE].clock_id != second[ClockKind.RESPONSE].clock_id
    assert first[ClockKind.REPORT_BACK].clock_id != second[ClockKind.REPORT_BACK].clock_id


def test_a_resolution_stops_its_rounds_clock_and_a_reopen_starts_the_next_round():
    resolved = by_kind(ticket(resolved_at_by_round={0: T0 + timedelta(hours=5)}))
    assert resolved[ClockKind.REPORT_BACK].stopped_at == T0 + timedelta(hours=5)
    reopened_at = T0 + timedelta(hours=10)
    reopened = by_kind(ticket(round=1, round_started_at=reopened_at, report_back_due_at=reopened_at + timedelta(hours=72),
                              resolved_at_by_round={0: T0 + timedelta(hours=5)}))
    clock = reopened[ClockKind.REPORT_BACK]
    assert (clock.started_at, clock.due_at, clock.stopped_at) == (reopened_at, reopened_at + timedelta(hours=72), None)
    assert clock.clock_id != resolved[ClockKind.REPORT_BACK].clock_id


def test_an_approved_extension_moves_the_report_back_deadline_and_a_pending_one_does_not():
    asked = Extension("requested", T0 + timedelta(hours=1), T0 + timedelta(hours=200))
    assert by_kind(ticket(extension=asked))[ClockKind.REPORT_BACK].extensions == 0
    approved = Extension("approved", asked.requested_at, asked.requested_due_at, decided_at=T0 + timedelta(hours=2))
    clock = by_kind(ticket(extension=approved, report_back_due_at=asked.requested_due_at))[ClockKind.REPORT_BACK]
    assert (clock.due_at, clock.extensions, clock.extended_at) == (asked.requested_due_at, 1, T0 + timedelta(hours=2))
    marks = live_marks(clock, warnings=POLICY.warnings, escalation=POLICY.escalation_policy)
    assert marks[0].label == "warning_50@1" and marks[0].at == T0 + timedelta(hours=100)


def test_a_closed_ticket_has_no_clocks_and_a_summons_has_its_own():
    assert live_clocks(ticket(state=TicketState.CLOSED), POLICY, CALENDAR) == []
    due = T0 + timedelta(minutes=30)
    summoned = ticket(summons=(("m-water", "e" * 32, due, None),), summoned_at={"e" * 32: T0})
    on_site = by_kind(summoned)[ClockKind.ON_SITE]
    assert (on_site.unit_code, on_site.started_at, on_site.due_at) == ("m-water", T0, due)
    arrived = ticket(summons=(("m-water", "e" * 32, due, T0 + timedelta(minutes=20)),), summoned_at={"e" * 32: T0})
    assert by_kind(arrived)[ClockKind.ON_SITE].stopped_at == T0 + timedelta(minutes=20)


def test_an_escalation_is_published_with_a_notice_on_the_district_supervisors_queue():
    t = ticket()
    clock = by_kind(t)[ClockKind.RESPONSE]
    marks = live_marks(clock, warnings=POLICY.warnings, escalation=POLICY.escalation_policy)
    warning = mark_messages(t, clock, marks[0])
    assert [(topic, type(m)) for topic, m, _ in warning] == [(topics.TICKETS_FOLLOWUP, DeadlineWarned)]
    assert warning[0][1].share == 0.5
    escalation = next(m for m in marks if m.label == "escalation_2")
    published = mark_messages(t, clock, escalation)
    assert [(topic, type(m)) for topic, m, _ in published] == [
        (topics.TICKETS_FOLLOWUP, DeadlineEscalated), (topics.queue_topic("110111"), SupervisionNotice)]
    assert published[0][1].level == published[1][1].level == 2
    # Same mark, same ids: a replay or a second scheduler publishes nothing new.
    assert [m.event_id for _, m, _ in published] == [m.event_id for _, m, _ in mark_messages(t, clock, escalation)]


def test_without_a_district_the_centres_triage_supervises():
    t = ticket(district_code=None)
    clock = by_kind(t)[ClockKind.RESPONSE]
    escalation = next(m for m in live_marks(clock, warnings=POLICY.warnings, escalation=POLICY.escalation_policy)
                      if m.label == "escalation_1")
    assert mark_messages(t, clock, escalation)[1][0] == topics.queue_topic(topics.TRIAGE_QUEUE_CODE)
