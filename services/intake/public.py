"""What intake's public face (Open311 GeoReport) may show: which tickets, and their text scrubbed.

A ticket is public when it was filed through Open311 (the citizen filed it to be seen there) and
the caller did not ask to stay anonymous. Tickets from the hotline's other channels (phone,
WeChat, app...) are the caller's business with the handling unit, not the public's. A record
stored before intake kept `anonymous` has no such field and is not public: whether its caller
asked for anonymity is not known.
"""

from collections.abc import Mapping

from hotline.contracts import Channel
from hotline.privacy import scrub

PUBLIC_CHANNELS = (Channel.OPEN311.value,)
# The store's filter for public tickets; `is_public` is the same rule for one record.
PUBLIC_QUERY = {"channel": {"$in": list(PUBLIC_CHANNELS)}, "anonymous": False}


def shown(channel: str | None, anonymous: bool) -> bool:
    """Whether a ticket from `channel` may be shown (see the module's note)."""
    return channel in PUBLIC_CHANNELS and anonymous is False


def is_public(doc: Mapping) -> bool:
    """Whether a stored ticket may be shown: `shown`, a missing `anonymous` counting as asked."""
    return shown(doc.get("channel"), doc.get("anonymous", True))


def public_text(
    value: str | None, *, names: tuple[str | None, ...] = (), phones: tuple[str | None, ...] = ()
) -> str | None:
    """Text as it may be published: personal data masked (`hotline.privacy.scrub`)."""
    return scrub(value, names=names, phones=phones) if value else value
