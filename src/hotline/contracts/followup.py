"""What handling units do for a ticket (topic `tickets.followup`)."""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from hotline.contracts.common import AwareDatetime, Contract, Event
from hotline.contracts.exemptions import DecideExemption, RequestExemption
from hotline.contracts.raw import Caller, RequestType
from hotline.contracts.text import Text


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
    # Text: a demand collected on this contact carries it into a raw record (CollectedBy).
    staff_id: Text = Field(min_length=1, max_length=64, description="Staff member's id, not name.")
    notes: str = Field(default="", max_length=5000, description="What was said or done.")
    place: str = Field(default="", max_length=200, description="Where it happened (a visit's place).")
    participants: list[str] = Field(default_factory=list, max_length=20,
                                    description="Ids of the other staff present.")
    met_with: str = Field(default="", max_length=200,
                          description="Whom they met, by role (the caller, residents' committee), not by name.")
    attachments: list[str] = Field(default_factory=list, max_length=20,
                                   description="References to photos or minutes kept elsewhere.")


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


# --- Casework for the daily dispatch meeting: signing, progress notes, collected demands, cases.


class SignTicket(Contract):
    """Command: a unit assigned to the ticket signs for it (签收), acknowledging the dispatch."""

    unit_code: str = Field(min_length=1, description="The signing unit (the lead or a co-handler).")
    staff_id: str = Field(min_length=1, max_length=64, description="Staff member's id, not name.")
    signed_at: AwareDatetime = Field(description="When the unit signed for the ticket.")


class TicketSigned(Event):
    """A unit signed for its assignment (once per unit and dispatch attempt)."""

    unit_code: str = Field(description="The unit that signed.")
    staff_id: str = Field(description="Staff member's id.")
    signed_at: AwareDatetime = Field(description="When it signed.")
    attempt: int = Field(description="The dispatch attempt signed for.")
    role: str = Field(description="lead or co_handler.")


class AddProgressNote(Contract):
    """Command: a unit on the ticket notes what it has done so far (办理进度)."""

    unit_code: str = Field(min_length=1, description="The unit writing the note.")
    staff_id: str = Field(min_length=1, max_length=64, description="Staff member's id, not name.")
    text: str = Field(min_length=1, max_length=5000,
                      description="The note; may hold personal data, so it stays in followup's store.")
    noted_at: AwareDatetime = Field(description="When the progress was noted.")


class ProgressNoted(Event):
    """A unit noted progress; the text itself is not on the topic (it may hold personal data)."""

    note_id: str = Field(description="Deterministic id of this note.")
    unit_code: str = Field(description="The unit that wrote it.")
    staff_id: str = Field(description="Staff member's id.")
    noted_at: AwareDatetime = Field(description="When.")


class CollectedDemand(Contract):
    """A new demand residents raised on the spot during a visit (a new school, a bus line)."""

    # Text, as in the raw record each demand becomes.
    description: Text = Field(min_length=1, max_length=2000, description="What the residents asked for.")
    category_hint: Text | None = Field(default=None, max_length=100,
                                       description="Category code or name suggested by the staff.")
    place: Text = Field(default="", max_length=500,
                        description="Where, as said; blank or vague means the visited unit's area.")
    community: Text | None = Field(default=None, max_length=200, description="Community (社区), if given.")
    request_type: RequestType | None = Field(default=None, description="Kind of request, if clear.")
    caller: Caller | None = Field(
        default=None, description="A resident who wants to hear back (personal data: goes to intake only)."
    )


class RecordCollectedDemands(Contract):
    """Command: the visiting unit records the demands collected on one face-to-face visit."""

    unit_code: str = Field(min_length=1, description="The unit that made the visit.")
    demands: list[CollectedDemand] = Field(min_length=1, max_length=20, description="The demands raised.")


class DemandCollected(Event):
    """A demand raised on a visit became a new ticket (channel `collected`) through intake.

    Keyed by the visited ticket; the new ticket's source id names the visit too.
    """

    contact_id: str = Field(description="The visit (contact) the demand was raised on.")
    unit_code: str = Field(description="The visiting unit.")
    staff_id: str = Field(description="Staff member who met the residents.")
    demand_ticket_id: str = Field(description="The new ticket made from the demand.")
    source_id: str = Field(description="The new ticket's source id on channel `collected`.")
    category_hint: str | None = Field(default=None, description="Category suggested by the staff.")
    collected_at: AwareDatetime = Field(description="When the visit took place.")
    recorded_at: AwareDatetime = Field(description="When the demand was recorded (the new ticket's start).")


class MarkCase(Contract):
    """Command: mark a resolved or closed ticket a typical case for the case library (training)."""

    tags: list[str] = Field(min_length=1, max_length=10, description="Tags to find the case by.")
    lesson: str = Field(min_length=1, max_length=2000,
                        description="What to learn from it; phone-like numbers are masked.")
    title: str = Field(default="", max_length=100, description="A short title.")


