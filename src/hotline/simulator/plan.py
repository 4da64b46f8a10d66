"""The simulation's plan: what happens when, from a seed (pure: no I/O, no wall clock).

A plan is a sequence of acts in business time. Each day's tickets are drawn from a generator
seeded by the seed and the date alone, with each ticket's whole life (the record the platform
receives, the unit's contacts and resolution, the callback survey, a reopened round), so the
same seed gives the same acts whatever the run's length, and a run can go on day after day.

Tickets land only where the dispatch catalogue sends them to a simulated unit, so the plan knows
who holds each ticket without asking routing.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from hotline.catalogue import Catalogue, default_catalogue
from hotline.contracts import BUSINESS_TZ
from hotline.deadlines import report_back_due
from hotline.gazetteer import Gazetteer, UnitKind, beijing
from hotline.simulator import texts
from hotline.simulator.profiles import (
    LIANGXIANG,
    SCENARIOS,
    Profile,
    base_qualities,
    is_collecting,
    monthly_quality,
    profile_for,
    scenario_profile,
)
from hotline.taxonomy import default_taxonomy


class ActKind(StrEnum):
    """What an act does."""

    RECEIVE = "receive"  # the platform publishes a raw record on hotline.raw
    CONTACT = "contact"  # the unit records a contact (followup HTTP)
    RESOLVE = "resolve"  # the unit reports the ticket resolved (followup HTTP)
    CALLBACK = "callback"  # the platform publishes a callback survey on hotline.callbacks
    COLLECT = "collect"  # the unit files a demand residents raised on its visit (channel collected)


@dataclass(frozen=True, order=True)
class Act:
    """One thing that happens at a business time.

    `ticket` is the plan's key of the ticket (its source id; for a collected demand, a key the
    adapter maps to the ticket id once the visit's contact id is known). Acts of one `group` (a
    ticket and the demands collected on its visits) must run in order; groups are independent.
    """

    at: datetime
    order: tuple[int, ...]
    kind: ActKind = field(compare=False)
    ticket: str = field(compare=False)
    group: str = field(compare=False)
    unit_code: str | None = field(compare=False)
    payload: dict[str, Any] = field(compare=False)


# The platform's channels (Beijing: about 90% by phone).
CHANNELS = (("phone", 82), ("app", 5), ("wechat", 5), ("web", 3), ("weibo", 2), ("enterprise", 1),
            ("leader_board", 2))
# Request types of the records the platform receives; consultations it mostly answers itself.
REQUEST_TYPES = (("complaint", 48), ("help", 20), ("consultation", 16), ("suggestion", 7), ("report", 5),
                 ("praise", 4))
ANSWERED_DIRECTLY = 0.6  # share of consultations answered by the hotline, never dispatched
CATEGORIES = (
    ("property_management", 12), ("noise", 8), ("sanitation", 7), ("roads_traffic", 7), ("parking", 6),
    ("water_supply", 5), ("construction", 5), ("public_order", 4), ("market_consumer", 4), ("other", 4),
    ("heating", 3), ("power", 3), ("drainage", 3), ("elderly_care", 3), ("parks_greenery", 3),
    ("public_transport", 3), ("wages_social_security", 3), ("housing_certificates", 3),
    ("environment_pollution", 3), ("education", 2), ("medical_health", 2), ("gas", 1),
)
HEATING_SEASON = (11, 12, 1, 2, 3)  # Beijing heats from 15 November to 15 March
EMERGENCY_SHARE = 0.03
# Calls by hour of day (few at night, peaks mid-morning and mid-afternoon) and by weekday
# (Monday to Sunday: weekends are quieter).
HOURLY = (1, 0.6, 0.4, 0.3, 0.3, 0.6, 2, 4, 7, 9, 9.5, 8, 6, 7, 8.5, 8.5, 8, 7, 5.5, 5, 4.5, 3.5, 2.5, 1.5)
WEEKDAY = (1.08, 1.05, 1.03, 1.02, 1.0, 0.74, 0.68)
# Hours to first contact scale with the response clock of the urgency (24 h, 2 h, 30 min).
URGENCY_PACE = {"general": 1.0, "complex": 1.0, "utilities": 1 / 8, "emergency": 1 / 40}
_HOURS, _HOURLY_CUM = tuple(range(24)), tuple(itertools.accumulate(HOURLY))
# Places that call far more than most (Liangxiang: Fangshan's new town centre, some 300,000 people).
BIG_PLACES = {LIANGXIANG: 3.0}
DAY_START, DAY_END = time(8, 0), time(20, 0)  # visits and callbacks happen in the daytime


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. `start` is business time (Asia/Shanghai), the first day at 00:00."""

    seed: int
    start: datetime
    tickets_per_day: float
    units: tuple[str, ...]
    scenario: str | None = None

    def __post_init__(self) -> None:
        if self.scenario is not None and self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; known: {', '.join(SCENARIOS)}")
        if self.tickets_per_day < 0:
            raise ValueError("tickets_per_day must not be negative")

    @property
    def run_id(self) -> str:
        """Names this run's records: the same seed and start are the same records."""
        return f"sim{self.seed}-{self.start:%Y%m%d}"


