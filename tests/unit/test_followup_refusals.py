"""Followup's refusals answer clients as they did before the domain errors (issue #26): the same
status and the body `refusal_response` built, `{"detail": [{"loc": [location?, field], "msg": reason}]}`."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import ContactKind, RecordContact
from hotline.domain_errors import Closed, Conflict, DomainError, Invalid, NotFound, NotYours
from hotline.followup.tickets.domain import FollowupTicket, KeyReused, TicketState, not_in_future, record_contact
from hotline.runtime.errors import domain_error

DISPATCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TICKET = FollowupTicket(ticket_id="TK1", unit_code="110111008", first_dispatched_at=DISPATCHED)


def contact(**overrides) -> RecordContact:
    return RecordContact(**{"unit_code": "110111008", "kind": ContactKind.PHONE, "staff_id": "LX-017",
                            "contacted_at": DISPATCHED + timedelta(minutes=30), **overrides})


def before_26(status: int, field: str, reason: str, location: str | None) -> tuple[int, dict]:
    """What followup's `refusal_response` answered."""
    loc = [location, field] if location else [field]
    return status, {"detail": [{"loc": loc, "msg": reason}]}


async def answered(error: DomainError) -> tuple[int, dict]:
    response = await domain_error(None, error)  # type: ignore[arg-type]
    return response.status_code, json.loads(bytes(response.body))


def refusal_of(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(("call", "kind", "status", "field", "location"), [
    (lambda: record_contact(None, contact(), ticket_id="TK9", contact_id="c", now=DISPATCHED), NotFound, 404,
     "ticket_id", None),
    (lambda: record_contact(TICKET, contact(unit_code="110111009"), ticket_id="TK1", contact_id="c",
                            now=DISPATCHED), NotYours, 403, "unit_code", None),
    (lambda: record_contact(replace(TICKET, state=TicketState.CLOSED), contact(), ticket_id="TK1", contact_id="c",
                            now=DISPATCHED), Closed, 409, "ticket_id", None),
    (lambda: record_contact(TICKET, contact(contacted_at=DISPATCHED - timedelta(hours=1)), ticket_id="TK1",
                            contact_id="c", now=DISPATCHED), Invalid, 422, "contacted_at", None),
    (lambda: record_contact(replace(TICKET, contact_hashes={"c": "first"}), contact(), ticket_id="TK1",
                            contact_id="c", now=DISPATCHED, request_hash="second"), Conflict, 409,
     "Idempotency-Key", "header"),
])
async def test_a_refusal_answers_the_status_and_body_it_did(call, kind, status, field, location):
    refused = refusal_of(call)
    assert isinstance(refused, kind)
    assert await answered(refused) == before_26(status, field, refused.reason, location)


def test_a_reused_key_keeps_its_kafka_content():
    reused = KeyReused()
    assert (reused.status, reused.field, reused.location) == (409, "Idempotency-Key", "header")


def test_a_time_in_the_future_is_invalid_at_its_field():
    with pytest.raises(Invalid) as caught:
        not_in_future(DISPATCHED + timedelta(hours=1), "signed_at", now=DISPATCHED, clock_skew=timedelta(minutes=2))
    assert (caught.value.status, caught.value.field) == (422, "signed_at")
