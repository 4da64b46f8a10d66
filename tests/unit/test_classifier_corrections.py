"""The centre's category corrections as training examples (hotline.classifier.corrections, issue #28)."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotline.classifier import corrections, data, training
from hotline.classifier.corrections import Corrections, Skipped, example_of, from_documents
from hotline.cli import app


def correction(ticket_id: str, text: str | None, category: str | None, **more) -> dict:
    """A document shaped as routing writes it (SPEC28 section 1)."""
    return {"_id": ticket_id, "ticket_id": ticket_id, "text": text, "category": category,
            "first_level": None, "urgency": None, "corrected_at": datetime(2026, 12, 7, 8, tzinfo=UTC),
            "command_id": f"cmd-{ticket_id}", **more}


def test_a_correction_is_labelled_with_its_category_s_first_level_class():
    assert example_of(correction("TK1", "小区停水三天了", "water_supply")) == ("小区停水三天了", "城乡建设")
    assert example_of(correction("TK2", "公交车总是不准点", "public_transport"))[1] == "交通运输"
    # The tree decides, not a `first_level` the document may carry from another tree's time.
    assert example_of(correction("TK3", "烧烤油烟", "environment_pollution", first_level="城乡建设"))[1] == "环境保护"


def test_the_text_is_scrubbed_of_phones_ids_and_named_names():
    text, _ = example_of(correction("TK1", "停水了，联系人：王小明，电话13812345678，身份证110101199003071234",
                                    "water_supply"))
    assert "13812345678" not in text and "王小明" not in text and "110101199003071234" not in text
    assert text == "停水了，联系人：[姓名]，电话[电话]，身份证[身份证]"


@pytest.mark.parametrize("document, reason", [
    (correction("TK1", "有人打架", "public_order"), "category 'public_order' is under 公共安全, a class the model"),
    (correction("TK2", "别的事", "other"), "category 'other' is under 其他, a class the model does not know"),
    (correction("TK3", "停水", "no_such_code"), "category 'no_such_code' is not in the category tree"),
    (correction("TK4", "停水", None), "no category"),
    (correction("TK5", "   ", "water_supply"), "no text"),
    (correction("TK6", None, "water_supply"), "no text"),
    ({"_id": "TK7", "category": "water_supply"}, "no text"),
])
def test_a_correction_that_gives_no_example_is_skipped_with_the_reason(document, reason):
    skipped = example_of(document)
    assert isinstance(skipped, Skipped) and skipped.ticket_id == document["_id"]
    assert skipped.reason.startswith(reason)


def test_documents_become_rows_in_ticket_order_and_skipped_ones_are_counted():
    found = from_documents([
        correction("TK3", "公司拖欠工资", "wages_social_security"),
        correction("TK1", "有人打架", "public_order"),
        correction("TK2", "小区停水", "water_supply"),
        correction("TK4", "别的事", "other"),
    ])
    assert found.texts == ("小区停水", "公司拖欠工资") and found.labels == ("城乡建设", "劳动和社会保障")
    assert [s.ticket_id for s in found.skipped] == ["TK1", "TK4"]
    assert found.skipped_summary() == ("2 skipped: 1 × category 'other' is under 其他, a class the model does not "
                                       "know; 1 × category 'public_order' is under 公共安全, a class the model does "
                                       "not know")
    assert found.source() == {"name": "routing_corrections", "sha256": found.sha256(), "rows": 2, "skipped": 2}
    # The order of the store does not change the hash.
    assert from_documents(reversed([correction("TK1", "停水", "water_supply"),
                                    correction("TK2", "噪音", "noise")])).sha256() == from_documents(
        [correction("TK1", "停水", "water_supply"), correction("TK2", "噪音", "noise")]).sha256()


def test_the_csv_reads_back_as_extra_examples_with_the_same_hash(tmp_path: Path):
    found = Corrections(("小区停水，\"很急\"", "第一行\n第二行, 逗号"), ("城乡建设", "环境保护"))
    path = tmp_path / "out" / "corrections.csv"
    corrections.write_csv(found, path)
    back = data.extra_examples(path)
    assert back.texts == found.texts and back.labels == found.labels
    assert data.sha256_of(path) == found.sha256()
    assert path.read_text(encoding="utf-8").startswith("text,label\n")


def test_an_empty_store_gives_a_header_only_csv(tmp_path: Path):
    path = tmp_path / "none.csv"
    corrections.write_csv(from_documents([]), path)
    assert path.read_text(encoding="utf-8") == "text,label\n"
    assert data.extra_examples(path).texts == ()


def test_corrections_are_cut_as_live_text_and_named_in_the_artifact(monkeypatch):
    shipped = data.segmented_examples()
    monkeypatch.setattr(data, "segmented_examples",
                        lambda: data.Examples(shipped.texts[::4], shipped.labels[::4], True))
    found = from_documents([correction("TK1", "快递丢件没人管，电话13812345678", "public_transport"),
                            correction("TK2", "又一次快递丢件", "public_transport")])
    corpus = training.corpus(corrections=found)
    assert corpus.texts[-2] == "快递 丢件 没人管 电话 电话" and corpus.labels[-2:] == ["交通运输", "交通运输"]
    artifact = training.train(seed=0, corrections=found)
    assert artifact.meta["data"][-1] == {"name": "routing_corrections", "sha256": found.sha256(), "rows": 2,
                                         "skipped": 0}
    assert "丢件" in artifact.vocabulary and "13812345678" not in artifact.vocabulary
    assert artifact.meta["version"] != training.train(seed=0).meta["version"]


def test_the_commands_export_and_train_with_the_store_s_corrections(tmp_path: Path, monkeypatch):
    found = from_documents([correction("TK1", "小区停水", "water_supply"), correction("TK2", "打架", "public_order")])
    monkeypatch.setattr(corrections, "load", lambda settings=None: found)
    out = tmp_path / "c.csv"
    result = CliRunner().invoke(app, ["model", "corrections", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 corrections written to" in result.output and "1 skipped" in result.output
    assert "skipped the correction of TK2: category 'public_order' is under 公共安全" in result.output
    assert data.extra_examples(out).labels == ("城乡建设",)

    given = {}

    def fake_train(**kwargs):
        given.update(kwargs)
        raise ValueError("stop here")  # the real fit is tested above

    monkeypatch.setattr(training, "train", fake_train)
    result = CliRunner().invoke(app, ["model", "train", "--corrections", "--out", str(tmp_path / "m.zip")])
    assert result.exit_code == 2 and given["corrections"] is found


def test_an_unreachable_store_is_said_plainly_without_the_url(monkeypatch):
    monkeypatch.setenv("MONGODB_URL", "mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=200")
    monkeypatch.setenv("MONGODB_TIMEOUT_MS", "500")
    result = CliRunner().invoke(app, ["model", "corrections", "export", "unused.csv"])
    assert result.exit_code == 1
    assert "cannot read routing_corrections from database" in result.output and "secret" not in result.output


def test_training_reads_the_collection_routing_writes():
    """Routing keeps the corrections where `hotline model train --corrections` reads them."""
    from pymongo import AsyncMongoClient

    from hotline.classifier import corrections
    from hotline.routing.store import DispatchStore

    client: AsyncMongoClient = AsyncMongoClient("mongodb://127.0.0.1:1", connect=False)
    assert DispatchStore(client["any"])._corrections.name == corrections.COLLECTION
