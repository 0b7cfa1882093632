"""Keras (.keras / .h5) -> TFLite -> IR.

The model is converted by TensorFlow's own TFLite converter, so the import is exactly what a TFLite user
would deploy: float32 without calibration data, full int8 (int8 input and output, per-channel weights) with
a calibration set. The batch is fixed to 1 before conversion, so Flatten/Reshape need no shape arithmetic.
The converted file is kept beside the build outputs (cache) so runs can compare with TFLite's interpreter.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..npz import read_windows
from .tflite import FrontendError


def _cache_dir() -> Path:
    env = os.environ.get("TINYODL_BUILD_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tinyodl"
    return base / "converted"


def load_calibration(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    return read_windows(path, shape, "calibration data", FrontendError).astype(np.float32)


def keras_to_tflite(path: Path, calibration: Path | None = None) -> Path:
    """Convert a Keras file; return the path of the .tflite written to the cache."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        raise FrontendError(f"{path}: importing Keras models needs TensorFlow: pip install 'tinyodl[tf]'") from None
    try:
        model: Any = tf.keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds of errors for a bad file
        raise FrontendError(f"{path}: not a loadable Keras model ({type(exc).__name__}: {exc})") from None
    if len(model.inputs) != 1:
        raise FrontendError(f"{path}: {len(model.inputs)} inputs; one input is supported")
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    calib = None if calibration is None else load_calibration(calibration, shape)

    inp = tf.keras.Input(shape, batch_size=1)
    fixed_batch = tf.keras.Model(inp, model(inp, training=False))
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed_batch)
    if calib is not None:

        def representative() -> Any:
            for i in range(len(calib)):
                yield [calib[i : i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Keras prints its export log on stdout (it would corrupt --json)
            blob = converter.convert()
    except Exception as exc:  # noqa: BLE001
        raise FrontendError(f"{path}: the TFLite converter failed: {str(exc).splitlines()[0]}") from None
    digest = hashlib.sha256(path.read_bytes() + (calib.tobytes() if calib is not None else b"")).hexdigest()[:12]
    out = _cache_dir() / f"{path.stem}-{'int8' if calib is not None else 'f32'}-{digest}.tflite"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return out
