"""Every kernel family on both simulated boards: single-op models, generated, built and run over the link;
int8 bit-exact with the numpy reference and TFLite's interpreter, float32 within the stated tolerance."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.modelrun import ModelOptions, run_model

pytestmark = [needs_arm_gcc, needs_qemu, needs_tf, pytest.mark.sim]

FAMILIES = [
    "conv2d_same_s2_relu",  # CONV_2D, stride 2, odd channels
    "conv2d_same_s21_none",  # CONV_2D, 2x3 kernel, stride (2, 1)
    "depthwise_m2_same_s2_relu",  # DEPTHWISE_CONV_2D, depth multiplier 2
    "dense_relu6",  # FULLY_CONNECTED
    "maxpool_same_k3_s2",  # MAX_POOL_2D
    "avgpool_same_k3_s2",  # AVERAGE_POOL_2D
    "gap2d",  # MEAN
    "add_relu",  # ADD
    "zeropad2d",  # PAD
]


@cache
def _model(key: str, int8: bool, directory: str) -> Path:
    from test_reference_vs_tflite import MODELS
    from tflite_oracle import convert

    build, shape = MODELS[key]
    path = Path(directory) / f"{key}_{'int8' if int8 else 'f32'}.tflite"
    path.write_bytes(convert(build(), shape, int8=int8, seed=7))
    return path


@pytest.mark.parametrize("board", ["nucleo-l476rg", "nucleo-h743zi"])
@pytest.mark.parametrize("key", FAMILIES)
def test_family_int8(tmp_path_factory: pytest.TempPathFactory, key: str, board: str) -> None:
    model = _model(key, True, str(tmp_path_factory.getbasetemp()))
    result = run_model(model, board, None, ModelOptions(whole=True, limit=2))
    assert result["outputs_match"] is True, result["first_mismatch"]
    assert result["matches_litert"] is True


@pytest.mark.parametrize("key", ["conv2d_same_s2_relu", "depthwise_m2_same_s2_relu", "dense_relu6", "add_relu"])
def test_family_f32(tmp_path_factory: pytest.TempPathFactory, key: str) -> None:
    model = _model(key, False, str(tmp_path_factory.getbasetemp()))
    result = run_model(model, "nucleo-h743zi", None, ModelOptions(whole=True, limit=2))
    assert result["outputs_match"] is True, result["first_mismatch"]
    assert result["matches_litert"] is True
