"""Locate the top-level data directories (firmware/, templates/, boards/, renode/).

In a checkout they sit beside the package; in an installed wheel they are packaged as `tinyodl/_data/`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_NAMES = ("firmware", "templates", "boards", "renode")


@cache
def data_root() -> Path:
    packaged = _PACKAGE / "_data"
    if (packaged / "boards").is_dir():
        return packaged
    checkout = _PACKAGE.parent
    if (checkout / "boards").is_dir():
        return checkout
    raise FileNotFoundError("tinyodl data directories (boards/, firmware/, templates/) not found")


def data_dir(name: str) -> Path:
    if name not in _NAMES:
        raise ValueError(f"unknown data directory {name!r}")
    return data_root() / name
