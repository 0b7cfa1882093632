"""`pip install .` gives a working tinyodl outside the checkout: the data directories are in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_data_and_runs_outside_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (wheel,) = wheels.glob("tinyodl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "tinyodl/_data/boards/nucleo-l476rg.yaml",
        "tinyodl/_data/boards/nucleo-h743zi.yaml",
        "tinyodl/_data/templates/link.ld.j2",
        "tinyodl/_data/firmware/runtime/startup.c",
        "tinyodl/_data/firmware/link/tl_link.c",
        "tinyodl/_data/firmware/apps/selftest/main.c",
    ):
        assert required in names, required
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    script = "import tinyodl.resources as r, tinyodl.cli as c; print(r.data_root()); c.main(['boards', '--json'])"
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == str(target / "tinyodl" / "_data")
    assert '"name": "nucleo-l476rg"' in out.stdout
