from datetime import UTC, datetime, timedelta

import pytest

from hotline.contracts import ContactKind, RecordContact
from hotline.followup.domain import FollowupTicket, Refusal, contact_id_for, record_contact

DISPATCHED = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
NOW = DISPATCHED + timedelta(hours=1)
TICKET = FollowupTicket(ticket_id="TK1", unit_code="110111008", first_dispatched_at=DISPATCHED)


def command(**overrides) -> RecordContact:
    fields = dict(unit_code="110111008", kind=ContactKind.FACE_TO_FACE,
                  contacted_at=DISPATCHED + timedelta(minutes=30), staff_id="LX-017")
    fields.update(overrides)
    return RecordContact(**fields)


def test_a_valid_contact_becomes_an_event():
    event = record_contact(TICKET, command(), ticket_id="TK1", contact_id="c1", now=NOW)
    assert (event.ticket_id, event.kind, event.contact_id) == ("TK1", ContactKind.FACE_TO_FACE, "c1")


@pytest.mark.parametrize(
    ("ticket", "cmd", "status", "field"),
    [
        (None, command(), 404, "ticket_id"),
        (TICKET, command(unit_code="110111001"), 403, "unit_code"),
        (TICKET, command(contacted_at=NOW + timedelta(minutes=10)), 422, "contacted_at"),
        (TICKET, command(contacted_at=DISPATCHED - timedelta(minutes=1)), 422, "contacted_at"),
    ],
)
def test_refusals_name_status_and_field(ticket, cmd, status, field):
    with pytest.raises(Refusal) as caught:
        record_contact(ticket, cmd, ticket_id="TK1", contact_id="c1", now=NOW)
    assert (caught.value.status, caught.value.field) == (status, field)


def test_a_retried_submission_is_the_same_contact():
    assert contact_id_for("TK1", command(), None) == contact_id_for("TK1", command(), None)
    assert contact_id_for("TK1", command(), "key-1") == contact_id_for("TK1", command(notes="x"), "key-1")
    assert contact_id_for("TK1", command(), "key-1") != contact_id_for("TK1", command(), "key-2")
