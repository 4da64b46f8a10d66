from dataclasses import replace as _replace
from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import (
    CallbackResult,
    ContactKind,
    DecideExtension,
    Outcome,
    RecordContact,
    RequestExtension,
    ResolveTicket,
    TicketClosed,
    TicketReopened,
)
from hotline.domain_errors import DomainError
from hotline.followup.tickets.domain import (
    Extension,
    FollowupTicket,
    TicketState,
    apply_callback,
    contact_id_for,
    decide_extension,
    repeated_extension_decision,
    repeated_extension_request,
    record_contact,
    request_extension,
    resolve,
)

DISPATCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
NOW = DISPATCHED + timedelta(hours=1)
TICKET = FollowupTicket(ticket_id="TK1", unit_code="110111008", first_dispatched_at=DISPATCHED)


def command(**overrides) -> RecordContact:
    fields = dict(unit_code="110111008", kind=ContactKind.FACE_TO_FACE,
                  contacted_at=DISPATCHED + timedelta(minutes=30), staff_id="LX-017")
    fields.update(overrides)
    return RecordContact(**fields)


def test_a_valid_contact_becomes_an_event():
    event = record_contact(TICKET, command(), ticket_id="TK1", contact_id="c1", now=NOW)
    assert (event.ticket_id, event.kind, event.contact_id) == ("TK1", ContactKind.FACE_TO_FACE, "c1")


@pytest.mark.parametrize(
    ("ticket", "cmd", "status", "field"),
    [
        (None, command(), 404, "ticket_id"),
        (TICKET, command(unit_code="110111001"), 403, "unit_code"),
        (TICKET, command(contacted_at=NOW + timedelta(minutes=10)), 422, "contacted_at"),
        (TICKET, command(contacted_at=DISPATCHED - timedelta(minutes=1)), 422, "contacted_at"),
    ],
)
def test_refusals_name_status_and_field(ticket, cmd, status, field):
    with pytest.raises(DomainError) as caught:
        record_contact(ticket, cmd, ticket_id="TK1", contact_id="c1", now=NOW)
    assert (caught.value.status, caught.value.field) == (status, field)


def test_a_retried_submission_is_the_same_contact():
    assert contact_id_for("TK1", command(), None) == contact_id_for("TK1", command(), None)
    assert contact_id_for("TK1", command(), "key-1") == contact_id_for("TK1", command(notes="x"), "key-1")
    assert contact_id_for("TK1", command(), "key-1") != contact_id_for("TK1", command(), "key-2")



def resolution(**overrides) -> ResolveTicket:
    fields = dict(unit_code="110111008", outcome=Outcome.RESOLVED, resolution_code="R01",
                  resolved_at=DISPATCHED + timedelta(minutes=50))
    fields.update(overrides)
    return ResolveTicket(**fields)


CONTACTED = _replace(TICKET, contacts=(("110111008", DISPATCHED + timedelta(minutes=30)),))


def test_resolving_needs_a_contact_in_the_current_round():
    with pytest.raises(DomainError) as caught:
        resolve(TICKET, resolution(), ticket_id="TK1", now=NOW)
    assert (caught.value.status, caught.value.field) == (422, "outcome")
    event = resolve(CONTACTED, resolution(), ticket_id="TK1", now=NOW)
    assert (event.round, event.outcome) == (0, Outcome.RESOLVED)


@pytest.mark.parametrize(
    ("ticket", "command", "status", "field"),
    [
        (None, resolution(), 404, "ticket_id"),
        (CONTACTED, resolution(unit_code="110111001"), 403, "unit_code"),
        (_replace(CONTACTED, state=TicketState.CLOSED), resolution(), 409, "ticket_id"),
        (_replace(CONTACTED, state=TicketState.RESOLVED), resolution(), 409, "ticket_id"),
        (CONTACTED, resolution(resolved_at=NOW + timedelta(minutes=10)), 422, "resolved_at"),
    ],
)
def test_resolution_refusals(ticket, command, status, field):
    with pytest.raises(DomainError) as caught:
        resolve(ticket, command, ticket_id="TK1", now=NOW)
    assert (caught.value.status, caught.value.field) == (status, field)


def survey(resolved=True, satisfaction="satisfied", minutes=120) -> CallbackResult:
    return CallbackResult(ticket_id="TK1", resolved=resolved, satisfaction=satisfaction,
                          surveyed_at=DISPATCHED + timedelta(minutes=minutes))


@pytest.mark.parametrize(("result", "reason"), [
    (survey(resolved=False), "unresolved"), (survey(satisfaction="dissatisfied"), "dissatisfied")])
def test_an_unhappy_callback_reopens_for_the_same_unit(result, reason):
    ticket = _replace(CONTACTED, state=TicketState.RESOLVED)
    reopened_ticket, event = apply_callback(ticket, result, reopen_period=timedelta(hours=72))
    assert isinstance(event, TicketReopened) and event.reason == reason
    assert (reopened_ticket.state, reopened_ticket.round, event.unit_code) == (TicketState.OPEN, 1, "110111008")
    assert event.report_back_due_at == result.surveyed_at + timedelta(hours=72)
    # The same survey delivered again changes nothing.
    assert apply_callback(reopened_ticket, result, reopen_period=timedelta(hours=72)) == (reopened_ticket, None)
    # A resolution now needs a contact made after the reopen.
    with pytest.raises(DomainError):
        resolve(reopened_ticket, resolution(resolved_at=result.surveyed_at + timedelta(minutes=5)),
                ticket_id="TK1", now=result.surveyed_at + timedelta(hours=1))


