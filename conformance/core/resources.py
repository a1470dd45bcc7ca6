"""Where the project's data folders (scenarios, fixtures, schemas) are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The folder holding ``scenarios/``, ``fixtures/`` and ``schemas/``."""
    bundled = _PACKAGE / "_data"
    return bundled if bundled.is_dir() else _PACKAGE.parent


def data_path(*parts: str) -> Path:
    """A path inside the data root."""
    return data_root().joinpath(*parts)
