"""When a ticket's first contact is due, for a dispatch that does not say.

A `TicketDispatched` carries `response_due_at` since version 3: routing works it out from the
shared policy (`hotline.deadlines`, data/policies/deadlines.yaml, `clocks.response`), and metrics
takes it from the event. An older record has none; its deadline is worked out here from the same
policy, as routing would have, so a contact is "in time" for metrics exactly when it stops
followup's clock before its breach, and a rebuild over old and new records agrees with itself.
"""

from datetime import datetime

from hotline.deadlines import ClockKind, default_policy


def response_due(dispatched_at: datetime, urgency: str | None) -> datetime:
    """The response deadline of a dispatch with this urgency class (general when unknown)."""
    return default_policy().due_at(kind=ClockKind.RESPONSE, urgency=urgency or "general", started_at=dispatched_at)
