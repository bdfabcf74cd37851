"""Runtime configuration: environment variables first, then an optional TOML file.

Every setting is documented in docs/configuration.md. The TOML file (path in XIAOER_CONFIG,
default ./xiaoer.toml when present) uses the same names in lower case without the XIAOER_ prefix,
e.g. ``port = 8000``.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def _file_settings() -> dict[str, Any]:
    path = Path(os.environ.get("XIAOER_CONFIG", "xiaoer.toml"))
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        return {str(k).lower(): v for k, v in tomllib.load(fh).items()}


def setting(name: str, default: Any = None) -> Any:
    """Look up NAME in the environment (as given, or XIAOER_NAME), then in the config file."""
    for key in (name, f"XIAOER_{name}"):
        if key in os.environ:
            return os.environ[key]
    return _file_settings().get(name.lower().removeprefix("xiaoer_"), default)


def bool_setting(name: str, default: bool = False) -> bool:
    value = setting(name, default)
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def int_setting(name: str, default: int) -> int:
    return int(setting(name, default))


def list_setting(name: str, default: str = "") -> list[str]:
    """A comma-separated setting (or a TOML list) as a list of non-empty, stripped strings."""
    value = setting(name, default)
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]
