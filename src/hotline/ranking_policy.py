"""The ranking's rules, shared by metrics and the simulator's preview: the policy read from
data/policies/ranking.yaml (rates, weights, the response definition, the minimum sample), with
its version, and the arithmetic of rates and score.

A rate is Σ weight × figure over its numerator / Σ figure over its denominator, figures of a
unit-month by name (`Term`); None while the denominator is zero. The score is the weighted mean of
the rates that exist, 0-100. Both are plain sums over a few names: the ranking recomputes them for
every unit at every write.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

# The unit-month figures a rate may be made of (hotline.metrics.figures; the preview has the same).
Term = Literal[
    "dispatched", "contacted_in_time", "contacted_late", "response_overdue", "callbacks",
    "callback_contacted", "callback_not_contacted", "resolved", "unresolved", "satisfied",
    "basically_satisfied", "dissatisfied",
]


class ResponseDefinition(StrEnum):
    """What the response rate measures."""

    CALLBACK = "callback"  # the citizen's answer in the callback: did the unit contact you (Beijing's)
    CONTACT = "contact"  # the unit's recorded first contact, before the response deadline


class PolicyError(ValueError):
    """A ranking policy file that cannot be read or breaks a rule, with the reason."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rate(_Spec):
    """Σ weight × figure over `numerator` / Σ figure over `denominator`."""

    numerator: dict[Term, float] = Field(min_length=1)
    denominator: tuple[Term, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _shares(self) -> Rate:
        if any(not 0 <= w <= 1 for w in self.numerator.values()):
            raise ValueError("a numerator's weights lie between 0 and 1")
        return self

    def of(self, figures: Mapping[str, Any]) -> float | None:
        """The rate of a unit-month's figures (a figure it lacks counts 0: stored before it existed)."""
        whole = sum(figures.get(term) or 0 for term in self.denominator)
        if not whole:
            return None
        return sum(w * (figures.get(term) or 0) for term, w in self.numerator.items()) / whole


class Rates(_Spec):
    """The three rates; the response rate once per definition."""

    response: dict[ResponseDefinition, Rate]
    resolution: Rate
    satisfaction: Rate

    @model_validator(mode="after")
    def _both_definitions(self) -> Rates:
        missing = set(ResponseDefinition) - set(self.response)
        if missing:
            raise ValueError(f"rates.response must define {', '.join(sorted(missing))}")
        return self


class Weights(_Spec):
    """The rates' weights in the score."""

    response: float = Field(ge=0)
    resolution: float = Field(ge=0)
    satisfaction: float = Field(ge=0)

    @model_validator(mode="after")
    def _some(self) -> Weights:
        if self.response + self.resolution + self.satisfaction <= 0:
            raise ValueError("at least one of the three rate weights must be positive")
        return self


class MinimumSample(_Spec):
    """Below this many valid callbacks in the month a unit is listed and not ranked."""

    callbacks: int = Field(ge=0)


class RankingPolicy(_Spec):
    """The ranking's rules, versioned."""

    version: str = Field(min_length=1)
    response_definition: ResponseDefinition
    weights: Weights
    rates: Rates
    minimum_sample: MinimumSample

    def choosing(self, definition: ResponseDefinition | str | None) -> RankingPolicy:
        """The same rules with this response definition (None: the file's)."""
        if definition is None or ResponseDefinition(definition) is self.response_definition:
            return self
        return self.model_copy(update={"response_definition": ResponseDefinition(definition)})

    def unit_rates(self, figures: Mapping[str, Any]) -> dict[str, float | None]:
        """Response (by the chosen definition), resolution and satisfaction rates."""
        return {
            "response": self.rates.response[self.response_definition].of(figures),
            "resolution": self.rates.resolution.of(figures),
            "satisfaction": self.rates.satisfaction.of(figures),
        }

    def score(self, unit_rates: Mapping[str, float | None]) -> float | None:
        """0-100: the weighted mean of the rates that exist (weights renormalised over them)."""
        w = self.weights
        parts = ((w.response, unit_rates["response"]), (w.resolution, unit_rates["resolution"]),
                 (w.satisfaction, unit_rates["satisfaction"]))
        defined = [(weight, rate) for weight, rate in parts if rate is not None and weight > 0]
        total = sum(weight for weight, _ in defined)
        if not total:
            return None
        return round(100 * sum(weight * rate for weight, rate in defined) / total, 4)

    def enough_sample(self, figures: Mapping[str, Any]) -> bool:
        """Whether the month has the valid callbacks a ranked unit needs."""
        return (figures.get("callbacks") or 0) >= self.minimum_sample.callbacks

    def stamp(self) -> dict[str, Any]:
        """What an answer computed under this policy says of it."""
        return {
            "version": self.version, "response_definition": self.response_definition.value,
            "weights": self.weights.model_dump(),
            "satisfaction_counts": dict(self.rates.satisfaction.numerator),
            "minimum_sample": self.minimum_sample.model_dump(),
        }


def _parse(text: str, where: str) -> RankingPolicy:
    try:
        return RankingPolicy.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise PolicyError(f"ranking policy {where}: {exc}") from exc


@cache
def default_ranking_policy() -> RankingPolicy:
    """The shipped policy (data/policies/ranking.yaml)."""
    text = (resources.files("hotline") / "data" / "policies" / "ranking.yaml").read_text("utf-8")
    return _parse(text, "data/policies/ranking.yaml")


def load_ranking_policy(path: Path | None = None, *,
                        response_definition: ResponseDefinition | str | None = None) -> RankingPolicy:
    """A deployment's policy: a file (else the shipped one), with the response definition it chose."""
    if path is None:
        policy = default_ranking_policy()
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read ranking policy {path}: {exc}") from exc
        policy = _parse(text, str(path))
    return policy.choosing(response_definition)
