"""The refusals every service's domain and use cases raise, free of any web framework.

Each names the field it is about and says why; `hotline.runtime.errors` maps them to an HTTP status
and the one error body, `{"detail": [{"loc": [...], "msg": ...}]}`, once for every service. A
refusal that travels on Kafka instead (a command refused) is an event, not one of these.
"""

from typing import ClassVar


class DomainError(Exception):
    """An action refused: the field concerned (`location` says where it is when that matters:
    "body", "path", "header"), and the reason in words."""

    status: ClassVar[int] = 400  # the HTTP status it maps to

    def __init__(self, field: str | None, reason: str, *, location: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.location = location

    @property
    def loc(self) -> list[str]:
        """Where the refused value is, as the error body says it."""
        return [part for part in (self.location, self.field) if part is not None]


class NotFound(DomainError):
    """What the action is about does not exist (or is not known here yet)."""

    status = 404


class NotYours(DomainError):
    """The caller may not act on it: another unit's ticket, or in another unit's name."""

    status = 403


class Closed(DomainError):
    """It is closed: nothing more can be done to it."""

    status = 409


class Conflict(DomainError):
    """It is in a state that does not allow this now (an idempotency key used for another request)."""

    status = 409


class Invalid(DomainError):
    """A value is not acceptable (an unknown unit code)."""

    status = 422


class TooLarge(Invalid):
    """A value is over its size limit (a record longer than intake takes)."""

    status = 413
