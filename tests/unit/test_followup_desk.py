"""The desk's pure rules (`hotline.followup.desk.domain`): who may search what, the filters and the
rows a search answers, the months a search by unit reads, the waiting requests read against their
tickets, and the corrections' facts and timeline places (`tickets/domain.py`)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hotline.contracts.routing import CategoryCorrected, ReturnRequested
from hotline.domain_errors import Invalid, NotYours
from hotline.followup.desk.domain import (
    MAX_LIMIT,
    TicketSearch,
    holders,
    matches,
    months_searched,
    newest_first,
    search_for,
    search_row,
    store_filter,
    waiting_exemptions,
    waiting_extensions,
    whoami,
)
from hotline.followup.tickets.domain import TicketState, corrected_facts, ticket_view
from hotline.runtime.auth import Principal, Role

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOWN, OTHER = "110111008", "110111009"
CENTRE = Principal("centre", Role.CENTRE)
UNIT = Principal(TOWN, Role.UNIT)
AT = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def doc(ticket_id: str = "TK1", *, unit: str = TOWN, state: str = "open", category: str = "streetlight",
        received_at: datetime | None = AT, **more) -> dict:
    return {"_id": ticket_id, "unit_code": unit, "state": state, "attempt": 1, "dispatched_at": AT,
            "report_back_due_at": AT + timedelta(days=7), "urgency": "general",
            "facts": {"category": category, "urgency": "general", "received_at": received_at}, **more}


def test_whoami_names_the_unit_and_its_role():
    assert whoami(UNIT) == {"unit_code": TOWN, "role": "unit"}
    assert whoami(CENTRE) == {"unit_code": "centre", "role": "centre"}


def test_a_unit_searches_its_own_tickets_only_and_the_centre_any():
    assert search_for(UNIT, zone=SHANGHAI).unit_code == TOWN  # forced
    assert search_for(UNIT, unit_code=TOWN, zone=SHANGHAI).unit_code == TOWN
    with pytest.raises(NotYours) as refused:
        search_for(UNIT, unit_code=OTHER, zone=SHANGHAI)
    assert (refused.value.status, refused.value.field) == (403, "unit_code")
    with pytest.raises(NotYours):
        search_for(Principal("platform", Role.PLATFORM), zone=SHANGHAI)
    assert search_for(CENTRE, zone=SHANGHAI).unit_code is None
    assert search_for(CENTRE, unit_code=OTHER, zone=SHANGHAI).unit_code == OTHER


def test_dates_are_the_citys_days_and_a_reversed_range_or_limit_is_refused():
    search = search_for(CENTRE, received_from=date(2026, 11, 2), received_to=date(2026, 11, 3), zone=SHANGHAI)
    assert search.received_from == datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # midnight in Beijing
    assert search.received_before == datetime(2026, 11, 3, 16, 0, tzinfo=UTC)  # the 3rd included
    with pytest.raises(Invalid) as refused:
        search_for(CENTRE, received_from=date(2026, 11, 3), received_to=date(2026, 11, 2), zone=SHANGHAI)
    assert refused.value.field == "received_to"
    for limit in (0, MAX_LIMIT + 1):
        with pytest.raises(Invalid):
            search_for(CENTRE, limit=limit, zone=SHANGHAI)


def test_the_filters_in_memory_and_as_a_find_agree():
    day = search_for(CENTRE, received_from=date(2026, 11, 2), received_to=date(2026, 11, 2), zone=SHANGHAI)
    cases = {
        "everything": (TicketSearch(), True),
        "by id": (TicketSearch(ticket_id="TK1"), True),
        "another id": (TicketSearch(ticket_id="TK2"), False),
        "category": (TicketSearch(category="streetlight"), True),
        "another category": (TicketSearch(category="water_supply"), False),
        "state": (TicketSearch(state=TicketState.OPEN), True),
        "another state": (TicketSearch(state=TicketState.CLOSED), False),
        "the day": (day, True),
        "the day before": (search_for(CENTRE, received_to=date(2026, 11, 1), zone=SHANGHAI), False),
        "from the day after": (search_for(CENTRE, received_from=date(2026, 11, 3), zone=SHANGHAI), False),
    }
    assert {what: matches(doc(), s) for what, (s, _) in cases.items()} == {what: m for what, (_, m) in cases.items()}
    assert not matches(doc(received_at=None), day)  # no received time: no date matches
    assert not matches({"_id": "TK1", "state": "open"}, TicketSearch())  # heard of, never dispatched
    assert store_filter(day) == {"unit_code": {"$exists": True}, "facts.received_at": {
        "$gte": day.received_from, "$lt": day.received_before}}
    assert store_filter(TicketSearch(category="c", state=TicketState.RESOLVED, ticket_id="TK1")) == {
        "unit_code": {"$exists": True}, "_id": "TK1", "facts.category": "c", "state": "resolved"}


def test_a_row_holds_no_citizen_data_and_rows_are_newest_first():
    row = search_row(doc(caller={"phone": "13800001234"}, contacts=[{"notes": "x"}], timeline=[{"type": "t"}]))
    assert row == {"ticket_id": "TK1", "unit_code": TOWN, "state": "open", "category": "streetlight",
                   "urgency": "general", "received_at": AT, "dispatched_at": AT,
                   "report_back_due_at": AT + timedelta(days=7), "attempt": 1}
    rows = [search_row(doc(t, received_at=at)) for t, at in
            (("A", AT), ("B", None), ("C", AT + timedelta(hours=1)), ("D", AT - timedelta(hours=1)))]
    assert [r["ticket_id"] for r in newest_first(rows, 10)] == ["C", "A", "D", "B"]
    assert [r["ticket_id"] for r in newest_first(rows, 2)] == ["C", "A"]


def test_holders_are_the_units_on_the_ticket_and_every_unit_dispatched_to():
    dispatched = [{"type": "TicketDispatched", "data": {"unit_code": u}} for u in (TOWN, OTHER)]
    assert holders(doc(unit=OTHER, timeline=[*dispatched, {"type": "TicketReturned", "data": {"unit_code": "x"}}])) == {
        TOWN, OTHER}
    assert holders(doc(co_handlers=["co"], summons=[{"unit_code": "dept"}])) == {TOWN, "co", "dept"}


def test_a_search_by_unit_reads_the_months_of_its_dates_or_the_last_two_years():
    now = datetime(2026, 11, 20, tzinfo=UTC)
    ranged = search_for(CENTRE, received_from=date(2026, 9, 30), received_to=date(2026, 11, 1), zone=SHANGHAI)
    assert months_searched(ranged, now=now, zone=SHANGHAI) == ["2026-11", "2026-10", "2026-09"]
    # 2026-10-31 16:00 UTC is already November in Beijing.
    late = TicketSearch(received_from=datetime(2026, 10, 31, 16, tzinfo=UTC))
    assert months_searched(late, now=now, zone=SHANGHAI) == ["2026-12", "2026-11"]
    open_ended = months_searched(TicketSearch(), now=now, zone=SHANGHAI)
    assert open_ended[:2] == ["2026-12", "2026-11"] and open_ended[-1] == "2024-11" and len(open_ended) == 26


def test_waiting_exemptions_are_those_their_tickets_still_hold_as_requested():
    asked = {"unit_code": TOWN, "reason_code": "duplicate", "note": "重复", "requested_at": AT, "state": "requested"}
    docs = {"TK1": doc("TK1", exemptions={TOWN: asked}),
            "TK2": doc("TK2", exemptions={TOWN: {**asked, "state": "approved"}}),
            "TK3": doc("TK3", unit=OTHER, exemptions={OTHER: {**asked, "unit_code": OTHER,
                                                              "requested_at": AT - timedelta(hours=1)}})}
    entries = [{"_id": f"{t}|{u}", "ticket_id": t, "unit_code": u, "requested_at": AT}
               for t, u in (("TK1", TOWN), ("TK2", TOWN), ("TK3", OTHER), ("TK9", TOWN))]
    rows, stale = waiting_exemptions(entries, docs)
    assert [(r["ticket_id"], r["unit_code"], r["note"]) for r in rows] == [
        ("TK3", OTHER, "重复"), ("TK1", TOWN, "重复")]
    assert [e["ticket_id"] for e in stale] == ["TK2"]  # decided; TK9's ticket is not there to say
    assert [r["ticket_id"] for r in waiting_exemptions(entries, docs, unit_code=TOWN)[0]] == ["TK1"]


def test_waiting_extensions_drop_decided_reopened_closed_and_older_rounds():
    ext = {"state": "requested", "requested_at": AT, "requested_due_at": AT + timedelta(days=9),
           "current_due_at": AT + timedelta(days=7)}
    docs = {"TK1": doc("TK1", extension=ext), "TK2": doc("TK2", extension={**ext, "state": "denied"}),
            "TK3": doc("TK3", extension=None), "TK4": doc("TK4", state="closed", extension=ext),
            "TK5": doc("TK5", extension={**ext, "requested_at": AT + timedelta(days=1)})}
    entries = [{"_id": t, "ticket_id": t, "unit_code": TOWN, "requested_at": AT, "reason": "需协调"}
               for t in ("TK1", "TK2", "TK3", "TK4", "TK5")]
    rows, stale = waiting_extensions(entries, docs)
    assert rows == [{"ticket_id": "TK1", "unit_code": TOWN, "reason": "需协调", "requested_at": AT,
                     "current_due_at": ext["current_due_at"], "requested_due_at": ext["requested_due_at"]}]
    assert [e["ticket_id"] for e in stale] == ["TK2", "TK3", "TK4", "TK5"]
    assert waiting_extensions(entries, docs, unit_code=OTHER)[0] == []


def correction(ticket_id: str, category: str, urgency: str | None, minute: int) -> CategoryCorrected:
    return CategoryCorrected(event_id=f"cc-{ticket_id}-{minute}", ticket_id=ticket_id,
                             occurred_at=AT + timedelta(minutes=minute), from_category="streetlight",
                             category=category, from_urgency="general", urgency=urgency, redispatched=False,
                             attempt=1, corrected_by="centre")


def test_a_correction_sets_the_facts_the_last_of_a_ticket_winning():
    review = ReturnRequested(event_id="rr", ticket_id="TK1", occurred_at=AT, unit_code=TOWN, attempt=1,
                             reason_code="wrong_address", command_id="c1")
    facts = corrected_facts([correction("TK1", "water_supply", "utilities", 1), review,
                             correction("TK1", "heating", None, 2), correction("TK2", "noise", "general", 1)])
    assert facts == {"TK1": {"facts.category": "heating"},  # urgency unchanged: not set
                     "TK2": {"facts.category": "noise", "facts.urgency": "general"}}


def test_the_desk_events_take_their_place_on_the_timeline_at_the_same_moment():
    entries = [{"type": t, "at": AT, "event_id": t} for t in
               ("TicketRedispatched", "ReturnReviewed", "TicketReturned", "ReturnRequested", "TicketReceived")]
    assert [e["type"] for e in ticket_view({"timeline": entries})["timeline"]] == [
        "TicketReceived", "ReturnRequested", "ReturnReviewed", "TicketReturned", "TicketRedispatched"]
