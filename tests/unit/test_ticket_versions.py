"""TicketReceived and QueueAssignment version 2 (how the category was decided): version-1 records,
as the code before wrote them, still parse and take the same path in every consumer; version 2
round-trips; a version from a newer producer is refused, naming the field."""

import json

import pytest
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from hotline.catalogue import default_catalogue
from hotline.console import Board, find_unit, row_cells
from hotline.contracts import ClassifiedBy, QueueAssignment, TicketReceived, topics
from hotline.followup.tickets.domain import masked_for_timeline
from hotline.gazetteer import beijing
from hotline.intake.store import received_document
from hotline.metrics.domain import fact_update
from hotline.metrics.events import decode
from hotline.routing.domain import UNSURE_RULE, DispatchReason, decide, dispatch_events, handle_return
from hotline.runtime.kafka import event_headers

# What intake published before version 2 (schema_version 1, none of the new fields).
V1_RECEIVED = (
    '{"event_id": "f2f0745d-618f-5107-9e08-617404ed04f1", "schema_version": 1, "ticket_id": "TK1B3F4B2B62FB458A", '
    '"occurred_at": "2026-11-20T09:00:00+08:00", "channel": "phone", "source_id": "v1-1", '
    '"received_at": "2026-11-20T09:00:00+08:00", "content": "小区门口道路破损，雨天积水严重", '
    '"caller": {"phone": "13800001234", "name": "王先生"}, "location": {"address": "房山区良乡镇云景台小区二期", '
    '"community": null, "district_code": "110111", "unit_code": "110111008", "lat": null, "lon": null, '
    '"ambiguous": false}, "category_hint": null, "collected_by": null, "request_type": "complaint", '
    '"category": "roads_traffic", "urgency": "general", "report_back_due_at": "2026-11-27T09:00:00+08:00", '
    '"taxonomy_version": "2026.11", "anonymous": false, "answered_directly": false, "repeat_of": null, '
    '"repeat_count": 0}'
)
V2_FIELDS = {
    "schema_version": 2, "first_level": "城乡建设", "classified_by": "model", "confidence": 0.31,
    "model_version": "tfidf-wordchar-linearsvc-1.s0.11207fa1", "needs_triage": True,
    "candidates": [{"first_level": "城乡建设", "confidence": 0.31, "category": "roads_traffic"},
                   {"first_level": "交通运输", "confidence": 0.29, "category": "roads_traffic"}],
}
V2_RECEIVED = json.dumps({**json.loads(V1_RECEIVED), **V2_FIELDS}, ensure_ascii=False)


def record(topic: str, value: str) -> ConsumerRecord:
    body = value.encode()
    return ConsumerRecord(topic, 0, 1, 0, 0, b"k", body, None, 1, len(body), [])


def test_a_version_1_ticket_reads_with_the_defaults():
    t = TicketReceived.model_validate_json(V1_RECEIVED)
    assert t.schema_version == 1 and t.category == "roads_traffic"
    assert (t.first_level, t.classified_by, t.confidence, t.model_version, t.candidates, t.needs_triage) == (
        None, None, None, None, [], False)


def test_a_version_2_ticket_round_trips_and_says_so_in_its_header():
    t = TicketReceived.model_validate_json(V2_RECEIVED)
    assert t.classified_by is ClassifiedBy.MODEL and t.needs_triage and t.candidates[1].first_level == "交通运输"
    assert TicketReceived.model_validate_json(t.model_dump_json()) == t
    assert event_headers(t)["schema_version"] == "2"
    # What a producer builds now is version 2 without saying so.
    fresh = TicketReceived.model_validate({k: v for k, v in json.loads(V1_RECEIVED).items() if k != "schema_version"})
    assert fresh.schema_version == 2


@pytest.mark.parametrize("model, body", [
    (TicketReceived, V1_RECEIVED),
    (QueueAssignment, None),
])
def test_a_newer_version_is_refused_naming_the_field(model, body):
    if body is None:
        body = dispatch_events(TicketReceived.model_validate_json(V1_RECEIVED),
                               decide(TicketReceived.model_validate_json(V1_RECEIVED), beijing(),
                                      default_catalogue()))[1][0].model_dump_json()
    data = {**json.loads(body), "schema_version": 3}
    with pytest.raises(ValidationError, match="unknown schema version 3") as refused:
        model.model_validate(data)
    assert refused.value.errors()[0]["loc"] == ("schema_version",)


def test_a_confidence_outside_0_to_1_is_refused():
    with pytest.raises(ValidationError, match="confidence"):
        TicketReceived.model_validate({**json.loads(V2_RECEIVED), "confidence": 1.5})


def test_routing_dispatches_a_version_1_ticket_by_the_catalogue_as_before():
    t = TicketReceived.model_validate_json(V1_RECEIVED)
    dispatch = decide(t, beijing(), default_catalogue())
    assert dispatch.lead.unit_code == "110111008" and dispatch.reason is DispatchReason.STREET_TOWN
    _, assignments = dispatch_events(t, dispatch)
    assert assignments[0].schema_version == 2 and assignments[0].candidates == []
    assert assignments[0].first_level is None and assignments[0].confidence is None
    # Routing keeps the ticket whole and reads it back for a return.
    stored = json.loads(t.model_dump_json())
    assert TicketReceived.model_validate(stored) == t


