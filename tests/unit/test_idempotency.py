"""Idempotency keys name one request: what makes two requests the same, and metrics' facts keeping
the first event under an id. Pure parts; the stack-level cases are in tests/security."""

from datetime import datetime, timedelta, timezone

from hotline.contracts import RecordContact
from hotline.metrics.domain import apply_entries, entry_at
from hotline.routing.domain import command_hash, refuse_reused_key
from hotline.runtime.idempotency import request_hash
from tests.unit.test_routing_commands import ret

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def contact(**overrides) -> RecordContact:
    return RecordContact.model_validate({"unit_code": "110111008", "kind": "phone", "staff_id": "S-1",
                                         "contacted_at": T0.isoformat(), **overrides})


def test_the_same_request_written_otherwise_has_the_same_hash():
    first = request_hash("record_contact", "TK1", contact())
    # Keys in another order, the same instant at another offset, a default written out.
    written_otherwise = RecordContact.model_validate_json(
        '{ "contacted_at": "2026-11-26T01:00:00Z", "staff_id": "S-1", "notes": "",\n'
        '  "kind": "phone", "unit_code": "110111008" }')
    assert request_hash("record_contact", "TK1", written_otherwise) == first


def test_another_body_action_or_ticket_is_another_request():
    first = request_hash("record_contact", "TK1", contact())
    assert request_hash("record_contact", "TK1", contact(kind="face_to_face")) != first
    assert request_hash("record_contact", "TK1", contact(notes="见面")) != first
    assert request_hash("note_progress", "TK1", contact()) != first
    assert request_hash("record_contact", "TK2", contact()) != first


def test_a_routing_command_is_hashed_without_its_id_and_a_reused_id_has_a_refusal_of_its_own():
    assert command_hash(ret(cid="a")) == command_hash(ret(cid="b"))
    assert command_hash(ret(minutes=30)) != command_hash(ret(minutes=31))
    refused = refuse_reused_key(ret(minutes=31))
    assert (refused.code, refused.command_id) == ("key_reused", "c1")
    # Not the id of the first command's refusal, were it refused too.
    assert refused.event_id != refuse_reused_key(ret(minutes=30)).event_id


def test_a_facts_entry_is_kept_from_the_first_event_and_a_different_second_is_a_conflict():
    fact: dict = {}
    first = {"unit_code": "A", "kind": "phone", "contacted_at": T0}
    assert apply_entries(fact, {"contacts.c1": first}) == []
    # The same content again (a redelivery): no conflict; other content: the first stands.
    assert apply_entries(fact, {"contacts.c1": dict(first)}) == []
    assert apply_entries(fact, {"contacts.c1": {**first, "kind": "face_to_face"}, "contacts.c2": first}) == [
        "contacts.c1"]
    assert fact == {"contacts": {"c1": first, "c2": first}}
    assert entry_at(fact, "contacts.c1") == (True, first)
    assert entry_at(fact, "contacts.c3") == (False, None) == entry_at(fact, "received")
