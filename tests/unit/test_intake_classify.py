"""How intake decides a category (hotline.ingest.classify): the hint, the model, the keyword
overrides and the triage decision, as pure functions over given predictions; then with the
shipped model through `normalize`."""

import json
from datetime import UTC, datetime

import pytest

from hotline.classifier import Prediction, load_model
from hotline.contracts import ClassifiedBy, TicketReceived
from hotline.gazetteer import beijing
from hotline.ingest.admission import IntakePolicy, normalize
from hotline.ingest.classify import (
    DEFAULT_MIN_CONFIDENCE,
    Classifier,
    asks_model,
    classify_all,
    decide,
    needs_triage,
)
from hotline.taxonomy import default_taxonomy

SEVEN = ("城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输")
TAXONOMY = default_taxonomy()
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def said(*candidates: tuple[str, float]) -> Prediction:
    return Prediction(label=candidates[0][0], confidence=candidates[0][1], candidates=list(candidates))


def classify(content: str, prediction: Prediction | None, hint: str | None = None, **options):
    return decide(content, hint, prediction, taxonomy=TAXONOMY, model_classes=options.pop("model_classes", SEVEN),
                  model_version="m-1", **options)


def test_a_hint_naming_a_category_wins_and_the_model_is_not_asked():
    assert not asks_model("路面坑洼严重", "供暖", TAXONOMY)
    c = classify("路面坑洼严重", None, hint="供暖")
    assert (c.category, c.first_level, c.classified_by) == ("heating", "城乡建设", ClassifiedBy.HINT)
    assert c.confidence is None and c.model_version is None and c.candidates == () and not c.unsure
    # A hint naming a category outside the seven classes wins as well.
    assert classify("小区停水三天了", None, hint="其他").first_level == "其他"


def test_text_without_chinese_is_left_to_the_keywords():
    assert not asks_model("The traffic light at the crossing is broken", None, TAXONOMY)
    assert asks_model("路灯不亮 please", None, TAXONOMY)
    c = classify("The traffic light at the crossing is broken", None)
    assert (c.category, c.first_level, c.classified_by, c.confidence) == (
        "roads_traffic", "城乡建设", ClassifiedBy.KEYWORDS, None)
    assert classify("Thanks to everyone", None).category == "other"


def test_the_model_gives_the_class_and_its_keywords_the_category():
    c = classify("小区停水三天了", said(("城乡建设", 0.95), ("环境保护", 0.03), ("交通运输", 0.01)))
    assert (c.category, c.first_level, c.classified_by) == ("water_supply", "城乡建设", ClassifiedBy.MODEL)
    assert c.confidence == 0.95 and c.model_version == "m-1" and not c.unsure
    # Each candidate says which category the ticket would get in its class.
    assert [(x.first_level, x.confidence, x.category) for x in c.candidates] == [
        ("城乡建设", 0.95, "water_supply"), ("环境保护", 0.03, "environment_pollution"),
        ("交通运输", 0.01, "public_transport")]


def test_a_class_reaches_the_categories_its_messages_are_also_about():
    # The labelled data files roads under 交通运输 too (tree.yaml `also`): a pothole stays a road.
    c = classify("路面坑洼严重", said(("交通运输", 0.99)))
    assert (c.category, c.first_level) == ("roads_traffic", "交通运输")
    assert classify("公交车班次太少", said(("城乡建设", 0.97))).category == "public_transport"


def test_a_keyword_of_another_of_the_seven_does_not_overrule_the_model():
    # 停水 is water_supply's keyword (城乡建设), but the model said 教育文体: the model decides.
    c = classify("小区停水三天了", said(("教育文体", 0.9)))
    assert (c.category, c.classified_by) == ("education", ClassifiedBy.MODEL)


def test_a_keyword_category_outside_the_models_classes_wins():
    # 打架 is public order's keyword; the seven classes have no public order.
    c = classify("楼下有人打架", said(("城乡建设", 0.9), ("交通运输", 0.05)))
    assert (c.category, c.first_level, c.classified_by) == ("public_order", "公共安全", ClassifiedBy.KEYWORDS)
    assert c.confidence is None and not c.unsure
    assert c.model_version == "m-1" and c.candidates[0].first_level == "城乡建设"  # the model's view, kept
    # A model that knew 公共安全 would decide it itself.
    knows = classify("楼下有人打架", said(("城乡建设", 0.9)), model_classes=(*SEVEN, "公共安全"))
    assert (knows.category, knows.classified_by) == ("construction", ClassifiedBy.MODEL)


