"""Training and cross-validation: one recipe, deterministic for a seed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jieba
import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from hotline.classifier import data
from hotline.classifier.model import FORMAT, RECIPE, Artifact, vectorizer
from hotline.classifier.text import segment

if TYPE_CHECKING:  # the store's client is imported only by a run that reads the corrections
    from hotline.classifier.corrections import Corrections


@dataclass(frozen=True)
class Params:
    """The recipe's settings. C and min_df were chosen by 5-fold CV on the segmented set
    (docs/classifier.md lists the variants tried); max_chars bounds jieba's time per message."""

    c: float = 1.0
    min_df: int = 2
    max_chars: int = 600
    calibration_folds: int = 3


@dataclass(frozen=True)
class Corpus:
    """Segmented texts and labels to train on, and where they came from."""

    texts: list[str]
    labels: list[str]
    sources: list[dict] = field(default_factory=list)


def corpus(extra: Path | None = None, params: Params = Params(), corrections: Corrections | None = None) -> Corpus:
    """The shipped segmented messages, plus extra examples and the centre's corrections (raw
    text, cut as live text is)."""
    shipped = data.segmented_examples()
    texts, labels = list(shipped.texts), list(shipped.labels)
    sources = [{"name": data.SEGMENTED, "sha256": data.shipped_sha256(), "rows": len(texts)}]
    if extra is not None:
        more = data.extra_examples(extra)
        texts += [segment(t, params.max_chars) for t in more.texts]
        labels += more.labels
        sources.append({"name": extra.name, "sha256": data.sha256_of(extra), "rows": len(more.texts)})
    if corrections is not None:
        texts += [segment(t, params.max_chars) for t in corrections.texts]
        labels += corrections.labels
        sources.append(corrections.source())
    return Corpus(texts, labels, sources)


def pipeline(seed: int, params: Params = Params()) -> Pipeline:
    """TF-IDF over words and characters, then a linear SVM (uncalibrated: for cross-validation,
    where only the label counts; calibration does not change which class scores highest)."""
    return Pipeline([("tfidf", vectorizer(min_df=params.min_df)),
                     ("svm", LinearSVC(C=params.c, random_state=seed))])


def train(seed: int = 0, extra: Path | None = None, params: Params = Params(),
          examples: Corpus | None = None, corrections: Corrections | None = None) -> Artifact:
    """Fit the recipe on the shipped data (and `extra`, and `corrections`), with temperature
    scaling fitted on out-of-fold decision scores so that a prediction's confidence is a probability."""
    c = examples or corpus(extra, params, corrections)
    vec = vectorizer(min_df=params.min_df)
    x = vec.fit_transform(c.texts)
    calibrated = CalibratedClassifierCV(
        LinearSVC(C=params.c, random_state=seed), method="temperature", ensemble=False,
        cv=StratifiedKFold(params.calibration_folds, shuffle=True, random_state=seed),
    ).fit(x, np.asarray(c.labels))
    fitted = calibrated.calibrated_classifiers_[0]
    svm, beta = fitted.estimator, float(fitted.calibrators[0].beta_)
    # Temperature scaling fits the SVM on label-encoded classes: 0..n-1 in `classes_` order.
    assert list(svm.classes_) == list(range(len(calibrated.classes_)))
    vocabulary = [term for term, _ in sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])]
    data_tag = hashlib.sha256("".join(s["sha256"] for s in c.sources).encode()).hexdigest()[:8]
    meta = {
        "format": FORMAT,
        "recipe": RECIPE,
        "version": f"{RECIPE}.s{seed}.{data_tag}",
        "seed": seed,
        "classes": [str(k) for k in calibrated.classes_],
        "params": {"c": params.c, "min_df": params.min_df, "max_chars": params.max_chars,
                   "calibration_folds": params.calibration_folds},
        "beta": beta,
        "data": c.sources,
        "libraries": {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "jieba": jieba.__version__},
    }
    return Artifact(meta, vocabulary, vec.idf_.astype(np.float64), svm.coef_.astype(np.float32),
                    svm.intercept_.astype(np.float64))


def folds(texts: list[str], labels: list[str], k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds that keep identical texts together (the segmented set repeats 116 of
    them: a copy in the test fold of a text in the training fold would flatter the figure)."""
    groups = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    splitter = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(texts)), labels, groups))


def cross_validate(texts: list[str], labels: list[str], k: int = 5, seed: int = 0,
                   params: Params = Params()) -> list[str]:
    """Out-of-fold predicted labels of segmented texts, the recipe refitted on each fold."""
    y = np.asarray(labels, dtype=object)
    predicted = np.empty(len(texts), dtype=object)
    for train_idx, test_idx in folds(texts, labels, k, seed):
        model = pipeline(seed, params).fit([texts[i] for i in train_idx], y[train_idx])
        predicted[test_idx] = model.predict([texts[i] for i in test_idx])
    return [str(p) for p in predicted]
