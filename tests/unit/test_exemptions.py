"""Exemptions (核减 / 申诉): the reason codes as data, followup's pure decisions, and what metrics
makes of them (an approved ticket leaves the holder's month; any order of events, same figures)."""

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import (
    CallbackResult,
    ContactKind,
    ContactRecorded,
    DecideExemption,
    ExemptionDecided,
    ExemptionRequested,
    RequestExemption,
    Satisfaction,
    TicketDispatched,
)
from hotline.domain_errors import Closed, Conflict, Invalid, NotFound, NotYours
from hotline.exemptions import default_exemption_policy
from hotline.followup.exemptions.domain import (
    Exemption,
    ExemptionTicket,
    decide_exemption,
    repeated_decision,
    repeated_request,
    request_exemption,
)
from hotline.followup.tickets.domain import KeyReused
from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import fact_update, fold, held_summary
from hotline.metrics.figures import project_facts

NOW = datetime.now(UTC)
TOWN, OTHER = "110111008", "110111001"
POLICY = default_exemption_policy()
TICKET = ExemptionTicket("TK1", TOWN, "open", NOW - timedelta(days=2))


def ask(**overrides) -> RequestExemption:
    fields = {"unit_code": TOWN, "reason_code": "unreasonable_demand", "note": "诉求人要求政府承担私人装修费用",
              "requested_at": NOW - timedelta(hours=1), **overrides}
    return RequestExemption(**fields)


def pending(command: RequestExemption, **overrides) -> ExemptionTicket:
    recorded = Exemption(command.unit_code, command.reason_code, command.note, command.requested_at, **overrides)
    return replace(TICKET, exemptions={command.unit_code: recorded})


def test_the_reason_codes_are_data_with_labels_and_sources():
    assert {"unreasonable_demand", "outside_duties", "duplicate", "citizen_unreachable"} <= set(POLICY.reasons)
    assert POLICY.reasons["unreasonable_demand"].zh == "不合理诉求"
    assert all(r.zh and r.en and r.source for r in POLICY.reasons.values())
    assert POLICY.listing()["version"] == POLICY.version


def test_the_holder_asks_and_the_event_keeps_no_note():
    event = request_exemption(TICKET, ask(), ticket_id="TK1", policy=POLICY, now=NOW)
    assert (event.unit_code, event.reason_code, event.ticket_id) == (TOWN, "unreasonable_demand", "TK1")
    assert "装修" not in event.model_dump_json()
    # The id names the ticket and the unit: a redelivery is recognisable.
    assert event.event_id == request_exemption(TICKET, ask(note="另一说明"), ticket_id="TK1", policy=POLICY,
                                               now=NOW).event_id


@pytest.mark.parametrize("ticket, command, error, field", [
    (None, ask(), NotFound, "ticket_id"),
    (TICKET, ask(unit_code=OTHER), NotYours, "unit_code"),
    (replace(TICKET, state="closed"), ask(), Closed, "ticket_id"),
    (TICKET, ask(reason_code="no_such_reason"), Invalid, "reason_code"),
    (TICKET, ask(note="   "), Invalid, "note"),
    (TICKET, ask(requested_at=NOW + timedelta(hours=1)), Invalid, "requested_at"),
    (TICKET, ask(requested_at=NOW - timedelta(days=3)), Invalid, "requested_at"),
    (pending(ask()), ask(reason_code="duplicate"), Conflict, "ticket_id"),
    (pending(ask(), state="rejected", decided_at=NOW), ask(), Conflict, "ticket_id"),
])
def test_request_refusals(ticket, command, error, field):
    with pytest.raises(error) as refused:
        request_exemption(ticket, command, ticket_id="TK1", policy=POLICY, now=NOW)
    assert refused.value.field == field
    assert refused.value.status == {NotFound: 404, NotYours: 403, Closed: 409, Conflict: 409, Invalid: 422}[error]


def test_the_same_request_again_gets_the_recorded_event_and_a_reused_key_is_refused():
    first = request_exemption(TICKET, ask(), ticket_id="TK1", policy=POLICY, now=NOW)
    recorded = pending(ask())
    assert repeated_request(recorded, ask(), None) == first
    assert repeated_request(recorded, ask(note="换个说法"), None) is None  # then refused: one request per ticket
    assert repeated_request(TICKET, ask(), None) is None
    keyed = pending(ask(), request_hash="h1")
    assert repeated_request(keyed, ask(), "h1") == first
    with pytest.raises(KeyReused):
        repeated_request(keyed, ask(note="换个说法"), "h2")


def test_the_centre_approves_or_rejects_once():
    recorded = pending(ask())
    approved = decide_exemption(recorded, DecideExemption(approved=True, decided_at=NOW), ticket_id="TK1", now=NOW)
    rejected = decide_exemption(recorded, DecideExemption(approved=False, decided_at=NOW), ticket_id="TK1", now=NOW)
    assert (approved.approved, rejected.approved, approved.reason_code) == (True, False, "unreasonable_demand")
    assert approved.event_id == rejected.event_id  # one decision per request
    decided = pending(ask(), state="approved", decided_at=NOW, decision_note="属实")
    again = DecideExemption(approved=True, note="属实", decided_at=NOW)
    assert repeated_decision(decided, again, None) == decide_exemption(recorded, again, ticket_id="TK1", now=NOW)
    assert repeated_decision(decided, DecideExemption(approved=False, decided_at=NOW), None) is None
    with pytest.raises(Conflict):
        decide_exemption(decided, DecideExemption(approved=False, decided_at=NOW), ticket_id="TK1", now=NOW)


