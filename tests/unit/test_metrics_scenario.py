"""A scripted month of tickets (March 2026, with February before it) and its figures, computed by
hand under both response definitions of the ranking policy; the integration tests replay the same
script through the real broker and store."""

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

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
    deterministic_event_id,
    topics,
)
from hotline.contracts.raw import Caller, Channel
from hotline.contracts.routing import ReturnReason, TicketReturned
from hotline.metrics.deadlines import response_due
from hotline.metrics.directory import RankingKind
from hotline.metrics.domain import fold
from hotline.metrics.figures import project_facts
from hotline.metrics.main import make_directory
from hotline.metrics.ranking import period_views
from hotline.metrics.settings import MetricsSettings
from hotline.ranking_policy import RankingPolicy, ResponseDefinition, default_ranking_policy

JINGSHAN, DONGHUAMEN, JIANWAI = "110101002", "110101001", "110105001"
LIANGXIANG, CHANGYANG, FANGSHAN = "110111008", "110111105", "110111"


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """A time in March 2026 (or another month), Beijing time."""
    return datetime(2026, month, day, hour, minute, tzinfo=BUSINESS_TZ)


class Script:
    """Builds the events of a script; ticket ids carry a tag so that runs do not meet."""

    def __init__(self, tag: str = "") -> None:
        self.tag = tag
        self.events: list[Any] = []

    def tid(self, name: str) -> str:
        return f"TK-{self.tag}{name}"

    def received(self, name: str, when: datetime, category: str, district: str | None, *,
                 place: str | None = None, community: str | None = None, repeat: bool = False) -> None:
        t = self.tid(name)
        self.events.append(TicketReceived(
            event_id=deterministic_event_id("TicketReceived", t), ticket_id=t, occurred_at=when,
            channel=Channel.PHONE, source_id=t, received_at=when, content="……",
            caller=Caller(phone="13800001234", name="王先生"),
            location=Location(district_code=district, unit_code=place, community=community),
            category=category, repeat_of=self.tid("EARLIER") if repeat else None, repeat_count=int(repeat)))

    def dispatch(self, name: str, unit: str, when: datetime, *, attempt: int = 1, urgency: str = "general",
                 category: str | None = None, district: str | None = None) -> None:
        t = self.tid(name)
        self.events.append(TicketDispatched(
            event_id=deterministic_event_id("TicketDispatched", t, str(attempt)), ticket_id=t, occurred_at=when,
            unit_code=unit, unit_name=unit, district_code=district, reason="street_town", dispatched_at=when,
            attempt=attempt, urgency=urgency, category=category))

    def contact(self, name: str, unit: str, when: datetime, kind: ContactKind = ContactKind.PHONE) -> None:
        t = self.tid(name)
        cid = deterministic_event_id("Contact", t, unit, when.isoformat())
        self.events.append(ContactRecorded(
            event_id=deterministic_event_id("ContactRecorded", cid), ticket_id=t, occurred_at=when,
            contact_id=cid, unit_code=unit, kind=kind, contacted_at=when, staff_id="S-1"))

    def callback(self, name: str, when: datetime, resolved: bool, satisfaction: str,
                 contacted: bool | None = True) -> None:
        self.events.append(CallbackResult(ticket_id=self.tid(name), resolved=resolved,
                                          satisfaction=Satisfaction(satisfaction), surveyed_at=when,
                                          contacted=contacted))

    def breach(self, name: str, unit: str, clock: str, started: datetime, due: datetime) -> None:
        t = self.tid(name)
        self.events.append(DeadlineBreached(
            event_id=deterministic_event_id("DeadlineBreached", t, clock, unit), ticket_id=t, occurred_at=due,
            unit_code=unit, clock=clock, mark="breach", started_at=started, due_at=due))

    def reopen(self, name: str, unit: str, round_: int, when: datetime) -> None:
        t = self.tid(name)
        self.events.append(TicketReopened(
            event_id=deterministic_event_id("TicketReopened", t, str(round_)), ticket_id=t, occurred_at=when,
            unit_code=unit, reason="dissatisfied", reopened_at=when, report_back_due_at=when + timedelta(hours=72),
            round=round_))

    def returned(self, name: str, unit: str, attempt: int, when: datetime) -> None:
        t = self.tid(name)
        self.events.append(TicketReturned(
            event_id=deterministic_event_id("TicketReturned", t, str(attempt)), ticket_id=t, occurred_at=when,
            unit_code=unit, attempt=attempt, reason_code=ReturnReason.BELONGS_TO_UNIT, returns=attempt))


