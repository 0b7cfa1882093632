"""The TFLite frontend on what the real converter emits, and on bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_tf

from tinyodl.frontends import FrontendError, load_model
from tinyodl.ir import Conv2D, DType, FullyConnected, MaxPool2D, Mean, Reshape
from tinyodl.passes import cut_at_features, plan_memory

HAR_KINDS = [Reshape, Conv2D, Reshape, Reshape, Conv2D, Reshape, Reshape, MaxPool2D, Reshape, Reshape, Conv2D,
             Reshape, Mean, FullyConnected]  # fmt: skip


@needs_tf
@pytest.mark.parametrize("kind", ["int8", "f32"])
def test_har_model_imports(har_tflite: dict[str, Path], kind: str) -> None:
    g = load_model(har_tflite[kind])
    assert [type(op) for op in g.ops] == HAR_KINDS  # Conv1D = EXPAND_DIMS + CONV_2D + RESHAPE
    assert g.macc() == 1_120_448
    conv = g.ops[1]
    w = g.tensors[conv.inputs[1]]
    assert w.shape == (32, 1, 5, 6) and w.is_constant
    dtype = DType.INT8 if kind == "int8" else DType.FLOAT32
    assert g.tensors[g.inputs[0]].dtype is dtype
    if kind == "int8":
        assert w.quant is not None and w.quant.per_channel and w.quant.axis == 0
        assert set(w.quant.zero_point) == {0}
    features = cut_at_features(g)
    assert isinstance(features.ops[-1], Mean) and features.tensors[features.outputs[0]].shape == (1, 64)
    assert features.macc() == 1_120_000
    plan = plan_memory(features)
    assert plan.arena_bytes == (6400 if kind == "int8" else 25600)  # two live 100x32 tensors


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x01")
    with pytest.raises(FrontendError, match=r"model.onnx: unknown model format .onnx; supported: .tflite"):
        load_model(path)


def test_not_a_flatbuffer(tmp_path: Path) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(b"not a model at all")
    with pytest.raises(FrontendError, match="not a TFLite flatbuffer"):
        load_model(path)


@needs_tf
def test_corrupt_file(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    data = har_tflite["int8"].read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(FrontendError, match="cut.tflite: corrupt TFLite model"):
        load_model(path)
    rng = np.random.default_rng(0)
    garbled = bytearray(data)
    for i in rng.integers(8, len(data), 400):
        garbled[i] ^= 0xFF
    path.write_bytes(bytes(garbled))
    try:
        load_model(path)  # a flip may land in weights only; then the model still imports
    except FrontendError as exc:
        assert str(exc).startswith(str(path))


@needs_tf
def test_unsupported_op_is_named(tmp_path: Path) -> None:
    import tensorflow as tf
    from tfmodels import convert

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((8, 3)), tf.keras.layers.Conv1D(4, 3, activation="tanh")])
    path = convert(model, tmp_path / "tanh.tflite", int8=False)
    with pytest.raises(FrontendError) as info:
        load_model(path)
    message = str(info.value)
    assert "(TANH) is not supported; supported: ADD, AVERAGE_POOL_2D, CONV_2D" in message
    proc = subprocess.run([sys.executable, "-m", "tinyodl.cli", "inspect", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"tinyodl: error: {message}"]


@needs_tf
def test_inspect_json(har_tflite: dict[str, Path]) -> None:
    import json

    proc = subprocess.run(
        [sys.executable, "-m", "tinyodl.cli", "inspect", str(har_tflite["int8"]), "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["macc"] == 1_120_000 and info["arena_bytes"] == 4800  # fused: 100x32 and 50x32 live, not 2 x 100x32
    assert info["features"]["shape"] == [1, 64]
    assert [layer["kind"] for layer in info["layers"]] == ["CONV_2D", "CONV_POOL", "CONV_2D", "MEAN"]
