"""Exemptions (核减 / 申诉): a handling unit asks that a ticket not count in its monthly figures,
the hotline centre approves or rejects (topic `tickets.followup`).

The unit's note and the centre's reasoning may hold personal data: they stay in followup's store
and are on neither the commands' events nor the topic."""

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract, Event


class RequestExemption(Contract):
    """Command: the holding unit asks that the ticket not count (a reason code and a note)."""

    unit_code: str = Field(min_length=1, description="The unit asking (the ticket's holder).")
    reason_code: str = Field(min_length=1, max_length=64,
                             description="One of the codes of GET /v1/exemption-reasons (policies/exemptions.yaml).")
    note: str = Field(min_length=1, max_length=2000,
                      description="Why; may hold personal data, so it stays in followup's store.")
    requested_at: AwareDatetime = Field(description="When it was asked.")


class DecideExemption(Contract):
    """Command: the hotline centre approves or rejects a unit's pending exemption request."""

    approved: bool = Field(description="Whether the ticket leaves the unit's figures.")
    unit_code: str | None = Field(default=None, min_length=1,
                                  description="Whose request; the ticket's holder when not given.")
    note: str = Field(default="", max_length=2000,
                      description="The centre's reasoning; stays in followup's store.")
    decided_at: AwareDatetime = Field(description="When it was decided.")


class ExemptionRequested(Event):
    """A unit asked that the ticket not count in its figures (no note: it stays in followup's store)."""

    unit_code: str = Field(description="The unit asking.")
    reason_code: str = Field(description="Why, as a code of the exemption policy.")
    requested_at: AwareDatetime = Field(description="When.")


class ExemptionDecided(Event):
    """The centre approved (the ticket leaves the unit's figures of its month) or rejected it."""

    unit_code: str = Field(description="The unit that asked.")
    reason_code: str = Field(description="The reason it gave.")
    approved: bool = Field(description="Approved or rejected.")
    requested_at: AwareDatetime = Field(description="When it was asked.")
    decided_at: AwareDatetime = Field(description="When it was decided.")
