"""The category tree (data/taxonomy/tree.yaml): the government's first-level classes, which the
trained classifier predicts, above the taxonomy's categories, which the dispatch catalogue maps
with the place to a unit. Intake asks the classifier for the class, then `category_within`."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources

import yaml

from hotline.taxonomy import Taxonomy, default_taxonomy


@dataclass(frozen=True)
class FirstLevel:
    """A first-level class, its categories (with the government's second/third levels each
    corresponds to) and the category a message gets when none of their keywords matches."""

    name: str
    en: str
    default: str
    categories: dict[str, tuple[str, ...]]
    also: tuple[str, ...] = ()  # categories of other classes this class's messages are often about

    @cached_property
    def reach(self) -> frozenset[str]:
        """The categories a message of this class may get: its own and its `also`."""
        return frozenset((*self.categories, *self.also))


@dataclass(frozen=True)
class CategoryTree:
    version: str
    classes: dict[str, FirstLevel]
    first_level: dict[str, str]  # category code -> class name


def _folder():
    return resources.files("hotline") / "data" / "taxonomy"


def government_levels() -> set[tuple[str, str, str]]:
    """The government's three-level class tree (category_taxonomy_3level.csv)."""
    with (_folder() / "category_taxonomy_3level.csv").open(encoding="utf-8", newline="") as f:
        return {(r["一级分类"], r["二级分类"], r["三级分类"]) for r in csv.DictReader(f)}


def build(spec: dict, taxonomy: Taxonomy, levels: set[tuple[str, str, str]]) -> CategoryTree:
    """The tree a spec describes, checked: every taxonomy category under exactly one class, each
    default among its class's categories, each government path in the government's tree."""
    classes: dict[str, FirstLevel] = {}
    first_level: dict[str, str] = {}
    for c in spec["classes"]:
        gov_first = c.get("gov_first_level", c["name"])
        categories = {}
        for code, paths in (c.get("categories") or {}).items():
            if code not in taxonomy.categories:
                raise ValueError(f"tree: {c['name']} names {code!r}, which is not a taxonomy category")
            if code in first_level:
                raise ValueError(f"tree: {code!r} is under both {first_level[code]} and {c['name']}")
            for path in paths or ():
                second, _, third = path.partition("/")
                if (gov_first, second, third) not in levels:
                    raise ValueError(f"tree: {code}: {gov_first}/{path} is not in the government's tree")
            first_level[code] = c["name"]
            categories[code] = tuple(paths or ())
        if c["default"] not in categories:
            raise ValueError(f"tree: the default of {c['name']}, {c['default']!r}, is not one of its categories")
        also = tuple(c.get("also") or ())
        for code in also:
            if code not in taxonomy.categories or code in categories:
                raise ValueError(f"tree: {c['name']} also names {code!r}, which is not a category of another class")
        classes[c["name"]] = FirstLevel(c["name"], c["en"], c["default"], categories, also)
    missing = set(taxonomy.categories) - set(first_level)
    if missing:
        raise ValueError(f"tree: categories under no class: {', '.join(sorted(missing))}")
    return CategoryTree(str(spec["version"]), classes, first_level)


@cache
def default_tree() -> CategoryTree:
    """The tree shipped in data/taxonomy/tree.yaml."""
    with (_folder() / "tree.yaml").open(encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    return build(spec, default_taxonomy(), government_levels())


def first_level_of(category_code: str) -> str:
    """The first-level class a category sits under (KeyError for an unknown code)."""
    return default_tree().first_level[category_code]


def category_within(first_level: str, text: str, hint: str | None = None, *,
                    hits: dict[str, int] | None = None) -> str:
    """The category of a message the classifier put in `first_level`: the category its hint
    names, if that one is under this class (or its `also`); else the best keyword match among
    the class's categories and its `also`; else the class's default. (A hint naming a category
    under another class is left to the caller, which knows whether to trust the hint or the model.)
    `hits`: the `Taxonomy.keyword_hits` of f"{text} {hint}", to place one message in several classes
    with one pass over the keywords."""
    cls = default_tree().classes[first_level]
    taxonomy = default_taxonomy()
    within = cls.reach
    named = taxonomy.category_for_hint(hint)
    if named in within:
        return named
    best = taxonomy.best_keyword_match(f"{text} {hint or ''}", within, hits)
    return best or cls.default
