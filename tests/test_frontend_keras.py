"""Keras import: through TFLite's converter with a fixed batch (float32, or int8 with calibration data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.frontends import FrontendError, load_model
from tinyodl.ir import DType, FullyConnected

pytestmark = needs_tf


@pytest.fixture(scope="module")
def flatten_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    stack = [layers.Conv1D(8, 3, activation="relu"), layers.MaxPooling1D(2), layers.Flatten(),
             layers.Dense(16, activation="relu"), layers.Dense(4)]  # fmt: skip
    model = tf.keras.Sequential([tf.keras.Input((20, 3)), *stack])
    path = tmp_path_factory.mktemp("keras") / "flat.keras"
    model.save(path)
    return path


def test_keras_float32(flatten_model: Path) -> None:
    g = load_model(flatten_model)  # Flatten with a dynamic batch would need SHAPE ops: the batch is fixed to 1
    assert g.tensors[g.inputs[0]].dtype is DType.FLOAT32 and g.tensors[g.inputs[0]].shape == (1, 20, 3)
    assert sum(isinstance(op, FullyConnected) for op in g.ops) == 2
    assert g.source.startswith("flat.keras via TFLite (")


def test_keras_int8_with_calibration(flatten_model: Path, tmp_path: Path) -> None:
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(0).standard_normal((16, 20, 3)).astype(np.float32))
    g = load_model(flatten_model, calib)
    x = g.tensors[g.inputs[0]]
    assert x.dtype is DType.INT8 and x.quant is not None


def test_bad_calibration(flatten_model: Path, tmp_path: Path) -> None:
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.zeros((5, 7), np.float32))
    with pytest.raises(FrontendError, match=r"calib.npz: calibration data \(5, 7\) is not a whole number of \(20, 3\)"):
        load_model(flatten_model, calib)


def test_not_a_keras_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.keras"
    path.write_bytes(b"PK\x03\x04 this is not a keras archive")
    with pytest.raises(FrontendError, match="broken.keras: not a loadable Keras model"):
        load_model(path)


def test_calibration_is_for_keras_only(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FrontendError, match="--calibration applies to Keras models"):
        load_model(har_tflite["int8"], tmp_path / "c.npz")


@needs_arm_gcc
@needs_qemu
@pytest.mark.sim
def test_keras_model_runs_bit_exact(flatten_model: Path, tmp_path: Path) -> None:
    from tinyodl.modelrun import ModelOptions, run_model

    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(1).standard_normal((32, 20, 3)).astype(np.float32))
    result = run_model(flatten_model, "nucleo-l476rg", calib, ModelOptions(whole=True, limit=4, calibration=calib))
    assert result["outputs_match"] is True and result["matches_litert"] is True
    assert [layer["kind"] for layer in result["layers"]][-2:] == ["FULLY_CONNECTED", "FULLY_CONNECTED"]
