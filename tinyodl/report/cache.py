"""The report's result cache: one JSON file per measured unit (a model run, a learner run, a host accuracy),
named by the hash of what decides its figures: the model file's bytes, the firmware (the hand-written C
runtime, templates, board files and the generator's Python sources), the simulator and its version, the
tinyodl version and the unit's options. A unit whose key is on disk is neither built nor run again."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..resources import data_dir

_PACKAGE = Path(__file__).resolve().parents[1]


def default_cache_dir() -> Path:
    from ..toolchain.project import default_build_root

    env = os.environ.get("TINYODL_REPORT_CACHE")
    return Path(env) if env else default_build_root().parent / "report"


NOT_FIRMWARE = {"cli.py", "bench", "report", "nas", "_data", "__pycache__"}


def _hash_tree(h: Any, root: Path, pattern: str) -> None:
    for path in sorted(root.rglob(pattern)):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")


@cache
def firmware_hash() -> str:
    """Everything the firmware images and their measurement are made of: firmware/, templates/, boards/,
    renode/ and the package's Python sources that generate, build, run and check them (not the command line,
    the benchmark or the report, which only read results)."""
    h = hashlib.sha256()
    for name in ("firmware", "templates", "boards", "renode"):
        _hash_tree(h, data_dir(name), "*")
    for path in sorted(_PACKAGE.glob("*.py")):
        if path.name not in NOT_FIRMWARE:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for sub in sorted(p for p in _PACKAGE.iterdir() if p.is_dir() and p.name not in NOT_FIRMWARE):
        _hash_tree(h, sub, "*.py")
    return h.hexdigest()[:16]


@cache
def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class ResultCache:
    def __init__(self, directory: Path | None, enabled: bool = True) -> None:
        self.directory = directory or default_cache_dir()
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def key(self, parts: dict[str, Any]) -> str:
        parts = {"tinyodl": __version__, "firmware": firmware_hash(), **parts}
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def get_or_run(self, parts: dict[str, Any], run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """(the unit's result, whether it came from the cache)."""
        path = self.directory / f"{parts.get('kind', 'unit')}-{self.key(parts)}.json"
        if self.enabled and path.is_file():
            try:
                self.hits += 1
                return json.loads(path.read_text()), True
            except json.JSONDecodeError:
                self.hits -= 1  # a truncated file from an interrupted run: measure again
        self.misses += 1
        result = run()
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, default=str))
        tmp.replace(path)
        return result, False
