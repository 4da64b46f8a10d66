"""Settled and provisional months (data/policies/settle.yaml): the settle time by each rule, when a
month counts as settled, and a settled month's figures frozen at its settle time, the same however
the log's partitions interleave."""

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

from hotline.contracts import BUSINESS_TZ, ContactKind
from hotline.metrics.deadlines import response_due
from hotline.metrics.domain import fact_update
from hotline.metrics.figures import unit_month_figures
from hotline.metrics.projection import Projection, Stamped
from hotline.metrics.settle import (
    SettleRule,
    callbacks_complete_at,
    default_settle_policy,
    is_settled,
    record_time,
    settle_time,
)
from tests.unit.test_metrics_scenario import JINGSHAN, JINGSHAN_MARCH, Script, at, scripted_month

POLICY = default_settle_policy()
CALLBACKS = POLICY.model_copy(update={"rule": SettleRule.ALL_CALLBACKS})
MARCH_SETTLES = at(20, 0, month=4)
NEW_YORK = ZoneInfo("America/New_York")


def stamped(events) -> list[Stamped]:
    return [(record_time(e), *fact_update(e, response_due=response_due)) for e in events]


def feed(projection: Projection, events, partition: str = "0_0") -> None:
    projection.apply_records(partition, stamped(events))
    projection.recompute()


def settle(projection: Projection, now, policy=POLICY) -> set[str]:
    return projection.settle_periods(now, policy, BUSINESS_TZ, changed=set(projection.periods))


def test_the_policy_settles_a_month_on_the_20th_of_the_next_in_the_city_time_zone():
    assert POLICY.rule is SettleRule.DAY_OF_NEXT_MONTH and POLICY.day_of_next_month == 20
    assert settle_time("2026-03", POLICY, BUSINESS_TZ) == MARCH_SETTLES
    assert settle_time("2026-12", POLICY, NEW_YORK).isoformat() == "2027-01-20T00:00:00-05:00"


def test_all_callbacks_settles_when_the_last_ticket_recorded_by_then_has_its_callback():
    end = at(1, 0, month=4)
    # Called back on 2 and 5 April: settled on the 5th; one never called back holds it open.
    complete = callbacks_complete_at(end, [(at(3, 9), at(2, 9, month=4)), (at(4, 9), at(5, 9, month=4))])
    assert complete == at(5, 9, month=4)
    assert callbacks_complete_at(end, [(at(3, 9), at(2, 9, month=4)), (at(4, 9), None)]) is None
    # Every callback before the month ended: it settles as it ends.
    assert callbacks_complete_at(end, [(at(3, 9), at(20, 9))]) == end
    # A ticket recorded only after the others were complete does not reopen a moment already reached.
    assert callbacks_complete_at(end, [(at(3, 9), at(2, 9, month=4)), (at(9, 9, month=4), None)]) == at(2, 9, month=4)
    backstop = CALLBACKS.model_copy(update={"all_callbacks_latest_day": 25})
    assert settle_time("2026-03", backstop, BUSINESS_TZ, [(at(3, 9), None)]) == at(25, 0, month=4)
    assert settle_time("2026-03", CALLBACKS, BUSINESS_TZ, [(at(3, 9), None)]) is None


def test_a_month_is_settled_once_every_partition_has_passed_its_time_or_the_grace_is_over():
    grace = timedelta(hours=24)
    assert not is_settled(MARCH_SETTLES, MARCH_SETTLES - timedelta(seconds=1), passed=True, grace=grace)
    assert is_settled(MARCH_SETTLES, MARCH_SETTLES, passed=True, grace=grace)
    assert not is_settled(MARCH_SETTLES, MARCH_SETTLES + timedelta(hours=23), passed=False, grace=grace)
    assert is_settled(MARCH_SETTLES, MARCH_SETTLES + grace, passed=False, grace=grace)
    assert not is_settled(None, MARCH_SETTLES, passed=True, grace=grace)


def late_events() -> Script:
    """After March settled: J5's first contact, a callback and a new March dispatch, all recorded in April."""
    late = Script()
    late.contact("J5", JINGSHAN, at(21, 10, month=4))
    late.callback("J4", at(22, 9, month=4), False, "dissatisfied")
    late.dispatch("J9", JINGSHAN, at(31, 23))  # a March dispatch, recorded on 22 April
    late.events[-1] = late.events[-1].model_copy(update={"occurred_at": at(22, 9, month=4)})
    return late


def test_a_settled_month_stops_moving_and_a_late_event_is_kept_in_the_fact():
    projection = Projection()
    feed(projection, scripted_month().events)
    assert settle(projection, MARCH_SETTLES - timedelta(hours=1)) == {"2026-02"}
    assert projection.settle_state("2026-03", POLICY).as_fields()["settles_at"] == MARCH_SETTLES
    # Every partition read has passed the settle time (a tick alone does not say so): settled at once.
    feed(projection, Script().events + [late_events().events[0]])
    assert settle(projection, at(21, 10, month=4)) == {"2026-03"}
    state = projection.settle_state("2026-03", POLICY).as_fields()
    assert state["settled"] is True and state["settled_at"] == MARCH_SETTLES
    frozen = projection.figures(f"{JINGSHAN}:2026-03")
    assert {k: frozen[k] for k in JINGSHAN_MARCH} == JINGSHAN_MARCH
    feed(projection, late_events().events[1:])
    assert settle(projection, at(23, 0, month=4)) == set()
    assert projection.figures(f"{JINGSHAN}:2026-03") == frozen
    # The facts keep what came late; the figures as they are now would have moved.
    assert "contacts" in projection.facts["TK-J5"] and len(projection.facts["TK-J4"]["callbacks"]) == 1
    month = projection.months[f"{JINGSHAN}:2026-03"]
    assert unit_month_figures(month["tickets"], month["returned"])["dispatched"] == 6


