"""The centre's category corrections, as routing keeps them in the real store, exported and trained
on by the command line (`hotline model corrections export`, `hotline model train --corrections`)."""

import asyncio
import time
from datetime import UTC, datetime

from typer.testing import CliRunner

from hotline.classifier import data, load_model, model
from hotline.classifier.corrections import COLLECTION
from hotline.cli import app

# The shipped data has neither word: after training they come from the corrections alone.
NEW_WORDS = ("密室", "剧本")


def _correction(ticket_id: str, text: str, category: str, first_level: str) -> dict:
    """A document shaped as routing writes it (SPEC28 section 1)."""
    return {"_id": ticket_id, "ticket_id": ticket_id, "text": text, "category": category,
            "first_level": first_level, "urgency": None, "corrected_at": datetime(2026, 12, 7, 8, tzinfo=UTC),
            "command_id": f"cmd-{ticket_id}"}


DOCUMENTS = [
    _correction("TK20261207000001", "楼下密室店和剧本店夜里噪音很大，电话13812345678", "noise", "环境保护"),
    _correction("TK20261207000002", "密室店剧本店门口垃圾堆放，联系人：李四", "sanitation", "城乡建设"),
    _correction("TK20261207000003", "密室和剧本店经营者拒不退款", "market_consumer", "商贸旅游"),
    _correction("TK20261207000004", "有人在门口打架", "public_order", "公共安全"),  # no class the model knows
]


async def _run(namespace, db, *args: str):
    env = {"MONGODB_URL": namespace.mongodb_url, "MONGODB_DATABASE": db.name}
    # The command runs its own event loop (asyncio.run): keep it off the test's loop.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def test_corrections_in_the_store_are_exported_and_trained_on(fresh_db, namespace, tmp_path):
    await fresh_db[COLLECTION].insert_many(DOCUMENTS)
    exported = tmp_path / "corrections.csv"
    result = await _run(namespace, fresh_db, "model", "corrections", "export", str(exported))
    assert result.exit_code == 0, result.output
    assert "3 corrections written to" in result.output and "1 skipped" in result.output
    assert "skipped the correction of TK20261207000004: category 'public_order' is under 公共安全" in result.output
    rows = data.extra_examples(exported)
    assert rows.labels == ("环境保护", "城乡建设", "商贸旅游")
    assert rows.texts[0] == "楼下密室店和剧本店夜里噪音很大，电话[电话]" and "李四" not in rows.texts[1]

    out = tmp_path / "model.zip"
    start = time.perf_counter()
    result = await _run(namespace, fresh_db, "model", "train", "--corrections", "--out", str(out))
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    # 7.4 s measured on the 2 shared cores: the whole fit, no smaller corpus needed.
    print(f"training on the shipped data and 3 corrections took {seconds:.1f} s")
    artifact = model.read(out)
    assert artifact.meta["data"] == [
        {"name": data.SEGMENTED, "sha256": data.shipped_sha256(), "rows": 8628},
        {"name": COLLECTION, "sha256": data.sha256_of(exported), "rows": 3, "skipped": 1},
    ]
    assert set(NEW_WORDS) <= set(artifact.vocabulary)
    assert not set(NEW_WORDS) & set(model.read(model.DEFAULT_PATH).vocabulary)
    assert "13812345678" not in artifact.vocabulary
    assert load_model(out).predict("密室剧本店噪音").label in data.CLASSES