def test_routing_sends_a_version_2_ticket_that_needs_triage_to_the_triage_desk():
    t = TicketReceived.model_validate_json(V2_RECEIVED)
    dispatch = decide(t, beijing(), default_catalogue())
    assert (dispatch.lead.unit_code, dispatch.reason, dispatch.rule_id) == (
        topics.TRIAGE_QUEUE_CODE, DispatchReason.TRIAGE, UNSURE_RULE)
    assert dispatch.district_code == "110111" and dispatch.co_handlers == ()
    dispatched, [assignment] = dispatch_events(t, dispatch)
    assert dispatched.reason == "triage" and dispatched.category == "roads_traffic"
    assert assignment.unit_code == topics.TRIAGE_QUEUE_CODE
    assert [(c.first_level, c.confidence) for c in assignment.candidates] == [("城乡建设", 0.31), ("交通运输", 0.29)]
    assert (assignment.first_level, assignment.confidence) == ("城乡建设", 0.31)
    # The same ticket without the flag (or once the desk has passed it on) goes by the catalogue.
    assert decide(t, beijing(), default_catalogue(), skip=frozenset({topics.TRIAGE_QUEUE_CODE})).lead.unit_code == "110111008"


def test_the_triage_desk_hands_on_at_any_time_without_counting_a_return():
    from datetime import timedelta

    from hotline.contracts.routing import ReturnTicket
    from hotline.routing.domain import RoutingState

    t = TicketReceived.model_validate_json(V2_RECEIVED)
    gazetteer, catalogue = beijing(), default_catalogue()
    dispatch = decide(t, gazetteer, catalogue)
    state = RoutingState(t, dispatch, 1, t.received_at)
    late = t.received_at + timedelta(hours=30)  # long after the two-hour return window

    def returned(state, unit, at, suggested=None):
        return handle_return(state, ReturnTicket(
            command_id=f"c-{unit}-{at.timestamp()}", ticket_id=t.ticket_id, unit_code=unit,
            reason_code="belongs_to_unit", suggested_unit=suggested, returned_at=at),
            window=timedelta(hours=2), gazetteer=gazetteer, catalogue=catalogue)

    handed, events = returned(state, topics.TRIAGE_QUEUE_CODE, late, suggested="110111008")
    assert handed.dispatch.lead.unit_code == "110111008" and handed.attempt == 2 and handed.returns == 0
    assert events[0].returns == 0 and not handed.escalated
    # Without a suggestion the catalogue decides on the classifier's best guess, not triage again.
    by_catalogue, _ = returned(state, topics.TRIAGE_QUEUE_CODE, late)
    assert by_catalogue.dispatch.lead.unit_code == "110111008" and by_catalogue.dispatch.rule_id != UNSURE_RULE
    # The street's own return is its first: re-dispatched, not escalated.
    again, events = returned(handed, "110111008", late + timedelta(minutes=10))
    assert again.returns == 1 and not again.escalated
    # A street's return after the window is still refused.
    _, refused = returned(handed, "110111008", late + timedelta(hours=3))
    assert refused[0].code == "window_passed"


@pytest.mark.parametrize("body", [V1_RECEIVED, V2_RECEIVED], ids=["v1", "v2"])
def test_followup_metrics_and_intakes_store_take_both_versions(body):
    t = TicketReceived.model_validate_json(body)
    # followup's timeline keeps it with the phone masked and the name dropped
    masked = masked_for_timeline(t)
    assert masked.caller.phone == "138****1234" and masked.caller.name is None
    assert masked.schema_version == t.schema_version
    # metrics parses the topic's records and keeps the same fact from either version
    events, rejected = decode(topics.TICKETS_RECEIVED, [record(topics.TICKETS_RECEIVED, body)])
    assert rejected == [] and events == [t]
    assert fact_update(t, response_due=lambda at, urgency: None) == fact_update(
        TicketReceived.model_validate_json(V1_RECEIVED), response_due=lambda at, urgency: None)
    # intake's own store (the Open311 side) keeps the same fields, no caller
    doc = received_document(t)
    assert doc["category"] == "roads_traffic" and "13800001234" not in json.dumps(doc, default=str)


def test_the_console_shows_a_version_1_assignment_and_the_triage_desk_the_candidates():
    t1, t2 = TicketReceived.model_validate_json(V1_RECEIVED), TicketReceived.model_validate_json(V2_RECEIVED)
    gazetteer, catalogue = beijing(), default_catalogue()
    [old] = dispatch_events(t1, decide(t1, gazetteer, catalogue))[1]
    v1 = json.dumps({k: v for k, v in json.loads(old.model_dump_json()).items()
                     if k not in {"first_level", "confidence", "candidates"}} | {"schema_version": 1})
    board = Board(find_unit("110111008"))
    assert board.add_record(v1.encode()) is not None and board.skipped == 0
    [triaged] = dispatch_events(t2, decide(t2, gazetteer, catalogue))[1]
    cells = [c.plain for c in row_cells(triaged, t2.received_at)]
    assert "城乡建设 0.31 / 交通运输 0.29" in cells[3]
