"""Temporary, until casework moves into its sub-package (issue #26, branch casework-house): the
names casework.py, casework_http.py and their tests still import from here (and `TicketState`,
which that branch's `casework/domain.py` imports from here).

Followup's domain is `hotline.followup.tickets.domain` and refuses with `hotline.domain_errors`.
`Refusal(status, field, reason)` is the old call, kept so casework's refusals need no edit yet:
it builds the domain error of that status (404 NotFound, 403 NotYours, 409 Conflict, 422
Invalid), which is a `Refusal` too, so `except Refusal` and `.status` behave as before;
`not_in_future` refuses with one as well. Delete this module once casework raises the domain
errors itself and imports `not_in_future` from `hotline.followup.tickets.domain`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hotline.domain_errors import Conflict, DomainError, Invalid, NotFound, NotYours
from hotline.followup.tickets import domain as tickets_domain
from hotline.followup.tickets.domain import TicketState

__all__ = ["Refusal", "TicketState", "not_in_future"]


class Refusal(DomainError):
    """An old-style refusal: an instance of the domain error its status names."""

    def __new__(cls, status: int, field: str | None, reason: str, *, location: str | None = None) -> Refusal:
        return super().__new__(_BY_STATUS[status])

    def __init__(self, status: int, field: str | None, reason: str, *, location: str | None = None) -> None:
        super().__init__(field, reason, location=location)


class _NotFound(Refusal, NotFound):
    pass


class _NotYours(Refusal, NotYours):
    pass


class _Conflict(Refusal, Conflict):
    pass


class _Invalid(Refusal, Invalid):
    pass


_BY_STATUS: dict[int, type[Refusal]] = {404: _NotFound, 403: _NotYours, 409: _Conflict, 422: _Invalid}


def not_in_future(moment: datetime, field: str, *, now: datetime, clock_skew: timedelta) -> None:
    """`tickets.domain.not_in_future`, its refusal a `Refusal` (422) as casework's callers expect."""
    try:
        tickets_domain.not_in_future(moment, field, now=now, clock_skew=clock_skew)
    except Invalid as refused:
        raise Refusal(422, refused.field, refused.reason) from None
