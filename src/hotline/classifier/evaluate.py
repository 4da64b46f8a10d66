"""`hotline eval classify`: cross-validated quality of the recipe, the shipped model's size and
speed, and the keyword classifier it replaces, beside the aims and published anchors."""

from __future__ import annotations

import copy
import os
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from hotline.classifier import data, training
from hotline.classifier.model import DEFAULT_PATH, Model, load_model, vectorizer
from hotline.classifier.text import segment

SEED = 0
FOLDS = 5
AIM_MACRO_F1 = 0.90
GATE_MACRO_F1 = 0.85  # tests/unit/test_classifier_quality.py
AIM_P99_MS = 5.0
# TipDM Cup 2020 Problem C, the same seven classes, 5-fold CV on the full 9,210 rows.
ANCHORS = {"tfidf_pos_svm_macro_f1": 0.90, "jieba_fasttext_macro_f1": 0.93}
# Raw messages sharing this much of their word set (cosine) with a raw message are its copies.
NEAR_COPY = 0.5
# Minimum confidences whose effect `calibration` reports (intake's INTAKE_CLASSIFIER_MIN_CONFIDENCE).
THRESHOLDS = (0.4, 0.5, 0.6, 0.7)
BANDS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class Scores:
    """Labels against predictions: the figures of one evaluation."""

    name: str
    rows: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    outside_classes: int = 0  # predictions that are none of the seven (the keyword baseline's)

    def as_json(self) -> dict:
        return {k: getattr(self, k) for k in ("rows", "accuracy", "macro_f1", "per_class", "confusion",
                                              "outside_classes")}


def score(name: str, labels: list[str], predicted: list[str]) -> Scores:
    classes = list(data.CLASSES)
    p, r, f, n = precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
    per_class = {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(n[i])}
                 for i, c in enumerate(classes)}
    return Scores(
        name=name, rows=len(labels), accuracy=float(accuracy_score(labels, predicted)),
        macro_f1=float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)),
        per_class=per_class, confusion=confusion_matrix(labels, predicted, labels=classes).tolist(),
        outside_classes=sum(1 for x in predicted if x not in classes),
    )


def segmented_cv(seed: int = SEED, k: int = FOLDS) -> Scores:
    """k-fold CV of the recipe on the 8,628 segmented messages (the training set)."""
    shipped = data.segmented_examples()
    predicted = training.cross_validate(list(shipped.texts), list(shipped.labels), k=k, seed=seed)
    return score(f"segmented, {k}-fold CV", list(shipped.labels), predicted)


def raw_cut() -> tuple[list[str], list[str]]:
    raw = data.raw_examples()
    return [segment(t, training.Params().max_chars) for t in raw.texts], list(raw.labels)


def raw_cv(seed: int = SEED, k: int = FOLDS) -> Scores:
    """k-fold CV within the 872 raw messages only, each cut by jieba as a live message is."""
    texts, labels = raw_cut()
    return score(f"raw 872, {k}-fold CV (live-text path)", labels, training.cross_validate(texts, labels, k, seed))


def near_copies(raw_texts: list[str], segmented_texts: list[str]) -> np.ndarray:
    """Which segmented rows are (near) copies of a raw message: its own row and reposts."""
    words = CountVectorizer(analyzer=str.split, binary=True).fit(raw_texts + segmented_texts)
    similarity = normalize(words.transform(raw_texts)) @ normalize(words.transform(segmented_texts)).T
    return similarity.max(axis=0).toarray().ravel() >= NEAR_COPY


