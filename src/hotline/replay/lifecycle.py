"""A replayed record's lifecycle as the messages the real pipeline takes, in time order (pure).

Opening: the raw record on `hotline.raw` (intake makes the ticket, routing dispatches it to the
history's unit). Target date: an extension to it, requested and approved at the opening, when it
is later than the report-back deadline intake gives the ticket. Close: the unit's contact and
resolution on `followup.commands` and, when the mapping says what a close stands for, the
callback on `hotline.callbacks`, all at the record's closed time. Every id derives from the
ticket id, so replaying twice sends the same commands, which the services recognise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from hotline.contracts import topics
from hotline.replay.mapping import Lifecycle, ReplayRecord

STAFF_ID = "replay"  # contacts need a staff id; the histories name none


class Stage(IntEnum):
    """What a message needs the services to have done first (also the order at equal times)."""

    OPEN = 0  # nothing
    COMMAND = 1  # followup knows the ticket
    CALLBACK = 2  # followup has taken the ticket's commands


@dataclass(frozen=True)
class Step:
    """One message of the replay at its business time."""

    at: datetime
    stage: Stage
    order: int  # within a ticket at one time: request before decision, contact before resolution
    topic: str  # unprefixed
    key: str | None
    payload: dict

    @property
    def sort_key(self) -> tuple:
        """Time order; ties by stage, then the ticket's own order."""
        return (self.at, self.stage, self.key or "", self.order)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _command(record: ReplayRecord, action: str, name: str, payload: dict, at: datetime, order: int) -> Step:
    body = {"action": action, "command_id": f"replay:{record.ticket_id}:{name}",
            "ticket_id": record.ticket_id, "payload": payload}
    return Step(at, Stage.COMMAND, order, topics.FOLLOWUP_COMMANDS, record.ticket_id, body)


def lifecycle_steps(record: ReplayRecord, life: Lifecycle, *, report_back_due_at: datetime | None) -> list[Step]:
    """The messages that replay one record, in time order."""
    steps = [Step(record.opened_at, Stage.OPEN, 0, topics.RAW, None, record.raw)]
    opened, unit = record.opened_at, record.unit_code
    if record.due_at is not None and report_back_due_at is not None and record.due_at > report_back_due_at \
            and (record.closed_at is None or record.closed_at >= opened):
        steps.append(_command(record, "request_extension", "extension", {
            "unit_code": unit, "reason": "target date of the source record",
            "requested_due_at": _iso(record.due_at), "requested_at": _iso(opened)}, opened, 1))
        steps.append(_command(record, "decide_extension", "extension-decision", {
            "approved": True, "note": "target date of the source record", "decided_at": _iso(opened)},
            opened, 2))
    closed = record.closed_at
    if closed is not None:
        steps.append(_command(record, "record_contact", "contact", {
            "unit_code": unit, "kind": life.contact_kind.value, "contacted_at": _iso(closed),
            "staff_id": STAFF_ID}, closed, 3))
        steps.append(_command(record, "resolve", "resolution", {
            "unit_code": unit, "outcome": life.outcome.value, "resolution_code": record.resolution_code,
            "resolved_at": _iso(closed)}, closed, 4))
        if life.survey is not None:
            steps.append(Step(closed, Stage.CALLBACK, 5, topics.CALLBACKS, record.ticket_id, {
                "ticket_id": record.ticket_id, "resolved": life.survey.resolved,
                "satisfaction": life.survey.satisfaction.value, "contacted": life.survey.contacted,
                "surveyed_at": _iso(closed)}))
    return steps
