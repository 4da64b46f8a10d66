"""The trained category classifier as intake uses it: `load_model().predict(text)`.

The artifact is a zip of JSON and .npy members (no pickle: loading it runs no code), written
byte-for-byte the same for the same seed, data and library versions."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from hotline.classifier import data
from hotline.classifier.text import features, segment, tokenizer

FORMAT = 1
# Names the feature and model recipe (classifier/text.py, classifier/training.py). Bump it when
# either changes: an artifact of another recipe is refused, since its features would not match.
RECIPE = "tfidf-wordchar-linearsvc-1"
DEFAULT_PATH = data.data_path("model.zip")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip member times: the same model gives the same bytes


class ModelError(ValueError):
    """An artifact that cannot be used (missing, malformed, other recipe, other data)."""


@dataclass(frozen=True)
class Prediction:
    """The best class, its probability (0-1), and the top classes with theirs, best first."""

    label: str
    confidence: float
    candidates: list[tuple[str, float]]


@dataclass(frozen=True)
class Artifact:
    """What a training run produces and `save` writes."""

    meta: dict
    vocabulary: list[str]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray


class Model:
    """A loaded classifier: TF-IDF over words and characters, a linear SVM, temperature-scaled."""

    def __init__(self, artifact: Artifact) -> None:
        meta = artifact.meta
        self.version: str = meta["version"]
        self.classes: tuple[str, ...] = tuple(meta["classes"])
        self.meta = meta
        self._max_chars = int(meta["params"]["max_chars"])
        self._beta = float(meta["beta"])
        self._vectorizer = vectorizer(vocabulary={t: i for i, t in enumerate(artifact.vocabulary)})
        self._vectorizer.idf_ = artifact.idf
        self.n_features = len(artifact.vocabulary)
        self._coef_t = np.ascontiguousarray(artifact.coef.T, dtype=np.float64)
        self._intercept = artifact.intercept.astype(np.float64)

    def probabilities(self, segmented: list[str]) -> np.ndarray:
        """Class probabilities (rows sum to 1) of already segmented texts, in `classes` order."""
        scores = self._vectorizer.transform(segmented) @ self._coef_t + self._intercept
        z = self._beta * scores
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, text: str, top: int = 3) -> Prediction:
        """The class of a citizen's message as written (raw text, any length)."""
        return self.predict_many([text], top)[0]

    def predict_many(self, texts: list[str], top: int = 3) -> list[Prediction]:
        """`predict` for several messages at once, the same answers: one TF-IDF transform and one
        product for all, since each call to them costs about half a millisecond whatever its size
        (intake classifies a whole Kafka batch so)."""
        if top < 1:
            raise ValueError("top must be at least 1")
        if not texts:
            return []
        proba = self.probabilities([segment(t, self._max_chars) for t in texts])
        # Sorted for the whole batch at once, and read back as Python floats once: per row, numpy
        # calls cost more than the model itself.
        orders = np.argsort(-proba, axis=1, kind="stable")[:, :top].tolist()
        rows = proba.tolist()
        predictions = []
        for row, order in zip(rows, orders):
            candidates = [(self.classes[i], row[i]) for i in order]
            predictions.append(Prediction(label=candidates[0][0], confidence=candidates[0][1], candidates=candidates))
        return predictions


def vectorizer(**kwargs) -> TfidfVectorizer:
    """The TF-IDF step, the same in training and at prediction."""
    return TfidfVectorizer(analyzer=features, lowercase=False, sublinear_tf=True, dtype=np.float64, **kwargs)


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def save(artifact: Artifact, path: Path) -> int:
    """Write the artifact (atomically: a reader never sees half of it); returns its size."""
    members = {
        "meta.json": json.dumps(artifact.meta, ensure_ascii=False, sort_keys=True, indent=1).encode(),
        "vocabulary.json": json.dumps(artifact.vocabulary, ensure_ascii=False).encode(),
        "idf.npy": _array_bytes(artifact.idf),
        "coef.npy": _array_bytes(artifact.coef),
        "intercept.npy": _array_bytes(artifact.intercept),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as z:
        for name, payload in members.items():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, payload, compresslevel=9)
    tmp.replace(path)
    return path.stat().st_size


def read(path: Path) -> Artifact:
    """The artifact at `path`, checked for shape; ModelError says what is wrong."""
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("meta.json"))
            vocabulary = json.loads(z.read("vocabulary.json"))
            arrays = {n: np.lib.format.read_array(io.BytesIO(z.read(f"{n}.npy")), allow_pickle=False)
                      for n in ("idf", "coef", "intercept")}
    except FileNotFoundError as exc:
        raise ModelError(f"no classifier artifact at {path}: train one with `hotline model train`") from exc
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path} is not a classifier artifact ({exc})") from exc
    if meta.get("format") != FORMAT or meta.get("recipe") != RECIPE:
        raise ModelError(f"{path} has format {meta.get('format')!r}, recipe {meta.get('recipe')!r}; this code "
                         f"reads format {FORMAT}, recipe {RECIPE!r}: retrain with `hotline model train`")
    n_classes, n_features = len(meta["classes"]), len(vocabulary)
    if (arrays["coef"].shape != (n_classes, n_features) or arrays["idf"].shape != (n_features,)
            or arrays["intercept"].shape != (n_classes,)):
        raise ModelError(f"{path}: array shapes do not match its {n_classes} classes and {n_features} features")
    return Artifact(meta, vocabulary, arrays["idf"], arrays["coef"], arrays["intercept"])


def check_data(meta: dict, path: Path) -> None:
    """Refuse an artifact trained on other data than the labelled messages shipped with this code."""
    trained_on = {d["name"]: d["sha256"] for d in meta.get("data", [])}.get(data.SEGMENTED)
    shipped = data.shipped_sha256()
    if trained_on != shipped:
        raise ModelError(f"{path} was trained on {data.SEGMENTED} with sha256 {trained_on}, but the shipped file "
                         f"has sha256 {shipped}: retrain with `hotline model train`")


@cache
def _load(path: Path) -> Model:
    artifact = read(path)
    check_data(artifact.meta, path)
    tokenizer()  # jieba's dictionary now (about a second), not in the first message's time
    return Model(artifact)


def load_model(path: Path | str | None = None) -> Model:
    """The classifier at `path` (default: the one shipped in the package), loaded once per path."""
    return _load(Path(path).resolve() if path is not None else DEFAULT_PATH)
