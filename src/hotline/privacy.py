"""Personal data out of published text: `scrub` masks phone numbers, ID numbers, e-mail addresses,
WeChat ids and the caller's own name in what a citizen wrote, before anything public shows it.

Detection runs on an NFKC view of the text (full-width ３８ and ＠ read as 38 and @; invisible
format characters such as U+200B are skipped), so a number written in any width is found; the
text outside a match is kept exactly as written (Chinese punctuation stays full-width). Each
match becomes a fixed placeholder that holds no digit or letter and so cannot pass for data:
`[电话]`, `[身份证]`, `[号码]` (other numbers of 12 digits or more: bank cards, account numbers),
`[邮箱]`, `[微信]`, `[姓名]`.

Names in general cannot be told from words; the caller's own name (passed in `names`, two
characters or more) is masked wherever it appears, and so is a name written after `姓名:` or
`联系人:`. Numbers written in Chinese numerals (一三八…) are not detected.
"""

import functools
import re
import unicodedata
from collections.abc import Iterable

PHONE, ID_NUMBER, NUMBER, EMAIL, WECHAT, NAME = (
    "[电话]", "[身份证]", "[号码]", "[邮箱]", "[微信]", "[姓名]"
)

_SEP = r"[-.\s]{0,2}"  # between digit groups: 138-1234-5678, 138 1234 5678, 138.1234.5678
_MOBILE = rf"1[3-9]\d(?:{_SEP}\d{{4}}){{2}}"
_LOCAL = rf"[2-9]\d{{2,3}}{_SEP}\d{{4}}"  # 7 or 8 digits, not starting with 0 or 1
_COUNTRY = r"(?:(?:\+|00)\s?86|\(\s?(?:\+|00)?86\s?\))[-\s]?"  # +86, 0086, (+86)
# An 8-digit run that reads as a date or a span of years (20260302, 2020-2026) is not a number.
_DATE_LIKE = (r"(?:19|20)\d\d[-.\s~]{0,2}"
              r"(?:(?:19|20)\d\d|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?!\d)")

# In order: each rule reads the text with what the rules before it masked blanked out, as it will
# read the scrubbed text; so scrubbing again finds nothing new. ASCII digits, letters and spaces
# (the view is NFKC: full-width ones are ASCII there).
_A = re.ASCII
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                r"\.[A-Za-z][A-Za-z0-9-]+", _A), EMAIL),
    # Before the phones: the id in 微信abc-13812345678 goes whole.
    (re.compile(r"(?<![A-Za-z])(?:微信号?|威信|薇信|v信|wechat|weixin|vx|wx)(?:号|id|账号)?"
                r"\s*(?:是|为)?\s*[:=]?\s*(?P<v>[A-Za-z0-9_-]{6,20})", _A | re.IGNORECASE), WECHAT),
    # With a country or area code, before the long numbers: 008613812345678 and 075583451234
    # are phones; not from inside a run of digit groups (a bank card's 6222 0212 3456 7890).
    (re.compile(rf"(?<!\d)(?<!\d[-.\s])(?:(?:{_COUNTRY}|86[-\s]?){_MOBILE}"
                rf"|{_COUNTRY}\(?0?[1-9]\d{{1,2}}\)?{_SEP}{_LOCAL}"
                rf"|(?:\(0\d{{2,3}}\)|0\d{{2,3}}){_SEP}{_LOCAL})(?!\d)", _A), PHONE),
    # 18-digit resident ID (the last may be X), and the old 15-digit one; spaces between groups too.
    (re.compile(r"(?<!\d)[1-9]\d{5}[-\s]?\d{8}[-\s]?\d{3}[\dXx](?![\dXx])", _A), ID_NUMBER),
    (re.compile(r"(?<!\d)[1-9]\d{5}[-\s]?\d{6}[-\s]?\d{3}(?!\d)", _A), ID_NUMBER),
    (re.compile(r"(?<!\d)(?:\d{12,}|\d{4}(?:[-\s]\d{4}){3}(?:[-\s]?\d{1,4})?)(?!\d)", _A), NUMBER),
    (re.compile(rf"(?<!\d)(?:{_MOBILE}|(?!{_DATE_LIKE})[2-9]\d{{3}}{_SEP}\d{{4}})(?!\d)", _A), PHONE),
    (re.compile(r"(?:姓名|联系人)\s*[:=]\s*(?P<v>[\u3400-\u9fff·]{2,4})"), NAME),
]
# A placeholder already there stays as it is (a caller named 电话 must not eat it): idempotence.
_PLACEHOLDER = re.compile("|".join(map(re.escape, (PHONE, ID_NUMBER, NUMBER, EMAIL, WECHAT, NAME))))
_BLANK = "\x00"  # what masked text reads as to the rules after: no digit, letter or space