def test_an_emergency_takes_the_keyword_category():
    # The model puts this gas leak under 环境保护; the urgency keywords make it an emergency.
    c = classify("楼道里有很浓的煤气味，怀疑燃气泄漏", said(("环境保护", 0.86), ("城乡建设", 0.03)))
    assert (c.category, c.classified_by) == ("gas", ClassifiedBy.KEYWORDS)
    # An emergency the keywords name no category for keeps the model's; one they agree on is the model's.
    assert classify("居民楼外墙坍塌，有人被困", said(("城乡建设", 0.38))).category == "construction"
    agreed = classify("楼道燃气泄漏，味道很大", said(("城乡建设", 0.51)))
    assert (agreed.category, agreed.classified_by, agreed.confidence) == ("gas", ClassifiedBy.MODEL, 0.51)


@pytest.mark.parametrize(("confidence", "unsure"), [(0.2, True), (0.4999, True), (0.5, False), (0.97, False)])
def test_below_the_minimum_confidence_the_model_is_unsure(confidence, unsure):
    c = classify("小区里的问题", said(("城乡建设", confidence)))
    assert c.unsure is unsure and c.classified_by is ClassifiedBy.MODEL
    assert classify("小区里的问题", said(("城乡建设", confidence)), min_confidence=0.0).unsure is False


def test_an_unsure_ticket_goes_to_triage_unless_an_emergency_or_answered():
    unsure = classify("小区里的问题", said(("城乡建设", 0.3)))
    assert needs_triage(unsure, urgency="general", answered_directly=False)
    assert needs_triage(unsure, urgency="utilities", answered_directly=False)
    assert not needs_triage(unsure, urgency="emergency", answered_directly=False)
    assert not needs_triage(unsure, urgency="general", answered_directly=True)
    sure = classify("小区里的问题", said(("城乡建设", 0.9)))
    assert not needs_triage(sure, urgency="general", answered_directly=False)


class CountingModel:
    """Stands in for the model: records what it is asked."""

    classes, version = SEVEN, "counting-1"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict_many(self, texts, top=3):
        self.calls.append(list(texts))
        return [said(("城乡建设", 0.9), ("交通运输", 0.05)) for _ in texts]


def test_a_batch_asks_the_model_once_for_the_messages_that_need_it():
    model = CountingModel()
    items = [("小区停水", None), ("路灯不亮", "供暖"), ("No water", None), ("楼道漏水", "楼道")]
    out = classify_all(items, Classifier(model), TAXONOMY)  # type: ignore[arg-type]
    # A free-text hint that names no category is read with the message.
    assert model.calls == [["小区停水", "楼道 楼道漏水"]]
    assert [c.classified_by for c in out] == [ClassifiedBy.MODEL, ClassifiedBy.HINT, ClassifiedBy.KEYWORDS,
                                              ClassifiedBy.MODEL]
    assert out[0].model_version == "counting-1"
    assert classify_all([("路灯不亮", "供暖")], Classifier(model), TAXONOMY)[0].category == "heating"
    assert len(model.calls) == 2 and model.calls[1] == []


def test_predict_many_gives_what_predict_gives():
    model = load_model()
    texts = ["小区停水三天了", "孩子小学入学学位不够", "路面坑洼严重", "x", "公司拖欠工资三个月，讨薪无果"]
    assert model.predict_many(texts, top=3) == [model.predict(t, top=3) for t in texts]
    assert model.predict_many([]) == []


# ------------------------------------------------------------ through normalize, the shipped model

def ticket(content: str, **fields) -> TicketReceived:
    record = {"channel": "phone", "source_id": f"cls-{abs(hash((content, str(fields))))}",
              "received_at": "2026-11-20T09:00:00+08:00", "content": content, "address": "朝阳区望京街道", **fields}
    made = normalize(json.dumps(record, ensure_ascii=False).encode(), now=NOW, gazetteer=beijing())
    assert isinstance(made, TicketReceived), made
    return made


