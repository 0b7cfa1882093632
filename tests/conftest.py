"""Shared fixtures: skip markers for missing tools, a build directory per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

needs_arm_gcc = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed (scripts/setup.sh)"
)
needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed (scripts/setup.sh)"
)


@pytest.fixture(scope="session", autouse=True)
def _private_build_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Firmware builds of the test session go to a temporary directory, not the user's cache."""
    import os

    os.environ["TINYODL_BUILD_DIR"] = str(tmp_path_factory.mktemp("builds"))
