"""Followup's deadlines, pure: which clocks a ticket has running, which of their marks are due,
what firing a mark publishes, and which timer bucket a ticket's next mark is filed in.

Kept apart from the scheduler (`deadlines/app.py`) so that a pass is query, then this decision,
then its side effects, and each rule is tested without a store or a broker.

Clocks are not stored: they follow from the ticket. The current dispatch starts the response
clock (first contact) and the report-back clock; a reopen starts a new report-back clock for its
round; a summons starts each summoned unit's on-site clock. The first contact by the holder stops
the response clock, the round's resolution its report-back clock, the unit's on-site report its
on-site clock; an approved extension moves the report-back deadline; a closed ticket has none.
A re-dispatch replaces the previous holder's clocks (their ids carry the attempt).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hotline.business_calendar import BusinessCalendar
from hotline.contracts import (
    DeadlineBreached,
    DeadlineEscalated,
    DeadlineMarked,
    DeadlineWarned,
    SupervisionNotice,
    deterministic_event_id,
    topics,
)
from hotline.deadlines import Clock, ClockKind, DeadlinePolicy, Mark, MarkKind, live_marks, report_back_due
from hotline.followup.tickets.domain import FollowupTicket, TicketState
from hotline.runtime import telemetry


def live_clocks(ticket: FollowupTicket, policy: DeadlinePolicy, calendar: BusinessCalendar) -> list[Clock]:
    """The ticket's current clocks (running or stopped); none once it is closed."""
    if ticket.state is TicketState.CLOSED or ticket.dispatched_at is None:
        return []
    dispatched = ticket.dispatched_at
    first_contact = min(
        (at for unit, at in ticket.contacts if unit == ticket.unit_code and at >= dispatched), default=None)
    # Due when the dispatch says (v3); a dispatch that does not say, by the same policy routing used.
    response_due = ticket.response_due_at or policy.due_at(
        kind=ClockKind.RESPONSE, urgency=ticket.urgency or "general", started_at=dispatched, calendar=calendar)
    clocks = [Clock(ticket.ticket_id, ClockKind.RESPONSE, ticket.unit_code, dispatched, response_due,
                    stopped_at=first_contact, series=f"a{ticket.attempt}")]
    clocks.append(_report_back(ticket, policy, calendar))
    for unit_code, summons_id, due, reported_at in ticket.summons:
        on_site_span = policy.clocks[ClockKind.ON_SITE]
        started = ticket.summoned_at.get(summons_id) or due - timedelta(
            minutes=(on_site_span.get("any") or next(iter(on_site_span.values()))).minutes or 30)
        clocks.append(Clock(ticket.ticket_id, ClockKind.ON_SITE, unit_code, started, due,
                            stopped_at=reported_at, series=summons_id[:12]))
    return clocks


def _report_back(ticket: FollowupTicket, policy: DeadlinePolicy, calendar: BusinessCalendar) -> Clock:
    started = ticket.round_started_at if ticket.round else ticket.dispatched_at
    assert started is not None
    extension = ticket.extension
    extended = extension is not None and extension.state == "approved"
    # Due when the dispatch (or the reopen, or an approved extension) says; without it, by the
    # rule routing applies (`report_back_due`, the policy from the round's start).
    due = ticket.report_back_due_at or report_back_due(ticket.urgency, started, policy=policy, calendar=calendar)
    return Clock(
        ticket.ticket_id, ClockKind.REPORT_BACK, ticket.unit_code, started, due,
        stopped_at=ticket.resolved_at_by_round.get(ticket.round),
        extensions=1 if extended else 0,
        extended_at=(extension.decided_at or extension.requested_at) if extended and extension else None,
        series=f"a{ticket.attempt}r{ticket.round}",
    )


def supervisor_of(ticket: FollowupTicket) -> str:
    """督办 goes to the district's coordination centre; without a district, to the centre's triage."""
    return ticket.district_code or topics.TRIAGE_QUEUE_CODE


