"""Shared contracts: the pydantic models of every message on every topic."""

from hotline.contracts.common import BUSINESS_TZ, deterministic_event_id, mask_phone, ticket_id_for
from hotline.contracts.dlq import DeadLetter
from hotline.contracts.followup import (
    ContactKind,
    ContactRecorded,
    DecideExtension,
    ExtensionDecided,
    ExtensionRequested,
    Outcome,
    RecordContact,
    RequestExtension,
    ResolveTicket,
    TicketClosed,
    TicketReopened,
    TicketResolved,
)
from hotline.contracts.raw import (
    CallbackResult,
    Caller,
    Channel,
    CollectedBy,
    RawRecord,
    RequestType,
    Satisfaction,
)
from hotline.contracts.tickets import (
    Assignee,
    Location,
    QueueAssignment,
    TicketDispatched,
    TicketReceived,
)

__all__ = [
    "Assignee",
    "BUSINESS_TZ",
    "CallbackResult",
    "Caller",
    "Channel",
    "CollectedBy",
    "ContactKind",
    "ContactRecorded",
    "DeadLetter",
    "DecideExtension",
    "ExtensionDecided",
    "ExtensionRequested",
    "Location",
    "Outcome",
    "QueueAssignment",
    "RawRecord",
    "RecordContact",
    "RequestExtension",
    "RequestType",
    "ResolveTicket",
    "Satisfaction",
    "TicketClosed",
    "TicketDispatched",
    "TicketReceived",
    "TicketReopened",
    "TicketResolved",
    "deterministic_event_id",
    "mask_phone",
    "ticket_id_for",
]
