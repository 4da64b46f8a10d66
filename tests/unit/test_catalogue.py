"""The dispatch catalogue: realistic tickets through intake's classification and routing's rules."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from hotline.catalogue import Catalogue, default_catalogue, load_catalogue
from hotline.contracts import TicketReceived
from hotline.gazetteer import UnitKind, beijing
from hotline.ingest.admission import normalize
from hotline.routing.domain import decide

CASES = yaml.safe_load((Path(__file__).parents[1] / "data" / "dispatch_cases.yaml").read_text("utf-8"))


def ticket_for(case: dict, n: int) -> TicketReceived:
    record = {"channel": "phone", "source_id": f"cat-{n}", "received_at": "2026-11-20T09:00:00+08:00",
              "caller": {"phone": "13800000000"},
              **{k: case[k] for k in ("content", "address", "district", "community", "category_hint") if k in case}}
    ticket = normalize(json.dumps(record, ensure_ascii=False).encode(),
                       now=datetime(2026, 11, 26, tzinfo=UTC), gazetteer=beijing())
    assert isinstance(ticket, TicketReceived), ticket
    return ticket


@pytest.mark.parametrize(("n", "case"), list(enumerate(CASES)), ids=[c["content"][:12] for c in CASES])
def test_dispatch(n, case):
    expect = case["expect"]
    dispatch = decide(ticket_for(case, n), beijing(), default_catalogue())
    assert dispatch.lead.unit_code == expect["lead"]
    assert dispatch.reason.value == expect["reason"]
    assert dispatch.lead.office == expect.get("office")
    co = [f"{a.unit_code}:{a.office}" if a.office else a.unit_code for a in dispatch.co_handlers]
    assert co == expect.get("co", [])
    assert dispatch.catalogue_version == default_catalogue().version and dispatch.rule_id


def test_the_cases_cover_every_category_and_every_kind_of_unit():
    catalogue, gazetteer = default_catalogue(), beijing()
    kinds, categories = set(), set()
    for n, case in enumerate(CASES):
        ticket = ticket_for(case, n)
        categories.add(ticket.category)
        dispatch = decide(ticket, gazetteer, catalogue)
        kinds |= {dispatch.lead.unit_kind, *(a.unit_kind for a in dispatch.co_handlers)}
    from hotline.taxonomy import default_taxonomy

    assert categories == set(default_taxonomy().categories)
    assert kinds >= {k.value for k in UnitKind} | {"department", "enterprise", "triage"}
    assert len(CASES) >= 40


def test_every_category_has_a_rule_and_every_unit_is_used():
    catalogue = default_catalogue()
    from hotline.taxonomy import default_taxonomy

    named = {c for r in catalogue.rules for c in r.when.categories}
    assert set(default_taxonomy().categories) - named <= {"other"}
    used = {t.unit for r in catalogue.rules for t in (r.lead, *r.co) if t.unit}
    assert used == set(catalogue.units_by_code)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rules"].append({"id": "x", "when": {}, "lead": "m-nowhere"}), "unknown unit"),
        (lambda d: d["rules"].insert(0, {"id": "y", "when": {}, "lead": {"street_town": "kitchen"}}), "unknown office"),
        (lambda d: d["rules"].pop(), "last rule must match everything"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "unique"),
        (lambda d: d["units"][0].update(code="Bad Code"), "code"),
    ],
)
def test_a_broken_catalogue_is_refused_with_a_clear_message(tmp_path, change, message):
    data = yaml.safe_load(Path(load_catalogue.__code__.co_filename).parent.joinpath(
        "data", "catalogue", "beijing.yaml").read_text("utf-8"))
    change(data)
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ValueError, match=message):
        load_catalogue(path)


def test_the_shipped_catalogue_is_a_catalogue():
    assert isinstance(default_catalogue(), Catalogue)