def raw_held_out(seed: int = SEED) -> tuple[Scores, Scores, int]:
    """The recipe trained on the segmented messages less the raw messages' near copies, then
    tested on the raw messages as written: how the shipped kind of model does on citizen text.
    Also with each message cut whole, not only its first max_chars characters."""
    raw_texts, raw_labels = raw_cut()
    shipped = data.segmented_examples()
    copies = near_copies(raw_texts, list(shipped.texts))
    keep = [i for i in range(len(shipped.texts)) if not copies[i]]
    model = training.pipeline(seed).fit([shipped.texts[i] for i in keep], [shipped.labels[i] for i in keep])
    predicted = [str(p) for p in model.predict(raw_texts)]
    whole = [segment(t, 10**9) for t in data.raw_examples().texts]
    predicted_whole = [str(p) for p in model.predict(whole)]
    return (score("raw 872, trained on segmented less their copies", raw_labels, predicted),
            score("the same, each message cut whole", raw_labels, predicted_whole), int(copies.sum()))


def keyword_baseline() -> Scores:
    """The keyword classifier intake used (taxonomy.categorize, 22 categories) on the raw
    messages, its categories mapped to first-level classes by data/taxonomy/tree.yaml."""
    from hotline.category_tree import first_level_of
    from hotline.taxonomy import default_taxonomy

    taxonomy = default_taxonomy()
    raw = data.raw_examples()
    predicted = [first_level_of(taxonomy.categorize(t)) for t in raw.texts]
    return score("raw 872, keyword classifier (before)", list(raw.labels), predicted)


def calibration(seed: int = SEED, k: int = FOLDS) -> dict:
    """Out-of-fold confidences of the recipe on the segmented messages, each fold's model trained
    (temperature scaling included) as `train` does: how often a prediction of each confidence is
    right, and what each minimum confidence would send to intake's triage desk."""
    shipped = data.segmented_examples()
    texts, labels = list(shipped.texts), list(shipped.labels)
    confidence, right = np.zeros(len(texts)), np.zeros(len(texts), dtype=bool)
    for train_idx, test_idx in training.folds(texts, labels, k, seed):
        model = Model(training.train(seed, examples=training.Corpus(
            [texts[i] for i in train_idx], [labels[i] for i in train_idx])))
        proba = model.probabilities([texts[i] for i in test_idx])
        confidence[test_idx] = proba.max(axis=1)
        right[test_idx] = [model.classes[j] == labels[i] for i, j in zip(test_idx, proba.argmax(axis=1))]
    bands = []
    for low, high in zip(BANDS, BANDS[1:]):
        inside = (confidence >= low) & ((confidence < high) if high < 1 else (confidence <= high))
        bands.append({"from": low, "to": high, "rows": int(inside.sum()),
                      "right": float(right[inside].mean()) if inside.any() else None})
    thresholds = {}
    for t in THRESHOLDS:
        below = confidence < t
        thresholds[str(t)] = {
            "to_triage": float(below.mean()),
            "right_below": float(right[below].mean()) if below.any() else None,
            "errors_caught": float((below & ~right).sum() / max(1, (~right).sum())),
            "accuracy_of_the_rest": float(right[~below].mean()) if (~below).any() else None,
        }
    quantiles = (0.1, 0.25, 0.5)

    def confidence_quantiles(rows: np.ndarray) -> dict[str, float]:
        return dict(zip(map(str, quantiles), np.quantile(confidence[rows], quantiles).tolist()))

    return {
        "rows": len(texts), "accuracy": float(right.mean()),
        "right_confidence_quantiles": confidence_quantiles(right),
        "wrong_confidence_quantiles": confidence_quantiles(~right),
        "bands": bands, "thresholds": thresholds,
    }


def latency(path: Path | None = None, warmup: int = 50, max_chars: int | None = None) -> dict:
    """Single-message `predict` on each raw message (jieba included), after a warm-up; with
    `max_chars`, a copy of the model that cuts that much of each message instead."""
    model = load_model(path)
    if max_chars is not None:
        model = copy.copy(model)
        model._max_chars = max_chars
    texts = list(data.raw_examples().texts)
    for t in texts[:warmup]:
        model.predict(t)
    times = []
    for t in texts:
        start = time.perf_counter()
        model.predict(t)
        times.append((time.perf_counter() - start) * 1000)
    q = np.quantile(times, [0.5, 0.9, 0.99])
    return {"messages": len(times), "p50_ms": float(q[0]), "p90_ms": float(q[1]), "p99_ms": float(q[2]),
            "max_ms": float(max(times)), "mean_ms": statistics.fmean(times)}