def month_of(config: SimConfig, moment: datetime) -> int:
    """The month of the simulation a moment falls in (1 = the start's month)."""
    local = moment.astimezone(BUSINESS_TZ)
    return (local.year - config.start.year) * 12 + local.month - config.start.month + 1


def month_start(base: datetime, months_back: int) -> datetime:
    """00:00 on the first day of the month `months_back` months before `base`'s (business time)."""
    local = base.astimezone(BUSINESS_TZ)
    index = local.year * 12 + local.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=BUSINESS_TZ)


def default_units(gazetteer: Gazetteer | None = None, catalogue: Catalogue | None = None) -> tuple[str, ...]:
    """Every ranked street and town, and every department and enterprise of the catalogue."""
    gazetteer = gazetteer or beijing()
    catalogue = catalogue or default_catalogue()
    places = sorted(c for c, u in gazetteer.units.items() if u.kind is not UnitKind.SPECIAL_ZONE)
    return tuple(places + sorted(catalogue.units_by_code))


# ---------------------------------------------------------------------------------------------
# The city: places, communities, who handles what


@dataclass(frozen=True)
class City:
    """What the plan needs of the gazetteer, catalogue and taxonomy for the simulated units."""

    places: tuple[str, ...]  # simulated streets and towns, the places tickets come from
    place_weights: tuple[float, ...]  # cumulative, for random.choices
    communities: dict[str, tuple[str, ...]]
    # place -> (categories it sends, cumulative weights outside and inside the heating season)
    categories: dict[str, tuple[tuple[str, ...], tuple[tuple[float, ...], tuple[float, ...]]]]
    kinds: dict[str, str]  # unit -> the kind it is ranked among
    units: frozenset[str]


def _rng(*parts: object) -> random.Random:
    return random.Random(hashlib.sha256("|".join(map(str, parts)).encode()).digest())


@cache
def _communities(unit_code: str) -> tuple[str, ...]:
    """Six invented community names of a unit, none of which names another street or town."""
    gazetteer = beijing()
    unit = gazetteer.units[unit_code]
    district = gazetteer.districts[unit.district_code]
    rng = _rng("communities", unit_code)
    names: list[str] = []
    for _ in range(60):
        name = rng.choice(texts.NAME_FIRST) + rng.choice(texts.NAME_LAST)
        if name in names or gazetteer.resolve(name).unit_code or gazetteer.resolve(name).ambiguous:
            continue
        if gazetteer.resolve(f"{district.name}{unit.name}{name}", unit.district_code).unit_code != unit_code:
            continue
        names.append(name)
        if len(names) == 6:
            break
    return tuple(names)


