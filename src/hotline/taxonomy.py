"""The category taxonomy, request types and urgency classes, kept as data (data/taxonomy/)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

import yaml

from hotline.contracts import RequestType


@dataclass(frozen=True)
class Category:
    """One category of the taxonomy."""

    code: str
    zh: str
    en: str
    utility: bool
    aliases: tuple[str, ...]
    keywords_zh: tuple[str, ...]
    keywords_en: tuple[str, ...]

    @cached_property
    def keywords(self) -> _Keywords:
        """The compiled keywords."""
        return _Keywords(self.keywords_zh, self.keywords_en)


@dataclass(frozen=True)
class UrgencyClass:
    """An urgency class; its deadlines are the deadline policy's (`hotline.deadlines`)."""

    code: str
    zh: str
    keywords_zh: tuple[str, ...] = ()
    keywords_en: tuple[str, ...] = ()
    for_utilities: bool = False

    @cached_property
    def keywords(self) -> _Keywords:
        """The compiled keywords."""
        return _Keywords(self.keywords_zh, self.keywords_en)


class _Keywords:
    """Chinese keywords match as substrings, English ones at a word start, case-insensitively."""

    def __init__(self, zh: tuple[str, ...], en: tuple[str, ...]) -> None:
        # Compiled alternations, longest first: matching is on the hot path of intake.
        self._zh = self._compile(zh, prefix="")
        self._en = self._compile(en, prefix=r"\b")
        self._zh_keywords = zh

    @staticmethod
    def _compile(words: tuple[str, ...], prefix: str) -> re.Pattern[str] | None:
        ordered = sorted(set(words), key=len, reverse=True)
        return re.compile(prefix + "(?:" + "|".join(map(re.escape, ordered)) + ")") if ordered else None

    def hits(self, text: str, lowered: str) -> int:
        """How many distinct keywords occur in the text."""
        found = 0
        if self._zh is not None and self._zh.search(text):
            # Overlapping keywords (施工 inside 夜间施工) each count, as substrings do.
            found += sum(1 for k in self._zh_keywords if k in text)
        if self._en is not None:
            found += len(set(self._en.findall(lowered)))
        return found


def _hits(text: str, lowered: str, keywords: "_Keywords") -> int:
    return keywords.hits(text, lowered)