def training_run(seed: int = SEED) -> dict:
    start = time.perf_counter()
    artifact = training.train(seed=seed)
    return {"seconds": time.perf_counter() - start, "features": len(artifact.vocabulary),
            "version": artifact.meta["version"]}


def _words(text: str) -> list[str]:
    return text.split()


# Variants tried (segmented set, same folds): features x classifier x C.
VARIANTS = {
    "words, LinearSVC C=1": lambda seed: Pipeline([
        ("tfidf", vectorizer(min_df=2).set_params(analyzer=_words)), ("svm", LinearSVC(C=1.0, random_state=seed))]),
    "words+chars, LinearSVC C=0.25": lambda seed: training.pipeline(seed, training.Params(c=0.25)),
    "words+chars, LinearSVC C=0.5": lambda seed: training.pipeline(seed, training.Params(c=0.5)),
    "words+chars, LinearSVC C=1 (shipped)": lambda seed: training.pipeline(seed),
    "words+chars, LinearSVC C=2": lambda seed: training.pipeline(seed, training.Params(c=2.0)),
    "words+chars, LogisticRegression C=30": lambda seed: Pipeline([
        ("tfidf", vectorizer(min_df=2)), ("lr", LogisticRegression(C=30, max_iter=1000, random_state=seed))]),
}


def variants(seed: int = SEED, k: int = FOLDS) -> dict[str, dict]:
    shipped = data.segmented_examples()
    texts, labels = list(shipped.texts), np.asarray(shipped.labels, dtype=object)
    splits = training.folds(texts, list(labels), k, seed)
    out = {}
    for name, make in VARIANTS.items():
        start = time.perf_counter()
        predicted = np.empty(len(texts), dtype=object)
        for tr, te in splits:
            predicted[te] = make(seed).fit([texts[i] for i in tr], labels[tr]).predict([texts[i] for i in te])
        s = score(name, list(labels), [str(p) for p in predicted])
        out[name] = {"accuracy": s.accuracy, "macro_f1": s.macro_f1, "seconds": time.perf_counter() - start}
    return out


