"""`make audit`'s verdict (deploy/audit.py) on pip-audit's results, without the network."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("audit", Path(__file__).parents[2] / "deploy" / "audit.py")
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)

VULN = {"id": "GHSA-xxxx", "fixed_in": ["2.0"]}


def test_a_known_vulnerability_fails_whether_pip_audit_or_the_project_page_found_it():
    results = [
        {"name": "Good_Pkg", "version": "1.0", "vulns": []},
        {"name": "bad", "version": "1.0", "vulns": [{"id": "PYSEC-1", "fix_versions": ["1.1"]}]},
        {"name": "boolean.py", "skip_reason": "Dependency not found on PyPI and could not be audited"},
        {"name": "old", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ]
    pins = {"boolean-py": "5.0", "old": "0.1"}
    latest = {("boolean-py", "5.0"): [VULN]}
    audited, unaudited, found = audit.judge(results, pins, lambda n, v: latest.get((n, v)))
    assert audited == 3 and unaudited == ["old==0.1"]
    assert found == ["bad==1.0: PYSEC-1 (fixed in: 1.1)", "boolean-py==5.0: GHSA-xxxx (fixed in: 2.0)"]


def test_nothing_known_passes():
    results = [{"name": "fine", "version": "1.0", "vulns": []},
               {"name": "latest", "skip_reason": "not found"}]
    assert audit.judge(results, {"latest": "3.0"}, lambda n, v: []) == (2, [], [])


def test_pins_are_read_with_canonical_names(tmp_path):
    constraints = tmp_path / "c.txt"
    constraints.write_text("boolean.py==5.0\nPyYAML==6.0.4  # comment\n\nsetuptools==80.9.0\n")
    assert audit.pinned(constraints) == {"boolean-py": "5.0", "pyyaml": "6.0.4", "setuptools": "80.9.0"}
