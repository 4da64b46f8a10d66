"""Metrics' pure domain: facts, summaries and figures; any order and duplicates, same projection."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.contracts import (
    BUSINESS_TZ,
    CallbackResult,
    ContactKind,
    ContactRecorded,
    DeadlineBreached,
    Location,
    Satisfaction,
    TicketDispatched,
    TicketReceived,
    TicketReopened,
)
from hotline.contracts.raw import Caller, Channel
from hotline.contracts.routing import ReturnReason, TicketReturned
from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import (
    apply_entries,
    contributions,
    fact_update,
    fold,
    held_summary,
    key,
    period_of,
    previous_period,
    stored_time,
)
from hotline.metrics.figures import (
    PARTS,
    combine,
    month_part_id,
    month_parts,
    partial_figures,
    project_facts,
    unit_month_figures,
)
from tests.unit.test_metrics_scenario import pure_projection


def test_period_is_the_month_in_beijing_time():
    # 16:30 UTC on 31 October is already 1 November in Beijing.
    assert period_of(datetime(2026, 10, 31, 16, 30, tzinfo=UTC)) == "2026-11"
    assert period_of(datetime(2026, 10, 31, 15, 59, tzinfo=UTC)) == "2026-10"
    assert (previous_period("2026-01"), previous_period("2026-11")) == ("2025-12", "2026-10")


def test_times_are_kept_as_the_store_keeps_them():
    moment = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=BUSINESS_TZ)
    assert stored_time(moment) == datetime(2026, 3, 2, 1, 0, 0, 123000, tzinfo=UTC)
    assert key("a.b$c") == "a\uff0eb\uff04c"


def _fact(**entries):
    fact: dict = {}
    apply_entries(fact, entries)
    return fact


T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def test_summary_from_a_hand_computed_fact():
    fact = _fact(**{
        "dispatches.1": {"unit_code": "A", "dispatched_at": T0, "response_due_at": T0 + timedelta(hours=24)},
        "contacts.c1": {"unit_code": "A", "kind": "phone", "contacted_at": T0 + timedelta(hours=2)},
        "contacts.c2": {"unit_code": "A", "kind": "face_to_face", "contacted_at": T0 + timedelta(hours=1)},
        "contacts.c3": {"unit_code": "B", "kind": "phone", "contacted_at": T0 + timedelta(minutes=1)},
        "breaches.x": {"unit_code": "A", "clock": "report_back", "due_at": T0, "round": 0},
        "breaches.y": {"unit_code": "A", "clock": "on_site", "due_at": T0, "round": 0},
        "callbacks.k1": {"resolved": False, "satisfaction": "dissatisfied", "surveyed_at": T0 + timedelta(days=3)},
        "callbacks.k2": {"resolved": True, "satisfaction": "satisfied", "contacted": True,
                         "surveyed_at": T0 + timedelta(days=6)},
        "reopens.1": {"unit_code": "A", "reason": "dissatisfied", "reopened_at": T0 + timedelta(days=3)},
    })
    summary = held_summary(fact)
    # Unit B's contact is not A's; A's first contact was the visit an hour in.
    assert summary["first_contact_at"] == T0 + timedelta(hours=1)
    assert (summary["response"], summary["face_to_face"]) == ("in_time", True)
    assert summary["callback"] == {"resolved": True, "satisfaction": "satisfied", "contacted": True}
    assert (summary["breaches"], summary["reopens"]) == (1, 1)


def test_response_is_late_overdue_or_pending():
    base = {"dispatches.1": {"unit_code": "A", "dispatched_at": T0, "response_due_at": T0 + timedelta(minutes=30)}}
    late = _fact(**base, **{"contacts.c": {"unit_code": "A", "kind": "phone", "contacted_at": T0 + timedelta(minutes=31)}})
    overdue = _fact(**base, **{"breaches.b": {"unit_code": "A", "clock": "response", "due_at": T0, "round": 0}})
    assert [held_summary(f)["response"] for f in (late, overdue, _fact(**base))] == ["late", "overdue", "pending"]


def test_a_returned_ticket_counts_as_a_return_for_its_first_unit():
    fact = _fact(**{
        "dispatches.1": {"unit_code": "A", "dispatched_at": T0},
        "dispatches.2": {"unit_code": "B", "dispatched_at": T0 + timedelta(hours=1)},
        "returns.1": {"unit_code": "A", "reason_code": "belongs_to_unit", "returned_at": T0},
    })
    found = contributions(fact)
    assert {m: section for m, (section, _, _) in found.items()} == {"A:2026-11": "returned", "B:2026-11": "tickets"}
    months = project_facts({"T": fact})
    assert (months["A:2026-11"]["returns"], months["A:2026-11"]["dispatched"]) == (1, 0)
    assert months["B:2026-11"]["dispatched"] == 1


def test_figures_of_an_empty_month_and_medians():
    empty = unit_month_figures({})
    assert (empty["dispatched"], empty["face_to_face_share"], empty["median_first_contact_minutes"]) == (0, None, None)
    tickets = {str(i): {"dispatched_at": T0, "first_contact_at": T0 + timedelta(minutes=m)} for i, m in enumerate([10, 40])}
    assert unit_month_figures(tickets)["median_first_contact_minutes"] == 25.0


def test_an_event_keeps_no_personal_data():
    event = TicketReceived(
        event_id="e", ticket_id="T", occurred_at=T0, channel=Channel.PHONE, source_id="s", received_at=T0,
        content="我家电话13800001234", caller=Caller(phone="13800001234", name="王先生"),
        location=Location(address="良乡镇某小区3号楼", community="云景台小区"))
    _, entries = fact_update(event, response_due=response_due)
    assert "13800001234" not in repr(entries) and "王先生" not in repr(entries) and "3号楼" not in repr(entries)


# Property tests: events whose content is a function of their identity (as deterministic
# event ids make it on the wire), in any order, with duplicates.

TICKETS = ["T0", "T1", "T2", "T3"]
UNITS = ["110101001", "110101002", "110111008", "110111105", "m-housing", "e-water", "110111"]
BASE = datetime(2026, 3, 31, 12, tzinfo=BUSINESS_TZ)  # near a month's end: periods differ
tickets, units = st.sampled_from(TICKETS), st.sampled_from(UNITS)
times = st.integers(0, 60 * 24 * 3).map(lambda m: BASE + timedelta(minutes=m))


def _dispatch(k, v):
    (t, attempt), (unit, when, urgency) = k, v
    return TicketDispatched(event_id=f"d{t}{attempt}", ticket_id=t, occurred_at=when, unit_code=unit, unit_name=unit,
                            reason="street_town", dispatched_at=when, attempt=attempt, urgency=urgency)


def _contact(k, v):
    (t, cid), (unit, when, kind) = k, v
    return ContactRecorded(event_id=f"c{t}{cid}", ticket_id=t, occurred_at=when, contact_id=cid, unit_code=unit,
                           kind=kind, contacted_at=when, staff_id="s")


def _callback(k, v):
    (t, when), (resolved, satisfaction) = k, v
    return CallbackResult(ticket_id=t, resolved=resolved, satisfaction=satisfaction, surveyed_at=when)


def _breach(k, v):
    (t, unit, clock), when = k, v
    return DeadlineBreached(event_id=f"b{t}{unit}{clock}", ticket_id=t, occurred_at=when, unit_code=unit, clock=clock,
                            mark="breach", started_at=when, due_at=when)


def _reopen(k, v):
    (t, round_), (unit, when) = k, v
    return TicketReopened(event_id=f"r{t}{round_}", ticket_id=t, occurred_at=when, unit_code=unit,
                          reason="unresolved", reopened_at=when, report_back_due_at=when, round=round_)


def _return(k, v):
    (t, attempt), (unit, when) = k, v
    return TicketReturned(event_id=f"x{t}{attempt}", ticket_id=t, occurred_at=when, unit_code=unit, attempt=attempt,
                          reason_code=ReturnReason.WRONG_ADDRESS, returns=attempt)


def _received(t, v):
    category, district, community, repeat = v
    return TicketReceived(event_id=f"v{t}", ticket_id=t, occurred_at=BASE, channel=Channel.PHONE, source_id=t,
                          received_at=BASE, content="x", caller=Caller(),
                          location=Location(district_code=district, unit_code="110111008", community=community),
                          category=category, repeat_count=int(repeat))


def _keyed(keys, values, build, max_size):
    return st.dictionaries(keys, values, max_size=max_size).map(lambda d: [build(k, v) for k, v in d.items()])


event_sets = st.tuples(
    _keyed(st.tuples(tickets, st.integers(1, 3)),
           st.tuples(units, times, st.sampled_from(["general", "emergency", "utilities"])), _dispatch, 8),
    _keyed(st.tuples(tickets, st.sampled_from(["c1", "c2", "c3"])),
           st.tuples(units, times, st.sampled_from(list(ContactKind))), _contact, 8),
    _keyed(st.tuples(tickets, times), st.tuples(st.booleans(), st.sampled_from(list(Satisfaction))), _callback, 6),
    _keyed(st.tuples(tickets, units, st.sampled_from(["response", "report_back", "on_site"])), times, _breach, 4),
    _keyed(st.tuples(tickets, st.integers(1, 2)), st.tuples(units, times), _reopen, 3),
    _keyed(st.tuples(tickets, st.integers(1, 2)), st.tuples(units, times), _return, 3),
    _keyed(tickets, st.tuples(st.sampled_from(["noise", "roads_traffic"]), st.sampled_from(["110111", None]),
                              st.sampled_from(["云景台小区", None]), st.booleans()), _received, 4),
).map(lambda groups: [e for group in groups for e in group])


@settings(max_examples=200)
@given(event_sets, st.randoms(use_true_random=False))
def test_shuffled_and_duplicated_events_give_identical_projections(events, rnd):
    again = events + [rnd.choice(events) for _ in range(len(events) // 2)] if events else []
    rnd.shuffle(again)
    assert pure_projection(again) == pure_projection(events)


@settings(max_examples=200)
@given(event_sets, st.randoms(use_true_random=False))
def test_projecting_batch_by_batch_equals_projecting_at_once(events, rnd):
    # What the store does: after each batch, re-summarise the touched tickets into their months.
    order = list(events)
    rnd.shuffle(order)
    facts: dict = {}
    months: dict = {}
    while order:
        size = rnd.randint(1, 5)
        batch, order = order[:size], order[size:]
        touched = set()
        for event in batch:
            ticket_id, entries = fact_update(event, response_due=response_due)
            apply_entries(facts.setdefault(ticket_id, {}), entries)
            touched.add(ticket_id)
        for ticket_id in touched:
            for month_id, (section, summary, meta) in contributions(facts[ticket_id]).items():
                month = months.setdefault(month_id, {**meta, "tickets": {}, "returned": {}})
                month["returned" if section == "tickets" else "tickets"].pop(ticket_id, None)
                month[section][ticket_id] = summary
    for month in months.values():
        month.update(unit_month_figures(month["tickets"], month["returned"]))
    assert months == project_facts(fold(events, response_due=response_due))


@settings(max_examples=200)
@given(event_sets, st.randoms(use_true_random=False))
def test_a_months_figures_combine_from_any_split_of_its_tickets(events, rnd):
    # A month's parts each hold some of its tickets; their partial figures add up to the figures
    # of the whole month, the median of first-contact delays included.
    for month in project_facts(fold(events, response_due=response_due)).values():
        groups: list[dict] = [{"tickets": {}, "returned": {}} for _ in range(rnd.randint(1, 4))]
        for section in ("tickets", "returned"):
            for ticket, summary in month[section].items():
                rnd.choice(groups)[section][ticket] = summary
        whole = unit_month_figures(month["tickets"], month["returned"])
        assert combine(partial_figures(g["tickets"], g["returned"]) for g in groups) == whole
        assert combine(partial_figures(**p) for p in month_parts(month).values()) == whole


def test_a_ticket_keeps_its_part_across_processes_and_parts_spread():
    # crc32, not Python's salted hash: every instance and every restart picks the same part.
    assert month_part_id("110111008:2026-03", "TK-1") == "110111008:2026-03#13"
    used = {month_part_id("U:2026-03", f"TK-{n}") for n in range(200)}
    assert used == {f"U:2026-03#{n}" for n in range(PARTS)}