def _print(console: Console, results: dict, rows: list[Scores]) -> None:
    summary = Table(title="Category classifier: seven first-level classes")
    for col in ("evaluation", "rows", "accuracy", "macro-F1", "商贸旅游 recall", "not one of the 7"):
        summary.add_column(col, justify="left" if col == "evaluation" else "right")
    for s in rows:
        summary.add_row(s.name, str(s.rows), f"{s.accuracy:.3f}", f"{s.macro_f1:.3f}",
                        f"{s.per_class['商贸旅游']['recall']:.3f}", str(s.outside_classes))
    console.print(summary)
    console.print(f"aim macro-F1 >= {AIM_MACRO_F1} (segmented CV), gate {GATE_MACRO_F1}; anchors (TipDM 2020 C, "
                  f"5-fold): TF-IDF+POS+SVM {ANCHORS['tfidf_pos_svm_macro_f1']}, jieba+fastText "
                  f"{ANCHORS['jieba_fasttext_macro_f1']}")
    main = rows[0]
    per_class = Table(title=f"Per class: {main.name}")
    for col in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(col, justify="left" if col == "class" else "right")
    for c, m in main.per_class.items():
        per_class.add_row(c, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    console.print(per_class)
    for s in (main, rows[-1]):
        matrix = Table(title=f"Confusion (rows: label, columns: predicted): {s.name}")
        matrix.add_column("label")
        for c in data.CLASSES:
            matrix.add_column(c[:2], justify="right")
        for c, counts in zip(data.CLASSES, s.confusion):
            matrix.add_row(c, *(str(n) for n in counts))
        console.print(matrix)
    lat, model = results["latency"], results["model"]
    console.print(f"predict per message (raw text, jieba included, {lat['messages']} messages): p50 "
                  f"{lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms (aim <= {AIM_P99_MS} ms), max "
                  f"{lat['max_ms']:.2f} ms; load average {results['machine']['loadavg_1_5_15']}")
    whole = results["latency_cut_whole"]
    console.print(f"  cutting whole messages instead of the first {model['max_chars']} characters: p50 "
                  f"{whole['p50_ms']:.2f} ms, p99 {whole['p99_ms']:.2f} ms, max {whole['max_ms']:.2f} ms")
    console.print(f"model {model['version']}: {model['bytes']:,} bytes, {model['features']:,} features; "
                  f"training {results['training']['seconds']:.1f} s")
    cal = results["calibration"]
    table = Table(title=f"Confidence (segmented, {FOLDS}-fold CV): a minimum confidence and what falls below it")
    for col in ("minimum", "to triage", "right below it", "errors caught", "accuracy of the rest"):
        table.add_column(col, justify="right")
    for t, v in cal["thresholds"].items():
        table.add_row(t, f"{v['to_triage']:.3f}", "-" if v["right_below"] is None else f"{v['right_below']:.3f}",
                      f"{v['errors_caught']:.3f}",
                      "-" if v["accuracy_of_the_rest"] is None else f"{v['accuracy_of_the_rest']:.3f}")
    console.print(table)
    console.print("  right, by confidence: " + ", ".join(
        f"{b['from']:.1f}-{b['to']:.1f} {'-' if b['right'] is None else format(b['right'], '.2f')} ({b['rows']})"
        for b in cal["bands"]))
    if "variants" in results:
        table = Table(title=f"Variants tried (segmented, {FOLDS}-fold CV, same folds)")
        for col in ("variant", "accuracy", "macro-F1", "seconds"):
            table.add_column(col, justify="left" if col == "variant" else "right")
        for name, v in results["variants"].items():
            table.add_row(name, f"{v['accuracy']:.3f}", f"{v['macro_f1']:.3f}", f"{v['seconds']:.0f}")
        console.print(table)


def run(out: Path | None, with_variants: bool = False, console: Console | None = None) -> dict:
    """Every evaluation; prints the tables and writes the JSON (unless `out` is None)."""
    import json

    console = console or Console()
    seg = segmented_cv()
    raw = raw_cv()
    held_out, held_out_whole, excluded = raw_held_out()
    before = keyword_baseline()
    model = load_model()
    results = {
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()]},
        "seed": SEED, "folds": FOLDS,
        "aims": {"macro_f1": AIM_MACRO_F1, "gate_macro_f1": GATE_MACRO_F1, "p99_ms": AIM_P99_MS},
        "anchors": ANCHORS,
        "model": {"version": model.version, "path": str(DEFAULT_PATH.name), "bytes": DEFAULT_PATH.stat().st_size,
                  "features": model.n_features, "max_chars": model.meta["params"]["max_chars"]},
        "training": training_run(),
        "segmented_cv": seg.as_json(),
        "raw_cv": raw.as_json(),
        "raw_held_out": {**held_out.as_json(), "segmented_rows_excluded": excluded, "near_copy_cosine": NEAR_COPY},
        "raw_held_out_cut_whole": held_out_whole.as_json(),
        "keyword_baseline_raw": before.as_json(),
        "calibration": calibration(),
        "latency": latency(),
        "latency_cut_whole": latency(max_chars=10**9),
    }
    if with_variants:
        results["variants"] = variants()
    _print(console, results, [seg, raw, held_out, held_out_whole, before])
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console.print(f"written to {out}")
    return results