def scripted_month(tag: str = "") -> Script:
    """February, then March 2026 in three streets, two towns, a department and two enterprises."""
    s = Script(tag)
    # February: Jingshan answers in time (100), Donghuamen late (90).
    s.dispatch("F1", JINGSHAN, at(10, 9, month=2))
    s.contact("F1", JINGSHAN, at(10, 10, month=2))
    s.callback("F1", at(20, 9, month=2), True, "satisfied")
    s.dispatch("F2", DONGHUAMEN, at(11, 9, month=2))
    s.contact("F2", DONGHUAMEN, at(12, 12, month=2))
    s.callback("F2", at(20, 9, month=2), True, "satisfied")

    # March, Jingshan: five tickets.
    s.received("J1", at(2, 8), "roads_traffic", "110101", place=JINGSHAN, community="景山东街社区")
    s.dispatch("J1", JINGSHAN, at(2, 9))
    s.contact("J1", JINGSHAN, at(2, 10), ContactKind.FACE_TO_FACE)  # 60 min, in time
    s.callback("J1", at(10, 9), False, "dissatisfied")
    s.reopen("J1", JINGSHAN, 1, at(10, 9))
    s.callback("J1", at(12, 9), True, "satisfied")  # the latest survey counts
    s.received("J2", at(3, 8), "roads_traffic", "110101", place=JINGSHAN, community="景山东街社区", repeat=True)
    s.dispatch("J2", JINGSHAN, at(3, 9))
    s.contact("J2", JINGSHAN, at(4, 10))  # 1,500 min: late (due in 24 h)
    s.callback("J2", at(13, 9), True, "basically_satisfied")
    s.received("J3", at(5, 8), "sanitation", "110101", place=JINGSHAN)
    s.dispatch("J3", JINGSHAN, at(5, 9))
    s.breach("J3", JINGSHAN, "response", at(5, 9), at(6, 9))  # never contacted: overdue
    s.callback("J3", at(15, 9), False, "dissatisfied", contacted=False)  # the citizen: nobody called
    s.reopen("J3", JINGSHAN, 1, at(15, 9))
    s.received("J4", at(6, 8), "noise", "110101", place=JINGSHAN)
    s.dispatch("J4", JINGSHAN, at(6, 9), urgency="emergency")
    s.contact("J4", JINGSHAN, at(6, 9, 20))  # 20 min, due in 30
    s.received("J5", at(7, 8), "noise", "110101", place=JINGSHAN)
    s.dispatch("J5", JINGSHAN, at(7, 9))  # pending

    # Donghuamen: two face-to-face visits in time; a third ticket returned to Jianwai.
    s.received("D1", at(2, 8), "noise", "110101", place=DONGHUAMEN)
    s.dispatch("D1", DONGHUAMEN, at(2, 9))
    s.contact("D1", DONGHUAMEN, at(2, 9, 30), ContactKind.FACE_TO_FACE)
    s.callback("D1", at(12, 9), True, "satisfied")
    s.received("D2", at(3, 8), "sanitation", "110101", place=DONGHUAMEN)
    s.dispatch("D2", DONGHUAMEN, at(3, 9))
    s.contact("D2", DONGHUAMEN, at(3, 11), ContactKind.FACE_TO_FACE)
    s.callback("D2", at(12, 9), True, "satisfied")
    s.dispatch("D3", DONGHUAMEN, at(4, 9), category="parking", district="110101")
    s.contact("D3", DONGHUAMEN, at(4, 9, 20))  # Donghuamen's contact does not count for Jianwai
    s.returned("D3", DONGHUAMEN, 1, at(4, 9, 40))
    s.dispatch("D3", JIANWAI, at(4, 10), attempt=2, category="parking", district="110105")
    s.contact("D3", JIANWAI, at(4, 12))
    # Jianwai's record says it called; the citizen says no one did: the two definitions disagree.
    s.callback("D3", at(14, 9), True, "dissatisfied", contacted=False)

    # Towns: Liangxiang meets face to face; Changyang lets a response deadline pass.
    s.received("L1", at(9, 8), "roads_traffic", "110111", place=LIANGXIANG, community="云景台小区")
    s.dispatch("L1", LIANGXIANG, at(9, 9))
    s.contact("L1", LIANGXIANG, at(9, 9, 45), ContactKind.FACE_TO_FACE)
    s.callback("L1", at(16, 9), True, "basically_satisfied")
    s.received("L2", at(10, 8), "roads_traffic", "110111", place=LIANGXIANG, community="云景台小区", repeat=True)
    s.dispatch("L2", LIANGXIANG, at(10, 9))
    s.dispatch("C1", CHANGYANG, at(11, 9), category="water_supply", district="110111")
    s.breach("C1", CHANGYANG, "response", at(11, 9), at(12, 9))

    # A department, two enterprises, and the district's fallback.
    s.dispatch("H1", "m-housing", at(12, 9), category="housing_certificates")
    s.contact("H1", "m-housing", at(12, 10))
    s.received("W1", at(13, 8), "water_supply", "110105")
    s.dispatch("W1", "e-water", at(13, 9), urgency="utilities")
    s.contact("W1", "e-water", at(13, 12))  # 3 h, due in 2 h
    s.callback("W1", at(20, 9), True, "satisfied")
    s.received("P1", at(14, 8), "power", "110102")
    s.dispatch("P1", "e-power", at(14, 9), urgency="utilities")
    s.contact("P1", "e-power", at(14, 10))
    s.received("B1", at(15, 8), "other", "110111")
    s.dispatch("B1", FANGSHAN, at(15, 9))
    return s


