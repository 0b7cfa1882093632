"""Shared fixtures: skip markers for missing tools, a build directory per test session."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tinyodl import cmsisnn
from tinyodl.sim import renode

ROOT = Path(__file__).resolve().parents[1]

needs_arm_gcc = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed (scripts/setup.sh)"
)
needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed (scripts/setup.sh)"
)

# Renode: $TINYODL_RENODE, `renode` on PATH, or the checkout's .tools/renode (scripts/setup.sh --renode)
needs_renode = pytest.mark.skipif(
    shutil.which(renode.renode_binary()) is None,
    reason="no Renode: not on PATH, no TINYODL_RENODE, no scripts/setup.sh --renode TARBALL (see docs/renode.md)",
)
_ROBOT = renode.renode_test()
needs_renode_test = pytest.mark.skipif(not _ROBOT.ready, reason=_ROBOT.reason)

# CMSIS-NN's sources: --cmsis-nn DIR, $TINYODL_CMSIS_NN or the checkout's .tools/cmsis-nn (setup.sh --cmsis-nn)
_CMSIS_NN_MISSING = cmsisnn.missing_reason()
needs_cmsis_nn = pytest.mark.skipif(_CMSIS_NN_MISSING is not None, reason=_CMSIS_NN_MISSING or "")


def run_robot(suite: str, tmp_path: Path, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`renode-test renode/tests/SUITE` with --variable NAME:VALUE for each variable, results in tmp_path."""
    argv = _ROBOT.command(ROOT / "renode" / "tests" / suite, tmp_path / "results", variables)
    env = {**_ROBOT.env, "TMPDIR": str(tmp_path)}
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)


@pytest.fixture(scope="session", autouse=True)
def _private_build_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Firmware builds of the test session go to a temporary directory, not the user's cache."""
    import os

    os.environ["TINYODL_BUILD_DIR"] = str(tmp_path_factory.mktemp("builds"))


def _have_tf() -> bool:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


needs_tf = pytest.mark.skipif(not _have_tf(), reason="tensorflow not installed (scripts/setup.sh --test)")


@pytest.fixture(scope="session")
def har_tflite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The reference HAR architecture, int8 and float32, converted once per session."""
    if not _have_tf():
        pytest.skip("tensorflow not installed (scripts/setup.sh --test)")
    from tfmodels import build, har_model

    directory = tmp_path_factory.mktemp("har")
    return {kind: build(directory, "har", har_model, int8=kind == "int8") for kind in ("int8", "f32")}