@cache
def holder_of(place: str, category: str, content: str) -> str:
    """The unit the catalogue makes lead for a ticket of this place, category and content."""
    unit = beijing().units[place]
    rule = default_catalogue().first_rule(category=category, district_code=unit.district_code,
                                          unit_code=place, content=content)
    return rule.lead.unit or place


@cache
def city_of(units: tuple[str, ...]) -> City:
    """The simulated city for a set of units (streets, towns, departments, enterprises)."""
    gazetteer, catalogue = beijing(), default_catalogue()
    known = set(gazetteer.units) | set(catalogue.units_by_code)
    unknown = sorted(set(units) - known)
    if unknown:
        raise ValueError(f"unknown unit codes: {', '.join(unknown)}")
    chosen = frozenset(units)
    places = tuple(sorted(u for u in chosen if u in gazetteer.units))
    if not places:
        raise ValueError("the simulated units must include at least one street or town")
    # Busier and quieter places (population, commuters), fixed for the city, not the seed.
    weights = tuple(itertools.accumulate(
        BIG_PLACES.get(p, 1.0) * math.exp(_rng("weight", p).gauss(0, 0.35)) for p in places))
    categories = {}
    for place in places:
        sample = texts.CONTENT
        allowed = [(c, w) for c, w in CATEGORIES if holder_of(place, c, sample[c][0].format(c="")) in chosen]
        if not allowed:
            raise ValueError(f"no category of {place} is handled by a simulated unit")
        categories[place] = (tuple(c for c, _ in allowed), (
            tuple(itertools.accumulate(float(w) for _, w in allowed)),
            tuple(itertools.accumulate(float(w) * (4 if c == "heating" else 1) for c, w in allowed))))
    kinds = {}
    for code in chosen:
        if code in gazetteer.units:
            kind = gazetteer.units[code].kind
            kinds[code] = ("street" if kind is UnitKind.STREET
                           else "special" if kind is UnitKind.SPECIAL_ZONE else "town")
        else:
            kinds[code] = catalogue.units_by_code[code].kind
    return City(places, weights, {p: _communities(p) for p in places}, categories, kinds, chosen)


@cache
def _qualities(seed: int, units: tuple[str, ...]) -> dict[str, float]:
    kinds = city_of(units).kinds
    groups: dict[str, list[str]] = {}
    for code, kind in kinds.items():
        groups.setdefault(kind, []).append(code)
    return base_qualities(seed, groups.values())


@cache
def profile_of(config: SimConfig, unit_code: str, month: int) -> Profile:
    """The unit's behaviour in a month of the simulation."""
    base = _qualities(config.seed, config.units)[unit_code]
    profile = profile_for(monthly_quality(config.seed, unit_code, base, month))
    return scenario_profile(config.scenario, unit_code, month, profile)


# ---------------------------------------------------------------------------------------------
# Drawing


def _pick(rng: random.Random, pairs) -> str:
    values, weights = zip(*pairs)
    return rng.choices(values, weights=weights)[0]


def _phone(rng: random.Random) -> str:
    # Invented numbers in a mobile range, still treated as personal data by the services.
    return f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(BUSINESS_TZ).isoformat(timespec="seconds")


def _daytime(moment: datetime, rng: random.Random) -> datetime:
    """The moment, or the next morning's first hours when it falls at night."""
    local = moment.astimezone(BUSINESS_TZ)
    if DAY_START <= local.time() < DAY_END:
        return local
    day = local.date() if local.time() < DAY_START else local.date() + timedelta(days=1)
    return datetime.combine(day, DAY_START, BUSINESS_TZ) + timedelta(minutes=rng.uniform(0, 120))


def _hours(rng: random.Random, median: float, sigma: float = 0.9) -> timedelta:
    return timedelta(hours=median * math.exp(rng.gauss(0, sigma)))


