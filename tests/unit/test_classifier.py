"""The category classifier's API, artifact and training command (hotline.classifier)."""

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotline.classifier import ModelError, Prediction, data, load_model, model, text, training
from hotline.cli import app

SEVEN = {"城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输"}


@pytest.fixture(scope="module")
def small() -> training.Corpus:
    """Every fourth shipped message: enough to train on in about a second."""
    shipped = data.segmented_examples()
    return training.Corpus(list(shipped.texts[::4]), list(shipped.labels[::4]),
                           [{"name": data.SEGMENTED, "sha256": data.shipped_sha256(), "rows": 2157}])


def test_the_shipped_model_gives_one_of_the_seven_classes_with_a_probability():
    m = load_model()
    assert set(m.classes) == SEVEN and len(m.classes) == 7
    assert m.version.startswith(model.RECIPE)
    p = m.predict("小区停水三天了，一直没有人来修，请尽快处理")
    assert isinstance(p, Prediction)
    assert p.label == "城乡建设"
    assert 0 <= p.confidence <= 1
    assert p.candidates[0] == (p.label, p.confidence)


@pytest.mark.parametrize("message, label", [
    ("我家楼下的烧烤店每天晚上油烟很大，熏得没法开窗", "环境保护"),
    ("公司已经拖欠我们三个月工资了，老板不见人影", "劳动和社会保障"),
    ("孩子今年上小学，学区划分不合理，入学难", "教育文体"),
    ("在超市买到过期食品，商家拒绝退款", "商贸旅游"),
    ("医院乱收费，做个检查花了好几千", "卫生计生"),
    ("出租车司机拒载还绕路，投诉无门", "交通运输"),
])
def test_raw_messages_as_citizens_write_them_get_their_class(message, label):
    assert load_model().predict(message).label == label


def test_candidates_are_the_top_k_best_first_and_all_seven_sum_to_one():
    m = load_model()
    message = "道路施工噪音很大，晚上十二点还在施工"
    assert len(m.predict(message).candidates) == 3
    assert len(m.predict(message, top=1).candidates) == 1
    everything = m.predict(message, top=10).candidates
    assert {label for label, _ in everything} == SEVEN
    confidences = [c for _, c in everything]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="top"):
        m.predict(message, top=0)


def test_an_empty_or_odd_message_still_gets_a_valid_prediction():
    m = load_model()
    for message in ("", "   ", "！！！？？", "a" * 100_000):
        p = m.predict(message)
        assert p.label in SEVEN and 0 <= p.confidence <= 1


def test_load_model_is_cached_per_path():
    assert load_model() is load_model()
    assert load_model(model.DEFAULT_PATH) is load_model()


def test_the_same_seed_gives_the_same_bytes(small, tmp_path):
    a = model.save(training.train(seed=7, examples=small), tmp_path / "a.zip")
    b = model.save(training.train(seed=7, examples=small), tmp_path / "b.zip")
    assert a == b
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    other = training.train(seed=8, examples=small)
    assert other.meta["version"] != json.loads(zipfile.ZipFile(tmp_path / "a.zip").read("meta.json"))["version"]


def test_the_shipped_artifact_is_what_training_with_seed_0_gives_now():
    """Retrains in full (about 6 s): the committed model.zip matches the code and data."""
    fresh = model.Model(training.train(seed=0))
    shipped = load_model()
    assert fresh.version == shipped.version and fresh.classes == shipped.classes
    texts = [text.segment(t, 600) for t in data.raw_examples().texts[:200]]
    assert fresh.probabilities(texts) == pytest.approx(shipped.probabilities(texts), abs=1e-5)


def _rewrite(src: Path, dst: Path, **meta_changes) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            payload = zin.read(item)
            if item.filename == "meta.json":
                meta = json.loads(payload)
                meta.update(meta_changes)
                payload = json.dumps(meta).encode()
            zout.writestr(item, payload)
    return dst


def test_an_artifact_trained_on_other_data_is_refused(tmp_path):
    meta = json.loads(zipfile.ZipFile(model.DEFAULT_PATH).read("meta.json"))
    other = [{**meta["data"][0], "sha256": "0" * 64}]
    path = _rewrite(model.DEFAULT_PATH, tmp_path / "other-data.zip", data=other)
    with pytest.raises(ModelError, match="sha256 0{64}.*shipped file.*hotline model train"):
        load_model(path)


def test_an_artifact_of_another_recipe_or_no_artifact_is_refused(tmp_path):
    path = _rewrite(model.DEFAULT_PATH, tmp_path / "old.zip", recipe="tfidf-words-0")
    with pytest.raises(ModelError, match="recipe 'tfidf-words-0'"):
        load_model(path)
    with pytest.raises(ModelError, match="no classifier artifact"):
        load_model(tmp_path / "missing.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a classifier artifact"):
        load_model(tmp_path / "junk.zip")


