"""ELM extractors: random frozen weights from a seed, architecture strings, and their runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.frontends import FrontendError
from tinyodl.frontends.elm import elm_keras_file, parse_shape

pytestmark = needs_tf
ARCH = "conv1d:8:3,dwconv1d:3:2,maxpool:2,conv1d:12:3:2,gap"


def test_grammar_errors(tmp_path: Path) -> None:
    with pytest.raises(FrontendError, match="unknown ELM layer 'lstm:4'; layers: conv1d:F:K"):
        elm_keras_file("conv1d:8:3,lstm:4", (20, 3), 0, tmp_path)
    with pytest.raises(FrontendError, match="expected 2 to 3 numbers"):
        elm_keras_file("conv1d:8", (20, 3), 0, tmp_path)
    with pytest.raises(FrontendError, match="not a number"):
        elm_keras_file("conv1d:8:x", (20, 3), 0, tmp_path)
    with pytest.raises(FrontendError, match="expected numbers like 100,6"):
        parse_shape("100,six")


def test_seed_fixes_the_weights(tmp_path: Path) -> None:
    import numpy as np
    import tensorflow as tf

    a = tf.keras.models.load_model(elm_keras_file(ARCH, (20, 3), 5, tmp_path / "a"))
    b = tf.keras.models.load_model(elm_keras_file(ARCH, (20, 3), 5, tmp_path / "b"))
    c = tf.keras.models.load_model(elm_keras_file(ARCH, (20, 3), 6, tmp_path / "c"))
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyodl.cli", *args], capture_output=True, text=True, timeout=600)


def test_inspect_elm() -> None:
    proc = _cli("inspect", "--elm", ARCH, "--input-shape", "20,3", "--seed", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    kinds = [layer["kind"] for layer in info["layers"]]
    assert kinds == ["CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "CONV_2D", "MEAN"]
    assert info["features"]["shape"] == [1, 12] and info["features"]["dtype"] == "int8"


def test_elm_needs_input_shape() -> None:
    proc = _cli("inspect", "--elm", ARCH)
    assert proc.returncode == 2 and "--elm needs --input-shape" in proc.stderr and "Traceback" not in proc.stderr


@needs_arm_gcc
@needs_qemu
@pytest.mark.sim
@pytest.mark.parametrize(("board", "dtype"), [("nucleo-h743zi", "int8"), ("nucleo-l476rg", "f32")])
def test_elm_runs(board: str, dtype: str) -> None:
    proc = _cli("run", "--elm", ARCH, "--input-shape", "20,3", "--seed", "2", "--dtype", dtype, "--board", board,
                "--limit", "3", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["outputs_match"] is True and result["matches_litert"] is True
    assert result["features"]["dtype"] == ("int8" if dtype == "int8" else "float32")
