"""The repository's fences, read from the source with `ast` (nothing is imported, so a module that
fails to import cannot hide a finding):

- no service (services/<name>/, installed as hotline.<name>) imports another service;
- shared code (src/hotline/) imports no service, hotline/cli.py aside: it starts them;
- no .py file under src/, services/, bench/, tests/ or deploy/ is over 500 lines;
- every service follows the template (docs/architecture.md): main.py and settings.py, and
  domain.py, app.py, store.py, handlers.py, http.py at its top or in each of its sub-packages.

An import inside a function or under `if TYPE_CHECKING:` counts like any other: the dependency is
there all the same. A module named only at run time (`importlib.import_module(f"...")`) is not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = ROOT / "services"
SHARED_DIR = ROOT / "src" / "hotline"
SIZED_DIRS = ("src", "services", "bench", "tests", "deploy")
MAX_LINES = 500
# The one shared module that may import services: `hotline serve <name>` starts them.
STARTS_SERVICES = {SHARED_DIR / "cli.py"}
TEMPLATE_ROOT_FILES = ("main.py", "settings.py")
TEMPLATE_FILES = ("domain.py", "app.py", "store.py", "handlers.py", "http.py")
# A sub-package of a larger service has the core and the side(s) it is reached from: Kafka, HTTP or both.
TEMPLATE_CORE = ("domain.py", "app.py", "store.py")
TEMPLATE_SIDES = ("handlers.py", "http.py")


def service_names(services_dir: Path = SERVICES_DIR) -> list[str]:
    """Every directory under services/ is a service, importable as hotline.<name>."""
    return sorted(d.name for d in services_dir.iterdir() if d.is_dir() and not d.name.startswith((".", "_")))


SERVICES = service_names()


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def module_of(path: Path) -> tuple[str, bool]:
    """The dotted name a file is installed as, and whether it is a package's __init__."""
    if path.is_relative_to(SERVICES_DIR):
        parts = ["hotline", *path.relative_to(SERVICES_DIR).with_suffix("").parts]
    else:
        parts = ["hotline", *path.relative_to(SHARED_DIR).with_suffix("").parts]
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module a `from` import names (`from ..x import y` inside `module`)."""
    if not level:
        return name or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imported(source: str, module: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, module) for every module an import statement in `source` may load: for
    `from a import b` both `a` and `a.b`, since `b` may be a submodule (`from hotline import intake`)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            yield node.lineno, base
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}"


def service_of(module: str, services: list[str] = SERVICES) -> str | None:
    """The service a module belongs to (hotline.<service>...), or None for shared code and libraries."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "hotline" and parts[1] in services else None


def service_imports(path: str, source: str, module: str, is_package: bool = False, *,
                    own: str | None, services: list[str] = SERVICES) -> list[Finding]:
    """Each import in `source` of a service other than `own` (the file's service; None: shared code)."""
    findings, seen = [], set()
    for line, target in imported(source, module, is_package):
        service = service_of(target, services)
        if service and service != own and (line, service) not in seen:
            seen.add((line, service))
            who = f"service {own}" if own else "shared code"
            findings.append(Finding(path, line, f"{who} imports service {service} ({target})"))
    return findings


def too_long(path: str, source: str, limit: int = MAX_LINES) -> Finding | None:
    lines = len(source.splitlines())
    return Finding(path, lines, f"{lines} lines, over {limit}") if lines > limit else None


def template_gaps(service_dir: Path) -> list[str]:
    """What a service directory lacks of the template, as paths relative to it; empty when in shape."""
    gaps = [name for name in TEMPLATE_ROOT_FILES if not (service_dir / name).is_file()]
    at_top = [name for name in TEMPLATE_FILES if not (service_dir / name).is_file()]
    if not at_top:
        return gaps
    packages = sorted(d for d in service_dir.iterdir() if (d / "__init__.py").is_file())
    if not packages:
        return gaps + at_top
    in_packages = [gap for package in packages for gap in _package_gaps(package)]
    # Either layout would do: name what each one lacks.
    return gaps + [f"{', '.join(at_top)} or else {', '.join(in_packages)}"] if in_packages else gaps


def _package_gaps(package: Path) -> list[str]:
    gaps = [f"{package.name}/{name}" for name in TEMPLATE_CORE if not (package / name).is_file()]
    if not any((package / side).is_file() for side in TEMPLATE_SIDES):
        gaps.append(" or ".join(f"{package.name}/{side}" for side in TEMPLATE_SIDES))
    return gaps


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _python_files(*dirs: Path) -> list[Path]:
    return sorted(p for d in dirs for p in d.rglob("*.py") if "__pycache__" not in p.parts)


def _report(findings: list[Finding]) -> str:
    return "\n".join(str(f) for f in findings)


