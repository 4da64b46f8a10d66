"""The ranking policy on the real broker and store: the scripted month through a metrics instance
gives the hand-computed rankings under each response definition (the citizen's answer in the
callback, Beijing's; the unit's recorded contact), and under the shipped minimum sample every unit
of the script is listed, marked and not ranked. Every answer says which rules it used."""

import pytest

from hotline.contracts import topics
from hotline.metrics.main import build_app
from hotline.metrics.settings import MetricsSettings
from hotline.ranking_policy import default_ranking_policy
from tests.integration.conftest import client_for
from tests.integration.test_metrics_live import all_drained, publish_events
from tests.unit.test_metrics_scenario import (
    DONGHUAMEN,
    JIANWAI,
    JINGSHAN,
    JINGSHAN_MARCH,
    JINGSHAN_RATES,
    JINGSHAN_SCORE,
    MARCH_RANKINGS,
    MARCH_UNRANKED,
    scripted_month,
    write_scripted_policy,
)

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module", params=["callback", "contact", "shipped"])
async def served(request, namespace, tmp_path_factory):
    """A namespace and a metrics instance of its own per rule set, the scripted month taken in.
    `contact` is chosen by the setting (METRICS_RESPONSE_DEFINITION) over a file that says callback."""
    rules = request.param
    async with namespace.child(f"pol{rules[:2]}").created(topics.core_topics()) as own:
        if rules == "shipped":
            settings = MetricsSettings(**own.service_settings())
        else:
            policy = write_scripted_policy(tmp_path_factory.mktemp(rules))
            settings = MetricsSettings(**own.service_settings(), ranking_policy=policy, response_definition=rules)
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            await publish_events(own.kafka, own.prefix, scripted_month().events)
            await all_drained(own)
            yield rules, app


async def _ranking(client, kind: str) -> dict:
    response = await client.get("/v1/rankings", params={"period": "2026-03", "kind": kind})
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_scripted_month_gives_the_hand_computed_rankings_of_its_rules(served):
    rules, app = served
    async with client_for(app) as client:
        for kind in ("street", "town", "department", "enterprise"):
            body = await _ranking(client, kind)
            assert (body["policy"]["version"], body["policy"]["response_definition"]) == (
                default_ranking_policy().version, "callback" if rules == "shipped" else rules)
            listed = [(r["unit_code"], r["unranked_reason"], r["score"]) for r in body["unranked"]]
            if rules == "shipped":
                assert body["rows"] == [] and body["policy"]["minimum_sample"] == {"callbacks": 5}
                assert all(not r["ranked"] and r["rank"] is None for r in body["unranked"])
                continue
            assert [(r["unit_code"], r["rank"], r["score"], r["previous_rank"], r["movement"])
                    for r in body["rows"]] == MARCH_RANKINGS[rules][kind], kind
            assert listed == MARCH_UNRANKED[rules][kind], kind
        month = (await client.get(f"/v1/units/{JINGSHAN}/months/2026-03")).json()
    assert {k: month[k] for k in JINGSHAN_MARCH} == JINGSHAN_MARCH
    definition = "callback" if rules == "shipped" else rules
    assert month["rates"] == JINGSHAN_RATES[definition] and month["score"] == JINGSHAN_SCORE[definition]
    assert month["policy"]["response_definition"] == definition
    assert month["meets_minimum_sample"] is (rules != "shipped")


async def test_under_the_shipped_minimum_the_streets_are_listed_with_their_scores(served):
    rules, app = served
    if rules != "shipped":
        pytest.skip("the shipped minimum sample only")
    async with client_for(app) as client:
        streets = await _ranking(client, "street")
    assert [(r["unit_code"], r["unranked_reason"], r["score"]) for r in streets["unranked"]] == [
        (DONGHUAMEN, "minimum_sample", 100.0), (JINGSHAN, "minimum_sample", 65.3333), (JIANWAI, "minimum_sample", 50.0)]
    assert streets["count"] == 0 and streets["bottom"] == []
