"""The optimised kernel variants on both simulated boards: small multi-layer models built with TensorFlow,
generated, built and run over the link. int8 equals the numpy reference and TFLite's interpreter bit for bit;
float32 stays within the stated tolerance. The models gather the edge cases: odd channel counts (3, 5, 7, 9,
11, 17), sizes that are no multiple of the blocking, SAME and VALID padding, stride 2, dilation 2, a depth
multiplier, average pools with and without padding, an explicit PAD, input zero points -128 and 127, relu and
relu6 clamps, fully-connected inputs with 1-3 left over.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.modelrun import ModelOptions, run_model

pytestmark = [needs_arm_gcc, needs_qemu, needs_tf, pytest.mark.sim]

BOARDS = ["nucleo-l476rg", "nucleo-h743zi"]


def conv1d_edges() -> Any:
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((23, 7), batch_size=1),
        layers.Conv1D(9, 5, strides=2, padding="same", activation="relu"),  # K 35: 9 chunks of 4
        layers.Conv1D(17, 3, padding="valid", activation="relu6"),  # K 27 -> 28
        layers.MaxPooling1D(2, padding="same"),  # 17 channels: 4 words and a byte
        layers.Conv1D(11, 2),  # K 34 -> 36
        layers.GlobalAveragePooling1D(),
        layers.Dense(5),  # 11 inputs: 2 chunks and 3 left over
    ])  # fmt: skip


def conv2d_edges() -> Any:
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((9, 8, 3), batch_size=1),
        layers.Conv2D(5, 3, strides=2, padding="same"),  # 2-D fields gathered, padding on two sides
        layers.Conv2D(9, (2, 3), padding="valid", activation="relu"),
        layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),  # gathered lanes: multiplier 2
        layers.AveragePooling2D((3, 2), strides=1, padding="same"),  # 18 channels: 4 words and 2 bytes
        layers.ZeroPadding2D(((1, 0), (2, 1))),  # PAD: 18-byte rows, borders of 36 and 18 bytes
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(13, activation="relu6"),  # 72 inputs, 13 outputs: a partial block of 4
    ])  # fmt: skip


def depthwise_edges() -> Any:
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((11, 9, 6), batch_size=1),
        layers.DepthwiseConv2D(3, padding="same", activation="relu"),  # 6 channels: a group of 4 and one of 2
        layers.Conv2D(20, 1),
        layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),  # 20: one-load groups
        layers.DepthwiseConv2D((2, 4), padding="valid"),  # not 3 wide: the general row loop
        layers.DepthwiseConv2D((5, 3), padding="same", activation="relu"),  # 5x2 map: every window padded
        layers.AveragePooling2D(2, strides=1),  # no padding: may overwrite its input
        layers.DepthwiseConv2D(1, depth_multiplier=3),  # 1x1, multiplier 3: 60 channels
        layers.GlobalAveragePooling2D(),
    ])  # fmt: skip


# name -> (builder, input shape, calibration range: its sign decides the input zero point)
MODELS: dict[str, tuple[Any, tuple[int, ...], tuple[float, float]]] = {
    "conv1d_edges": (conv1d_edges, (23, 7), (0.0, 1.0)),  # inputs >= 0: input zero point -128
    "conv2d_edges": (conv2d_edges, (9, 8, 3), (-1.0, 0.0)),  # inputs <= 0: input zero point 127
    "depthwise_edges": (depthwise_edges, (11, 9, 6), (-1.0, 0.5)),
}


@cache
def _model(key: str, int8: bool, directory: str) -> Path:
    import tensorflow as tf
    from tfmodels import convert

    if key == "conv2d_dilated":
        from test_reference_vs_tflite import MODELS as SINGLE
        from tflite_oracle import convert as convert_single

        build, shape = SINGLE["conv2d_raw_dil2_same_s21_relu"]  # one CONV_2D: dilation 2, stride (2, 1)
        path = Path(directory) / f"{key}_{'int8' if int8 else 'f32'}.tflite"
        path.write_bytes(convert_single(build(), shape, int8=int8, seed=5))
        return path
    make, shape, (lo, hi) = MODELS[key]
    tf.keras.utils.set_random_seed(11)
    calibration = np.random.default_rng(11).uniform(lo, hi, (32, *shape)).astype(np.float32)
    return convert(make(), Path(directory) / f"{key}_{'int8' if int8 else 'f32'}.tflite", int8, calibration)


def _run(
    tmp_path_factory: pytest.TempPathFactory, key: str, int8: bool, board: str, flash: str = "balanced"
) -> dict[str, Any]:
    model = _model(key, int8, str(tmp_path_factory.getbasetemp()))
    result = run_model(model, board, None, ModelOptions(whole=True, limit=2, flash=flash))
    assert result["outputs_match"] is True, result["first_mismatch"]
    assert result["matches_litert"] is True
    return result


# speed: the int16 weight forms (tl_*_s8_dsp); size: the int8 ones (tl_*_s8_dsp_w8)
FORMS = {"speed": "", "size": "_w8"}


@pytest.mark.parametrize("flash", list(FORMS))
@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("key", ["conv1d_edges", "conv2d_edges", "conv2d_dilated"])
def test_int8_variants_bit_exact(tmp_path_factory: pytest.TempPathFactory, key: str, board: str, flash: str) -> None:
    result = _run(tmp_path_factory, key, True, board, flash)
    form = FORMS[flash]
    kernels = {layer["kernel"] for layer in result["layers"]}
    inner = " ".join(layer["kernel_note"] for layer in result["layers"])  # a fused layer's kernels
    assert f"tl_conv2d_s8_dsp{form}" in kernels or f"conv: tl_conv2d_s8_dsp{form};" in inner
    if key != "conv2d_dilated":
        assert "tl_max_pool2d_s8_dsp" in kernels or "pool: tl_max_pool2d_s8_dsp" in inner
        # per-channel FULLY_CONNECTED rounds twice, as tflite-micro does: the DSP variant is the same arithmetic
        fc = next(layer for layer in result["layers"] if layer["kind"] == "FULLY_CONNECTED")
        assert fc["kernel"] == f"tl_fully_connected_s8_dsp{form}", fc["kernel_note"]
    if key == "conv2d_edges":
        assert f"tl_depthwise_conv2d_s8_dsp{form}" in kernels
        assert "tl_avg_pool2d_s8_dsp" in kernels
        assert "tl_pad_s8_dsp" in kernels


@pytest.mark.parametrize("flash", list(FORMS))
@pytest.mark.parametrize("board", BOARDS)
def test_int8_depthwise_variant_bit_exact(tmp_path_factory: pytest.TempPathFactory, board: str, flash: str) -> None:
    """Every DEPTHWISE_CONV_2D of a small model on the depthwise variant (both weight forms), equal to numpy and
    TFLite."""
    result = _run(tmp_path_factory, "depthwise_edges", True, board, flash)
    depthwise = [layer for layer in result["layers"] if layer["kind"] == "DEPTHWISE_CONV_2D"]
    assert len(depthwise) == 5
    function = f"tl_depthwise_conv2d_s8_dsp{FORMS[flash]}"
    assert all(layer["kernel"] == function for layer in depthwise), depthwise
    assert any(layer["kernel"] == "tl_avg_pool2d_s8_dsp" for layer in result["layers"])


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("key", ["conv1d_edges", "conv2d_edges"])
def test_f32_variants_within_tolerance(tmp_path_factory: pytest.TempPathFactory, key: str, board: str) -> None:
    result = _run(tmp_path_factory, key, False, board)
    kernels = {layer["kernel"] for layer in result["layers"]}
    assert {"tl_conv2d_f32_fpu", "tl_fully_connected_f32_fpu"} <= kernels


def test_reference_kernels_on_request(tmp_path_factory: pytest.TempPathFactory) -> None:
    """optimise=False keeps every layer on its reference kernel, with the same outputs."""
    model = _model("conv1d_edges", True, str(tmp_path_factory.getbasetemp()))
    result = run_model(model, "nucleo-l476rg", None, ModelOptions(whole=True, limit=2, optimise=False))
    assert result["outputs_match"] is True and result["kernels"] == "reference"
    assert all(not layer["kernel"].endswith(("_dsp", "_fpu")) for layer in result["layers"])
