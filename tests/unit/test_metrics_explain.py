"""Every lost point explained: a hand-computed month under the shipped policy (10/50/40, 基本满意 0.9)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from hotline.metrics.domain import Summary
from hotline.metrics.explain import explain, gone_right
from hotline.ranking_policy import MinimumSample, ResponseDefinition, default_ranking_policy

DISPATCHED = datetime(2026, 3, 2, 9, tzinfo=UTC)


def summary(response: str = "in_time", callback: tuple[bool | None, bool, str] | None = None, *,
            breaches: int = 0, exemption: str | None = None, category: str = "noise") -> Summary:
    made: dict[str, Any] = {
        "dispatched_at": DISPATCHED, "response_due_at": None,
        "first_contact_at": DISPATCHED if response in ("in_time", "late") else None, "response": response,
        "face_to_face": False, "breaches": breaches, "reopens": 0, "repeat": False, "category": category,
        "district_code": "110101", "place_unit_code": None, "community": None,
        "callback": None if callback is None else
        {"contacted": callback[0], "resolved": callback[1], "satisfaction": callback[2]},
    }
    if exemption:
        made["exemption"] = {"state": exemption, "reason_code": "duplicate"}
    return made  # type: ignore[return-value]


# callback: (the citizen says contacted, resolved, satisfaction)
MONTH = {
    "A": summary("in_time", (True, True, "satisfied")),
    "B": summary("in_time", (True, True, "basically_satisfied")),
    "C": summary("overdue", (False, False, "dissatisfied"), category="roads_traffic"),
    "D": summary("late", (True, False, "satisfied")),
    "E": summary("in_time", (None, True, "satisfied"), breaches=1),
    "F": summary("in_time", (True, True, "satisfied")),
    "X": summary("overdue", (False, False, "dissatisfied"), exemption="approved"),
    "P": summary("pending"),
}
OTHERS = [90.0, 80.0, 74.0, 70.0, 60.0]


def test_callback_definition_by_hand():
    # response 4/5 (E was not asked), resolution 4/6, satisfaction 4.9/6:
    # 10 × 0.8 + 50 × 4/6 + 40 × 4.9/6 = 8 + 33.3333 + 32.6667 = 74
    found = explain(MONTH, default_ranking_policy(), OTHERS)
    assert (found["score"], found["gap"], found["rank"], found["ranked"]) == (74.0, 26.0, 3, True)
    rows = [(i["ticket_id"], i["points"], i["score_if_right"], i["rank_if_right"]) for i in found["items"]]
    # C: 10/5 + 50/6 + 40/6 = 17; D: 50/6; B: 40 × 0.1 / 6; E only breached: listed at 0
    assert rows == [("C", 17.0, 91.0, 1), ("D", 8.3333, 82.3333, 2), ("B", 0.6667, 74.6667, 3), ("E", 0.0, 74.0, 3)]
    c = found["items"][0]
    assert c["reasons"] == ["response_overdue", "callback_not_contacted", "unresolved", "dissatisfied"]
    assert c["points_by_rate"] == {"response": 2.0, "resolution": pytest.approx(8.333333),
                                   "satisfaction": pytest.approx(6.666667)}
    assert c["category"] == "roads_traffic"
    assert found["items"][3]["reasons"] == ["breached"] and found["items"][3]["points_by_rate"] == {}
    assert sum(i["points"] for i in found["items"]) == pytest.approx(100 - found["score"], abs=1e-9)


def test_contact_definition_by_hand():
    # response 4/6 (D late, C overdue, P pending is in no denominator): 6.6667 + 33.3333 + 32.6667
    found = explain(MONTH, default_ranking_policy().choosing(ResponseDefinition.CONTACT), OTHERS)
    assert found["score"] == 72.6667 and found["gap"] == 27.3333
    points = {i["ticket_id"]: i["points"] for i in found["items"]}
    # 16.66667 + 10 + 0.66667 rounded each would be 27.3334: the largest remainder (C's, then B's)
    # gives the one ten-thousandth the rounded gap has room for to C
    assert points == {"C": 16.6667, "D": 10.0, "B": 0.6666, "E": 0.0}
    assert sum(points.values()) == pytest.approx(found["gap"], abs=1e-9)


def test_exempted_and_clean_tickets_are_not_listed():
    found = explain(MONTH, default_ranking_policy(), OTHERS)
    assert {i["ticket_id"] for i in found["items"]}.isdisjoint({"A", "F", "X", "P"})


@pytest.mark.parametrize("definition", list(ResponseDefinition))
def test_each_cost_is_what_the_score_gains_when_that_ticket_goes_right(definition):
    policy = default_ranking_policy().choosing(definition)
    found = explain(MONTH, policy, OTHERS)
    for item in found["items"]:
        assert item["score_if_right"] == pytest.approx(found["score"] + item["points"], abs=2e-4)
        again = explain({**MONTH, item["ticket_id"]: gone_right(MONTH[item["ticket_id"]])}, policy, OTHERS)
        assert item["ticket_id"] not in {i["ticket_id"] for i in again["items"]}


def test_rounded_items_add_up_to_the_rounded_gap_whatever_the_month():
    # seven callbacks, thirds and sevenths everywhere
    month = {f"t{n}": summary("in_time", (n % 2 == 0, n % 3 == 0, ("satisfied", "basically_satisfied",
                                                                   "dissatisfied")[n % 3])) for n in range(7)}
    found = explain(month, default_ranking_policy(), [])
    assert found["gap"] is not None and found["gap"] > 0
    assert round(sum(i["points"] for i in found["items"]) * 10_000) == round(found["gap"] * 10_000)
    assert found["rank"] == 1


def test_below_the_minimum_sample_no_rank_and_none_had_it_gone_right():
    policy = default_ranking_policy().model_copy(update={"minimum_sample": MinimumSample(callbacks=10)})
    found = explain(MONTH, policy, OTHERS)
    assert found["ranked"] is False and found["rank"] is None and found["score"] == 74.0
    assert all(i["rank_if_right"] is None for i in found["items"])


def test_a_month_without_a_rate_explains_nothing():
    found = explain({"P": summary("pending")}, default_ranking_policy(), OTHERS)
    assert found == {"score": None, "gap": None, "rank": None, "ranked": False, "items": []}


def test_apportioning_gives_back_what_the_scores_rounding_took():
    from hotline.metrics.explain import _apportion

    assert _apportion({"a": 0.00501, "b": 0.00509}, 0.0100) == {"a": 0.005, "b": 0.005}
    assert _apportion({"a": 0.00501, "b": 0.00509}, 0.0099) == {"a": 0.0049, "b": 0.005}
    assert _apportion({"a": 0.00504, "b": 0.00509}, 0.0101) == {"a": 0.005, "b": 0.0051}
