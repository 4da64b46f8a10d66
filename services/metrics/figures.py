"""A unit-month's figures from the summaries of the tickets it keeps (pure; see docs/services/metrics.md).

The figures are recomputed from the summaries, never incremented. They can be computed for any
split of a month's tickets and combined (`partial_figures`, `combine`): the counts add up, the
first-contact delays are kept as a list because a median does not.

Typed dicts, as the facts and summaries are (`hotline.metrics.domain`): a month's figures are
written into its document as they are, and the ranking reads them as they are.
"""

import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo
from statistics import median
from typing import Any, TypedDict, cast

from hotline.contracts import BUSINESS_TZ
from hotline.metrics.domain import Fact, LastWord, Returned, Summary, contributions, key, unit_month_id

# A category tally [district, category, tickets]; a community tally [place, community, category,
# tickets, repeats]. Lists, not maps: community names are free text, unsafe as field names.
CategoryTally = list[Any]
CommunityTally = list[Any]


class Counts(TypedDict):
    """The additive counts of a unit-month: what its parts add up to (`ADDITIVE`)."""

    dispatched: int
    contacted: int
    contacted_in_time: int
    contacted_late: int
    response_overdue: int
    face_to_face: int
    callbacks: int
    callback_contacted: int
    callback_not_contacted: int
    resolved: int
    unresolved: int
    satisfied: int
    basically_satisfied: int
    dissatisfied: int
    breaches: int
    returns: int
    reopens: int
    repeats: int
    # 核减: the holder's requests this month, and those the centre approved (out of every figure
    # above) or rejected (counted as any other ticket).
    exemption_requested: int
    exempted: int
    exemption_rejected: int
    categories: list[CategoryTally]
    communities: list[CommunityTally]


class Figures(Counts):
    """A unit-month's figures (`GET /v1/units/{code}/months/{YYYY-MM}`): the counts, and the shares
    and the median derived from them."""

    face_to_face_share: float | None
    median_first_contact_minutes: float | None


class PeriodUnit(TypedDict):
    """A unit's figures of a month, as the rankings and hotspots take them."""

    unit_code: str
    figures: Figures


class Partial(Counts):
    """What some of a unit-month's tickets add to its figures: the counts and the first-contact
    delays (a median does not add up)."""

    delays: list[float]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# A month's tickets are spread over this many part documents (by a hash of the ticket id): each
# update rewrites only its part, and a month stays far below MongoDB's 16 MB document limit up to
# about 700,000 tickets (a whole city's 311 agency), not about 45,000.
PARTS = 16
# Figures a month's parts simply add up to; the rest are derived from them or merged (below).
ADDITIVE = (
    "dispatched", "contacted", "contacted_in_time", "contacted_late", "response_overdue", "face_to_face",
    "callbacks", "callback_contacted", "callback_not_contacted", "resolved", "unresolved", "satisfied",
    "basically_satisfied", "dissatisfied", "breaches", "returns", "reopens", "repeats", "exemption_requested",
    "exempted", "exemption_rejected",
)


def month_part_id(month_id: str, ticket_key: str) -> str:
    """The `_id` of the part of a unit-month that keeps a ticket (a stable hash, not Python's)."""
    return month_part_ids(month_id)[zlib.crc32(ticket_key.encode()) % PARTS]


def month_part_ids(month_id: str) -> list[str]:
    """The `_id`s of every part a unit-month may have."""
    return [f"{month_id}#{n}" for n in range(PARTS)]


def month_of_part(part_id: str) -> str:
    """The unit-month a part belongs to."""
    return part_id.rpartition("#")[0]


def _exemption_state(summary: Summary) -> str | None:
    exemption = summary.get("exemption")
    return exemption["state"] if exemption is not None else None


