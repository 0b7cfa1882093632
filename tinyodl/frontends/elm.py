"""Extreme-learning-machine extractors: a CNN with random frozen weights from a fixed seed.

The architecture is a comma-separated list of layers, for example (the reference HAR extractor):

    conv1d:32:5,conv1d:32:5,maxpool:2,conv1d:64:5,gap

| layer | meaning |
|---|---|
| `conv1d:F:K[:S]` / `conv2d:F:K[:S]` | F filters, kernel K, stride S (default 1), SAME padding, ReLU |
| `dwconv1d:K[:M]` / `dwconv2d:K[:M]` | depthwise, kernel K, depth multiplier M (default 1), SAME, ReLU |
| `maxpool:P` / `avgpool:P` | pooling by P |
| `gap` | global average pooling (the feature vector) |

Weights are He-uniform from the seed, biases zero. The model is saved as a Keras file and imported like any
other Keras model (float32, or int8 with calibration inputs: a seeded standard-normal set when none is given).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from .tflite import FrontendError

GRAMMAR = "conv1d:F:K[:S], conv2d:F:K[:S], dwconv1d:K[:M], dwconv2d:K[:M], maxpool:P, avgpool:P, gap"


def _ints(layer: str, parts: list[str], n_min: int, n_max: int) -> list[int]:
    if not n_min <= len(parts) <= n_max:
        raise FrontendError(f"ELM layer {layer!r}: expected {n_min} to {n_max} numbers; layers: {GRAMMAR}")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise FrontendError(f"ELM layer {layer!r}: not a number; layers: {GRAMMAR}") from None
    if any(v < 1 for v in values):
        raise FrontendError(f"ELM layer {layer!r}: numbers must be >= 1")
    return values


def build_elm(arch: str, input_shape: tuple[int, ...], seed: int) -> Any:
    """The Keras model of an ELM architecture string."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        raise FrontendError("ELM extractors are built with TensorFlow: pip install 'tinyodl[tf]'") from None
    layers = tf.keras.layers
    tf.keras.utils.set_random_seed(seed)
    init = tf.keras.initializers.HeUniform(seed=seed)
    stack: list[Any] = []
    for i, spec in enumerate(s.strip() for s in arch.split(",")):
        name, *parts = spec.split(":")
        if name in ("conv1d", "conv2d"):
            f, k, *s = _ints(spec, parts, 2, 3)
            conv = layers.Conv1D if name == "conv1d" else layers.Conv2D
            stack.append(conv(f, k, strides=s[0] if s else 1, padding="same", activation="relu",
                              kernel_initializer=init, name=f"elm_{i}_{name}"))  # fmt: skip
        elif name in ("dwconv1d", "dwconv2d"):
            k, *m = _ints(spec, parts, 1, 2)
            dw = layers.DepthwiseConv1D if name == "dwconv1d" else layers.DepthwiseConv2D
            stack.append(dw(k, depth_multiplier=m[0] if m else 1, padding="same", activation="relu",
                            depthwise_initializer=init, name=f"elm_{i}_{name}"))  # fmt: skip
        elif name in ("maxpool", "avgpool"):
            (p,) = _ints(spec, parts, 1, 1)
            one_d = len(input_shape) == 2
            pool = {
                ("maxpool", True): layers.MaxPooling1D, ("maxpool", False): layers.MaxPooling2D,
                ("avgpool", True): layers.AveragePooling1D, ("avgpool", False): layers.AveragePooling2D,
            }[(name, one_d)]  # fmt: skip
            stack.append(pool(p, name=f"elm_{i}_{name}"))
        elif name == "gap" and not parts:
            stack.append((layers.GlobalAveragePooling1D if len(input_shape) == 2 else layers.GlobalAveragePooling2D)(
                name=f"elm_{i}_gap"))  # fmt: skip
        else:
            raise FrontendError(f"unknown ELM layer {spec!r}; layers: {GRAMMAR}")
    if not stack:
        raise FrontendError(f"empty ELM architecture; layers: {GRAMMAR}")
    try:
        return tf.keras.Sequential([tf.keras.Input(input_shape, batch_size=1), *stack], name="elm")
    except ValueError as exc:
        raise FrontendError(f"ELM architecture {arch!r} does not fit input {input_shape}: {exc}") from None


def elm_keras_file(arch: str, input_shape: tuple[int, ...], seed: int, directory: Path) -> Path:
    """Build and save the ELM model; the file name carries the architecture's hash and the seed."""
    digest = hashlib.sha256(f"{arch}|{input_shape}|{seed}".encode()).hexdigest()[:10]
    path = directory / f"elm-{digest}-seed{seed}.keras"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        build_elm(arch, input_shape, seed).save(path)
    return path


def default_calibration(input_shape: tuple[int, ...], seed: int, directory: Path, n: int = 64) -> Path:
    path = directory / f"elm-calibration-{'x'.join(map(str, input_shape))}-seed{seed}.npz"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=np.random.default_rng(seed).standard_normal((n, *input_shape)).astype(np.float32))
    return path


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise FrontendError(f"input shape {text!r}: expected numbers like 100,6") from None
    if len(shape) not in (2, 3) or any(v < 1 for v in shape):
        raise FrontendError(f"input shape {text!r}: expected (length, channels) or (height, width, channels)")
    return shape