def test_extra_examples_are_trained_on_and_recorded(small, tmp_path, monkeypatch):
    extra = tmp_path / "corrections.csv"
    extra.write_text("text,label\n楼下烧烤摊油烟太大,环境保护\n快递丢件没人管,交通运输\n又一次快递丢件,交通运输\n", encoding="utf-8")
    assert len(training.corpus(extra).texts) == 8628 + 3
    monkeypatch.setattr(data, "segmented_examples", lambda: data.Examples(tuple(small.texts), tuple(small.labels), True))
    corpus = training.corpus(extra)
    assert corpus.texts[-2] == "快递 丢件 没人管" and corpus.labels[-3:] == ["环境保护", "交通运输", "交通运输"]
    artifact = training.train(seed=0, extra=extra)
    assert artifact.meta["data"][1] == {"name": "corrections.csv", "sha256": data.sha256_of(extra), "rows": 3}
    assert "丢件" in artifact.vocabulary  # from the corrections (min_df 2: two of their rows)
    without = training.train(seed=0)
    assert without.meta["version"] != artifact.meta["version"]


def test_extra_examples_with_a_bad_label_or_columns_are_refused_by_name(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\n停水了,城乡建设\n乱收费,物价\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 2: label '物价' is not one of 城乡建设"):
        data.extra_examples(bad)
    bad.write_text("message,class\n停水了,城乡建设\n", encoding="utf-8")
    with pytest.raises(ValueError, match="`text` and `label`"):
        data.extra_examples(bad)


def test_jieba_writes_no_cache_file(tmp_path, monkeypatch):
    """jieba's own initialisation would dump a marshal cache into the temp directory."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(text, "_tokenizer", None)
    assert text.segment("北京市房山区停水了", 600).split()[:3] == ["北京市", "房山区", "停水"]
    assert list(tmp_path.iterdir()) == []


def test_live_text_and_training_text_give_the_same_tokens():
    assert text.segment("ＡＢＣ小区  停水！", 600) == "abc 小区 停水"
    assert text.presegmented("ＡＢＣ 小区 停水 ！") == "abc 小区 停水"
    assert text.features("区华庭 停水") == ["区华庭", "停水", "区", "华", "庭", "区华", "华庭", "停", "水"]
    assert text.segment("停水" * 1000, 10) == "停水 停水 停水 停水 停水"


def test_the_train_command_writes_an_artifact_and_refuses_bad_extras(small, tmp_path, monkeypatch):
    monkeypatch.setattr(training, "corpus", lambda extra=None, params=None, corrections=None: small)
    out = tmp_path / "m.zip"
    result = CliRunner().invoke(app, ["model", "train", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert ".s3." in result.output and str(out) in result.output
    assert load_model(out).version.startswith(model.RECIPE + ".s3.")
    monkeypatch.undo()
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\n乱收费,物价\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["model", "train", "--extra", str(bad), "--out", str(out)])
    assert result.exit_code == 2 and "not one of" in result.output


def test_the_predict_command_prints_classes_and_probabilities():
    result = CliRunner().invoke(app, ["model", "predict", "小区停水三天了", "--top", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("城乡建设\t")


def test_scores_and_the_keyword_baseline_are_figures_of_the_seven_classes():
    from hotline.classifier import evaluate

    s = evaluate.score("toy", ["城乡建设", "城乡建设", "交通运输", "商贸旅游"], ["城乡建设", "交通运输", "交通运输", "other"])
    assert s.accuracy == 0.5 and s.outside_classes == 1
    assert s.per_class["城乡建设"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert s.confusion[0][0] == 1 and sum(map(sum, s.confusion)) == 3  # `other` is in no column
    before = evaluate.keyword_baseline()
    assert before.rows == 872
    assert before.macro_f1 < evaluate.GATE_MACRO_F1  # the gate would have failed the keywords


def test_eval_writes_its_results_as_json(tmp_path, monkeypatch):
    from rich.console import Console

    from hotline.classifier import evaluate

    toy = evaluate.score("toy", ["城乡建设", "商贸旅游"], ["城乡建设", "商贸旅游"])
    monkeypatch.setattr(evaluate, "segmented_cv", lambda: toy)
    monkeypatch.setattr(evaluate, "raw_cv", lambda: toy)
    monkeypatch.setattr(evaluate, "raw_held_out", lambda: (toy, toy, 3))
    monkeypatch.setattr(evaluate, "training_run", lambda: {"seconds": 1.0, "features": 2, "version": "v"})
    monkeypatch.setattr(evaluate, "calibration", lambda: {
        "thresholds": {"0.5": {"to_triage": 0.02, "right_below": 0.45, "errors_caught": 0.16,
                               "accuracy_of_the_rest": 0.94}},
        "bands": [{"from": 0.0, "to": 0.5, "rows": 3, "right": 0.45}]})
    monkeypatch.setattr(evaluate.data, "raw_examples",
                        lambda: data.Examples(("小区停水",) * 60, ("城乡建设",) * 60, False))
    out = tmp_path / "results" / "classify.json"
    console = Console(record=True, width=160)
    evaluate.run(out, console=console)
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["segmented_cv"]["accuracy"] == 1.0 and results["raw_held_out"]["segmented_rows_excluded"] == 3
    assert results["model"]["bytes"] == model.DEFAULT_PATH.stat().st_size
    assert results["latency"]["messages"] == 60 and results["latency"]["p99_ms"] > 0
    assert results["aims"] == {"macro_f1": 0.90, "gate_macro_f1": 0.85, "p99_ms": 5.0}
    printed = console.export_text()
    assert "aim macro-F1 >= 0.9" in printed and "jieba+fastText 0.93" in printed and "p99" in printed
    assert results["calibration"]["thresholds"]["0.5"]["to_triage"] == 0.02 and "errors caught" in printed