def survey(rng: random.Random, *, solved: bool, in_person: bool, praise: bool = False) -> tuple[bool, str]:
    """The citizen's answer to the callback: (resolved, satisfaction)."""
    if praise:
        return True, "satisfied"
    if solved:
        resolved = rng.random() < (0.98 if in_person else 0.93)
        weights = (88, 10, 2) if in_person else (68, 24, 8)
    else:
        resolved = rng.random() < 0.15
        weights = (18, 42, 40) if in_person else (8, 32, 60)
    return resolved, rng.choices(("satisfied", "basically_satisfied", "dissatisfied"), weights=weights)[0]


def contact_answer(config: SimConfig, ticket_key: str, survey_no: int, *, contacted: bool, in_person: bool) -> bool:
    """The citizen's answer to "did the unit contact you" (是否联系): mostly yes when it did (a visit
    is remembered better than a call), seldom yes when it did not. Drawn from a generator of its
    own, so the rest of the plan is the same with or without the question."""
    rng = _rng("contacted", config.seed, ticket_key, survey_no)
    if not contacted:
        return rng.random() < 0.04
    return rng.random() < (0.99 if in_person else 0.94)


def _outcome(rng: random.Random, solved: bool) -> str:
    return "resolved" if solved else rng.choice(("partly_resolved", "explained", "not_resolvable"))


class _Ticket:
    """Accumulates one ticket's acts in order."""

    def __init__(self, key: str, group: str, order: tuple[int, ...], acts: list[Act]) -> None:
        self.key, self.group, self.order, self.acts, self.step = key, group, order, acts, 0

    def add(self, at: datetime, kind: ActKind, unit_code: str | None, payload: dict[str, Any]) -> None:
        # Whole seconds, as the payloads carry them: the plan's times are the services' times.
        self.acts.append(Act(at.astimezone(BUSINESS_TZ).replace(microsecond=0), (*self.order, self.step), kind,
                             self.key, self.group, unit_code, payload))
        self.step += 1


