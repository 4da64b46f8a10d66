from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from hotline.metrics.domain import period_of, ticket_summary, unit_month_figures


def test_period_is_the_month_in_beijing_time():
    # 16:30 UTC on 31 October is already 1 November in Beijing.
    assert period_of(datetime(2026, 10, 31, 16, 30, tzinfo=UTC)) == "2026-11"
    assert period_of(datetime(2026, 10, 31, 15, 59, tzinfo=UTC)) == "2026-10"


def test_figures_from_a_hand_computed_table():
    t0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    t1 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    facts = {
        "A": {"dispatched_at": t0, "contacts": {"c1": {"kind": "phone", "contacted_at": t1},
                                                 "c2": {"kind": "face_to_face", "contacted_at": t0}}},
        "B": {"dispatched_at": t0, "contacts": {"c3": {"kind": "phone", "contacted_at": t1}}},
        "C": {"dispatched_at": t0},
    }
    summaries = {tid: ticket_summary(f) for tid, f in facts.items()}
    assert summaries["A"]["first_contact_at"] == t0
    assert unit_month_figures(summaries) == {"dispatched": 3, "contacted": 2, "face_to_face": 1}


contact = st.fixed_dictionaries(
    {"kind": st.sampled_from(["phone", "face_to_face", "wechat"]),
     "contacted_at": st.datetimes(timezones=st.just(UTC))}
)


@given(st.dictionaries(st.text(max_size=3), contact, max_size=6), st.randoms())
def test_summary_does_not_depend_on_contact_order_or_duplicates(contacts, rnd):
    items = list(contacts.items())
    shuffled = items + items[: len(items) // 2]
    rnd.shuffle(shuffled)
    base = {"dispatched_at": datetime(2026, 1, 1, tzinfo=UTC)}
    assert ticket_summary({**base, "contacts": dict(shuffled)}) == ticket_summary({**base, "contacts": contacts})