def test_a_contact_recorded_after_a_later_record_of_its_partition_is_late_whatever_time_it_claims():
    projection = Projection()
    feed(projection, scripted_month().events)
    backdated = Script()
    backdated.contact("J5", JINGSHAN, at(8, 9), ContactKind.FACE_TO_FACE)  # claims 8 March
    feed(projection, late_events().events[:1] + backdated.events)
    settle(projection, at(21, 10, month=4))
    assert projection.figures(f"{JINGSHAN}:2026-03")["face_to_face"] == JINGSHAN_MARCH["face_to_face"]
    assert len(projection.facts["TK-J5"]["contacts"]) == 2


def test_the_settled_figures_are_the_same_however_the_partitions_interleave():
    events = scripted_month().events + late_events().events
    by_partition: dict[str, list] = {}
    for e in events:
        by_partition.setdefault(f"{hash(e.ticket_id) % 3}_0", []).append(e)
    rnd = random.Random(27)
    results = []
    for _ in range(4):
        projection = Projection()
        queues = {p: list(evs) for p, evs in by_partition.items()}
        while any(queues.values()):
            p = rnd.choice([p for p, q in queues.items() if q])
            n = rnd.randint(1, 4)
            take, queues[p] = queues[p][:n], queues[p][n:]
            projection.apply_records(p, stamped(take))
            projection.recompute()
            settle(projection, projection.business_now())
        results.append({m: projection.figures(m) for m in projection.months if m.endswith("2026-03")})
    assert all(r == results[0] for r in results)
    assert {k: results[0][f"{JINGSHAN}:2026-03"][k] for k in JINGSHAN_MARCH} == JINGSHAN_MARCH


def test_under_all_callbacks_a_month_settles_with_its_last_callback():
    s = Script()
    s.dispatch("A", JINGSHAN, at(30, 9))
    s.callback("A", at(2, 9, month=4), True, "satisfied")
    s.dispatch("B", JINGSHAN, at(31, 9))
    projection = Projection()
    feed(projection, s.events)
    assert settle(projection, at(3, 0, month=4), CALLBACKS) == set()
    assert projection.settle_state("2026-03", CALLBACKS).settle_at is None
    last = Script()
    last.callback("B", at(6, 9, month=4), False, "dissatisfied")
    feed(projection, last.events)
    # Its partition has no record past that moment yet: the grace runs.
    assert settle(projection, at(6, 9, month=4), CALLBACKS) == set()
    later = Script()
    later.dispatch("C", JINGSHAN, at(6, 10, month=4))
    feed(projection, later.events)
    assert settle(projection, at(6, 10, month=4), CALLBACKS) == {"2026-03"}
    assert projection.settle_state("2026-03", CALLBACKS).settle_at == at(6, 9, month=4)
    assert projection.figures(f"{JINGSHAN}:2026-03")["callbacks"] == 2


def test_a_quiet_partition_settles_by_the_grace_and_an_early_record_there_refreezes_the_month():
    projection = Projection()
    feed(projection, scripted_month().events, "0_0")
    quiet = Script()
    quiet.dispatch("Q1", JINGSHAN, at(31, 9))
    feed(projection, quiet.events, "1_0")
    feed(projection, late_events().events[:1], "0_0")
    # 1_0 has no record past 20 April: not before the grace is over.
    assert settle(projection, at(20, 12, month=4)) == {"2026-02"}
    assert settle(projection, at(21, 0, month=4)) == {"2026-03"}
    assert projection.figures(f"{JINGSHAN}:2026-03")["dispatched"] == 6
    # What can still move a settled month (docs/services/metrics.md): a record of the quiet
    # partition recorded before the settle time, arriving after it.
    straggler = Script()
    straggler.dispatch("Q2", JINGSHAN, at(31, 10))
    feed(projection, straggler.events, "1_0")
    assert settle(projection, at(21, 1, month=4)) == {"2026-03"}
    assert projection.figures(f"{JINGSHAN}:2026-03")["dispatched"] == 7


def test_a_settled_month_is_explained_as_it_was_frozen():
    projection = Projection()
    feed(projection, scripted_month().events)
    settle(projection, MARCH_SETTLES - timedelta(hours=1))
    feed(projection, Script().events + [late_events().events[0]])
    settle(projection, at(21, 10, month=4))
    frozen = unit_month_figures(projection.held_tickets(JINGSHAN, "2026-03") or {}, {})
    feed(projection, late_events().events[1:])
    settle(projection, at(23, 0, month=4))
    # The late events moved the live month (a sixth ticket), not the tickets the explanation reads.
    assert len(projection.months[f"{JINGSHAN}:2026-03"]["tickets"]) == 6
    assert unit_month_figures(projection.held_tickets(JINGSHAN, "2026-03") or {}, {}) == frozen
    assert frozen["dispatched"] == JINGSHAN_MARCH["dispatched"]
