"""One deadline policy gives the same report-back deadline everywhere (#27): intake's answer at
receipt, routing's dispatch deadlines, followup's clock and the breach metrics counts. The
clocks here cross Spring Festival 2026 (holiday 15-23 February, working Saturdays 14 and 28
February in data/calendar/cn.yaml): 7 and 15 calendar days ignore it, and a policy in working
days, the unit a city whose rule says 工作日 would choose, is moved by it in every service alike."""

import json
from datetime import datetime, timedelta
from importlib import resources

import pytest
import yaml

from hotline.business_calendar import default_calendar
from hotline.catalogue import default_catalogue
from hotline.contracts import DeadlineBreached, TicketDispatched, TicketReceived
from hotline.deadlines import ClockKind, DeadlinePolicy, default_policy, report_back_due
from hotline.followup.deadlines.domain import clock_marks, live_clocks, mark_messages
from hotline.followup.tickets.domain import FollowupTicket
from hotline.gazetteer import beijing
from hotline.ingest.admission import IntakePolicy, normalize
from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import fold, held_summary
from hotline.routing.domain import decide, dispatch_events

RECEIVED = datetime.fromisoformat("2026-02-13T10:00:00+08:00")  # the Friday before Spring Festival
GENERAL = "良乡镇西街小区门口垃圾堆了三天没人清运"
COMPLEX = "良乡镇西街小区的产权纠纷多年未解决，涉及多个部门"


def working_days_policy() -> DeadlinePolicy:
    """The shipped policy with report-back in working days, as a city whose rule says 工作日 has it."""
    data = json.loads(default_policy().model_dump_json())
    data["clocks"]["report_back"].update(general={"working_days": 7}, complex={"working_days": 15})
    return DeadlinePolicy.model_validate(data)


def received(content: str, deadlines: DeadlinePolicy | None = None) -> TicketReceived:
    payload = json.dumps({"channel": "phone", "source_id": f"s-{len(content)}", "received_at": RECEIVED.isoformat(),
                          "content": content, "caller": {"phone": "13800000000"}, "address": "良乡镇西街小区",
                          "district": "房山区"}, ensure_ascii=False).encode()
    ticket = normalize(payload, now=RECEIVED, gazetteer=beijing(), policy=IntakePolicy(deadlines=deadlines))
    assert isinstance(ticket, TicketReceived), ticket
    return ticket


def dispatched(ticket: TicketReceived, policy: DeadlinePolicy | None = None) -> TicketDispatched:
    return dispatch_events(ticket, decide(ticket, beijing(), default_catalogue()), policy=policy)[0]


def held_by_followup(event: TicketDispatched, *, says: bool = True) -> FollowupTicket:
    """The ticket as followup keeps it from the dispatch (tickets/store.py `apply_dispatches`);
    `says=False` is an older record that carries no deadline."""
    return FollowupTicket(
        ticket_id=event.ticket_id, unit_code=event.unit_code, first_dispatched_at=event.dispatched_at,
        dispatched_at=event.dispatched_at, attempt=event.attempt, urgency=event.urgency,
        district_code=event.district_code, response_due_at=event.response_due_at if says else None,
        report_back_due_at=event.report_back_due_at if says else None)


def report_back_clock(ticket: FollowupTicket, policy: DeadlinePolicy):
    return next(c for c in live_clocks(ticket, policy, default_calendar()) if c.kind is ClockKind.REPORT_BACK)


@pytest.mark.parametrize(("content", "urgency", "expected"), [
    (GENERAL, "general", "2026-02-20T10:00:00+08:00"),  # 7 days: through the holiday
    (COMPLEX, "complex", "2026-02-28T10:00:00+08:00"),  # 15 days
])
def test_the_shipped_policy_gives_one_report_back_deadline_everywhere(content, urgency, expected):
    due = datetime.fromisoformat(expected)
    assert report_back_due(urgency, RECEIVED) == due
    ticket = received(content)
    assert ticket.urgency == urgency
    assert ticket.report_back_due_at == due  # intake's answer
    event = dispatched(ticket)
    assert event.dispatched_at == RECEIVED  # the first dispatch is at receipt ...
    assert event.report_back_due_at == due  # ... so its clock is intake's answer
    assert {d.clock: d.due_at for d in event.deadlines}["report_back"] == due
    for says in (True, False):  # followup: the event's value, or for an older record the same rule
        clock = report_back_clock(held_by_followup(event, says=says), default_policy())
        assert (clock.started_at, clock.due_at) == (RECEIVED, due)


def test_metrics_counts_followups_breach_at_the_policys_deadline():
    event = dispatched(received(GENERAL))
    ticket = held_by_followup(event)
    clock = report_back_clock(ticket, default_policy())
    breach = next(m for m in clock_marks(clock, default_policy()) if m.label == "breach")
    assert breach.at == report_back_due("general", RECEIVED)
    [(_, breached, _)] = mark_messages(ticket, clock, breach)
    assert isinstance(breached, DeadlineBreached) and breached.occurred_at == breach.at
    facts = fold([event, breached], response_due=response_due)
    assert held_summary(facts[event.ticket_id])["breaches"] == 1
    assert held_summary(fold([event], response_due=response_due)[event.ticket_id])["breaches"] == 0


def test_a_working_days_policy_is_moved_by_the_holiday_calendar_in_every_service_alike():
    policy = working_days_policy()
    # 7 working days from Friday 13 February: 14 (a working Saturday), 24, 25, 26, 27, 28 (a
    # working Saturday) and 2 March; the holiday in between does not count.
    due = datetime.fromisoformat("2026-03-02T10:00:00+08:00")
    assert report_back_due("general", RECEIVED, policy=policy) == due
    ticket = received(GENERAL, deadlines=policy)
    assert ticket.report_back_due_at == due
    event = dispatched(ticket, policy)
    assert event.report_back_due_at == due
    for says in (True, False):
        assert report_back_clock(held_by_followup(event, says=says), policy).due_at == due


def test_a_redispatch_restarts_the_holders_clock_and_intakes_answer_stays_the_estimate():
    ticket = received(GENERAL)
    later = RECEIVED + timedelta(hours=1, minutes=30)
    again = dispatch_events(ticket, decide(ticket, beijing(), default_catalogue()), attempt=2, at=later)[0]
    assert again.report_back_due_at == report_back_due("general", later) == later + timedelta(days=7)
    assert report_back_clock(held_by_followup(again), default_policy()).due_at == again.report_back_due_at
    assert ticket.report_back_due_at == RECEIVED + timedelta(days=7)


def test_the_shipped_file_states_calendar_days_and_its_sources():
    text = (resources.files("hotline") / "data" / "policies" / "deadlines.yaml").read_text("utf-8")
    spans = yaml.safe_load(text)["clocks"]["report_back"]
    assert spans["general"] == {"days": 7} and spans["complex"] == {"days": 15}
    for source in ("接诉即办工作条例", "bjnews.com.cn", "7天", "15天", "工作日"):
        assert source in text
