"""`make lint`'s type check: mypy over src/ and services/, each file under the module it is installed as.

The editable install maps services/<name>/ to hotline.<name> with an import hook (pyproject's
package-dir), which a static checker does not run: `mypy -p hotline` finds no package, and
`mypy src services` would call services/intake/ `intake`. So this lists the files of the packages
pyproject installs, names each as setuptools does, and hands them to mypy with its options from
[tool.mypy]. A module under those folders in no installed package is an error too: the
editable install would import it, the image would lack it. Arguments are mypy's own flags (for
example --no-incremental). Exit 0 when clean, 1 on any error, 2 when mypy could not finish.
"""

import os
import sys
import time
import tomllib
from pathlib import Path

from mypy.fscache import FileSystemCache
from mypy.main import process_options, run_build
from mypy.modulefinder import BuildSource

ROOT = Path(__file__).resolve().parent.parent


def package_folder(package: str, package_dir: dict[str, str]) -> Path:
    """Where setuptools takes `package` from: its longest mapped prefix, the rest of the name as folders."""
    parts = package.split(".")
    for cut in range(len(parts), -1, -1):
        prefix = ".".join(parts[:cut])
        if prefix in package_dir:
            return Path(package_dir[prefix]).joinpath(*parts[cut:])
    return Path(*parts)


def installed_sources(setuptools: dict) -> list[BuildSource]:
    """One source per module of every package pyproject installs, with paths relative to the root."""
    sources = []
    for package in setuptools["packages"]:
        folder = package_folder(package, setuptools.get("package-dir", {}))
        for path in sorted(folder.glob("*.py")):
            module = package if path.stem == "__init__" else f"{package}.{path.stem}"
            sources.append(BuildSource(str(path), module))
    return sources


def left_out(setuptools: dict, sources: list[BuildSource]) -> list[Path]:
    """Python files under the package folders that belong to no installed package."""
    roots = {Path(folder) for folder in setuptools.get("package-dir", {"": "."}).values()}
    listed = {Path(source.path) for source in sources if source.path}
    return sorted({path for root in roots for path in root.rglob("*.py")} - listed)


def main(flags: list[str]) -> int:
    os.chdir(ROOT)  # mypy finds pyproject's [tool.mypy] and keeps .mypy_cache here
    fscache = FileSystemCache()
    _, options = process_options(flags, require_targets=False, fscache=fscache)
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    sources = installed_sources(setuptools)
    _, messages, blockers = run_build(sources, options, fscache, time.time(), sys.stdout, sys.stderr)
    errors = sum(": error:" in message for message in messages)
    for path in left_out(setuptools, sources):
        print(f"{path}: error: in no package of pyproject's [tool.setuptools] packages")
        errors += 1
    if blockers:
        return 2
    if errors:
        print(f"mypy: {errors} errors in {len(sources)} modules")
        return 1
    print(f"mypy: no issues in {len(sources)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