@pytest.mark.parametrize("satisfaction", ["satisfied", "basically_satisfied"])
def test_a_satisfied_callback_closes_the_ticket(satisfaction):
    closed_ticket, event = apply_callback(_replace(CONTACTED, state=TicketState.RESOLVED),
                                          survey(satisfaction=satisfaction), reopen_period=timedelta(hours=72))
    assert isinstance(event, TicketClosed) and closed_ticket.state is TicketState.CLOSED
    assert apply_callback(closed_ticket, survey(minutes=500), reopen_period=timedelta(hours=72)) == (closed_ticket, None)


DUE = DISPATCHED + timedelta(days=7)
WITH_DEADLINE = _replace(TICKET, report_back_due_at=DUE)


def ask(**overrides) -> RequestExtension:
    fields = dict(unit_code="110111008", reason="需协调多个部门", requested_due_at=DUE + timedelta(days=7),
                  requested_at=DISPATCHED + timedelta(minutes=30))
    fields.update(overrides)
    return RequestExtension(**fields)


def test_an_extension_is_asked_then_decided_by_the_centre():
    asked = request_extension(WITH_DEADLINE, ask(), ticket_id="TK1", now=NOW)
    assert (asked.current_due_at, asked.requested_due_at) == (DUE, DUE + timedelta(days=7))
    pending = _replace(WITH_DEADLINE, extension=Extension("requested", asked.occurred_at, asked.requested_due_at))
    granted = decide_extension(pending, DecideExtension(approved=True, decided_at=NOW), ticket_id="TK1")
    denied = decide_extension(pending, DecideExtension(approved=False, decided_at=NOW), ticket_id="TK1")
    assert (granted.report_back_due_at, denied.report_back_due_at) == (DUE + timedelta(days=7), DUE)
    with pytest.raises(DomainError) as twice:
        request_extension(pending, ask(), ticket_id="TK1", now=NOW)
    assert twice.value.status == 409
    with pytest.raises(DomainError):
        decide_extension(WITH_DEADLINE, DecideExtension(approved=True, decided_at=NOW), ticket_id="TK1")


def test_the_same_extension_request_or_decision_again_gets_the_recorded_event_back():
    asked = request_extension(WITH_DEADLINE, ask(), ticket_id="TK1", now=NOW)
    pending = _replace(WITH_DEADLINE, extension=Extension("requested", asked.occurred_at, asked.requested_due_at,
                                                          current_due_at=asked.current_due_at))
    assert repeated_extension_request(pending, ask()) == asked
    # A different request in the same round is still refused, as is one from another unit.
    assert repeated_extension_request(pending, ask(requested_due_at=DUE + timedelta(days=3))) is None
    assert repeated_extension_request(pending, ask(unit_code="110111001")) is None
    assert repeated_extension_request(WITH_DEADLINE, ask()) is None
    granted = decide_extension(pending, DecideExtension(approved=True, decided_at=NOW), ticket_id="TK1")
    decided = _replace(pending, report_back_due_at=granted.report_back_due_at,
                       extension=Extension("approved", asked.occurred_at, asked.requested_due_at, decided_at=NOW,
                                           current_due_at=asked.current_due_at))
    assert repeated_extension_decision(decided, DecideExtension(approved=True, decided_at=NOW)) == granted
    # After the deadline moved, the repeated request still names the deadline it meant to move.
    assert repeated_extension_request(decided, ask()) == asked
    assert repeated_extension_decision(decided, DecideExtension(approved=False, decided_at=NOW)) is None
    assert repeated_extension_decision(pending, DecideExtension(approved=True, decided_at=NOW)) is None


@pytest.mark.parametrize(
    ("ticket", "command", "status", "field"),
    [
        (WITH_DEADLINE, ask(requested_at=DUE + timedelta(minutes=1)), 409, "requested_at"),
        (WITH_DEADLINE, ask(requested_due_at=DUE - timedelta(hours=1)), 422, "requested_due_at"),
        (WITH_DEADLINE, ask(unit_code="110111001"), 403, "unit_code"),
        (TICKET, ask(), 409, "ticket_id"),
    ],
)
def test_extension_refusals(ticket, command, status, field):
    with pytest.raises(DomainError) as caught:
        request_extension(ticket, command, ticket_id="TK1", now=DUE + timedelta(hours=1))
    assert (caught.value.status, caught.value.field) == (status, field)


def test_worklist_views():
    from hotline.followup.tickets.domain import WorklistView, select_worklist

    tickets = [
        {"_id": "late", "state": "open", "report_back_due_at": NOW - timedelta(hours=1)},
        {"_id": "soon", "state": "open", "report_back_due_at": NOW + timedelta(hours=3)},
        {"_id": "later", "state": "open", "report_back_due_at": NOW + timedelta(days=5)},
        {"_id": "resolved", "state": "resolved", "report_back_due_at": NOW - timedelta(hours=2)},
        {"_id": "undated", "state": "open"},
    ]

    def ids(view):
        return [t["_id"] for t in select_worklist(tickets, view, now=NOW, due_soon=timedelta(hours=24))]

    assert ids(WorklistView.OPEN) == ["resolved", "late", "soon", "later", "undated"]
    assert ids(WorklistView.OVERDUE) == ["late"]
    assert ids(WorklistView.DUE_SOON) == ["soon"]
