"""Casework's pure parts: signing, notes, collected demands, cases and the daily brief."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.contracts import (
    AddProgressNote,
    Caller,
    CollectedDemand,
    MarkCase,
    ProgressNoted,
    SignTicket,
    ticket_id_for,
)
from hotline.domain_errors import DomainError as Refusal
from hotline.followup.casework.domain import CaseworkTicket as TicketDoc
from hotline.followup.casework.domain import (
    Contact,
    business_day,
    day_bounds,
    demand_source_id,
    demand_tickets,
    mark_case,
    normalize_tags,
    note_id_for,
    note_progress,
    scrub,
    sign,
    visit_of,
    visit_of_source,
)
from hotline.followup.casework.domain import casework_ticket as ticket_doc
from hotline.followup.casework.views import case_document, case_summary, select_brief
from hotline.gazetteer import beijing

DISPATCHED = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
NOW = DISPATCHED + timedelta(hours=2)
TOWN, CO, DEPT, OTHER = "110111008", "m-civil-affairs", "m-housing", "110111001"
VISIT = Contact("C1", "face_to_face", TOWN, "LX-017", DISPATCHED + timedelta(hours=1))
CALL = Contact("C2", "phone", TOWN, "LX-017", DISPATCHED + timedelta(minutes=30))
TICKET = TicketDoc(ticket_id="TK1", unit_code=TOWN, first_dispatched_at=DISPATCHED, district_code="110111",
                   co_handlers=(CO,), summoned=(DEPT,), contacts=(VISIT, CALL))


def refused(status: int, field: str):
    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(Refusal)
            self.info = self.ctx.__enter__()
            return self

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            assert (self.info.value.status, self.info.value.field) == (status, field), self.info.value
            return handled

    return Check()


def signing(unit: str = TOWN, **overrides) -> SignTicket:
    return SignTicket(**{"unit_code": unit, "staff_id": "LX-017", "signed_at": DISPATCHED + timedelta(minutes=5),
                         **overrides})


# --- signing ---------------------------------------------------------------------------------


def test_the_lead_and_a_co_handler_each_sign_once_per_attempt():
    lead = sign(TICKET, signing(), ticket_id="TK1", now=NOW)
    again = sign(TICKET, signing(signed_at=DISPATCHED + timedelta(minutes=9)), ticket_id="TK1", now=NOW)
    co = sign(TICKET, signing(CO), ticket_id="TK1", now=NOW)
    redispatched = sign(TicketDoc(**{**vars(TICKET), "attempt": 2}), signing(), ticket_id="TK1", now=NOW)
    assert (lead.role, co.role) == ("lead", "co_handler")
    assert lead.event_id == again.event_id  # a retry is the same signature
    assert len({lead.event_id, co.event_id, redispatched.event_id}) == 3
    assert (lead.attempt, redispatched.attempt, lead.occurred_at) == (1, 2, lead.signed_at)


@pytest.mark.parametrize(("ticket", "command", "status", "field"), [
    (None, signing(), 404, "ticket_id"),
    (TICKET, signing(OTHER), 403, "unit_code"),
    (TICKET, signing(DEPT), 403, "unit_code"),  # summoned departments report on site instead
    (TicketDoc(**{**vars(TICKET), "state": "closed"}), signing(), 409, "ticket_id"),
    (TICKET, signing(signed_at=NOW + timedelta(hours=1)), 422, "signed_at"),
    (TICKET, signing(signed_at=DISPATCHED - timedelta(minutes=1)), 422, "signed_at"),
])
def test_signing_is_refused_with_status_and_field(ticket, command, status, field):
    with refused(status, field):
        sign(ticket, command, ticket_id="TK1", now=NOW)


# --- progress notes --------------------------------------------------------------------------


def noting(unit: str = TOWN, **overrides) -> AddProgressNote:
    return AddProgressNote(**{"unit_code": unit, "staff_id": "LX-017", "text": "已联系物业，周五前修复。王先生 13800001234",
                              "noted_at": DISPATCHED + timedelta(hours=1), **overrides})


def test_a_note_id_comes_from_the_idempotency_key_or_the_note_itself():
    assert note_id_for("TK1", noting(), "k1") == note_id_for("TK1", noting(text="改了"), "k1")
    assert note_id_for("TK1", noting(), "k1") != note_id_for("TK1", noting(), "k2")
    assert note_id_for("TK1", noting(), None) == note_id_for("TK1", noting(), None)
    assert note_id_for("TK1", noting(), None) != note_id_for("TK1", noting(text="另一条"), None)


def test_notes_come_from_any_unit_on_the_ticket_and_the_event_never_carries_the_text():
    for unit in (TOWN, CO, DEPT):
        event = note_progress(TICKET, noting(unit), ticket_id="TK1", note_id="N1", now=NOW)
        assert event.unit_code == unit and event.note_id == "N1"
    assert "text" not in ProgressNoted.model_fields
    assert "13800001234" not in event.model_dump_json() and "王先生" not in event.model_dump_json()


@pytest.mark.parametrize(("ticket", "command", "status", "field"), [
    (None, noting(), 404, "ticket_id"),
    (TICKET, noting(OTHER), 403, "unit_code"),
    (TicketDoc(**{**vars(TICKET), "state": "closed"}), noting(), 409, "ticket_id"),
    (TICKET, noting(noted_at=NOW + timedelta(hours=1)), 422, "noted_at"),
    (TICKET, noting(text="   "), 422, "text"),
])
def test_notes_are_refused_with_status_and_field(ticket, command, status, field):
    with refused(status, field):
        note_progress(ticket, command, ticket_id="TK1", note_id="N1", now=NOW)


def test_the_ticket_view_reads_followups_document():
    doc = {"_id": "TK1", "unit_code": TOWN, "first_dispatched_at": DISPATCHED, "attempt": 2, "state": "resolved",
           "co_handlers": [CO], "summons": [{"unit_code": DEPT, "summons_event_id": "S1", "due_at": NOW}],
           "contacts": [{"contact_id": "C1", "kind": "face_to_face", "unit_code": TOWN, "staff_id": "LX-017",
                         "contacted_at": VISIT.contacted_at}]}
    view = ticket_doc(doc)
    assert (view.attempt, view.state, view.contacts, view.role_of(DEPT)) == (2, "resolved", (VISIT,), "summoned")
    assert ticket_doc({"_id": "TK2", "timeline": []}) is None  # known only from events before its dispatch
    assert ticket_doc(None) is None


# --- demands collected on a visit ------------------------------------------------------------


def demand(**overrides) -> CollectedDemand:
    return CollectedDemand(**{"description": "居民希望小区附近开设老年餐桌", "category_hint": "elderly_care",
                              "place": "云景台小区二期", **overrides})


@pytest.mark.parametrize(("contact_id", "unit", "status", "field"), [
    ("nope", TOWN, 404, "contact_id"),
    ("C1", OTHER, 403, "unit_code"),
    ("C2", TOWN, 422, "contact_id"),  # a phone call is not a visit
])
def test_demands_need_an_in_person_contact_of_the_unit(contact_id, unit, status, field):
    with refused(status, field):
        visit_of(TICKET, contact_id, unit_code=unit, ticket_id="TK1")
    with refused(404, "ticket_id"):
        visit_of(None, "C1", unit_code=TOWN, ticket_id="TK1")


def test_a_visit_may_have_its_demands_recorded_after_the_ticket_closed():
    closed = TicketDoc(**{**vars(TICKET), "state": "closed", "unit_code": OTHER})
    assert visit_of(closed, "C1", unit_code=TOWN, ticket_id="TK1") == VISIT


def test_the_source_id_is_deterministic_names_the_visit_and_ignores_spacing():
    source = demand_source_id("TK1", "C1", demand())
    assert source == demand_source_id("TK1", "C1", demand(description=" 居民希望小区附近开设老年餐桌 ", category_hint=None))
    assert source != demand_source_id("TK1", "C1", demand(description="希望增设公交线路"))
    assert source != demand_source_id("TK1", "C9", demand())
    assert visit_of_source(source) == ("TK1", "C1") and len(source) <= 128
    assert visit_of_source("sf311-123") is None and visit_of_source("visit/TK1") is None


def test_a_vague_place_lands_in_the_visited_units_area_and_a_named_place_stays():
    gazetteer, now = beijing(), NOW
    vague, elsewhere, blank = demand_tickets(
        TICKET, VISIT, [demand(), demand(place="海淀区中关村街道某小区", description="希望增设公交线路"),
                        demand(place="", description="希望修缮社区活动室")],
        recorded_at={}, now=now, gazetteer=gazetteer)
    zhongguancun = gazetteer.resolve("海淀区中关村街道").unit_code
    assert zhongguancun is not None and zhongguancun.startswith("110108")
    for item, unit in ((vague, TOWN), (blank, TOWN), (elsewhere, zhongguancun)):
        place = gazetteer.resolve(f"{item.record.address} {item.record.community or ''}", item.record.district)
        assert place.unit_code == unit, (item.record.address, item.record.district)


def test_demand_tickets_are_collected_records_linked_to_the_visit_without_caller_data_in_the_store():
    resident = Caller(phone="13912345678", name="李女士")
    items = demand_tickets(TICKET, VISIT, [demand(caller=resident), demand(place=" 云景台小区二期")],
                           recorded_at={}, now=NOW, gazetteer=beijing())
    assert len(items) == 1  # the same demand twice is one ticket
    item = items[0]
    assert item.ticket_id == ticket_id_for("collected", item.source_id)
    record = item.record
    assert (record.channel.value, record.received_at, record.collected_by.unit_code, record.collected_by.staff_id) == (
        "collected", NOW, TOWN, "LX-017")
    assert record.caller.phone == "13912345678"  # the resident's number goes to intake, for the unit
    assert "13912345678" not in repr(item.document) and "李女士" not in repr(item.document)
    assert (item.document["visit_ticket_id"], item.document["contact_id"], item.document["day"]) == (
        "TK1", "C1", "2026-11-26")
    earlier = NOW - timedelta(days=2)
    again = demand_tickets(TICKET, VISIT, [demand()], recorded_at={item.ticket_id: earlier}, now=NOW,
                           gazetteer=beijing())[0]
    assert again.record.received_at == earlier and again.document["day"] == "2026-11-24"


def test_a_blank_description_is_refused():
    with refused(422, "demands.description"):
        demand_tickets(TICKET, VISIT, [demand(description="  ")], recorded_at={}, now=NOW, gazetteer=beijing())


# --- the case library ------------------------------------------------------------------------


RESOLVED = TicketDoc(**{**vars(TICKET), "state": "resolved", "resolutions": (
    {"unit_code": TOWN, "outcome": "resolved", "resolution_code": "LX-01", "round": 0, "note": "王先生 13800001234"},)})


def marking(**overrides) -> MarkCase:
    return MarkCase(**{"tags": [" 见面办 ", "Oil Fumes", "见面办"], "lesson": "当天上门，联系电话13800001234的居民满意。",
                       "title": "油烟扰民", **overrides})


def test_tags_are_normalized_and_phone_numbers_masked():
    assert normalize_tags([" 见面办 ", "Oil  Fumes", "oil fumes"]) == ["oil fumes", "见面办"]
    assert scrub("电话 138-0000-1234 或 010-61234567，身份证110105199001011234") == (
        "电话 138****1234 或 010****4567，身份证110****1234")
    with refused(422, "tags"):
        normalize_tags(["  "])
    with refused(422, "tags"):
        normalize_tags(["x" * 33])


def test_the_resolving_unit_or_the_centre_marks_a_resolved_or_closed_ticket():
    by_unit = mark_case(RESOLVED, marking(), ticket_id="TK1", caller_unit=TOWN, caller_is_centre=False,
                        category="noise", now=NOW)
    by_centre = mark_case(TicketDoc(**{**vars(RESOLVED), "state": "closed"}), marking(), ticket_id="TK1",
                          caller_unit="centre", caller_is_centre=True, category="noise", now=NOW)
    assert (by_unit.tags, by_unit.unit_code, by_unit.outcome, by_centre.marked_by) == (
        ["oil fumes", "见面办"], TOWN, "resolved", "centre")
    assert "13800001234" not in by_unit.lesson and "138****1234" in by_unit.lesson
    assert by_unit.event_id == by_centre.event_id  # the same description
    assert by_unit.event_id != mark_case(RESOLVED, marking(lesson="另一个教训"), ticket_id="TK1", caller_unit=TOWN,
                                         caller_is_centre=False, category=None, now=NOW).event_id


@pytest.mark.parametrize(("ticket", "caller", "status", "field"), [
    (None, TOWN, 404, "ticket_id"),
    (RESOLVED, OTHER, 403, "authorization"),
    (RESOLVED, CO, 403, "authorization"),
    (TICKET, TOWN, 409, "ticket_id"),  # still open
])
def test_marking_a_case_is_refused(ticket, caller, status, field):
    with refused(status, field):
        mark_case(ticket, marking(), ticket_id="TK1", caller_unit=caller, caller_is_centre=False,
                  category=None, now=NOW)


def test_a_case_keeps_the_course_of_the_ticket_but_no_citizen_data():
    doc = {"_id": "TK1", "unit_code": TOWN, "district_code": "110111", "first_dispatched_at": DISPATCHED,
           "state": "closed", "round": 1,
           "contacts": [{"contact_id": "C1", "kind": "face_to_face", "unit_code": TOWN, "staff_id": "LX-017",
                         "contacted_at": VISIT.contacted_at}],
           "resolutions": [{"unit_code": TOWN, "outcome": "resolved", "resolution_code": "LX-01", "round": 1,
                            "resolved_at": NOW, "note": "王先生 13800001234 已满意"}],
           "events": [{"type": "TicketClosed", "json": '{"satisfaction": "satisfied"}'}],
           "timeline": [{"event_id": "E1", "type": "TicketDispatched", "at": DISPATCHED,
                         "data": {"category": "noise", "content": "secret"}}]}
    event = mark_case(ticket_doc(doc), marking(), ticket_id="TK1", caller_unit=TOWN, caller_is_centre=False,
                      category="noise", now=NOW)
    case = case_document(event, doc, urgency="general")
    text = repr(case)
    assert "王先生" not in text and "13800001234" not in text and "LX-017" not in text and "secret" not in text
    summary = case_summary(doc)
    assert (summary["rounds"], summary["face_to_face"], summary["satisfaction"]) == (2, 1, "satisfied")
    assert summary["timeline"] == [{"type": "TicketDispatched", "at": DISPATCHED}]
    assert (case["category"], case["outcome"], case["unit_code"]) == ("noise", "resolved", TOWN)


# --- the daily brief -------------------------------------------------------------------------

DAY = date(2026, 11, 26)
START, END = day_bounds(DAY)


def wl(ticket_id: str, *, dispatched: datetime, due: datetime | None, state: str = "open", round_: int = 0,
       unit: str = TOWN) -> dict:
    return {"_id": ticket_id, "unit_code": unit, "first_dispatched_at": dispatched, "report_back_due_at": due,
            "state": state, "round": round_}


def test_the_brief_sorts_the_units_tickets_into_the_meetings_agenda():
    tickets = [
        wl("NEW", dispatched=START + timedelta(hours=1), due=START + timedelta(days=7)),
        wl("DUE", dispatched=START - timedelta(days=6), due=START + timedelta(hours=15)),
        wl("LATE", dispatched=START - timedelta(days=8), due=START - timedelta(hours=1)),
        wl("REOPENED", dispatched=START - timedelta(days=3), due=START + timedelta(days=2), round_=1),
        wl("DONE", dispatched=START - timedelta(days=2), due=START - timedelta(hours=3), state="resolved"),
        wl("TOMORROW", dispatched=END + timedelta(minutes=1), due=END + timedelta(days=7)),
        wl("ELSEWHERE", dispatched=START, due=START + timedelta(hours=2), unit=OTHER),
    ]
    facts = {"NEW": {"category": "noise", "repeat_of": "OLD", "repeat_count": 2},
             "DUE": {"face_to_face_at": START - timedelta(days=5)},
             "D1": {"category": "elderly_care"}}
    collected = [{"_id": "D1", "unit_code": TOWN, "source_id": "visit/TK9/C9/abc", "visit_ticket_id": "TK9",
                  "contact_id": "C9", "staff_id": "LX-017", "description": "希望开设老年餐桌", "place": "良乡地区",
                  "community": None, "category_hint": "elderly_care", "collected_at": START - timedelta(hours=20),
                  "recorded_at": START - timedelta(hours=19)}]
    brief = select_brief(tickets, facts, collected, unit_code=TOWN, day=DAY)

    def ids(section):
        return [i["ticket_id"] for i in brief[section]]

    assert ids("new") == ["NEW"]
    assert ids("due_today") == ["DUE"]
    assert ids("overdue") == ["LATE"]  # DONE is resolved: the report back is made
    assert ids("awaiting_visit") == ["LATE", "REOPENED", "NEW"]  # soonest deadline first; DUE had its visit
    assert ids("reopened") == ["REOPENED"]
    assert ids("repeats") == ["NEW"] and brief["repeats"][0]["repeat_of"] == "OLD"
    assert brief["new"][0]["category"] == "noise"
    assert brief["collected_yesterday"]["date"] == "2026-11-25"
    assert [(d["ticket_id"], d["category"], d["visit_ticket_id"]) for d in brief["collected_yesterday"]["demands"]] == [
        ("D1", "elderly_care", "TK9")]
    assert brief["counts"] == {"new": 1, "due_today": 1, "overdue": 1, "awaiting_visit": 3, "reopened": 1,
                               "repeats": 1, "collected_yesterday": 1}


def test_the_brief_takes_the_category_from_the_dispatch_on_the_timeline_when_intake_facts_are_missing():
    ticket = {**wl("T", dispatched=START, due=END), "timeline": [
        {"type": "TicketDispatched", "data": {"category": "parking"}}]}
    assert select_brief([ticket], {}, [], unit_code=TOWN, day=DAY)["new"][0]["category"] == "parking"


def test_a_day_is_the_asia_shanghai_day():
    assert START == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert business_day(datetime(2026, 11, 25, 16, 30, tzinfo=UTC)) == DAY


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_every_moment_lies_within_its_business_day(moment):
    start, end = day_bounds(business_day(moment))
    assert start <= moment < end and end - start == timedelta(days=1)


@given(st.lists(st.tuples(st.integers(-10 * 24, 10 * 24), st.integers(-10 * 24, 10 * 24),
                          st.sampled_from(["open", "resolved"]), st.integers(0, 2)), max_size=20))
def test_overdue_and_due_today_never_overlap_and_only_hold_open_tickets(rows):
    tickets = [wl(f"T{i}", dispatched=START + timedelta(hours=d), due=START + timedelta(hours=h), state=s, round_=r)
               for i, (d, h, s, r) in enumerate(rows)]
    brief = select_brief(tickets, {}, [], unit_code=TOWN, day=DAY)
    overdue, due = {i["ticket_id"] for i in brief["overdue"]}, {i["ticket_id"] for i in brief["due_today"]}
    assert not overdue & due
    for name in ("overdue", "due_today", "awaiting_visit", "reopened"):
        assert all(i["state"] == "open" for i in brief[name])
    assert all(i["dispatched_at"] < END for name in ("new", "overdue", "due_today") for i in brief[name])
