"""The search space: nanoNAS-style cells over 1-D time series (Conv1D) or 2-D inputs (Conv2D).

A candidate is the pair (k, c). The network starts with a convolution of k kernels (3 wide, or 3 x 3), batch
normalisation and ReLU, followed by a 2 (or 2 x 2) max pooling; then come c cells, each the same four layers
with n_i kernels; then global average pooling and a dense layer with one output per class (logits). The
kernel counts follow the seed's rule: n_0 = k and n_i = ceil((2 - sum_{j=1}^{i-1} 2^-j) * n_{i-1}), that is
n_i = ceil((1 + 2^-(i-1)) * n_{i-1}): doubled by the first cell, x1.5 by the second, x1.25 by the third...
Every pooling halves the time axis (both spatial axes for 2-D inputs), so the space ends where nothing is left
to pool (`max_cells`). Batch normalisation folds into the convolutions at conversion, so the int8 model is
convolutions, poolings, a MEAN and a FULLY_CONNECTED layer: what tinyodl's import and code generation take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

KERNEL = 3
POOL = 2


@dataclass(frozen=True, order=True)
class Candidate:
    k: int  # kernels of the first convolution
    c: int  # cells stacked after it

    def __post_init__(self) -> None:
        if self.k < 1 or self.c < 0:
            raise ValueError(f"a candidate needs k >= 1 and c >= 0, not ({self.k}, {self.c})")

    @property
    def name(self) -> str:
        return f"k{self.k}_c{self.c}"


def kernels(k: int, c: int) -> list[int]:
    """Kernel counts of the first convolution and of each of the c cells (exact rational arithmetic)."""
    counts = [k]
    for i in range(1, c + 1):
        factor = 2 - sum((Fraction(1, 2**j) for j in range(1, i)), Fraction(0))
        counts.append(math.ceil(factor * counts[-1]))
    return counts


def spatial(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes that pooling halves: (T,) of a (T, C) series, (H, W) of an (H, W, C) image."""
    if len(shape) == 2:
        return shape[:1]
    if len(shape) == 3:
        return shape[:2]
    raise ValueError(f"inputs of shape {shape}: the search space takes (T, C) series or (H, W, C) images")


def max_cells(shape: tuple[int, ...]) -> int:
    """Most cells whose pooling still has at least one sample (pixel) to reduce: the first block pools once,
    every cell once more; a length must stay >= 1 after all of them."""
    smallest = min(spatial(shape))
    pools = 0
    while smallest // POOL >= 1:
        smallest //= POOL
        pools += 1
    return max(0, pools - 1)


def build_model(cand: Candidate, shape: tuple[int, ...], classes: int) -> Any:
    """The candidate as a Keras model with deterministic layer names (weights from Keras' global seed)."""
    import tensorflow as tf

    layers = tf.keras.layers
    two_d = len(spatial(shape)) == 2
    conv = layers.Conv2D if two_d else layers.Conv1D
    pool = layers.MaxPooling2D if two_d else layers.MaxPooling1D
    gap = layers.GlobalAveragePooling2D if two_d else layers.GlobalAveragePooling1D
    inp = tf.keras.Input(shape, name="input")
    x = inp
    for i, n in enumerate(kernels(cand.k, cand.c)):
        x = conv(n, KERNEL, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        x = pool(POOL, name=f"pool{i}")(x)
    x = gap(name="gap")(x)
    out = layers.Dense(classes, name="logits")(x)
    return tf.keras.Model(inp, out, name=f"nas_{cand.name}")