def _life(config: SimConfig, ticket: _Ticket, rng: random.Random, *, holder: str, received: datetime,
          urgency: str, praise: bool, collected: bool, place: str, community: str) -> None:
    """The unit's handling, the callback and a reopened round, from the ticket's receipt on."""
    month = month_of(config, received)
    p = profile_of(config, holder, month)
    staff = f"{holder}-s{rng.randint(1, 6)}"
    pace = URGENCY_PACE.get(urgency, 1.0)
    if not collected and rng.random() < p.no_contact:
        # Never contacted: the hotline calls back within a day after the report-back deadline
        # (the first dispatch's, at receipt: the deadline policy).
        at = _daytime(report_back_due(urgency, received) + timedelta(hours=rng.uniform(0, 24)), rng)
        resolved, satisfaction = survey(rng, solved=False, in_person=False)
        said_contacted = contact_answer(config, ticket.key, 0, contacted=False, in_person=False)
        ticket.add(at, ActKind.CALLBACK, None, {"resolved": resolved, "satisfaction": satisfaction,
                                                 "contacted": said_contacted, "surveyed_at": _iso(at)})
        return
    in_person = collected or rng.random() < p.face_to_face
    if collected:
        contact_at = _daytime(received + timedelta(minutes=rng.uniform(30, 240)), rng)
    else:
        contact_at = received + _hours(rng, p.response_hours * pace)
        if in_person and urgency in ("general", "complex"):
            contact_at = _daytime(contact_at, rng)
    contact_at = min(contact_at, received + timedelta(days=10))
    kind = "face_to_face" if in_person else ("wechat" if rng.random() < 0.1 else "phone")
    ticket.add(contact_at, ActKind.CONTACT, holder, {
        "unit_code": holder, "kind": kind, "contacted_at": _iso(contact_at), "staff_id": staff,
        "key": f"{ticket.key}/c0"})
    if in_person and not collected and is_collecting(config.scenario, holder, month) and rng.random() < p.collects:
        said: set[str] = set()  # the same demand said twice on a visit is one ticket
        for n in range(rng.choice((1, 1, 2))):
            _collect(config, ticket, rng, holder=holder, visited_at=contact_at, staff=staff, place=place,
                     community=community, n=n, said=said)
    solved = praise or rng.random() < min(0.99, p.solve + (0.08 if in_person else 0) + (0.1 if collected else 0))
    resolve_at = contact_at + _hours(rng, p.resolve_hours * max(pace, 0.05), 0.7)
    ticket.add(resolve_at, ActKind.RESOLVE, holder, {
        "unit_code": holder, "outcome": "explained" if praise else _outcome(rng, solved),
        "resolution_code": "SIM-OK" if solved else "SIM-PART", "resolved_at": _iso(resolve_at)})
    survey_at = _daytime(resolve_at + timedelta(hours=rng.uniform(2, 36)), rng)
    resolved, satisfaction = survey(rng, solved=solved, in_person=in_person, praise=praise)
    said_contacted = contact_answer(config, ticket.key, 0, contacted=True, in_person=in_person)
    ticket.add(survey_at, ActKind.CALLBACK, None, {"resolved": resolved, "satisfaction": satisfaction,
                                                   "contacted": said_contacted, "surveyed_at": _iso(survey_at)})
    if resolved and satisfaction != "dissatisfied":
        return  # closed
    if rng.random() >= p.rework:
        return  # reopened, but the unit lets it lapse: the negative survey stands
    again = _daytime(survey_at + _hours(rng, 8, 0.6), rng)
    in_person_again = in_person or rng.random() < max(p.face_to_face, 0.5)
    ticket.add(again, ActKind.CONTACT, holder, {
        "unit_code": holder, "kind": "face_to_face" if in_person_again else "phone",
        "contacted_at": _iso(again), "staff_id": staff, "key": f"{ticket.key}/c1"})
    solved_again = rng.random() < min(0.98, p.solve + 0.25)
    resolve_again = again + _hours(rng, 20, 0.6)
    ticket.add(resolve_again, ActKind.RESOLVE, holder, {
        "unit_code": holder, "outcome": _outcome(rng, solved_again),
        "resolution_code": "SIM-OK" if solved_again else "SIM-PART", "resolved_at": _iso(resolve_again)})
    survey_again = _daytime(resolve_again + timedelta(hours=rng.uniform(4, 30)), rng)
    resolved, satisfaction = survey(rng, solved=solved_again, in_person=in_person_again)
    said_contacted = contact_answer(config, ticket.key, 1, contacted=True, in_person=in_person_again)
    ticket.add(survey_again, ActKind.CALLBACK, None, {"resolved": resolved, "satisfaction": satisfaction,
                                                      "contacted": said_contacted, "surveyed_at": _iso(survey_again)})


def _collect(config: SimConfig, visited: _Ticket, rng: random.Random, *, holder: str, visited_at: datetime,
             staff: str, place: str, community: str, n: int, said: set[str]) -> None:
    """A demand residents raised on the visit: filed as a ticket of its own, handled in person."""
    city = city_of(config.units)
    allowed = [c for c in texts.DEMANDS if c in city.categories[place][0]]
    if not allowed:
        return
    choices = [(c, line.format(c=community)) for c in allowed for line in texts.DEMANDS[c]
               if line.format(c=community) not in said]
    if not choices:
        return
    category, description = rng.choice(choices)
    said.add(description)
    at = visited_at + timedelta(minutes=rng.uniform(20, 120))
    key = f"{visited.key}/d{n}"
    unit = beijing().units[place]
    visited.add(at, ActKind.COLLECT, holder, {
        "visit": visited.key, "contact_key": f"{visited.key}/c0", "demand": key,
        "description": description, "place": community, "community": community,
        "record": {
            "channel": "collected", "received_at": _iso(at), "content": description,
            "address": f"{unit.name}{community}", "community": community, "district": unit.district_code,
            "category_hint": category, "request_type": rng.choice(("suggestion", "help", "complaint")),
            "caller": {"phone": _phone(rng)}, "collected_by": {"unit_code": holder, "staff_id": staff},
        },
    })
    demand = _Ticket(key, visited.group, (*visited.order, 100 + n), visited.acts)
    _life(config, demand, rng, holder=holder, received=at, urgency="general", praise=False, collected=True,
          place=place, community=community)


