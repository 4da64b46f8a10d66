"""A city's unit registry: the units a history names join the city's catalogue file.

The file is an ordinary dispatch catalogue (`hotline.catalogue`), so routing, metrics and
`hotline topics ensure` read it as they read Beijing's: each unit is a department (or an
enterprise) with its own queue, and its rule dispatches a replayed record that carries the unit's
dispatch tag. The last rule sends anything else to triage.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from hotline.catalogue import Catalogue
from hotline.city import FALLBACK_OFFICE, City
from hotline.replay.mapping import dispatch_tag

_HEADER = """\
# {name}: unit registry and dispatch catalogue (the shipped catalogue's format), for replaying the
# city's hotline history. Units: the agencies, departments and queues the history names, added by
# `hotline replay FILE --mapping M --register`. Each unit's rule dispatches a replayed record by the
# tag the replay puts in its content ("[unit: <code>]"); anything else goes to triage (last rule).
"""


def _flow(item: dict) -> str:
    return yaml.safe_dump(item, default_flow_style=True, allow_unicode=True, width=1000, sort_keys=False).strip()


def catalogue_text(city: City, units: dict[str, tuple[str, str]]) -> str:
    """The catalogue file for these units (code -> (kind, name)), units and rules in code order."""
    codes = sorted(units)
    lines = [_HEADER.format(name=city.name), f'version: "{city.code}-replay-{len(codes)}"', "",
             "offices:", f"  {FALLBACK_OFFICE}: 未分派 (not assigned in the history)", "", "units:"]
    lines += [f"  - {_flow({'code': c, 'kind': units[c][0], 'zh': units[c][1], 'en': units[c][1]})}" for c in codes]
    lines += ["", "rules:"]
    lines += [f"  - {_flow({'id': f'unit-{c}', 'when': {'keywords': [dispatch_tag(c)]}, 'lead': c})}" for c in codes]
    lines.append(f"  - {_flow({'id': 'unassigned', 'when': {}, 'lead': {'street_town': FALLBACK_OFFICE}})}")
    text = "\n".join(lines) + "\n"
    Catalogue.model_validate(yaml.safe_load(text))  # never write a file routing would refuse
    return text


def registered_units(path: Path | None) -> dict[str, tuple[str, str]]:
    """The units in a city's catalogue file (none when it does not exist yet)."""
    if path is None or not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {u["code"]: (u["kind"], u["zh"]) for u in data.get("units", [])}


def register_units(city: City, history: dict[str, tuple[str, str]]) -> list[str]:
    """Add the history's units (code -> (kind, name)) to the city's catalogue file; the new codes."""
    if city.catalogue is None:
        raise ValueError(f"city {city.name} names no catalogue file to register units in")
    known = registered_units(city.catalogue)
    new = sorted(set(history) - set(known))
    if new or not city.catalogue.is_file():
        city.catalogue.write_text(catalogue_text(city, {**known, **history}), encoding="utf-8")
    return new
