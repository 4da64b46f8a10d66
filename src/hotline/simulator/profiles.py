"""How each simulated unit behaves, and the Liangxiang scenario (pure).

A unit's behaviour is one number, its quality (0 poor, 1 excellent), spread evenly over the units
of one kind by the seed and wobbling a little from month to month so the ranking moves. The
quality sets every part of the profile: how fast the unit makes first contact, how often it never
does, how often in person, how often it really solves the matter, how fast it reports back and
whether it takes a reopened ticket up again.
"""

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace

LIANGXIANG = "110111008"  # 良乡地区 (Liangxiang town), Fangshan
SCENARIOS = ("liangxiang",)


@dataclass(frozen=True)
class Profile:
    """What a unit does with the tickets it holds in a month."""

    quality: float
    response_hours: float  # median hours to first contact on a general ticket
    no_contact: float  # share of tickets never contacted
    face_to_face: float  # share of first contacts made in person (见面办)
    solve: float  # chance the unit really solves the matter
    resolve_hours: float  # median hours from first contact to the reported resolution
    rework: float  # chance the unit takes a reopened ticket up again
    collects: float = 0.0  # chance an in-person visit yields residents' own demands (主动治理)


def profile_for(quality: float) -> Profile:
    """The profile of a unit of this quality (clamped to 0..1)."""
    q = min(1.0, max(0.0, quality))
    return Profile(
        quality=q,
        response_hours=30 * (0.8 / 30) ** q,
        no_contact=0.12 * (1 - q) ** 2,
        face_to_face=0.05 + 0.5 * q,
        solve=0.5 + 0.47 * q,
        resolve_hours=72 * (6 / 72) ** q,
        rework=0.15 + 0.7 * q,
    )


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def base_qualities(seed: int, groups: Iterable[Iterable[str]]) -> dict[str, float]:
    """Each unit's quality: within each group (one kind of unit), evenly spread over 0..1 in an
    order the seed shuffles, so every seed has good, middling and poor units of each kind."""
    qualities: dict[str, float] = {}
    for group in groups:
        ordered = sorted(set(group), key=lambda code: (_digest("quality", seed, code), code))
        for i, code in enumerate(ordered):
            qualities[code] = (i + 0.5) / len(ordered)
    return qualities


def monthly_quality(seed: int, unit_code: str, base: float, month: int) -> float:
    """The base quality with this month's wobble (a new head of office, a hard winter)."""
    wobble = random.Random(_digest("wobble", seed, unit_code, month)).gauss(0, 0.06)
    return min(1.0, max(0.0, base + wobble))


# Liangxiang, by month of the simulation (1 = the first month): two months of "receiving"
# complaints at the lower end, then "collecting" them: staff meet each caller in person as soon
# as the ticket arrives and file what residents raise on those visits as tickets of their own.
# The quality of the handling itself improves step by step, so the town reaches the middle of
# the ranking by month five rather than jumping to the top.
_LIANGXIANG_QUALITY = {1: 0.04, 2: 0.06, 3: 0.1, 4: 0.16, 5: 0.26}
LIANGXIANG_SWITCH_MONTH = 3


def scenario_profile(scenario: str | None, unit_code: str, month: int, profile: Profile) -> Profile:
    """The profile after the scenario's changes for this unit and month (unchanged otherwise)."""
    if scenario != "liangxiang" or unit_code != LIANGXIANG:
        return profile
    quality = _LIANGXIANG_QUALITY.get(month, _LIANGXIANG_QUALITY[max(_LIANGXIANG_QUALITY)])
    before = profile_for(quality)
    if month < LIANGXIANG_SWITCH_MONTH:
        return before
    return replace(before, face_to_face=0.9, response_hours=1.5, no_contact=0.0, collects=0.5)


def is_collecting(scenario: str | None, unit_code: str, month: int) -> bool:
    """Whether the unit collects complaints itself this month (the scenario's switch)."""
    return scenario == "liangxiang" and unit_code == LIANGXIANG and month >= LIANGXIANG_SWITCH_MONTH