class Taxonomy:
    """Matches content to a category, a request type and an urgency class."""

    def __init__(self, version: str, categories: list[Category], urgency: list[UrgencyClass],
                 request_types: list[tuple[RequestType, "_Keywords"]],
                 default_request_type: RequestType) -> None:
        self.version = version
        self.categories = {c.code: c for c in categories}
        self.urgency_classes = {u.code: u for u in urgency}
        self._urgency_order = urgency
        self._request_types = request_types
        self._default_request_type = default_request_type
        self._by_name: dict[str, str] = {}  # any name, folded -> category code
        for c in categories:
            for name in (c.code, c.zh, c.en, *c.aliases):
                self._by_name.setdefault(name.strip().lower(), c.code)

    def category_for_hint(self, hint: str | None) -> str | None:
        """The category a hint names (code, Chinese or English name, or alias), if any."""
        if not hint:
            return None
        return self._by_name.get(hint.strip().lower())

    def categorize(self, content: str, hint: str | None = None) -> str:
        """The hint's category when it names one, else the best keyword match, else `other`."""
        named = self.category_for_hint(hint)
        if named:
            return named
        return self.best_keyword_match(f"{content} {hint or ''}") or "other"

    def best_keyword_match(self, text: str, codes: Collection[str] | None = None,
                           hits: dict[str, int] | None = None) -> str | None:
        """The category (among `codes`, default all) with the most keyword hits in the text, ties
        going to the one listed first; None when no keyword of theirs occurs. `hits` are the
        text's `keyword_hits`, when the caller has them already."""
        if hits is None:
            hits = self.keyword_hits(text, codes)
        best, best_score = None, 0
        for code, score in hits.items():  # in the taxonomy's order
            if (codes is None or code in codes) and score > best_score:
                best, best_score = code, score
        return best

    def keyword_hits(self, text: str, codes: Collection[str] | None = None) -> dict[str, int]:
        """Each category (among `codes`, default all) whose keywords occur in the text, with how
        many do, in the taxonomy's order: one pass serves several `best_keyword_match` calls."""
        lowered = text.lower()
        found = {}
        for category in self.categories.values():
            if codes is not None and category.code not in codes:
                continue
            score = _hits(text, lowered, category.keywords)
            if score:
                found[category.code] = score
        return found

    def request_type(self, content: str, given: RequestType | None = None) -> RequestType:
        """The request type the record gives, else the first whose keyword appears."""
        if given is not None:
            return given
        lowered = content.lower()
        for code, keywords in self._request_types:
            if _hits(content, lowered, keywords):
                return code
        return self._default_request_type

    def urgency(self, content: str, category: str) -> UrgencyClass:
        """The first urgency class that applies: emergency words, utilities, complex, general."""
        lowered = content.lower()
        is_utility = self.categories[category].utility
        for urgency in self._urgency_order:
            if urgency.for_utilities:
                if is_utility:
                    return urgency
            elif urgency.keywords_zh or urgency.keywords_en:
                if _hits(content, lowered, urgency.keywords):
                    return urgency
            else:
                return urgency
        return self._urgency_order[-1]

    def with_urgency(self, classes: list[UrgencyClass]) -> Taxonomy:
        """The same categories and request types with another city's urgency classes."""
        if not classes:
            raise ValueError("a city needs at least one urgency class")
        return Taxonomy(self.version, list(self.categories.values()), classes, self._request_types,
                        self._default_request_type)


GENERAL = "general"  # the urgency class of a ticket no rule makes more urgent (urgency.yaml)


def urgency_classes(data: dict) -> list[UrgencyClass]:
    """The classes of an urgency file (urgency.yaml's format), in the order they are checked."""
    return [
        UrgencyClass(
            code=u["code"], zh=u["zh"],
            keywords_zh=tuple((u.get("keywords") or {}).get("zh") or ()),
            keywords_en=tuple(k.lower() for k in (u.get("keywords") or {}).get("en") or ()),
            for_utilities=u.get("categories_from_taxonomy") == "utility",
        )
        for u in data["classes"]
    ]


def load_urgency(path: Path) -> list[UrgencyClass]:
    """A city's own urgency file."""
    return urgency_classes(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def general_only() -> list[UrgencyClass]:
    """Every ticket general: for a city with no urgency rules of its own (Beijing's keywords are
    Chinese practice, and its English ones would turn "fire department" into an emergency)."""
    return [u for u in default_taxonomy().urgency_classes.values() if u.code == GENERAL]


def _load(name: str) -> dict:
    folder = resources.files("hotline") / "data" / "taxonomy"
    with (folder / name).open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@cache
def default_taxonomy() -> Taxonomy:
    """The taxonomy shipped in data/taxonomy/."""
    cats = _load("categories.yaml")
    categories = [
        Category(
            code=c["code"], zh=c["zh"], en=c["en"], utility=bool(c.get("utility", False)),
            aliases=tuple(c.get("aliases", [])),
            keywords_zh=tuple(c["keywords"].get("zh") or ()),
            keywords_en=tuple(k.lower() for k in c["keywords"].get("en") or ()),
        )
        for c in cats["categories"]
    ]
    urgency = urgency_classes(_load("urgency.yaml"))
    types = _load("request_types.yaml")
    request_types = [
        (RequestType(t["code"]), _Keywords(tuple(t["keywords"].get("zh") or ()),
                                           tuple(k.lower() for k in t["keywords"].get("en") or ())))
        for t in types["order"]
    ]
    return Taxonomy(cats["version"], categories, urgency, request_types, RequestType(types["default"]))
