"""The ranking policy file (data/policies/ranking.yaml): its values and sources, what it refuses,
and a deployment's choice of file and response definition."""

from importlib import resources

import pytest
import yaml
from pydantic import ValidationError

from hotline.metrics.settings import MetricsSettings
from hotline.ranking_policy import (
    PolicyError,
    RankingPolicy,
    ResponseDefinition,
    default_ranking_policy,
    load_ranking_policy,
)

SHIPPED = (resources.files("hotline") / "data" / "policies" / "ranking.yaml").read_text("utf-8")


def shipped_data() -> dict:
    return yaml.safe_load(SHIPPED)


def test_the_shipped_policy_holds_the_sourced_values():
    policy = default_ranking_policy()
    assert policy.version and policy.response_definition is ResponseDefinition.CALLBACK
    assert policy.weights.model_dump() == {"response": 10, "resolution": 50, "satisfaction": 40}
    assert policy.rates.satisfaction.numerator == {"satisfied": 1.0, "basically_satisfied": 0.9, "dissatisfied": 0.0}
    # All three rates over the valid callbacks by Beijing's definition; the records' response rate apart.
    assert policy.rates.response[ResponseDefinition.CALLBACK].denominator == (
        "callback_contacted", "callback_not_contacted")
    assert policy.rates.resolution.denominator == ("callbacks",)
    assert policy.rates.response[ResponseDefinition.CONTACT].denominator == (
        "contacted_in_time", "contacted_late", "response_overdue")
    assert policy.minimum_sample.callbacks == 5


def test_each_value_says_where_it_comes_from():
    for source in ("是否有效回访", "是否联系", "准格尔旗", "no source found", "this deployment's choice"):
        assert source in SHIPPED, source


def test_rates_and_score_from_figures():
    policy = default_ranking_policy()
    figures = {"callbacks": 4, "callback_contacted": 3, "callback_not_contacted": 1, "resolved": 2,
               "satisfied": 1, "basically_satisfied": 2, "dissatisfied": 1,
               "contacted_in_time": 1, "contacted_late": 1, "response_overdue": 0}
    assert policy.unit_rates(figures) == {"response": 0.75, "resolution": 0.5, "satisfaction": 2.8 / 4}
    assert policy.score(policy.unit_rates(figures)) == round(7.5 + 25 + 40 * 0.7, 4)
    by_records = policy.choosing("contact")
    assert by_records.unit_rates(figures)["response"] == 0.5 and by_records.version == policy.version
    assert by_records.stamp()["response_definition"] == "contact"
    # Figures stored before a term existed count it as zero.
    assert policy.unit_rates({"callbacks": 2, "resolved": 1})["response"] is None
    assert not policy.enough_sample(figures) and policy.enough_sample({**figures, "callbacks": 5})


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["rates"]["response"].pop("contact"), "rates.response must define contact"),
    (lambda d: d["weights"].update(response=0, resolution=0, satisfaction=0), "at least one"),
    (lambda d: d["rates"]["resolution"].update(denominator=["tickets"]), "denominator"),
    (lambda d: d["rates"]["satisfaction"]["numerator"].update(basically_satisfied=9), "between 0 and 1"),
    (lambda d: d.update(response_definition="survey"), "response_definition"),
    (lambda d: d["minimum_sample"].update(callbacks=-1), "minimum_sample"),
    (lambda d: d.pop("version"), "version"),
    (lambda d: d.update(weight=1), "weight"),
])
def test_a_broken_policy_is_refused_naming_the_problem(change, message):
    data = shipped_data()
    change(data)
    with pytest.raises(ValidationError, match=message):
        RankingPolicy.model_validate(data)


def test_a_deployment_chooses_the_file_and_the_definition(tmp_path):
    data = shipped_data()
    data.update(version="test-1", response_definition="contact")
    path = tmp_path / "ranking.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_ranking_policy(path).response_definition is ResponseDefinition.CONTACT
    assert load_ranking_policy(path, response_definition="callback").stamp()["version"] == "test-1"
    settings = MetricsSettings(ranking_policy=path, response_definition="callback")
    assert (settings.policy.version, settings.policy.response_definition.value) == ("test-1", "callback")
    assert MetricsSettings(response_definition="contact").policy.version == default_ranking_policy().version


def test_a_policy_file_that_does_not_load_stops_the_settings_naming_it(tmp_path, monkeypatch):
    with pytest.raises(PolicyError, match="cannot read ranking policy"):
        load_ranking_policy(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: x\nweights: [1, 2]\n", encoding="utf-8")
    monkeypatch.setenv("METRICS_RANKING_POLICY", str(broken))
    with pytest.raises(ValidationError, match="broken.yaml"):
        MetricsSettings()
    monkeypatch.setenv("METRICS_RANKING_POLICY", str(tmp_path / "missing.yaml"))
    monkeypatch.setenv("METRICS_RESPONSE_DEFINITION", "contact")
    with pytest.raises(ValidationError, match="missing.yaml"):
        MetricsSettings()