class CaseMarked(Event):
    """A ticket became (or was re-described as) a typical case; no citizen data."""

    unit_code: str = Field(description="The unit that resolved the ticket.")
    marked_by: str = Field(description="The resolving unit or `centre`.")
    tags: list[str] = Field(description="Normalized tags.")
    title: str = Field(default="", description="A short title.")
    lesson: str = Field(description="The lesson, phone-like numbers masked.")
    category: str | None = Field(default=None, description="The ticket's category.")
    outcome: str | None = Field(default=None, description="The last resolution's outcome.")


class SupervisionNotice(Event):
    """督办 on the district supervisor's queue (`queue.<district>`): a unit missed a deadline."""

    unit_code: str = Field(description="The supervising unit whose queue this is.")
    lead_unit_code: str = Field(description="The unit that missed the deadline.")
    clock: str = Field(description="response, report_back or on_site.")
    level: int = Field(description="1 at the breach, +1 each further period.")
    due_at: AwareDatetime = Field(description="The missed deadline.")
    urgency: str | None = Field(default=None, description="The ticket's urgency class.")


class _FollowupCommand(Contract):
    """A unit system's action sent on `followup.commands` instead of HTTP (keyed by ticket id)."""

    command_id: str = Field(min_length=1, max_length=128, description="Client's id; a retry reuses it.")
    ticket_id: str = Field(min_length=1, max_length=128, description="The ticket acted on.")


class RecordContactCommand(_FollowupCommand):
    """Kafka form of `POST /v1/tickets/{id}/contacts` (the command id is the idempotency key)."""

    action: Literal["record_contact"] = Field(default="record_contact", description="What is asked.")
    payload: RecordContact = Field(description="The body of the HTTP form of this action.")


class ResolveTicketCommand(_FollowupCommand):
    """Kafka form of `POST /v1/tickets/{id}/resolution`."""

    action: Literal["resolve"] = Field(default="resolve", description="What is asked.")
    payload: ResolveTicket = Field(description="The body of the HTTP form of this action.")


class RequestExtensionCommand(_FollowupCommand):
    """Kafka form of `POST /v1/tickets/{id}/extensions`."""

    action: Literal["request_extension"] = Field(default="request_extension", description="What is asked.")
    payload: RequestExtension = Field(description="The body of the HTTP form of this action.")


class DecideExtensionCommand(_FollowupCommand):
    """Kafka form of `POST /v1/tickets/{id}/extensions/decision` (the centre's systems)."""

    action: Literal["decide_extension"] = Field(default="decide_extension", description="What is asked.")
    payload: DecideExtension = Field(description="The body of the HTTP form of this action.")


class ReportOnSiteCommand(_FollowupCommand):
    """Kafka form of `POST /v1/tickets/{id}/on-site`."""

    action: Literal["report_on_site"] = Field(default="report_on_site", description="What is asked.")
    payload: ReportOnSite = Field(description="The body of the HTTP form of this action.")


class SignTicketCommand(_FollowupCommand):
    """Kafka form of `POST /v1/tickets/{id}/sign`."""

    action: Literal["sign"] = Field(default="sign", description="What is asked.")
    payload: SignTicket = Field(description="The body of the HTTP form of this action.")


class AddProgressNoteCommand(_FollowupCommand):
    """Kafka form of `POST /v1/tickets/{id}/notes` (the command id is the idempotency key)."""

    action: Literal["note_progress"] = Field(default="note_progress", description="What is asked.")
    payload: AddProgressNote = Field(description="The body of the HTTP form of this action.")


class RequestExemptionCommand(_FollowupCommand):
    """Kafka form of `POST /v1/tickets/{id}/exemption` (the command id is the idempotency key)."""

    action: Literal["request_exemption"] = Field(default="request_exemption", description="What is asked.")
    payload: RequestExemption = Field(description="The body of the HTTP form of this action.")


class DecideExemptionCommand(_FollowupCommand):
    """Kafka form of `POST /v1/tickets/{id}/exemption/decision` (the centre's systems)."""

    action: Literal["decide_exemption"] = Field(default="decide_exemption", description="What is asked.")
    payload: DecideExemption = Field(description="The body of the HTTP form of this action.")


FollowupCommand = Annotated[
    RecordContactCommand | ResolveTicketCommand | RequestExtensionCommand | DecideExtensionCommand
    | ReportOnSiteCommand | SignTicketCommand | AddProgressNoteCommand | RequestExemptionCommand
    | DecideExemptionCommand,
    Field(discriminator="action"),
]


class FollowupCommandRefused(Event):
    """A followup command refused as its HTTP form would be (status, field, reason); nothing changed."""

    command_id: str = Field(description="The refused command's id.")
    action: str = Field(description="What it asked for.")
    unit_code: str | None = Field(default=None, description="The unit that sent it.")
    status: int = Field(description="The HTTP status the same request would get.")
    field: str | None = Field(default=None, description="The field at fault.")
    reason: str = Field(description="Why it was refused.")