def day_acts(config: SimConfig, day: date) -> list[Act]:
    """Every act of the tickets the platform receives on `day`, with their whole lives."""
    city = city_of(config.units)
    gazetteer = beijing()
    rng = _rng("day", config.seed, day.isoformat())
    day_index = (day - config.start.date()).days
    mean = config.tickets_per_day * WEEKDAY[day.weekday()] / (sum(WEEKDAY) / 7)
    count = max(0, round(rng.gauss(mean, math.sqrt(mean)))) if mean else 0
    acts: list[Act] = []
    prefix = f"{config.run_id}-{day:%m%d}"
    heating = day.month in HEATING_SEASON
    for i in range(count):
        source_id = f"{prefix}-{i:05d}"
        moment = datetime.combine(day, time(rng.choices(_HOURS, cum_weights=_HOURLY_CUM)[0]), BUSINESS_TZ) + timedelta(
            seconds=rng.uniform(0, 3600))
        place = rng.choices(city.places, cum_weights=city.place_weights)[0]
        community = rng.choice(city.communities[place])
        cats, weights = city.categories[place]
        category = rng.choices(cats, cum_weights=weights[heating])[0]
        request_type = _pick(rng, REQUEST_TYPES)
        if category in texts.EMERGENCY and request_type in ("complaint", "help") and rng.random() < EMERGENCY_SHARE * 8:
            said = texts.EMERGENCY[category]
        elif request_type == "praise":
            said = texts.PRAISE
        else:
            said = rng.choice(texts.CONTENT[category])
        content = texts.OPENING[request_type] + said.format(c=community)
        # Community names hold no catalogue or urgency keyword: the template decides both.
        template = texts.OPENING[request_type] + said.format(c="")
        unit = gazetteer.units[place]
        anonymous = rng.random() < 0.04
        record = {
            "channel": _pick(rng, CHANNELS), "source_id": source_id, "received_at": _iso(moment),
            "content": content, "address": f"{gazetteer.districts[unit.district_code].name}{unit.name}{community}",
            "community": community, "district": unit.district_code, "category_hint": category,
            "request_type": request_type, "anonymous": anonymous,
            "caller": {} if anonymous else {"phone": _phone(rng)},
        }
        answered = request_type == "consultation" and rng.random() < ANSWERED_DIRECTLY
        if answered:
            record["answered_directly"] = True
        holder = holder_of(place, category, template)
        if holder not in city.units:
            continue  # a keyword sent it to a unit this run does not simulate
        ticket = _Ticket(source_id, source_id, (day_index, i), acts)
        ticket.add(moment, ActKind.RECEIVE, holder if not answered else None, record)
        if answered:
            continue
        urgency = _urgency(template, category)
        _life(config, ticket, rng, holder=holder, received=moment, urgency=urgency,
              praise=request_type == "praise", collected=False, place=place, community=community)
    return acts


@cache
def _urgency(template: str, category: str) -> str:
    return default_taxonomy().urgency(template, category).code


def acts_between(config: SimConfig, first: date, last: date | None = None) -> Iterator[Act]:
    """The acts of the tickets received from `first` to `last` (open-ended: for ever) in time
    order. Acts of a ticket come after its receipt, so a day's acts can be released once every
    ticket of that day and before has been drawn."""
    pending: list[tuple[datetime, tuple[int, ...], Act]] = []
    day = first
    while last is None or day <= last:
        for act in day_acts(config, day):
            heapq.heappush(pending, (act.at, act.order, act))
        day += timedelta(days=1)
        boundary = datetime.combine(day, time(0), BUSINESS_TZ)
        while pending and pending[0][0] < boundary:
            yield heapq.heappop(pending)[2]
    while pending:
        yield heapq.heappop(pending)[2]
