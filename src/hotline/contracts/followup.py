"""What handling units do for a ticket (topic `tickets.followup`)."""

from enum import StrEnum

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract, Event


class ContactKind(StrEnum):
    """How the unit contacted the citizen; face to face is what the rankings reward."""

    PHONE = "phone"
    FACE_TO_FACE = "face_to_face"
    WECHAT = "wechat"
    ON_SITE = "on_site"


class RecordContact(Contract):
    """Command: a unit records a contact with the citizen (HTTP body or Kafka command)."""

    unit_code: str = Field(min_length=1, description="The unit that made the contact.")
    kind: ContactKind = Field(description="How the citizen was contacted.")
    contacted_at: AwareDatetime = Field(description="When the contact happened.")
    staff_id: str = Field(min_length=1, max_length=64, description="Staff member's id, not name.")
    notes: str = Field(default="", max_length=5000, description="What was said or done.")


class ContactRecorded(Event):
    """A unit contacted the citizen about a ticket."""

    contact_id: str = Field(description="Deterministic id of this contact.")
    unit_code: str = Field(description="The unit that made the contact.")
    kind: ContactKind = Field(description="How the citizen was contacted.")
    contacted_at: AwareDatetime = Field(description="When the contact happened.")
    staff_id: str = Field(description="Staff member's id.")


class Outcome(StrEnum):
    """How a unit resolved a ticket."""

    RESOLVED = "resolved"  # 已解决
    PARTLY_RESOLVED = "partly_resolved"  # 部分解决
    EXPLAINED = "explained"  # 已解释说明: nothing to fix, the citizen was answered
    NOT_RESOLVABLE = "not_resolvable"  # 暂不具备解决条件


class ResolveTicket(Contract):
    """Command: the lead unit reports the ticket resolved (before the hotline calls back)."""

    unit_code: str = Field(min_length=1, description="The unit reporting.")
    outcome: Outcome = Field(description="How it ended.")
    resolution_code: str = Field(min_length=1, max_length=64, description="Code from the unit's list.")
    note: str = Field(default="", max_length=5000, description="What was done.")
    resolved_at: AwareDatetime = Field(description="When it was resolved.")


class TicketResolved(Event):
    """The lead unit resolved the ticket (this round: 0 first, +1 per reopen)."""

    unit_code: str = Field(description="The unit that resolved it.")
    outcome: Outcome = Field(description="How it ended.")
    resolution_code: str = Field(description="Resolution code.")
    resolved_at: AwareDatetime = Field(description="When.")
    round: int = Field(description="0 for the first handling, +1 after each reopen.")


class TicketReopened(Event):
    """The callback found the matter unresolved or the citizen dissatisfied: the same unit again."""

    unit_code: str = Field(description="The unit that handles it again.")
    reason: str = Field(description="unresolved or dissatisfied.")
    reopened_at: AwareDatetime = Field(description="When (the survey time).")
    report_back_due_at: AwareDatetime = Field(description="New report-back deadline.")
    round: int = Field(description="The round that starts now.")


class TicketClosed(Event):
    """The callback found the matter resolved and the citizen satisfied: the ticket is closed."""

    unit_code: str = Field(description="The unit that held it.")
    closed_at: AwareDatetime = Field(description="When (the survey time).")
    satisfaction: str = Field(description="satisfied or basically_satisfied.")


class RequestExtension(Contract):
    """Command: the lead unit asks the hotline centre for more time (延期), before the deadline."""

    unit_code: str = Field(min_length=1, description="The unit asking.")
    reason: str = Field(min_length=1, max_length=2000, description="Why more time is needed.")
    requested_due_at: AwareDatetime = Field(description="The report-back deadline asked for.")
    requested_at: AwareDatetime = Field(description="When it was asked.")


class DecideExtension(Contract):
    """Command: the hotline centre approves or denies a pending extension."""

    approved: bool = Field(description="Whether the extension is granted.")
    note: str = Field(default="", max_length=2000, description="The centre's reasoning.")
    decided_at: AwareDatetime = Field(description="When it was decided.")


class ExtensionRequested(Event):
    """A unit asked for more time."""

    unit_code: str = Field(description="The unit asking.")
    reason: str = Field(description="Why.")
    current_due_at: AwareDatetime = Field(description="The deadline now.")
    requested_due_at: AwareDatetime = Field(description="The deadline asked for.")


class ExtensionDecided(Event):
    """The centre granted (the deadline moves) or denied an extension."""

    unit_code: str = Field(description="The unit that asked.")
    approved: bool = Field(description="Granted or not.")
    report_back_due_at: AwareDatetime = Field(description="The deadline from now on.")
    note: str = Field(default="", description="The centre's reasoning.")


class ReportOnSite(Contract):
    """Command: a summoned department reports that it is on site (报到)."""

    unit_code: str = Field(min_length=1, description="The summoned department or enterprise.")
    staff_id: str = Field(min_length=1, max_length=64, description="Who reported, by id.")
    reported_at: AwareDatetime = Field(description="When it arrived on site.")


class ReportedOnSite(Event):
    """A summoned unit reported on site; `in_time` against the 30-minute deadline."""

    unit_code: str = Field(description="The unit that reported.")
    summons_event_id: str = Field(description="The DepartmentsSummoned event answered.")
    reported_at: AwareDatetime = Field(description="When.")
    due_at: AwareDatetime = Field(description="The on-site deadline.")
    in_time: bool = Field(description="Reported by the deadline.")


class DeadlineMarked(Event):
    """A deadline reached one of its marks (business time `occurred_at`, the mark's moment)."""

    unit_code: str = Field(description="The unit whose deadline it is.")
    district_code: str | None = Field(default=None, description="That unit's district.")
    clock: str = Field(description="response, report_back or on_site.")
    mark: str = Field(description="warning_50, warning_80, breach, escalation_1, ...")
    started_at: AwareDatetime = Field(description="When the deadline's clock started.")
    due_at: AwareDatetime = Field(description="The deadline.")
    round: int = Field(default=0, description="The handling round (0, +1 per reopen).")


class DeadlineWarned(DeadlineMarked):
    """A share of the time to a deadline has passed and the deadline is not met yet."""

    share: float = Field(description="The share of the span that has passed, e.g. 0.5.")


class DeadlineBreached(DeadlineMarked):
    """The deadline passed without being met."""


class DeadlineEscalated(DeadlineMarked):
    """督办: the breach goes to the district supervisor, again each further period."""

    level: int = Field(description="1 at the breach, +1 each further period.")
    supervisor_unit_code: str = Field(description="The district coordination centre supervising it.")
