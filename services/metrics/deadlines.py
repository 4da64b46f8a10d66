"""When a ticket's first contact is due: followup's response clock, read from the same policy.

The response deadline is followup's (data/policies/deadlines.yaml, `clocks.response`), so a
contact is "in time" for metrics exactly when it stops followup's clock before its breach.
Metrics reads the same shared policy (`hotline.deadline_policy`) instead of restating it; the
events do not carry the deadline yet (see docs/metrics.md).
"""

from datetime import datetime

from hotline.deadline_clocks import ClockKind
from hotline.deadline_policy import default_policy


def response_due(dispatched_at: datetime, urgency: str | None) -> datetime:
    """The response deadline of a dispatch with this urgency class (general when unknown)."""
    return default_policy().due_at(kind=ClockKind.RESPONSE, urgency=urgency or "general", started_at=dispatched_at)
