"""The labelled messages shipped in data/classifier/ (see its SOURCE.md), and extra examples."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from hotline.classifier.text import presegmented

SEGMENTED = "messages_labeled_segmented.csv"
RAW = "messages_labeled_raw.csv"
LABEL = "一级标签"
# The government's seven first-level classes of the labelled data, largest first.
CLASSES = ("城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输")


@dataclass(frozen=True)
class Examples:
    """Texts and their labels. `segmented` texts are already cut (tokens joined by spaces)."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    segmented: bool


def data_path(name: str) -> Path:
    """A shipped data file (inside the installed package)."""
    return Path(str(resources.files("hotline") / "data" / "classifier" / name))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def shipped_sha256() -> str:
    """The sha256 of the shipped training file: an artifact records the one it was trained on."""
    return sha256_of(data_path(SEGMENTED))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def segmented_examples() -> Examples:
    """The 8,628 pre-segmented messages: the training set."""
    rows = _rows(data_path(SEGMENTED))
    return Examples(tuple(presegmented(r["text_seg"]) for r in rows), tuple(r[LABEL] for r in rows), True)


def raw_examples() -> Examples:
    """The 872 messages as citizens wrote them (subject, then details): a subset of the same
    rows, so never a test set for a model trained on the segmented file."""
    rows = _rows(data_path(RAW))
    return Examples(tuple(f"{r['留言主题']}\n{r['留言详情']}" for r in rows), tuple(r[LABEL] for r in rows), False)


def extra_examples(path: Path) -> Examples:
    """Corrected examples to train on beside the shipped data (issue #28): a UTF-8 CSV with the
    columns `text` (a raw message) and `label` (one of the seven classes)."""
    try:
        rows = _rows(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: cannot read it as a UTF-8 CSV ({exc})") from exc
    if rows and not {"text", "label"} <= set(rows[0]):
        raise ValueError(f"{path}: the columns must include `text` and `label`")
    for row, r in enumerate(rows, start=1):
        if r["label"] not in CLASSES:
            raise ValueError(f"{path} row {row}: label {r['label']!r} is not one of {', '.join(CLASSES)}")
        if not (r["text"] or "").strip():
            raise ValueError(f"{path} row {row}: text is empty")
    return Examples(tuple(r["text"] for r in rows), tuple(r["label"] for r in rows), False)
