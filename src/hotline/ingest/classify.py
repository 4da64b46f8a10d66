"""How intake decides a ticket's category (pure): hint, then the trained model, with keyword
overrides and the triage desk for what the model is unsure of (docs/classifier.md, "In intake").

1. A `category_hint` that names a category wins (`classified_by` hint, no confidence).
2. A message without a Chinese character is decided by the keyword rules as before: the model
   was trained on Chinese messages only (`keywords`).
3. Otherwise the model gives the first-level class, and `category_within` the category inside
   it. The keyword rules' best category still wins (`keywords`; the model's candidates are kept
   for the record) when it is under a class the model does not know (公共安全, 其他 in
   tree.yaml: the model cannot say "public order", the rules can), or when the urgency keywords
   make the message an emergency: the model learnt from a message board, not from emergency
   calls (it puts a gas leak under 环境保护), and a wrong unit costs most there. Elsewhere the
   rules do not overrule the model: in CV they were right less often than the model even where
   it was unsure (docs/classifier.md).
4. Below `min_confidence` the ticket `needs_triage`: the centre's triage desk sorts it, with the
   model's candidates, instead of the catch-all unit getting a guess. Not an emergency (a person
   in between would cost minutes of a two-hour deadline: the street on the best guess acts at
   once) and not a consultation the hotline answered itself (never dispatched).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from hotline.category_tree import category_within, first_level_of
from hotline.contracts import ClassCandidate, ClassifiedBy
from hotline.taxonomy import Taxonomy

if TYPE_CHECKING:  # the model imports scikit-learn and jieba: only where it is loaded
    from hotline.classifier import Model, Prediction

# Below this probability the model is more often wrong than right: in 5-fold CV of the shipped
# recipe, 45% of the predictions under 0.5 were right, 59% of those in 0.50-0.55, 97% of those
# over 0.9 (docs/classifier.md, "Confidence").
DEFAULT_MIN_CONFIDENCE = 0.5
TOP = 3
EMERGENCY = "emergency"  # the urgency class (urgency.yaml) that never waits for triage
_CHINESE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Classifier:
    """The model intake asks (loaded once, at start) and the confidence it must reach."""

    model: Model
    min_confidence: float = DEFAULT_MIN_CONFIDENCE


@dataclass(frozen=True)
class Classification:
    """A ticket's category, its first-level class, and what decided them."""

    category: str
    first_level: str
    classified_by: ClassifiedBy
    confidence: float | None = None
    model_version: str | None = None
    candidates: tuple[ClassCandidate, ...] = field(default=())
    unsure: bool = False  # the model decided, below the minimum confidence


@cache
def shipped_classifier() -> Classifier:
    """The classifier shipped in the package, with the default minimum confidence."""
    from hotline.classifier import load_model

    return Classifier(load_model())


def model_text(content: str, hint: str | None) -> str:
    """What the model reads: a hint that names no category is still the caller's or an
    agent's word on the matter."""
    return f"{hint} {content}" if hint else content


def asks_model(content: str, hint: str | None, taxonomy: Taxonomy) -> bool:
    """Whether the model is asked at all: no valid hint, and Chinese text to read."""
    return taxonomy.category_for_hint(hint) is None and _CHINESE.search(model_text(content, hint)) is not None


def decide(content: str, hint: str | None, prediction: Prediction | None, *, taxonomy: Taxonomy,
           model_classes: Sequence[str] = (), model_version: str | None = None,
           min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> Classification:
    """The rules above, given the model's prediction (None when `asks_model` said no)."""
    named = taxonomy.category_for_hint(hint)
    if named is not None:
        return Classification(named, first_level_of(named), ClassifiedBy.HINT)
    if prediction is None:
        category = taxonomy.categorize(content, hint)
        return Classification(category, first_level_of(category), ClassifiedBy.KEYWORDS)
    hits = taxonomy.keyword_hits(f"{content} {hint or ''}")  # one pass over the keywords for all below
    candidates = tuple(
        ClassCandidate(first_level=label, confidence=p, category=category_within(label, content, hint, hits=hits))
        for label, p in prediction.candidates)
    ruled = taxonomy.best_keyword_match("", hits=hits)
    if ruled is not None and ruled != candidates[0].category and (
            first_level_of(ruled) not in model_classes
            or taxonomy.urgency(content, candidates[0].category).code == EMERGENCY):
        return Classification(ruled, first_level_of(ruled), ClassifiedBy.KEYWORDS,
                              model_version=model_version, candidates=candidates)
    return Classification(candidates[0].category, prediction.label, ClassifiedBy.MODEL,
                          confidence=prediction.confidence, model_version=model_version,
                          candidates=candidates, unsure=prediction.confidence < min_confidence)


def classify_all(items: Sequence[tuple[str, str | None]], classifier: Classifier,
                 taxonomy: Taxonomy) -> list[Classification]:
    """`decide` for each (content, hint), the model asked once for all that need it: a call for
    one message costs about half of one for a hundred (docs/classifier.md)."""
    asked = [i for i, (content, hint) in enumerate(items) if asks_model(content, hint, taxonomy)]
    model = classifier.model
    predictions = dict(zip(asked, model.predict_many([model_text(*items[i]) for i in asked], TOP)))
    return [decide(content, hint, predictions.get(i), taxonomy=taxonomy, model_classes=model.classes,
                   model_version=model.version, min_confidence=classifier.min_confidence)
            for i, (content, hint) in enumerate(items)]


def needs_triage(classification: Classification, *, urgency: str, answered_directly: bool) -> bool:
    """Whether the ticket goes to the triage desk rather than by the catalogue."""
    return classification.unsure and urgency != EMERGENCY and not answered_directly
