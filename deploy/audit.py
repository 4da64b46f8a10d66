"""`make audit`: known vulnerabilities in the pinned dependencies (constraints.txt), with pip-audit.

pip-audit asks PyPI's JSON API for each pin's advisories (`--vulnerability-service pypi`; OSV's
own API is not reachable from our machines). Where PyPI's per-version page cannot be reached (a
registry proxy that serves only project pages answers 404, and pip-audit then skips the pin),
the project page's `vulnerabilities` still apply to a pin that is the project's latest release,
so those pins are checked from there. Pins older than the latest release that pip-audit had to
skip are listed as not audited. Exit 1 on any known vulnerability, 2 when the audit cannot run.
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PIP_AUDIT = Path(sys.executable).parent / "pip-audit"


def pip_audit(requirements: Path) -> list[dict]:
    """pip-audit's per-dependency results: `vulns`, or `skip_reason`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        done = subprocess.run(
            [str(PIP_AUDIT), "-r", str(requirements), "--no-deps", "--disable-pip",
             "--vulnerability-service", "pypi", "--progress-spinner", "off", "--format", "json",
             "--output", str(out)],
            capture_output=True, text=True,
        )
        if done.returncode not in (0, 1) or not out.exists():  # 1: vulnerabilities found
            sys.exit(f"audit: pip-audit failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return json.loads(out.read_text())["dependencies"]


def canonical(name: str) -> str:
    """PEP 503's normalized name: boolean.py, Boolean_Py -> boolean-py."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            pins[canonical(name.strip())] = version.strip()
    return pins


def latest_release_vulns(client: httpx.Client, name: str, version: str) -> list[dict] | None:
    """The project page's advisories when `version` is the latest release, else None."""
    response = client.get(f"https://pypi.org/pypi/{name}/json")
    response.raise_for_status()
    data = response.json()
    if data["info"]["version"] != version:
        return None
    return [v for v in data.get("vulnerabilities", []) if not v.get("withdrawn")]


def judge(results: list[dict], pins: dict[str, str], latest_vulns) -> tuple[int, list[str], list[str]]:
    """(dependencies audited, pins not audited, findings) from pip-audit's results; a pin pip-audit
    skipped is judged by `latest_vulns(name, version)` (None: not the latest release)."""
    audited, unaudited, found = 0, [], []
    for dep in results:
        name = canonical(dep["name"])
        version = dep.get("version") or pins.get(name, "")
        if "skip_reason" in dep:
            vulns = latest_vulns(name, version)
            if vulns is None:
                unaudited.append(f"{name}=={version}")
                continue
            fixes = [(v["id"], v.get("fixed_in") or []) for v in vulns]
        else:
            fixes = [(v["id"], v.get("fix_versions") or []) for v in dep.get("vulns", [])]
        audited += 1
        found += [f"{name}=={version}: {vuln_id} (fixed in: {', '.join(fix) or 'no release yet'})"
                  for vuln_id, fix in fixes]
    return audited, unaudited, found


def main() -> int:
    requirements = ROOT / "constraints.txt"
    try:
        results = pip_audit(requirements)
        with httpx.Client(timeout=30, follow_redirects=True) as client:
            audited, unaudited, found = judge(results, pinned(requirements),
                                              lambda name, version: latest_release_vulns(client, name, version))
    except httpx.HTTPError as exc:
        print(f"audit: PyPI could not be reached: {exc}", file=sys.stderr)
        return 2
    print(f"audit: {audited} of {len(results)} pinned dependencies checked for known vulnerabilities")
    if unaudited:
        print(f"audit: not audited ({len(unaudited)}: older than their latest release, and PyPI's per-version "
              f"advisories are not reachable from here): {', '.join(sorted(unaudited))}")
    for finding in found:
        print(f"audit: VULNERABLE {finding}")
    if found:
        print("audit: upgrade the pins above in constraints.txt (and pyproject.toml), reinstall, rerun", file=sys.stderr)
        return 1
    print("audit: no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
