"""Rates, scores, rankings, movement and the Prometheus gauges (pure)."""

from hotline.metrics.directory import RankingKind
from hotline.metrics.figures import unit_month_figures
from hotline.metrics.main import make_directory
from hotline.metrics.observe import exposition
from hotline.metrics.ranking import (
    competition_ranks,
    in_district,
    ranking,
    rates,
    score,
    with_movement,
)
from hotline.metrics.settings import MetricsSettings
from hotline.ranking_policy import MinimumSample
from tests.unit.test_metrics_scenario import scripted_policy

# The unit's contact records, no minimum sample: these figures have no callback.
BY_RECORDS = scripted_policy("contact").model_copy(update={"minimum_sample": MinimumSample(callbacks=0)})


def figures(**given):
    return {**unit_month_figures({}), **given}


def test_rates_follow_their_definitions():
    f = figures(contacted_in_time=3, contacted_late=1, response_overdue=1, callbacks=4, callback_contacted=3,
                callback_not_contacted=1, resolved=3, satisfied=2, basically_satisfied=1, dissatisfied=1)
    # The shipped policy: all three over the valid callbacks; 基本满意 counts 0.9.
    assert rates(f, scripted_policy("callback")) == {"response": 3 / 4, "resolution": 3 / 4,
                                                     "satisfaction": (2 + 0.9) / 4}
    assert rates(f, scripted_policy("contact")) == {"response": 3 / 5, "resolution": 3 / 4,
                                                    "satisfaction": (2 + 0.9) / 4}
    assert rates(figures(), scripted_policy()) == {"response": None, "resolution": None, "satisfaction": None}


def test_score_renormalises_over_the_rates_that_exist():
    w = scripted_policy()  # 10 / 50 / 40
    assert score({"response": 1.0, "resolution": 0.5, "satisfaction": 0.5}, w) == 55.0
    assert score({"response": 1.0, "resolution": 1.0, "satisfaction": 0.0}, w) == 60.0
    assert score({"response": 0.5, "resolution": None, "satisfaction": None}, w) == 50.0
    assert score({"response": None, "resolution": None, "satisfaction": None}, w) is None
    county = w.model_copy(update={"weights": w.weights.model_copy(
        update={"response": 30, "resolution": 35, "satisfaction": 35})})  # 准格尔旗
    assert score({"response": 1.0, "resolution": 0.0, "satisfaction": 0.0}, county) == 30.0


def test_competition_ranks_share_a_rank_on_equal_scores():
    assert competition_ranks([100.0, 90.0, 90.0, 80.0]) == [1, 2, 2, 4]
    assert competition_ranks([]) == []


def test_ranking_keeps_units_of_its_kind_and_lists_unscored_apart():
    directory = make_directory(MetricsSettings())
    units = [
        {"unit_code": "110101001", "figures": figures(dispatched=1, contacted_in_time=1)},
        {"unit_code": "110101002", "figures": figures(dispatched=1, contacted_late=1)},
        {"unit_code": "110105001", "figures": figures(dispatched=1)},  # pending: no rate yet
        {"unit_code": "110111008", "figures": figures(dispatched=1, contacted_in_time=1)},  # an area: a town
        {"unit_code": "110111", "figures": figures(dispatched=1, contacted_in_time=1)},  # fallback: unranked
    ]
    streets = ranking("2026-03", RankingKind.STREET, units, directory, BY_RECORDS)
    assert [(r["unit_code"], r["rank"]) for r in streets["rows"]] == [("110101001", 1), ("110101002", 2)]
    assert [r["unit_code"] for r in streets["unranked"]] == ["110105001"]
    towns = ranking("2026-03", RankingKind.TOWN, units, directory, BY_RECORDS)
    assert [r["unit_code"] for r in towns["rows"]] == ["110111008"]
    assert towns["rows"][0]["name"] == "良乡地区"
    departments = ranking("2026-03", RankingKind.DEPARTMENT, [
        {"unit_code": "m-housing", "figures": figures(dispatched=1, contacted_in_time=1)}], directory, BY_RECORDS)
    assert departments["rows"][0]["name_en"] == "Housing and Urban-Rural Development Commission"


def test_movement_and_district_rank():
    rows = [{"unit_code": "A", "rank": 1, "score": 90.0, "district_code": "110101"},
            {"unit_code": "B", "rank": 2, "score": 80.0, "district_code": "110105"},
            {"unit_code": "C", "rank": 3, "score": 70.0, "district_code": "110101"}]
    before = [{"unit_code": "C", "rank": 1}, {"unit_code": "A", "rank": 2}, {"unit_code": "B", "rank": 2}]
    moved = with_movement(rows, before)
    assert [(r["movement"], r["rank_change"]) for r in moved] == [("up", 1), ("same", 0), ("down", -2)]
    assert with_movement(rows[:1], [])[0]["movement"] == "new"
    assert [(r["unit_code"], r["rank"], r["district_rank"]) for r in in_district(rows, "110101")] == [
        ("A", 1, 1), ("C", 3, 2)]


def test_prometheus_gauges_from_a_ranking():
    directory = make_directory(MetricsSettings())
    doc = ranking("2026-03", RankingKind.STREET, [
        {"unit_code": "110101001", "figures": figures(dispatched=2, contacted_in_time=1, contacted_late=1,
                                                      face_to_face=1, face_to_face_share=0.5)}],
        directory, BY_RECORDS)
    text = exposition("2026-03", [doc], {"city": [{"category": "noise", "count": 3}]}).decode()
    assert 'hotline_metrics_period{period="2026-03"} 1.0' in text
    assert 'hotline_unit_score{district_code="110101",kind="street",unit_code="110101001"} 50.0' in text
    assert 'hotline_unit_rate{district_code="110101",kind="street",rate="response",unit_code="110101001"} 0.5' in text
    assert 'hotline_category_tickets{category="noise"} 3.0' in text


def test_prometheus_gauges_of_a_unit_below_the_minimum_sample_give_its_score_and_no_rank():
    directory = make_directory(MetricsSettings())
    doc = ranking("2026-03", RankingKind.STREET, [
        {"unit_code": "110101001", "figures": figures(dispatched=1, contacted_in_time=1, callbacks=1,
                                                      callback_contacted=1, resolved=1, satisfied=1)}],
        directory, scripted_policy(minimum=5))
    assert doc["rows"] == [] and doc["unranked"][0]["unranked_reason"] == "minimum_sample"
    text = exposition("2026-03", [doc], None).decode()
    assert 'hotline_unit_score{district_code="110101",kind="street",unit_code="110101001"} 100.0' in text
    assert "hotline_unit_rank{" not in text
    assert 'hotline_units_ranked{kind="street"} 0.0' in text