def partial_figures(tickets: Mapping[str, Summary], returned: Mapping[str, Returned] | None = None) -> Partial:
    """What some of a unit-month's tickets add to its figures (see `combine`): the counts, the
    first-contact delays in minutes (a median does not add up), category and community tallies.

    A ticket whose exemption the centre approved leaves every count but the exemptions' own; it
    stays in the category and community tallies, which say what citizens asked where."""
    every = list(tickets.values())
    held = [t for t in every if _exemption_state(t) != "approved"]
    contacted = [t for t in held if t.get("first_contact_at") is not None]
    callbacks: list[LastWord] = [c for t in held if (c := t.get("callback"))]

    def count(predicate: Callable[[Summary], object]) -> int:
        return sum(1 for t in held if predicate(t))

    categories: dict[tuple[str, str], int] = {}
    communities: dict[tuple[str, str, str], list[int]] = {}
    for t in every:
        district = t.get("district_code") or ""
        category = t.get("category") or "other"
        categories[(district, category)] = categories.get((district, category), 0) + 1
        if t.get("community"):
            place = t.get("place_unit_code") or district
            tally = communities.setdefault((place, t["community"] or "", category), [0, 0])
            tally[0] += 1
            tally[1] += 1 if t.get("repeat") else 0
    return {
        "dispatched": len(held),
        "contacted": len(contacted),
        "contacted_in_time": count(lambda t: t.get("response") == "in_time"),
        "contacted_late": count(lambda t: t.get("response") == "late"),
        "response_overdue": count(lambda t: t.get("response") == "overdue"),
        "face_to_face": count(lambda t: t.get("face_to_face")),
        "callbacks": len(callbacks),
        # The citizen's answer to "did the unit contact you"; a survey that did not ask is in neither.
        "callback_contacted": sum(1 for c in callbacks if c.get("contacted") is True),
        "callback_not_contacted": sum(1 for c in callbacks if c.get("contacted") is False),
        "resolved": sum(1 for c in callbacks if c["resolved"]),
        "unresolved": sum(1 for c in callbacks if not c["resolved"]),
        "satisfied": sum(1 for c in callbacks if c["satisfaction"] == "satisfied"),
        "basically_satisfied": sum(1 for c in callbacks if c["satisfaction"] == "basically_satisfied"),
        "dissatisfied": sum(1 for c in callbacks if c["satisfaction"] == "dissatisfied"),
        "breaches": sum(t.get("breaches", 0) for t in held),
        "returns": sum(len(r.get("attempts", [])) for r in (returned or {}).values()),
        "reopens": sum(t.get("reopens", 0) for t in held),
        "repeats": count(lambda t: t.get("repeat")),
        "exemption_requested": sum(1 for t in every if _exemption_state(t) is not None),
        "exempted": len(every) - len(held),
        "exemption_rejected": sum(1 for t in every if _exemption_state(t) == "rejected"),
        "delays": sorted((t["first_contact_at"] - t["dispatched_at"]).total_seconds() / 60
                         for t in contacted if t["first_contact_at"] is not None),
        "categories": [[d, c, n] for (d, c), n in sorted(categories.items())],
        "communities": [[p, c, cat, n, r] for (p, c, cat), (n, r) in sorted(communities.items())],
    }


def combine(partials: Iterable[Partial]) -> Figures:
    """A unit-month's figures from its parts' partial figures."""
    totals = dict.fromkeys(ADDITIVE, 0)
    delays: list[float] = []
    categories: dict[tuple[str, str], int] = {}
    communities: dict[tuple[str, str, str], list[int]] = {}
    for partial in partials:
        counts = cast(Mapping[str, int], partial)  # the additive counts, by name
        for name in ADDITIVE:
            totals[name] += counts[name]
        delays += partial["delays"]
        for d, c, n in partial["categories"]:
            categories[(d, c)] = categories.get((d, c), 0) + n
        for p, c, cat, n, r in partial["communities"]:
            tally = communities.setdefault((p, c, cat), [0, 0])
            tally[0] += n
            tally[1] += r
    delays.sort()
    return cast(Figures, {
        **{n: totals[n] for n in ADDITIVE[:6]},
        "face_to_face_share": _share(totals["face_to_face"], totals["dispatched"]),
        "median_first_contact_minutes": round(median(delays), 3) if delays else None,
        **{n: totals[n] for n in ADDITIVE[6:]},
        "categories": [[d, c, n] for (d, c), n in sorted(categories.items())],
        "communities": [[p, c, cat, n, r] for (p, c, cat), (n, r) in sorted(communities.items())],
    })


def unit_month_figures(tickets: Mapping[str, Summary], returned: Mapping[str, Returned] | None = None) -> Figures:
    """A unit-month's figures from its held and returned tickets' summaries."""
    return combine([partial_figures(tickets, returned)])


def month_parts(month: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """A unit-month's held and returned tickets split into its parts: part id -> sections."""
    month_id = unit_month_id(month["unit_code"], month["period"])
    parts: dict[str, dict[str, dict[str, Any]]] = {}
    for section in ("tickets", "returned"):
        for ticket, summary in month[section].items():
            part = parts.setdefault(month_part_id(month_id, ticket), {"tickets": {}, "returned": {}})
            part[section][ticket] = summary
    return parts


FIGURE_NAMES = tuple(unit_month_figures({}).keys())


def project_facts(facts: Mapping[str, Fact], zone: tzinfo = BUSINESS_TZ) -> dict[str, dict[str, Any]]:
    """Every unit-month from every fact at once (rebuild, tests): id -> month, tickets and figures,
    the months in the city's time zone."""
    months: dict[str, dict[str, Any]] = {}
    for ticket_id in sorted(facts):
        for month_id, (section, summary, meta) in contributions(facts[ticket_id], zone).items():
            month = months.setdefault(month_id, {**meta, "tickets": {}, "returned": {}})
            month[section][key(ticket_id)] = summary
    for month in months.values():
        month.update(unit_month_figures(month["tickets"], month["returned"]))
    return months
