"""The simulator's pure plan: determinism, the city's rhythm, unit profiles, callbacks that follow
what units did, and the Liangxiang scenario's switch."""

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from statistics import mean

import pytest

from hotline.contracts import BUSINESS_TZ, RawRecord
from hotline.gazetteer import UnitKind, beijing
from hotline.ingest.admission import normalize
from hotline.simulator import preview, texts
from hotline.simulator.plan import (
    LIANGXIANG,
    ActKind,
    SimConfig,
    acts_between,
    city_of,
    day_acts,
    default_units,
    holder_of,
    month_start,
    profile_of,
    survey,
)
from hotline.simulator.profiles import base_qualities, profile_for
from hotline.taxonomy import default_taxonomy

START = datetime(2026, 3, 1, tzinfo=BUSINESS_TZ)
FANGSHAN_TOWNS = ("110111008", "110111009", "110111010", "110111101", "110111103", "110111104", "110111105")


def config(seed: int = 7, *, units=FANGSHAN_TOWNS, tickets_per_day: float = 40, scenario: str | None = "liangxiang",
           start: datetime = START) -> SimConfig:
    return SimConfig(seed=seed, start=start, tickets_per_day=tickets_per_day, units=units, scenario=scenario)


def snapshot(acts) -> list[tuple]:
    return [(a.at, a.kind, a.ticket, a.unit_code, sorted(a.payload.items(), key=str)) for a in acts]


def test_the_same_seed_gives_the_same_acts_and_another_seed_others():
    first = snapshot(acts_between(config(), date(2026, 3, 1), date(2026, 3, 10)))
    again = snapshot(acts_between(config(), date(2026, 3, 1), date(2026, 3, 10)))
    other = snapshot(acts_between(config(seed=8), date(2026, 3, 1), date(2026, 3, 10)))
    assert first == again
    assert first != other
    assert len(first) > 500


def test_a_day_is_the_same_whatever_the_run_started_with():
    # A run that resumes, or runs on for ever, draws each day alone: day 5 does not depend on day 1.
    day = date(2026, 3, 5)
    from_start = [a for a in acts_between(config(), date(2026, 3, 1), day) if a.ticket.startswith("sim7-20260301-0305")]
    alone = [a for a in acts_between(config(), day, day)]
    assert snapshot(from_start) == snapshot(alone)


def test_acts_come_in_time_order_and_each_ticket_lives_in_order():
    acts = list(acts_between(config(), date(2026, 3, 1), date(2026, 3, 20)))
    assert [a.at for a in acts] == sorted(a.at for a in acts)
    lives = defaultdict(list)
    for act in acts:
        lives[act.ticket].append(act)
    for life in lives.values():
        kinds = [a.kind for a in life if a.kind is not ActKind.COLLECT]
        assert kinds[0] in (ActKind.RECEIVE, ActKind.CONTACT, ActKind.CALLBACK)
        # A resolution always follows a contact of its round; every round ends with a callback.
        for i, kind in enumerate(kinds):
            if kind is ActKind.RESOLVE:
                assert kinds[i - 1] is ActKind.CONTACT
        times = [a.at for a in life]
        assert times == sorted(times)


def test_records_are_what_intake_accepts_at_the_place_and_category_planned():
    gazetteer = beijing()
    receipts = [a for a in day_acts(config(), date(2026, 3, 2)) if a.kind is ActKind.RECEIVE]
    assert receipts
    for act in receipts:
        record = RawRecord.model_validate(act.payload)
        ticket = normalize(record.model_dump_json().encode(), now=datetime.now(UTC), gazetteer=gazetteer)
        assert ticket.location.unit_code in FANGSHAN_TOWNS, record.address
        assert ticket.category == record.category_hint
        assert ticket.request_type.value == record.request_type
        assert act.unit_code is None or act.unit_code == holder_of(ticket.location.unit_code, ticket.category,
                                                                  ticket.content)


