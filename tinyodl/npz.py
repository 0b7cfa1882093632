"""Reading input windows from .npz files (model inputs, calibration sets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import TinyodlError


def read_windows(path: Path, shape: tuple[int, ...], what: str, error: type[TinyodlError] = TinyodlError) -> np.ndarray:
    """The array 'x' (or the file's only array) as whole windows of `shape`: [n, *shape]."""
    try:
        with np.load(path) as data:
            keys = list(data.keys())
            x = data["x"] if "x" in keys else data[keys[0]] if len(keys) == 1 else None
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None
    if x is None:
        raise error(f"{path}: no array named 'x' (arrays: {', '.join(keys)})")
    x = np.asarray(x)
    per = int(np.prod(shape))
    if x.size == 0 or x.size % per:
        raise error(f"{path}: {what} {x.shape} is not a whole number of {shape} inputs")
    return x.reshape(-1, *shape)
