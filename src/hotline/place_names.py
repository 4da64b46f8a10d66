"""Finding place names in an address: Chinese names anywhere, Latin ones (pinyin, English) as words.

Text is folded first (NFKD without accents, case-folded, separators such as spaces, hyphens and
apostrophes removed), so "Wàngjīng Sub-district", "wangjing subdistrict" and "Wangjingsubdistrict"
read alike. A Latin name must start and end on a word boundary of the original text, so "wangjing"
is found in "Wangjing Xi Lu" but not in "Wangjingyuan". Where names overlap, the longest wins and
hides those inside it: 东四环 (a ring road) hides 东四, 朝阳门 hides 朝阳.
"""

import unicodedata
from dataclasses import dataclass

# Removed when folding; a removed separator still marks a word boundary for Latin names.
_CHINESE_KEY, _LATIN_KEY = 2, 4
_SEPARATORS = frozenset(" \t\r\n\u00a0\u3000-_'\u2018\u2019.\u00b7\u30fb")


@dataclass(frozen=True)
class Meaning:
    """What a name stands for: districts, units (several if the name is shared), or nothing (a mask)."""

    districts: frozenset[str] = frozenset()
    units: tuple[str, ...] = ()


@dataclass(frozen=True)
class Found:
    """A name found in the text, with its position in the folded text."""

    start: int
    end: int
    meaning: Meaning


def fold(text: str) -> tuple[str, frozenset[int]]:
    """The folded text and the positions in it where a separator was removed."""
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    chars: list[str] = []
    cuts: set[int] = set()
    for char in decomposed:
        if char in _SEPARATORS or char.isspace():
            cuts.add(len(chars))
        elif not unicodedata.combining(char):
            chars.append(char)
    return "".join(chars), frozenset(cuts)


def fold_name(name: str) -> str:
    """A name as it is looked up (folded like text)."""
    return fold(name)[0]


class NameIndex:
    """Names by their first characters (two of a Chinese name, four of a Latin one), for one pass."""

    def __init__(self, names: dict[str, Meaning]) -> None:
        buckets: dict[str, list[tuple[str, Meaning]]] = {}
        for name, meaning in names.items():
            size = _LATIN_KEY if name[:1].isascii() and name[:1].isalpha() else _CHINESE_KEY
            if len(name) >= size:  # shorter ones (one character, three letters) name nothing reliably
                buckets.setdefault(name[:size], []).append((name, meaning))
        self._buckets = {key: tuple(sorted(v, key=lambda e: -len(e[0]))) for key, v in buckets.items()}

    def find(self, text: str) -> list[Found]:
        """The names in the text that no longer name overlaps, longest first, then leftmost."""
        folded, cuts = fold(text)
        size = len(folded)
        candidates: list[Found] = []
        for i, char in enumerate(folded):
            if not "a" <= char <= "z":  # after folding, Latin letters are lower-case ASCII
                for name, meaning in self._buckets.get(folded[i:i + _CHINESE_KEY], ()):
                    if folded.startswith(name, i):
                        candidates.append(Found(i, i + len(name), meaning))
            elif i == 0 or i in cuts or not "a" <= folded[i - 1] <= "z":  # a Latin word starts
                for name, meaning in self._buckets.get(folded[i:i + _LATIN_KEY], ()):
                    end = i + len(name)
                    if folded.startswith(name, i) and (
                            end == size or end in cuts or not "a" <= folded[end] <= "z"):
                        candidates.append(Found(i, end, meaning))
        candidates.sort(key=lambda f: (f.start - f.end, f.start))
        taken = bytearray(len(folded))
        chosen: list[Found] = []
        for found in candidates:
            if any(taken[found.start:found.end]):
                continue
            taken[found.start:found.end] = b"\1" * (found.end - found.start)
            chosen.append(found)
        return chosen
