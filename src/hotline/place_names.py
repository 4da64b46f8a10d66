"""Finding place names in an address: Chinese names anywhere, Latin ones (pinyin, English) as words.

Text is folded first (NFKD without accents, case-folded, separators such as spaces, hyphens and
apostrophes removed), so "Wàngjīng Sub-district", "wangjing subdistrict" and "Wangjingsubdistrict"
read alike. A Latin name must start and end on a word boundary of the original text, so "wangjing"
is found in "Wangjing Xi Lu" but not in "Wangjingyuan". Where names overlap, the longest wins and
hides those inside it: 东四环 (a ring road) hides 东四, 朝阳门 hides 朝阳.
"""

import re
import unicodedata
from dataclasses import dataclass

_CHINESE_KEY, _LATIN_KEY = 2, 4
# Removed when folding. A Latin name may span one ("Wang Jing"), a Chinese name may not.
_SEPARATOR_RUN = re.compile(r"[\s\-_'\u2018\u2019.\u00b7\u30fb]+")
_LETTER_RUN = re.compile("[a-z]+")  # after folding, Latin letters are lower-case ASCII
_NON_LETTER_RUN = re.compile("[^a-z]{2,}")


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
    folded = unicodedata.normalize("NFKD", text).casefold()
    if not folded.isascii():
        folded = "".join(char for char in folded if not unicodedata.combining(char))
    pieces: list[str] = []
    cuts: set[int] = set()
    at = size = 0
    for separator in _SEPARATOR_RUN.finditer(folded):
        pieces.append(folded[at:separator.start()])
        size += separator.start() - at
        cuts.add(size)
        at = separator.end()
    pieces.append(folded[at:])
    return "".join(pieces), frozenset(cuts)


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
        """The names in the text not overlapped by a longer one: longest first, then leftmost."""
        folded, cuts = fold(text)
        candidates: list[tuple[int, int, Meaning]] = []
        # Chinese names lie anywhere within runs of non-letters (not across a separator).
        for run in _NON_LETTER_RUN.finditer(folded):
            edges = [run.start(), *sorted(c for c in cuts if run.start() < c < run.end()), run.end()]
            for first, last in zip(edges, edges[1:]):
                for i in range(first, last - 1):
                    for name, meaning in self._buckets.get(folded[i:i + _CHINESE_KEY], ()):
                        if i + len(name) <= last and folded.startswith(name, i):
                            candidates.append((i, i + len(name), meaning))
        # Latin names start and end where a word does (or a separator was removed).
        starts, ends = set(cuts), set(cuts)
        for word in _LETTER_RUN.finditer(folded):
            starts.add(word.start())
            ends.add(word.end())
        for i in starts:
            for name, meaning in self._buckets.get(folded[i:i + _LATIN_KEY], ()):
                if i + len(name) in ends and folded.startswith(name, i):
                    candidates.append((i, i + len(name), meaning))
        candidates.sort(key=lambda c: (c[0] - c[1], c[0]))
        taken = bytearray(len(folded))
        chosen: list[Found] = []
        for start, end, meaning in candidates:
            if not any(taken[start:end]):
                taken[start:end] = b"\1" * (end - start)
                chosen.append(Found(start, end, meaning))
        return chosen
