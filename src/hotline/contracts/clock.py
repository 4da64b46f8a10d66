"""Business time (topic `hotline.clock`).

In production deadlines fire on the wall clock. In simulation and replay the event log carries
the time: the simulator or the replay publishes ticks, and followup's deadlines fire when business
time passes them, so replaying the same log fires the same warnings and breaches.
"""

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract


class BusinessTimeTick(Contract):
    """Business time has reached `now` (ticks only move it forward; an older tick is ignored)."""

    now: AwareDatetime = Field(description="The business time reached.")
    source: str = Field(default="simulator", max_length=64, description="Who keeps this time.")
