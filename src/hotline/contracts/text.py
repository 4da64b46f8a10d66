"""Text that XML 1.0 can carry: inbound records refuse anything else, and the XML writer never
emits it (a record stored before the rule is drawn with U+FFFD in its place)."""

import re
from typing import Annotated

from pydantic import AfterValidator

# XML 1.0 Char: tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000 and up. Surrogates are listed
# too (Python strings may hold lone ones); pydantic refuses those before this check runs.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_characters_only(value: str) -> str:
    if found := _NOT_XML.search(value):
        raise ValueError(
            f"holds U+{ord(found.group()):04X} at character {found.start()}, which XML 1.0 forbids "
            "(control characters other than tab, LF and CR; U+FFFE, U+FFFF)"
        )
    return value


Text = Annotated[str, AfterValidator(_xml_characters_only)]


def xml_safe(value: str) -> str:
    """`value` with each character XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", value)