def test_a_clear_message_carries_class_confidence_and_model_version():
    t = ticket("孩子在学校被乱收费，补课费一学期三千元")
    assert (t.category, t.first_level, t.classified_by) == ("education", "教育文体", ClassifiedBy.MODEL)
    assert t.confidence is not None and t.confidence >= DEFAULT_MIN_CONFIDENCE and not t.needs_triage
    assert t.model_version == load_model().version and t.schema_version == 2
    assert t.candidates[0].first_level == "教育文体" and len(t.candidates) == 3


def test_a_vague_message_needs_triage_with_the_candidates():
    text = "村里垃圾没人清运"
    assert load_model().predict(text).confidence < DEFAULT_MIN_CONFIDENCE  # the model is unsure of it
    t = ticket(text)
    assert t.needs_triage and t.classified_by is ClassifiedBy.MODEL
    assert [c.first_level for c in t.candidates] == [c for c, _ in load_model().predict(text).candidates]
    # A consultation the hotline answered itself is never dispatched, so never triaged.
    assert not ticket(text, answered_directly=True).needs_triage


def test_the_minimum_confidence_is_the_policys():
    text = "村里垃圾没人清运"
    lenient = IntakePolicy(classifier=Classifier(load_model(), min_confidence=0.0))
    record = {"channel": "phone", "source_id": "cls-lenient", "received_at": "2026-11-20T09:00:00+08:00",
              "content": text, "address": "朝阳区望京街道"}
    made = normalize(json.dumps(record, ensure_ascii=False).encode(), now=NOW, gazetteer=beijing(), policy=lenient)
    assert isinstance(made, TicketReceived) and not made.needs_triage


# ------------------------------------------------------------------------------ settings, start

def test_the_settings_name_the_artifact_and_the_minimum(monkeypatch, tmp_path):
    from pydantic import ValidationError

    from hotline.intake.settings import IntakeSettings

    assert IntakeSettings().classifier_model is None
    assert IntakeSettings().classifier_min_confidence == DEFAULT_MIN_CONFIDENCE
    monkeypatch.setenv("INTAKE_CLASSIFIER_MIN_CONFIDENCE", "0.6")
    monkeypatch.setenv("INTAKE_CLASSIFIER_MODEL", str(tmp_path / "model.zip"))
    settings = IntakeSettings()
    assert settings.classifier_min_confidence == 0.6 and settings.classifier_model == tmp_path / "model.zip"
    monkeypatch.setenv("INTAKE_CLASSIFIER_MIN_CONFIDENCE", "1.5")
    with pytest.raises(ValidationError, match="INTAKE_CLASSIFIER_MIN_CONFIDENCE"):
        IntakeSettings()


def test_the_shipped_model_is_loaded_at_start_with_the_settings_minimum():
    from hotline.intake.main import load_classifier
    from hotline.intake.settings import IntakeSettings

    classifier = load_classifier(IntakeSettings(classifier_min_confidence=0.7))
    assert classifier.model is load_model() and classifier.min_confidence == 0.7


def test_an_unusable_artifact_stops_intake_at_start(tmp_path):
    from hotline.intake.main import ClassifierUnusable, build_app
    from hotline.intake.settings import IntakeSettings

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    for path, reason in ((tmp_path / "missing.zip", "no classifier artifact"), (junk, "not a classifier artifact")):
        with pytest.raises(ClassifierUnusable, match=f"INTAKE_CLASSIFIER_MODEL: .*{reason}"):
            build_app(IntakeSettings(classifier_model=path))


def test_the_service_exits_with_the_reason(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    hotline = Path(sys.executable).with_name("hotline")
    env = {**os.environ, "INTAKE_CLASSIFIER_MODEL": str(tmp_path / "missing.zip"), "INTAKE_HTTP_PORT": "0"}
    done = subprocess.run([str(hotline), "serve", "intake"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "intake: INTAKE_CLASSIFIER_MODEL: no classifier artifact at" in done.stderr
    assert "Traceback" not in done.stderr
