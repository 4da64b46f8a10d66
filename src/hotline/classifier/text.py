"""Text preparation shared by training and prediction: one token stream for both the shipped
pre-segmented text (tokens joined by spaces, stop words removed) and a citizen's raw message."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata

import jieba

# jieba logs "Building prefix dict ..." at DEBUG on its own stderr handler: keep it quiet.
jieba.setLogLevel(logging.WARNING)

_SPACES = re.compile(r"\s+")
# A token worth keeping has a letter, digit or CJK character (drops punctuation and symbols,
# which the shipped segmented text has none of either).
_WORDLIKE = re.compile(r"\w")

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def tokenizer() -> jieba.Tokenizer:
    """jieba's default dictionary, loaded once into memory.

    jieba would otherwise read and write a marshal cache file in the shared temp directory
    (unwritable in some containers, and a file other local users could plant); building the
    prefix dictionary from the dict.txt inside the jieba package costs about a second, once."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            tok = jieba.Tokenizer()
            tok.FREQ, tok.total = tok.gen_pfdict(tok.get_dict_file())
            tok.initialized = True
            _tokenizer = tok
        return _tokenizer


def normalise(text: str) -> str:
    """NFKC (full-width letters and digits to ASCII), lower case, whitespace runs to one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def segment(text: str, max_chars: int) -> str:
    """A raw message cut by jieba into word-like tokens joined by spaces, like the training text.

    Only the first `max_chars` characters are cut: the subject and the opening say what a
    message is about, and jieba's time grows with the length (see docs/classifier.md)."""
    cut = tokenizer().cut(normalise(text)[:max_chars])
    return " ".join(t for t in cut if _WORDLIKE.search(t))


def presegmented(text: str) -> str:
    """Training text that is already cut: normalised the same way, its token boundaries kept."""
    return " ".join(t for t in normalise(text).split(" ") if _WORDLIKE.search(t))


def features(segmented: str) -> list[str]:
    """Words, plus characters and character pairs inside words of three or more characters.

    The characters make the model robust to jieba cutting a word differently from the training
    text (区华庭 against 区 华庭) and to words it never saw; pairs inside long words catch
    names and compounds."""
    words = segmented.split()
    out = list(words)
    for w in words:
        out.extend(w)
        if len(w) >= 3:
            out.extend(w[i:i + 2] for i in range(len(w) - 1))
    return out
