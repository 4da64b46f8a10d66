"""Reading the YAML files people write (a city, a replay mapping): one clear error per problem."""

from pathlib import Path
from typing import Any

import yaml


def read_yaml_mapping(path: Path, *, what: str, keys: str, error: type[Exception]) -> dict[str, Any]:
    """The file's top-level mapping; `error` naming the file and the problem otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{what} {path} must be a YAML mapping of keys ({keys})")
    return data