def test_every_community_name_resolves_to_its_own_unit():
    gazetteer = beijing()
    city = city_of(default_units())
    assert len(city.places) == 343  # every street and town the rankings compare
    for place in city.places:
        unit = gazetteer.units[place]
        names = city.communities[place]
        assert len(names) >= 4
        for name in names:
            address = f"{gazetteer.districts[unit.district_code].name}{unit.name}{name}"
            assert gazetteer.resolve(address, unit.district_code).unit_code == place


def test_templates_keep_their_urgency():
    taxonomy = default_taxonomy()
    for category, lines in texts.CONTENT.items():
        for line in lines:
            assert taxonomy.urgency(line.format(c="阳光小区"), category).code != "emergency", line
    for category, line in texts.EMERGENCY.items():
        assert taxonomy.urgency(line.format(c="阳光小区"), category).code == "emergency", line


def test_the_daily_and_weekly_rhythm():
    acts = [a for a in acts_between(config(tickets_per_day=200, scenario=None), date(2026, 3, 2), date(2026, 3, 29))
            if a.kind is ActKind.RECEIVE]
    hours = Counter(a.at.hour for a in acts)
    night = sum(hours[h] for h in range(0, 6)) / 6
    morning = sum(hours[h] for h in range(9, 12)) / 3
    assert morning > 8 * night
    days = Counter(a.at.date() for a in acts)
    weekdays = mean(n for d, n in days.items() if d.weekday() < 5)
    weekends = mean(n for d, n in days.items() if d.weekday() >= 5)
    assert weekends < 0.85 * weekdays
    assert 150 < len(acts) / 28 < 250  # about the volume asked for
    channels = Counter(a.payload["channel"] for a in acts)
    assert channels.most_common(1)[0][0] == "phone" and len(channels) >= 5
    kinds = Counter(a.payload["request_type"] for a in acts)
    assert set(kinds) == {"complaint", "help", "consultation", "suggestion", "report", "praise"}
    assert kinds["complaint"] == max(kinds.values())
    assert any(a.payload.get("answered_directly") for a in acts)


def test_profiles_get_better_with_quality_and_are_spread_over_each_kind():
    poor, good = profile_for(0.1), profile_for(0.9)
    assert good.response_hours < poor.response_hours
    assert good.face_to_face > poor.face_to_face and good.solve > poor.solve and good.no_contact < poor.no_contact
    spread = base_qualities(3, [["a", "b", "c", "d"], ["x", "y"]])
    assert sorted(spread[u] for u in "abcd") == [0.125, 0.375, 0.625, 0.875]
    assert sorted(spread[u] for u in "xy") == [0.25, 0.75]
    assert base_qualities(4, [["a", "b", "c", "d"]]) != base_qualities(3, [["a", "b", "c", "d"]])


def test_callbacks_follow_what_the_unit_did():
    import random

    rng = random.Random(1)

    def satisfied_share(**kw) -> float:
        answers = [survey(rng, **kw) for _ in range(4000)]
        return sum(1 for resolved, s in answers if resolved and s == "satisfied") / len(answers)

    in_person_solved = satisfied_share(solved=True, in_person=True)
    assert in_person_solved > 0.8
    assert in_person_solved > satisfied_share(solved=True, in_person=False) > satisfied_share(solved=False, in_person=True)


def test_the_citizen_says_whether_the_unit_contacted_them_mostly_as_it_did():
    acts = list(acts_between(config(scenario=None), date(2026, 3, 1), date(2026, 3, 20)))
    contacted = {a.ticket for a in acts if a.kind is ActKind.CONTACT}
    answers = defaultdict(list)
    for a in acts:
        if a.kind is ActKind.CALLBACK:
            answers[a.ticket in contacted].append(a.payload["contacted"])
    assert all(isinstance(v, bool) for v in answers[True] + answers[False])
    assert len(answers[True]) > 200 and len(answers[False]) > 20
    assert 0.9 < mean(answers[True]) < 1 and mean(answers[False]) < 0.15