def topic_of(event: Any) -> str:
    """The topic an event travels on."""
    return {
        "TicketReceived": topics.TICKETS_RECEIVED, "TicketDispatched": topics.TICKETS_DISPATCHED,
        "ContactRecorded": topics.TICKETS_FOLLOWUP, "TicketReopened": topics.TICKETS_FOLLOWUP,
        "DeadlineBreached": topics.TICKETS_FOLLOWUP, "TicketReturned": topics.TICKETS_ROUTING,
        "CallbackResult": topics.CALLBACKS,
    }[type(event).__name__]


# The hand-computed March table (see docs/services/metrics.md).
JINGSHAN_MARCH = {
    "dispatched": 5, "contacted": 3, "contacted_in_time": 2, "contacted_late": 1, "response_overdue": 1,
    "face_to_face": 1, "face_to_face_share": 0.2, "median_first_contact_minutes": 60.0,
    "callbacks": 3, "callback_contacted": 2, "callback_not_contacted": 1,
    "resolved": 2, "unresolved": 1, "satisfied": 1, "basically_satisfied": 1, "dissatisfied": 1,
    "breaches": 1, "returns": 0, "reopens": 2, "repeats": 1,
}
DONGHUAMEN_MARCH = {
    "dispatched": 2, "contacted": 2, "contacted_in_time": 2, "contacted_late": 0, "response_overdue": 0,
    "face_to_face": 2, "face_to_face_share": 1.0, "median_first_contact_minutes": 75.0,
    "callbacks": 2, "callback_contacted": 2, "callback_not_contacted": 0,
    "resolved": 2, "unresolved": 0, "satisfied": 2, "basically_satisfied": 0, "dissatisfied": 0,
    "breaches": 0, "returns": 1, "reopens": 0, "repeats": 0,
}
# The rates and scores under the shipped policy (weights 10 / 50 / 40, 基本满意 0.9), by hand.
# Jingshan: callbacks J1 (latest: solved, satisfied, "contacted"), J2 (solved, basically, "contacted"),
# J3 (not solved, dissatisfied, "not contacted"); records: J1 and J4 in time, J2 late, J3 overdue.
JINGSHAN_RATES = {
    "callback": {"response": 2 / 3, "resolution": 2 / 3, "satisfaction": (1 + 0.9) / 3},
    "contact": {"response": 2 / 4, "resolution": 2 / 3, "satisfaction": (1 + 0.9) / 3},
}
# callback: (10 × 2/3 + 50 × 2/3 + 40 × 1.9/3) = 6.6667 + 33.3333 + 25.3333; contact: 5 + 33.3333 + 25.3333
JINGSHAN_SCORE = {"callback": 65.3333, "contact": 63.6667}
# definition -> kind -> [(unit, rank, score, previous rank, movement)]. February: both streets 100
# by the callback (each citizen says "contacted"); by the records Donghuamen's late contact gives it
# 0 × 10 + 50 + 40 = 90. March: Jianwai (the returned D3) called in time by its record, "not
# contacted" by the citizen: 0 + 50 + 0 = 50 or 10 + 50 + 0 = 60; Liangxiang 10 + 50 + 40 × 0.9 = 96;
# e-water contacted late, but "contacted" by the citizen: 100, or 0 + 50 + 40 = 90. Changyang,
# m-housing and e-power have no callback: no response rate by the callback, so no score at all.
# (A minimum sample of one valid callback: `scripted_policy`.)
MARCH_RANKINGS = {
    "callback": {
        "street": [(DONGHUAMEN, 1, 100.0, 1, "same"), (JINGSHAN, 2, 65.3333, 1, "down"),
                   (JIANWAI, 3, 50.0, None, "new")],
        "town": [(LIANGXIANG, 1, 96.0, None, "new")],
        "department": [],
        "enterprise": [("e-water", 1, 100.0, None, "new")],
    },
    "contact": {
        "street": [(DONGHUAMEN, 1, 100.0, 2, "up"), (JINGSHAN, 2, 63.6667, 1, "down"),
                   (JIANWAI, 3, 60.0, None, "new")],
        "town": [(LIANGXIANG, 1, 96.0, None, "new")],
        "department": [],
        "enterprise": [("e-water", 1, 90.0, None, "new")],
    },
}
# definition -> kind -> [(unit, why, score)]: listed, not ranked. By the records Changyang (overdue),
# m-housing and e-power (in time) have a score, but not one valid callback: below the minimum sample.
MARCH_UNRANKED = {
    "callback": {"street": [], "town": [(CHANGYANG, "no_rate", None)],
                 "department": [("m-housing", "no_rate", None)], "enterprise": [("e-power", "no_rate", None)]},
    "contact": {"street": [], "town": [(CHANGYANG, "minimum_sample", 0.0)],
                "department": [("m-housing", "minimum_sample", 100.0)],
                "enterprise": [("e-power", "minimum_sample", 100.0)]},
}
MARCH_CITY = [("roads_traffic", 4), ("noise", 3), ("sanitation", 2), ("water_supply", 2),
              ("housing_certificates", 1), ("other", 1), ("parking", 1), ("power", 1)]
