"""Reading the rule files of `layers/rules/`: the whole file, and numbers checked with a
message that names the file's key, so a bad edit is refused before anything uses it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from geodata.errors import OnemapError


def read_rules(path: Path, label: str, error: type[OnemapError]) -> dict:
    """The file as a dict; `error` naming the file when it is missing or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{label}: cannot read {path.name}: {exc}") from exc


def positive(doc: dict, key: str, where: str, label: str, error: type[OnemapError],
             whole: bool = False) -> float:
    """`doc[key]`, a number (a whole one with `whole`) above 0; `where` is its section."""
    value = doc.get(key)
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        kind = "a whole number" if whole else "a number"
        name = f"{where}.{key}" if where else key
        raise error(f"{label}: {name} must be {kind} above 0, not {value!r}")
    return value if whole else float(value)