def mark_messages(
    ticket: FollowupTicket, clock: Clock, mark: Mark
) -> list[tuple[str, DeadlineMarked | SupervisionNotice, str]]:
    """What firing a mark publishes: its event on `tickets.followup`, and for an escalation a
    supervision item on the district supervisor's queue. Ids come from the mark: a replay or a
    second scheduler produces the same messages."""
    common: dict[str, Any] = dict(
        event_id=deterministic_event_id("DeadlineMarked", mark.mark_id),
        ticket_id=ticket.ticket_id, occurred_at=mark.at, unit_code=clock.unit_code,
        district_code=ticket.district_code, clock=clock.kind.value, mark=mark.label,
        started_at=clock.started_at, due_at=clock.due_at, round=ticket.round,
    )
    if mark.kind is MarkKind.WARNING:
        share = (mark.at - clock.started_at) / (clock.due_at - clock.started_at)
        return [(topics.TICKETS_FOLLOWUP, DeadlineWarned(**common, share=round(share, 6)), ticket.ticket_id)]
    if mark.kind is MarkKind.BREACH:
        return [(topics.TICKETS_FOLLOWUP, DeadlineBreached(**common), ticket.ticket_id)]
    supervisor = supervisor_of(ticket)
    level = int(mark.label.split("_")[1].split("@")[0])
    escalated = DeadlineEscalated(**common, level=level, supervisor_unit_code=supervisor)
    supervision = SupervisionNotice(
        event_id=deterministic_event_id("Supervision", mark.mark_id),
        ticket_id=ticket.ticket_id, occurred_at=mark.at, unit_code=supervisor, lead_unit_code=clock.unit_code,
        clock=clock.kind.value, level=level, due_at=clock.due_at, urgency=ticket.urgency,
    )
    return [(topics.TICKETS_FOLLOWUP, escalated, ticket.ticket_id),
            (topics.queue_topic(supervisor), supervision, ticket.ticket_id)]


def clock_marks(clock: Clock, policy: DeadlinePolicy) -> list[Mark]:
    """The clock's marks under the policy's warnings and escalation (none after it stopped)."""
    return live_marks(clock, warnings=policy.warnings, escalation=policy.escalation_policy)


def sent(ticket: FollowupTicket, mark: Mark) -> bool:
    """Whether the mark's events are confirmed on the broker."""
    return ticket.fired.get(mark.mark_id, (None, None, False))[2]


def next_mark(ticket: FollowupTicket, policy: DeadlinePolicy,
              calendar: BusinessCalendar) -> tuple[datetime, str] | None:
    """(moment, clock id) of the ticket's next unsent mark, the earliest of its live clocks'."""
    pending = [(m.at, clock.clock_id) for clock in live_clocks(ticket, policy, calendar)
               for m in clock_marks(clock, policy) if not sent(ticket, m)]
    return min(pending) if pending else None


@dataclass(frozen=True)
class Firing:
    """What a scheduler pass decides for the tickets of the due entries it read."""

    # Per ticket, every due and unsent mark, with its ticket and clock: claimed in one write.
    claims: dict[str, list[tuple[FollowupTicket, Clock, Mark]]] = field(default_factory=dict)
    # (moment, ticket id, clock id): each ticket's earliest mark still ahead, to file next.
    follow_ups: list[tuple[datetime, str, str]] = field(default_factory=list)


def plan_firing(ticket_ids: set[str], tickets: dict[str, FollowupTicket], *, now: datetime,
                policy: DeadlinePolicy, calendar: BusinessCalendar) -> Firing:
    """The whole ticket, whichever clock its entry names: every due mark fires, and the earliest
    mark still ahead is filed (a closed or unknown ticket has none)."""
    firing = Firing()
    for ticket_id in sorted(ticket_ids):
        ticket = tickets.get(ticket_id)
        if ticket is None:
            continue
        upcoming = []
        for clock in live_clocks(ticket, policy, calendar):
            marks_ = clock_marks(clock, policy)
            for mark in (m for m in marks_ if m.at <= now and not sent(ticket, m)):
                firing.claims.setdefault(ticket_id, []).append((ticket, clock, mark))
            upcoming += [(m.at, clock.clock_id) for m in marks_ if m.at > now]
        if upcoming:
            at, clock_id = min(upcoming)
            firing.follow_ups.append((at, ticket_id, clock_id))
    return firing


def span_tickets(mine: list[tuple[FollowupTicket, Clock, Mark]]) -> list[tuple[str, str | None, dict]]:
    """Per ticket: its traceparent and the span's attributes (ids and kinds, no personal data)."""
    by_ticket: dict[str, tuple[FollowupTicket, list[tuple[Clock, Mark]]]] = {}
    for ticket, clock, mark in mine:
        by_ticket.setdefault(ticket.ticket_id, (ticket, []))[1].append((clock, mark))
    return [
        (ticket_id, ticket.traceparent, {
            telemetry.UNIT_CODE: marks[0][0].unit_code,
            "hotline.deadline.marks": [m.label for _, m in marks],
            "hotline.deadline.clocks": [c.kind.value for c, _ in marks],
            "hotline.deadline.kinds": [m.kind.value for _, m in marks],
        })
        for ticket_id, (ticket, marks) in by_ticket.items()
    ]
