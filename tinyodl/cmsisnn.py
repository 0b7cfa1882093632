"""ARM's CMSIS-NN as a kernel backend (`--kernels cmsis-nn`): where its source tree is, and what it is.

tinyodl never ships CMSIS-NN: it takes the path of an unpacked source tree (the folder holding
`Include/arm_nnfunctions.h` and `Source/`). The first of these that holds one is used:

1. `--cmsis-nn DIR` on the command line,
2. the `TINYODL_CMSIS_NN` environment variable,
3. the checkout's `.tools/cmsis-nn/` (where `scripts/setup.sh --cmsis-nn TARBALL` unpacks it).

The firmware build compiles its `Source/` tree into a static library once per board and CMSIS-NN tree
(`tinyodl.toolchain.project`), and links only the functions the model calls.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import TinyodlError

ENV = "TINYODL_CMSIS_NN"
LOCAL_INSTALL = Path(".tools") / "cmsis-nn"  # in a checkout: where `scripts/setup.sh --cmsis-nn TARBALL` puts it
MARKER = Path("Include") / "arm_nnfunctions.h"
HINT = (
    "point --cmsis-nn DIR or TINYODL_CMSIS_NN at an unpacked CMSIS-NN source tree (Include/ and Source/), or "
    "unpack a CMSIS-NN tarball with scripts/setup.sh --cmsis-nn TARBALL (docs/cmsis-nn.md)"
)


class CmsisNNError(TinyodlError):
    """No usable CMSIS-NN tree."""


@dataclass(frozen=True)
class CmsisNN:
    path: Path
    found_by: str  # "--cmsis-nn", "TINYODL_CMSIS_NN" or ".tools/cmsis-nn"

    @property
    def version(self) -> str | None:
        return tree_version(self.path)

    @property
    def key(self) -> str:
        """Names the tree and its contents' stamp: builds of another tree or version go elsewhere."""
        stamp = self.path / ".tarball-sha256"
        extra = stamp.read_text().strip() if stamp.is_file() else str(self.version)
        return hashlib.sha256(f"{self.path}|{extra}".encode()).hexdigest()[:10]

    def describe(self) -> str:
        return f"CMSIS-NN {self.version or '(version unknown)'} at {self.path} (from {self.found_by})"


def local_install() -> Path:
    return Path(__file__).resolve().parents[1] / LOCAL_INSTALL


def is_tree(path: Path) -> bool:
    return (path / MARKER).is_file() and (path / "Source").is_dir()


def tree_version(path: Path) -> str | None:
    """The version setup.sh recorded (from the tarball's name), else one in the folder's name
    (`CMSIS-NN-7.0.0`), else None: the tree itself does not name its release."""
    recorded = path / ".version"
    if recorded.is_file() and recorded.read_text().strip():
        return recorded.read_text().strip()
    found = re.search(r"(\d+\.\d+\.\d+)", path.name)
    return found.group(1) if found else None


def find(explicit: str | Path | None = None) -> CmsisNN | None:
    """The tree to use, in the order above; None when none of the three holds one. An explicit directory
    or environment variable that holds no tree is an error, not a fall-through."""
    for where, value in (("--cmsis-nn", explicit), (ENV, os.environ.get(ENV))):
        if value:
            path = Path(value).expanduser().resolve()
            if not is_tree(path):
                raise CmsisNNError(f"{where} {value}: not a CMSIS-NN source tree (no {MARKER} and Source/)")
            return CmsisNN(path, where)
    local = local_install()
    if is_tree(local):
        return CmsisNN(local, str(LOCAL_INSTALL))
    return None


def require(explicit: str | Path | None = None) -> CmsisNN:
    found = find(explicit)
    if found is None:
        raise CmsisNNError(f"--kernels cmsis-nn needs CMSIS-NN's sources, and none were found: {HINT}")
    return found


def missing_reason() -> str | None:
    """Why the CMSIS-NN tests skip (None when a tree is found)."""
    try:
        return None if find() is not None else f"no CMSIS-NN source tree: {HINT}"
    except CmsisNNError as exc:
        return str(exc)