@pytest.mark.parametrize("ticket, command, error, field", [
    (None, DecideExemption(approved=True, decided_at=NOW), NotFound, "ticket_id"),
    (TICKET, DecideExemption(approved=True, decided_at=NOW), Conflict, "ticket_id"),
    (pending(ask()), DecideExemption(approved=True, unit_code=OTHER, decided_at=NOW), Conflict, "ticket_id"),
    (pending(ask()), DecideExemption(approved=True, decided_at=NOW + timedelta(hours=1)), Invalid, "decided_at"),
    (pending(ask()), DecideExemption(approved=True, decided_at=NOW - timedelta(days=1)), Invalid, "decided_at"),
])
def test_decision_refusals(ticket, command, error, field):
    with pytest.raises(error) as refused:
        decide_exemption(ticket, command, ticket_id="TK1", now=NOW)
    assert refused.value.field == field


# --- metrics

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def month_events(ticket_id: str, *, unit: str = TOWN, approved: bool | None = None, asked: bool = True) -> list:
    """A dispatched ticket, contacted late, surveyed dissatisfied; asked exempted, then decided."""
    events: list = [
        TicketDispatched(event_id=f"d-{ticket_id}", ticket_id=ticket_id, occurred_at=T0, unit_code=unit,
                         unit_name=unit, reason="street_town", dispatched_at=T0, attempt=1,
                         response_due_at=T0 + timedelta(hours=1)),
        ContactRecorded(event_id=f"c-{ticket_id}", ticket_id=ticket_id, occurred_at=T0 + timedelta(hours=3),
                        contact_id=f"c-{ticket_id}", unit_code=unit, kind=ContactKind.PHONE,
                        contacted_at=T0 + timedelta(hours=3), staff_id="S1"),
        CallbackResult(ticket_id=ticket_id, resolved=False, satisfaction=Satisfaction.DISSATISFIED,
                       surveyed_at=T0 + timedelta(days=2)),
    ]
    if asked:
        events.append(ExemptionRequested(event_id=f"r-{ticket_id}", ticket_id=ticket_id,
                                         occurred_at=T0 + timedelta(days=3), unit_code=unit,
                                         reason_code="unreasonable_demand", requested_at=T0 + timedelta(days=3)))
    if approved is not None:
        events.append(ExemptionDecided(event_id=f"x-{ticket_id}", ticket_id=ticket_id,
                                       occurred_at=T0 + timedelta(days=4), unit_code=unit,
                                       reason_code="unreasonable_demand", approved=approved,
                                       requested_at=T0 + timedelta(days=3), decided_at=T0 + timedelta(days=4)))
    return events


def test_the_fact_keeps_the_state_and_reason_never_the_note():
    facts = fold(month_events("T1", approved=True), response_due=response_due)
    assert held_summary(facts["T1"])["exemption"] == {"state": "approved", "reason_code": "unreasonable_demand"}
    asked = fold(month_events("T2"), response_due=response_due)
    assert held_summary(asked["T2"])["exemption"]["state"] == "requested"
    # No exemption, no key: a month computed before exemptions existed is unchanged.
    plain = fold(month_events("T3", asked=False), response_due=response_due)
    assert "exemption" not in held_summary(plain["T3"])


def test_an_approved_exemption_leaves_every_count_and_a_rejected_one_none():
    events = [*month_events("T1", approved=True), *month_events("T2", approved=False), *month_events("T3"),
              *month_events("T4", asked=False)]
    month = project_facts(fold(events, response_due=response_due))[f"{TOWN}:2026-11"]
    # T1 is out; T2 (rejected), T3 (pending) and T4 count as before.
    assert (month["dispatched"], month["contacted_late"], month["callbacks"], month["dissatisfied"]) == (3, 3, 3, 3)
    assert (month["exemption_requested"], month["exempted"], month["exemption_rejected"]) == (3, 1, 1)
    # What citizens asked where is unchanged by an exemption.
    assert sum(n for _, _, n in month["categories"]) == 4
    alone = project_facts(fold(month_events("T1", approved=True), response_due=response_due))[f"{TOWN}:2026-11"]
    assert (alone["dispatched"], alone["callbacks"], alone["median_first_contact_minutes"]) == (0, 0, None)


def test_another_units_exemption_does_not_touch_the_holder():
    events = [*month_events("T1", asked=False),
              ExemptionDecided(event_id="x", ticket_id="T1", occurred_at=T0, unit_code=OTHER, reason_code="duplicate",
                               approved=True, requested_at=T0, decided_at=T0)]
    month = project_facts(fold(events, response_due=response_due))[f"{TOWN}:2026-11"]
    assert (month["dispatched"], month["exempted"]) == (1, 0)


def test_any_order_and_duplicates_give_the_same_figures():
    events = month_events("T1", approved=True)
    expected = project_facts(fold(events, response_due=response_due))
    for order in itertools.permutations(events):
        assert project_facts(fold([*order, order[0]], response_due=response_due)) == expected
    # A decision seen before its request (they may sit in different batches) counts at once.
    decided_only = [e for e in events if not isinstance(e, ExemptionRequested)]
    assert project_facts(fold(decided_only, response_due=response_due))[f"{TOWN}:2026-11"]["exempted"] == 1


def test_the_fact_entries_name_the_unit():
    _, entries = fact_update(month_events("T1", approved=True)[-1], response_due=response_due)
    assert entries == {f"exemption_decisions.{TOWN}": {"approved": True, "reason_code": "unreasonable_demand"}}