# The checks on the repository


def test_there_are_services_to_check() -> None:
    assert len(SERVICES) >= 4, SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    findings = []
    for path in _python_files(SERVICES_DIR / service):
        module, is_package = module_of(path)
        findings += service_imports(_relative(path), path.read_text(), module, is_package, own=service)
    assert not findings, _report(findings)


def test_shared_code_imports_no_service() -> None:
    findings = []
    for path in _python_files(SHARED_DIR):
        if path not in STARTS_SERVICES:
            module, is_package = module_of(path)
            findings += service_imports(_relative(path), path.read_text(), module, is_package, own=None)
    assert not findings, _report(findings)


def test_no_source_file_is_over_500_lines() -> None:
    findings = [f for path in _python_files(*(ROOT / d for d in SIZED_DIRS))
                if (f := too_long(_relative(path), path.read_text()))]
    assert not findings, _report(findings)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_follows_the_template(service: str) -> None:
    gaps = template_gaps(SERVICES_DIR / service)
    assert not gaps, f"services/{service}/ lacks " + ", ".join(gaps)


# The checker itself: each check finds what it is meant to


def test_a_service_importing_another_is_found_in_every_spelling() -> None:
    source = "\n".join([
        "import json",
        "import hotline.followup.domain",  # 2
        "from hotline.followup import store",  # 3
        "from hotline import followup",  # 4
        "from ..followup.store import Store",  # 5: relative, from hotline.metrics.deadlines
        "from . import projection",  # 6: its own service
        "from hotline.metrics.domain import x",  # 7: its own service
        "from hotline.contracts import topics",  # 8: shared code
        "def late():",
        "    from hotline.routing.app import decide",  # 10
    ])
    findings = service_imports("services/metrics/deadlines.py", source, "hotline.metrics.deadlines",
                               own="metrics", services=["followup", "metrics", "routing"])
    assert [(f.line, f.what.split(" (")[0]) for f in findings] == [
        (2, "service metrics imports service followup"),
        (3, "service metrics imports service followup"),
        (4, "service metrics imports service followup"),
        (5, "service metrics imports service followup"),
        (10, "service metrics imports service routing"),
    ]
    assert str(findings[0]) == ("services/metrics/deadlines.py:2: service metrics imports service followup "
                                "(hotline.followup.domain)")


def test_shared_code_importing_a_service_is_found() -> None:
    source = "from hotline.ingest import rows\nfrom ...intake import bulk_import\n"
    findings = service_imports("src/hotline/replay/sub/read.py", source, "hotline.replay.sub.read",
                               own=None, services=["intake"])
    assert [str(f) for f in findings] == [
        "src/hotline/replay/sub/read.py:2: shared code imports service intake (hotline.intake)"]


def test_relative_imports_resolve_from_a_package_and_from_a_module() -> None:
    assert _resolve("hotline.intake.open311", True, 1, "render") == "hotline.intake.open311.render"
    assert _resolve("hotline.intake.open311.routes", False, 1, "render") == "hotline.intake.open311.render"
    assert _resolve("hotline.intake.open311.routes", False, 2, None) == "hotline.intake"
    assert module_of(SERVICES_DIR / "intake" / "open311" / "__init__.py") == ("hotline.intake.open311", True)
    assert module_of(SHARED_DIR / "runtime" / "errors.py") == ("hotline.runtime.errors", False)


def test_a_long_file_is_found() -> None:
    assert too_long("x.py", "pass\n" * 500) is None
    assert str(too_long("x.py", "pass\n" * 501)) == "x.py:501: 501 lines, over 500"


def test_template_gaps_name_what_is_missing(tmp_path: Path) -> None:
    def service(name: str, files: list[str]) -> Path:
        for file in files:
            (tmp_path / name / file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / file).write_text("")
        return tmp_path / name

    flat = ["main.py", "settings.py", *TEMPLATE_FILES]
    assert template_gaps(service("flat", flat)) == []
    assert template_gaps(service("partial", ["main.py", "domain.py", "store.py"])) == [
        "settings.py", "app.py", "handlers.py", "http.py"]
    wing = ["main.py", "settings.py", "tickets/__init__.py", *(f"tickets/{f}" for f in TEMPLATE_FILES),
            "casework/__init__.py", "casework/domain.py", "casework/app.py"]
    assert template_gaps(service("wing", wing)) == [
        "domain.py, app.py, store.py, handlers.py, http.py or else casework/store.py, casework/handlers.py or "
        "casework/http.py"]
    assert template_gaps(service("wing_done", [*wing, "casework/store.py", "casework/http.py"])) == []
    assert service_names(tmp_path) == ["flat", "partial", "wing", "wing_done"]