@functools.cache
def _folding() -> tuple[dict[int, str], re.Pattern[str]]:
    """The fold (`_fold`) of each character that folds into one other character, for
    `str.translate`; and the characters it drops or expands (format characters such as U+200B,
    ligatures, ⑴), which need the slow path. Built once, over the BMP and the mathematical digits
    and letters."""
    table: dict[int, str] = {}
    irregular: list[str] = []
    for cp in (*range(0x80, 0xD800), *range(0xE000, 0x10000), *range(0x1D400, 0x1D800)):
        ch = chr(cp)
        folded = _fold(ch)
        if len(folded) == 1 and folded != ch:
            table[cp] = folded
        elif len(folded) != 1:
            irregular.append(re.escape(ch))
    return table, re.compile(f"[{''.join(irregular)}]")


def _fold(ch: str) -> str:
    category = unicodedata.category(ch)
    if category == "Cf":
        return ""
    if category == "Nd":  # any script's digit (٣, ३) reads as its ASCII digit
        return str(unicodedata.decimal(ch))
    return unicodedata.normalize("NFKC", ch)


def _view(text: str) -> tuple[str, list[int] | None]:
    """The text as detection reads it, and where each of its characters came from (None: the
    same place, the view being folded character for character)."""
    if text.isascii():
        return text, None
    table, irregular = _folding()
    if not irregular.search(text):
        return text.translate(table), None
    pieces = [_fold(ch) for ch in text]
    return "".join(pieces), [i for i, piece in enumerate(pieces) for _ in piece]


def _known_names(values: Iterable[str | None]) -> list[re.Pattern[str]]:
    """The caller's names, with any spacing between their characters."""
    found = []
    for value in values:
        chars = [c for c in _view(value or "")[0] if not c.isspace() and c != _BLANK]
        if len(chars) >= 2:
            found.append(re.compile(r"\s*".join(map(re.escape, chars)), re.IGNORECASE))
    return found


def _known_phones(values: Iterable[str | None]) -> list[re.Pattern[str]]:
    """The caller's phones by their last 8 digits (the country and area codes may be written
    or left out), with the whole number they stand in."""
    found = []
    for value in values:
        digits = [c for c in _view(value or "")[0] if c.isdigit()][-8:]
        if len(digits) >= 6:
            found.append(re.compile(rf"(?<!\d)(?:\d{_SEP})*{_SEP.join(digits)}(?!\d)", _A))
    return found


def scrub(text: str, *, names: Iterable[str | None] = (), phones: Iterable[str | None] = ()) -> str:
    """`text` with personal data masked (see the module's note); `names` and `phones` are the
    caller's own, masked wherever they appear. Idempotent: scrubbed text scrubs to itself."""
    if not text:
        return text
    view, origin = _view(text)
    rules = [(_PLACEHOLDER, ""), *_RULES, *((p, NAME) for p in _known_names(names)),
             *((p, PHONE) for p in _known_phones(phones))]
    spans: list[tuple[int, int, str]] = []
    found = True
    while found:  # until a round finds nothing: what a later rule masked may free an earlier one's
        found = False
        for pattern, placeholder in rules:
            group = "v" if "v" in pattern.groupindex else 0
            at = 0
            while match := pattern.search(view, at):
                start, end = match.span(group)
                if origin is not None:  # whole characters: ¼ reads as 1⁄4, and goes or stays whole
                    while start > 0 and origin[start - 1] == origin[start]:
                        start -= 1
                    while end < len(origin) and origin[end] == origin[end - 1]:
                        end += 1
                spans.append((start, end, placeholder))
                view, at, found = f"{view[:start]}{_BLANK * (end - start)}{view[end:]}", match.end(), True
    if not spans:
        return text
    out, at = [], 0
    for start, end, placeholder in sorted(spans):
        if origin is not None:
            start, end = origin[start], origin[end - 1] + 1
        out += [text[at:start], placeholder or text[start:end]]
        at = end
    out.append(text[at:])
    return "".join(out)