def test_better_units_score_higher_in_the_plan():
    units = tuple(sorted(c for c, u in beijing().units.items() if u.district_code == "110108"))  # Haidian
    cfg = config(units=units, tickets_per_day=60, scenario=None)
    months = preview.figures(acts_between(cfg, date(2026, 3, 1), date(2026, 3, 31)))
    quality = {u: profile_of(cfg, u, 1).quality for u in units}
    scores = {u: m.score() for (u, p), m in months.items() if p == "2026-03" and m.callbacks >= 10}
    best = sorted(scores, key=quality.get)
    low, high = best[: len(best) // 3], best[-(len(best) // 3):]
    assert mean(scores[u] for u in high) > mean(scores[u] for u in low) + 10


def test_liangxiang_switches_from_receiving_to_collecting_in_month_three():
    cfg = config()
    before, after = profile_of(cfg, LIANGXIANG, 2), profile_of(cfg, LIANGXIANG, 3)
    assert before.collects == 0 and after.collects > 0
    assert after.face_to_face >= 0.9 > before.face_to_face
    assert profile_of(config(scenario=None), LIANGXIANG, 3).collects == 0
    acts = list(acts_between(cfg, date(2026, 3, 1), date(2026, 5, 31)))
    collected = [a for a in acts if a.kind is ActKind.COLLECT]
    assert collected and all(a.unit_code == LIANGXIANG and a.at >= datetime(2026, 5, 1, tzinfo=BUSINESS_TZ)
                             for a in collected)
    record = RawRecord.model_validate({**collected[0].payload["record"], "source_id": "visit/x/y/z"})
    assert record.channel.value == "collected" and record.collected_by.unit_code == LIANGXIANG
    ticket = normalize(record.model_dump_json().encode(), now=datetime.now(UTC), gazetteer=beijing())
    assert ticket.location.unit_code == LIANGXIANG
    # After the switch, Liangxiang meets its callers in person.
    contacts = [a for a in acts if a.kind is ActKind.CONTACT and a.unit_code == LIANGXIANG]
    may = [a for a in contacts if a.at.month == 5 and a.payload["key"].endswith("/c0")]
    march = [a for a in contacts if a.at.month == 3 and a.payload["key"].endswith("/c0")]
    assert sum(a.payload["kind"] == "face_to_face" for a in may) > 0.8 * len(may)
    assert sum(a.payload["kind"] == "face_to_face" for a in march) < 0.3 * len(march)


def test_the_scenario_moves_liangxiang_from_the_lower_half_to_the_middle_of_the_towns():
    towns = tuple(sorted(c for c, u in beijing().units.items()
                         if u.kind in (UnitKind.TOWN, UnitKind.AREA, UnitKind.TOWNSHIP)))
    cfg = config(seed=12345, units=towns, tickets_per_day=120)
    end = datetime(2026, 8, 1, tzinfo=BUSINESS_TZ)
    ranked = preview.rankings(preview.figures(acts_between(cfg, date(2026, 3, 1), date(2026, 7, 31)), until=end),
                              towns)
    ranks = [preview.rank_of(ranked, LIANGXIANG, "town", f"2026-{m:02d}") for m in range(3, 8)]
    (r1, n1), (r2, n2), *_, (r5, n5) = ranks
    assert r1 > n1 / 2 and r2 > n2 / 2, ranks
    assert n5 / 3 < r5 <= 2 * n5 / 3, ranks


def test_month_start_counts_back_whole_months():
    now = datetime(2026, 2, 10, 3, 0, tzinfo=UTC)
    assert month_start(now, 0) == datetime(2026, 2, 1, tzinfo=BUSINESS_TZ)
    assert month_start(now, 5) == datetime(2025, 9, 1, tzinfo=BUSINESS_TZ)


def test_unknown_units_and_scenarios_are_refused():
    with pytest.raises(ValueError, match="unknown unit"):
        city_of(("999999999",))
    with pytest.raises(ValueError, match="unknown scenario"):
        config(scenario="mars")
    assert timedelta(0) == timedelta(0)
