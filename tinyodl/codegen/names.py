"""One name mangler for everything the generator emits: model, layer and tensor names -> C identifiers."""

from __future__ import annotations

import re

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile "
    "while _Bool _Complex _Imaginary".split()
)


def c_ident(name: str) -> str:
    """A valid, readable C identifier for `name` (not necessarily unique: see NameTable)."""
    ident = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_").lower()
    ident = re.sub(r"_+", "_", ident) or "x"
    if ident[0].isdigit():
        ident = f"n{ident}"
    if ident in _C_KEYWORDS:
        ident = f"{ident}_"
    return ident


class NameTable:
    """Hands out unique identifiers under one prefix: `<prefix>_<name>`, numbered on collision."""

    def __init__(self, prefix: str) -> None:
        self.prefix = c_ident(prefix)
        self._used: set[str] = set()

    def unique(self, name: str) -> str:
        base = f"{self.prefix}_{c_ident(name)}"
        ident, n = base, 1
        while ident in self._used:
            n += 1
            ident = f"{base}_{n}"
        self._used.add(ident)
        return ident
