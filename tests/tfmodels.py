"""Small Keras models converted by the real TFLite converter, for frontend and end-to-end tests.

Everything is seeded. Models are built once per test session (see the `tf_models` fixture in conftest).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def har_model(classes: int = 7) -> Any:
    """The reference HAR architecture of the project (SPEC section 7): about 1.12 M MACs."""
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential(
        [
            tf.keras.Input((100, 6)),
            layers.Conv1D(32, 5, padding="same", activation="relu"),
            layers.Conv1D(32, 5, padding="same", activation="relu"),
            layers.MaxPooling1D(2),
            layers.Conv1D(64, 5, padding="same", activation="relu"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(classes),
        ]
    )


def convert(model: Any, path: Path, int8: bool, calibration: np.ndarray | None = None, seed: int = 0) -> Path:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        data = calibration
        if data is None:
            shape = tuple(int(d) for d in model.inputs[0].shape[1:])
            data = np.random.default_rng(seed).standard_normal((32, *shape)).astype(np.float32)

        def representative() -> Any:
            for i in range(len(data)):
                yield [data[i : i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


def build(directory: Path, name: str, make: Callable[[], Any], int8: bool, seed: int = 0) -> Path:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    return convert(make(), directory / f"{name}_{'int8' if int8 else 'f32'}.tflite", int8, seed=seed)