MARCH_DISTRICTS = {None: 1, "110101": 7, "110102": 1, "110105": 2, "110111": 4}
MARCH_CLUSTERS = [(JINGSHAN, "景山东街社区", "roads_traffic", 2, 1), (LIANGXIANG, "云景台小区", "roads_traffic", 2, 1)]


def scripted_policy(definition: ResponseDefinition | str = ResponseDefinition.CALLBACK, *,
                    minimum: int = 1) -> RankingPolicy:
    """The shipped policy with a minimum sample of one callback: the script is a handful of tickets
    a unit (the shipped minimum, on the same script, is its own test)."""
    shipped = default_ranking_policy()
    return shipped.choosing(definition).model_copy(
        update={"minimum_sample": shipped.minimum_sample.model_copy(update={"callbacks": minimum})})


def write_scripted_policy(folder: Path, definition: ResponseDefinition | str = ResponseDefinition.CALLBACK, *,
                          minimum: int = 1) -> Path:
    """`scripted_policy` as a file, for a service's METRICS_RANKING_POLICY."""
    path = folder / f"ranking-{ResponseDefinition(definition).value}-{minimum}.yaml"
    policy = scripted_policy(definition, minimum=minimum)
    path.write_text(yaml.safe_dump(policy.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    return path


def pure_projection(events: list[Any], policy: RankingPolicy | None = None):
    """Unit-months, rankings and hotspots of a script computed in memory, all at once (by default
    under the deployment's policy, as a service with default settings computes them)."""
    settings = MetricsSettings()
    directory = make_directory(settings)
    months = project_facts(fold(events, response_due=response_due))
    rankings, hotspots = {}, {}
    for period in sorted({m["period"] for m in months.values()}):
        units = [{"unit_code": m["unit_code"], "figures": m} for m in months.values() if m["period"] == period]
        r, h = period_views(period, units, directory, policy or settings.policy,
                            top=settings.hotspot_top, cluster_min=settings.cluster_min)
        rankings.update(r)
        hotspots[period] = h
    return months, rankings, hotspots


def ranking_table(rankings: dict[str, Any], kind: str) -> list[tuple]:
    """A March ranking as (unit, rank, score, previous rank, movement) rows."""
    from hotline.metrics.ranking import with_movement

    rows = with_movement(rankings[f"2026-03:{kind}"]["rows"], rankings.get(f"2026-02:{kind}", {}).get("rows", []))
    return [(r["unit_code"], r["rank"], r["score"], r["previous_rank"], r["movement"]) for r in rows]


def test_march_figures_match_the_hand_computed_tables():
    months, _, _ = pure_projection(scripted_month().events)
    jingshan = months[f"{JINGSHAN}:2026-03"]
    assert {k: jingshan[k] for k in JINGSHAN_MARCH} == JINGSHAN_MARCH
    donghuamen = months[f"{DONGHUAMEN}:2026-03"]
    assert {k: donghuamen[k] for k in DONGHUAMEN_MARCH} == DONGHUAMEN_MARCH
    # The returned ticket is Jianwai's now, with Jianwai's contact only (2 h after its dispatch).
    jianwai = months[f"{JIANWAI}:2026-03"]
    assert (jianwai["dispatched"], jianwai["contacted_in_time"], jianwai["median_first_contact_minutes"]) == (1, 1, 120.0)
    assert (jianwai["resolved"], jianwai["dissatisfied"]) == (1, 1)
    assert months[f"{LIANGXIANG}:2026-03"]["face_to_face_share"] == 0.5
    assert months[f"{CHANGYANG}:2026-03"]["response_overdue"] == 1


@pytest.mark.parametrize("definition", ["callback", "contact"])
def test_march_rankings_and_movement_against_february(definition):
    _, rankings, _ = pure_projection(scripted_month().events, scripted_policy(definition))
    for kind, expected in MARCH_RANKINGS[definition].items():
        assert ranking_table(rankings, kind) == expected, kind
        unranked = rankings[f"2026-03:{kind}"]["unranked"]
        listed = [(r["unit_code"], r["unranked_reason"], r["score"]) for r in unranked]
        assert listed == MARCH_UNRANKED[definition][kind], kind
        assert all(r["ranked"] for r in rankings[f"2026-03:{kind}"]["rows"]) and not any(r["ranked"] for r in unranked)
    jingshan = next(r for r in rankings["2026-03:street"]["rows"] if r["unit_code"] == JINGSHAN)
    assert jingshan["rates"] == JINGSHAN_RATES[definition] and jingshan["score"] == JINGSHAN_SCORE[definition]
    assert (jingshan["name"], jingshan["district_name"]) == ("景山街道", "东城区")
    assert {kind.value for kind in RankingKind} == set(MARCH_RANKINGS[definition])
    # Every ranking says which rules it was computed under.
    policy = rankings["2026-03:street"]["policy"]
    assert (policy["version"], policy["response_definition"]) == (default_ranking_policy().version, definition)
    assert policy["weights"] == {"response": 10, "resolution": 50, "satisfaction": 40}
    assert policy["satisfaction_counts"]["basically_satisfied"] == 0.9


def test_under_the_shipped_minimum_sample_every_scripted_unit_is_listed_and_marked():
    # Five valid callbacks a month: no unit of the script has them, so each is listed, marked and not ranked.
    _, rankings, _ = pure_projection(scripted_month().events, default_ranking_policy())
    streets = rankings["2026-03:street"]
    assert streets["rows"] == [] and streets["policy"]["minimum_sample"] == {"callbacks": 5}
    listed = [(r["unit_code"], r["rank"], r["ranked"], r["unranked_reason"], r["score"]) for r in streets["unranked"]]
    assert listed == [
        (DONGHUAMEN, None, False, "minimum_sample", 100.0), (JINGSHAN, None, False, "minimum_sample", 65.3333),
        (JIANWAI, None, False, "minimum_sample", 50.0)]
    assert [(r["unit_code"], r["unranked_reason"]) for r in rankings["2026-03:town"]["unranked"]] == [
        (LIANGXIANG, "minimum_sample"), (CHANGYANG, "no_rate")]


def test_five_valid_callbacks_rank_a_unit():
    s = scripted_month()
    for n in range(3):  # Jingshan's month gets its fourth to sixth valid callbacks
        s.dispatch(f"X{n}", JINGSHAN, at(20, 9))
        s.contact(f"X{n}", JINGSHAN, at(20, 10))
        s.callback(f"X{n}", at(25, 9), True, "satisfied")
    _, rankings, _ = pure_projection(s.events, default_ranking_policy())
    assert [(r["unit_code"], r["rank"], r["callbacks"]) for r in rankings["2026-03:street"]["rows"]] == [
        (JINGSHAN, 1, 6)]


def test_march_hotspots():
    _, _, hotspots = pure_projection(scripted_month().events)
    march = hotspots["2026-03"]
    assert march["total"] == 15
    assert [(c["category"], c["count"]) for c in march["city"]] == MARCH_CITY
    assert march["city"][0]["label"] == {"zh": "道路交通", "en": "Roads and traffic"}
    assert {d["district_code"]: d["total"] for d in march["districts"]} == MARCH_DISTRICTS
    dongcheng = next(d for d in march["districts"] if d["district_code"] == "110101")
    assert [(c["category"], c["count"]) for c in dongcheng["categories"]] == [("noise", 3), ("roads_traffic", 2), ("sanitation", 2)]
    assert [(c["place_code"], c["community"], c["category"], c["count"], c["repeats"]) for c in march["clusters"]] == MARCH_CLUSTERS


def test_weights_change_the_score_only():
    shipped = scripted_policy(ResponseDefinition.CONTACT)
    heavy_response = shipped.model_copy(update={"weights": shipped.weights.model_copy(
        update={"response": 100, "resolution": 0, "satisfaction": 0})})
    _, rankings, _ = pure_projection(scripted_month().events, heavy_response)
    scores = {r["unit_code"]: r["score"] for r in rankings["2026-03:street"]["rows"]}
    assert scores == {DONGHUAMEN: 100.0, JIANWAI: 100.0, JINGSHAN: 50.0}
    assert [r["rank"] for r in rankings["2026-03:street"]["rows"]] == [1, 1, 3]


def test_a_callback_without_the_answer_counts_in_no_callback_response_rate():
    # A record from before the question: resolution and satisfaction as ever; no response rate by
    # the callback, so the score is the other two's weighted mean; by the records, as before.
    s = Script()
    s.dispatch("O1", JINGSHAN, at(2, 9))
    s.contact("O1", JINGSHAN, at(2, 10))
    s.callback("O1", at(10, 9), True, "basically_satisfied", contacted=None)
    months, rankings, _ = pure_projection(s.events, scripted_policy())
    month = months[f"{JINGSHAN}:2026-03"]
    assert (month["callbacks"], month["callback_contacted"], month["callback_not_contacted"]) == (1, 0, 0)
    row = rankings["2026-03:street"]["rows"][0]
    assert row["rates"] == {"response": None, "resolution": 1.0, "satisfaction": 0.9}
    assert row["score"] == round(100 * (50 + 40 * 0.9) / 90, 4)
    _, by_records, _ = pure_projection(s.events, scripted_policy("contact"))
    assert by_records["2026-03:street"]["rows"][0]["score"] == 10 + 50 + 36


def test_no_personal_data_in_the_facts():
    facts = fold(scripted_month().events, response_due=response_due)
    assert "13800001234" not in repr(facts) and "王先生" not in repr(facts)
