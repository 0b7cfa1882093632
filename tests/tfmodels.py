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


def random_cnn(seed: int) -> Any:
    """A seeded random Conv1D/Conv2D/depthwise CNN over the supported ops, with odd channel counts, strides,
    dilation, SAME/VALID padding, relu/relu6/none, a residual ADD, zero padding and pooling."""
    import tensorflow as tf

    layers = tf.keras.layers
    rng = np.random.default_rng(seed)
    two_d = bool(rng.integers(2))
    shape = (int(rng.integers(6, 13)), int(rng.integers(6, 13)), int(rng.integers(1, 6))) if two_d else (
        int(rng.integers(24, 61)), int(rng.integers(1, 7)))  # fmt: skip
    inp = tf.keras.Input(shape, batch_size=1)
    x = inp
    conv = layers.Conv2D if two_d else layers.Conv1D
    act = lambda: [None, "relu", "relu6"][int(rng.integers(3))]  # noqa: E731
    for _ in range(int(rng.integers(2, 5))):
        choice = int(rng.integers(5))
        k = int(rng.integers(1, 4)) * 2 + 1
        if choice == 0 or choice == 4:
            filters, stride = int(rng.integers(3, 17)), int(rng.integers(1, 3))
            padding = ["same", "valid"][int(rng.integers(2))]
            x = conv(filters, k, strides=stride, padding=padding, activation=act())(x)
        elif choice == 1:
            dw = layers.DepthwiseConv2D if two_d else layers.DepthwiseConv1D
            x = dw(3, depth_multiplier=int(rng.integers(1, 3)), padding="same", dilation_rate=int(rng.integers(1, 3)),
                   activation=act())(x)  # fmt: skip
        elif choice == 2:
            y = conv(int(x.shape[-1]), 3, padding="same", activation=act())(x)
            x = layers.Add()([x, y])
        else:
            x = (layers.ZeroPadding2D(1) if two_d else layers.ZeroPadding1D(1))(x)
            pool = (
                [layers.MaxPooling2D, layers.AveragePooling2D]
                if two_d
                else [layers.MaxPooling1D, layers.AveragePooling1D]
            )
            x = pool[int(rng.integers(2))](2, padding="same")(x)  # fmt: skip
    x = (layers.GlobalAveragePooling2D() if two_d else layers.GlobalAveragePooling1D())(x)
    out = layers.Dense(int(rng.integers(2, 9)))(x)
    return tf.keras.Model(inp, out)
