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
