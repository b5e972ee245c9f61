"""Finding and reading TOML presets: ``models/groups/NAME.toml`` (task groups) and ``models/sizes/NAME.toml``
(model shapes with their training defaults).

A preset is a file, never code. Commands take a preset's name or a path to a TOML file; the directory is
``models/`` beside the package (an editable install, as the README's), or ``$INTERP_MODELS``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from pathlib import Path
from typing import Any

from interp.errors import InterpError

PRESET_KINDS = {"group": "groups", "model": "sizes", "finetuning recipe": "finetune"}


def models_dir() -> Path:
    return Path(os.environ.get("INTERP_MODELS", Path(__file__).resolve().parent.parent / "models"))


def preset_names(kind: str) -> list[str]:
    folder = models_dir() / PRESET_KINDS[kind]
    return sorted(path.stem for path in folder.glob("*.toml"))


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise InterpError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise InterpError(f"{path} is not UTF-8 text (TOML must be): byte {error.start} is "
                          f"{error.object[error.start]:#04x}") from None
    except tomllib.TOMLDecodeError as error:
        raise InterpError(f"{path} is not valid TOML: {error}") from None


def load_preset(kind: str, name_or_path: str | Path) -> tuple[str, dict[str, Any]]:
    """The preset's name and table: ``name_or_path`` is a preset name or a ``.toml`` file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        if candidate.is_dir():
            raise InterpError(f"{kind} preset {candidate} is a folder, not a .toml file")
        if not candidate.is_file():
            raise InterpError(f"{kind} preset file {candidate} does not exist")
        return candidate.stem, read_toml(candidate)
    path = models_dir() / PRESET_KINDS[kind] / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(preset_names(kind)) or f"none found in {path.parent}"
        raise InterpError(f"unknown {kind} preset {str(name_or_path)!r} (known: {known}; or give a .toml path)")
    return path.stem, read_toml(path)


def check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InterpError(f"{where}: unknown key(s) {', '.join(unknown)} (accepted: {', '.join(sorted(allowed))})")


def check_number(value: Any, name: str, where: str) -> None:
    """A preset's or flag's real number: an int or float that is finite (not text, a boolean, inf or nan)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InterpError(f"{where}: {name} must be a finite number, got {value!r}")


def typed_fields(cls: type, table: dict[str, Any], where: str) -> dict[str, Any]:
    """``table``'s values checked against the dataclass ``cls``'s declared types before it is built: a number
    for a ``float`` field (an integer such as ``weight_decay = 0`` made a float), an integer for an ``int`` one,
    ``true``/``false`` for a ``bool`` one, text for a ``str`` one; anything else is one clear line."""
    declared = {field.name: str(field.type) for field in dataclasses.fields(cls)}
    checked = dict(table)
    for name, value in table.items():
        kind = declared.get(name)
        if kind == "float":
            check_number(value, name, where)
            checked[name] = float(value)
        elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise InterpError(f"{where}: {name} must be an integer, got {value!r}")
        elif kind == "bool" and not isinstance(value, bool):
            raise InterpError(f"{where}: {name} must be true or false, got {value!r}")
        elif kind == "str" and not isinstance(value, str):
            raise InterpError(f"{where}: {name} must be text, got {value!r}")
    return checked
