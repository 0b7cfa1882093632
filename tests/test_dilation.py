"""Dilated convolutions as Keras exports them with a dynamic batch (SPACE_TO_BATCH_ND + conv +
BATCH_TO_SPACE_ND, then the bias as a per-channel ADD or a stand-alone RELU): imported as one dilated
convolution (passes.dilate), generated, and run bit-exact with LiteRT on both simulated boards.

tflite-micro is no reference for such a file: it runs the file's static shapes, and SPACE_TO_BATCH_ND's
output is declared with batch 1 where the phases need block-size batches, so it convolves one phase only.
The run says so and its verdict follows LiteRT."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinyodl.frontends.tflite import load_tflite
from tinyodl.ir import BatchToSpace, Conv2D, DepthwiseConv2D, SpaceToBatch
from tinyodl.modelrun import ModelOptions, run_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow", reason="tensorflow not installed (pip install -e .[tf])")

BOARDS = ("nucleo-l476rg", "nucleo-h743zi")


def _bias() -> Any:
    return tf.keras.initializers.RandomUniform(-0.3, 0.3, seed=7)


def _conv1d() -> Any:
    """Two dilated Conv1D (SAME with bias and relu: an ADD with the activation; VALID without bias: a
    stand-alone RELU), Flatten, Dense: dynamic batch, so Flatten's shape arithmetic is folded too."""
    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((40, 3)),
        layers.Conv1D(8, 3, dilation_rate=2, padding="same", activation="relu", bias_initializer=_bias()),
        layers.Conv1D(6, 3, dilation_rate=3, activation="relu", use_bias=False),
        layers.Flatten(),
        layers.Dense(5),
    ])  # fmt: skip


def _conv2d() -> Any:
    """A dilated Conv2D (relu6), a depthwise one dilated along rows only, a global pool."""
    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((12, 11, 2)),
        layers.Conv2D(8, 3, dilation_rate=2, padding="same", activation="relu6", bias_initializer=_bias()),
        layers.DepthwiseConv2D(3, dilation_rate=(2, 1), bias_initializer=_bias()),
        layers.GlobalAveragePooling2D(),
        layers.Dense(4),
    ])  # fmt: skip


MODELS: dict[str, Callable[[], Any]] = {"conv1d": _conv1d, "conv2d": _conv2d}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], Path]:
    from tfmodels import convert

    directory = tmp_path_factory.mktemp("dilated")
    out = {}
    for key, make in MODELS.items():
        tf.keras.utils.set_random_seed(1)
        model = make()
        for int8 in (True, False):
            out[(key, int8)] = convert(model, directory / f"{key}_{'int8' if int8 else 'f32'}.tflite", int8, seed=3)
    return out


@pytest.mark.parametrize("key", sorted(MODELS))
def test_the_pattern_becomes_one_dilated_convolution(exported: dict[tuple[str, bool], Path], key: str) -> None:
    import tflite

    raw = tflite.Model.GetRootAsModel(exported[(key, True)].read_bytes(), 0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if isinstance(v, int)}
    sg = raw.Subgraphs(0)
    kinds = [names[raw.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode()] for i in range(sg.OperatorsLength())]
    assert "SPACE_TO_BATCH_ND" in kinds and "BATCH_TO_SPACE_ND" in kinds  # what the converter wrote
    graph = load_tflite(exported[(key, True)])
    assert not any(isinstance(op, SpaceToBatch | BatchToSpace) for op in graph.ops)
    convs = [op for op in graph.ops if isinstance(op, Conv2D | DepthwiseConv2D)]
    if key == "conv1d":
        assert [(op.dilation, op.padding.value) for op in convs] == [((1, 2), "same"), ((1, 3), "valid")]
        assert [op.kind for op in graph.ops if op.kind in ("ADD", "RELU")] == ["ADD", "RELU"]
    else:
        assert [(op.kind, op.dilation) for op in convs] == [("CONV_2D", (2, 2)), ("DEPTHWISE_CONV_2D", (2, 1))]


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("key", sorted(MODELS))
def test_dilated_int8_bit_exact_on_the_board(exported: dict[tuple[str, bool], Path], key: str, board: str) -> None:
    result = run_model(exported[(key, True)], board, None, ModelOptions(whole=True, limit=3))
    assert result["outputs_match"] is True, result["first_mismatch"]
    assert result["matches_litert"] is True and result["passed"] is True
    assert result["matches_tflite_micro"] is None
    assert "SPACE_TO_BATCH_ND" in result["oracle_notes"]["tflite_micro"]
    assert result["verdict"].startswith("verdict: pass: the device equals the numpy reference and LiteRT")
    kernels = {layer["kernel"] for layer in result["layers"]}
    assert "tl_conv2d_s8_dsp" in kernels or any(
        "tl_conv2d_s8_dsp" in layer["kernel_note"] for layer in result["layers"]
    )
    if key == "conv1d":
        assert {"tl_add_const_s8", "tl_relu_s8"} <= kernels


def test_dilated_f32_on_the_board(exported: dict[tuple[str, bool], Path]) -> None:
    result = run_model(exported[("conv1d", False)], "nucleo-l476rg", None, ModelOptions(whole=True, limit=2))
    assert result["outputs_match"] is True and result["matches_litert"] is True and result["passed"] is True
    assert {"tl_add_const_f32", "tl_relu_f32"} <= {layer["kernel"] for layer in result["layers"]}


def test_the_static_shape_problem_is_what_tflite_micro_shows(
    exported: dict[tuple[str, bool], Path], har_tflite: dict[str, Path]
) -> None:
    """The reason given is the real one: tflite-micro's SPACE_TO_BATCH_ND output holds the first phase only,
    equal to LiteRT's first batch of it."""
    import tflite

    from tinyodl.frontends.oracle import TFLiteOracle, TFLMOracle, static_shape_problem

    path = exported[("conv2d", False)]
    assert static_shape_problem(path) is not None
    sg = tflite.Model.GetRootAsModel(path.read_bytes(), 0).Subgraphs(0)
    phases = sg.Tensors(int(sg.Operators(0).OutputsAsNumpy()[0])).Name().decode()
    x = np.random.default_rng(0).standard_normal((1, 1, 12, 11, 2)).astype(np.float32)
    micro = TFLMOracle(path).run_batch(x, [phases])[phases]
    lite = TFLiteOracle(path).run_batch(x, [phases])[phases]
    assert micro.shape[1] == 1 and lite.shape[1] == 4
    np.testing.assert_array_equal(micro[0, 0], lite[0, 0])
    assert static_shape_problem(har_tflite["int8"]) is None  # a fixed-batch export: tflite-micro is the oracle
