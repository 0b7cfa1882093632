"""BasicMotions (UEA archive): parse the .ts text format (header lines '@...', then one case per line:
dimensions separated by ':', values by ',', the class label last)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fetch import DataError, data_file


def parse_ts(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    labels: tuple[str, ...] = ()
    xs: list[np.ndarray] = []
    ys: list[str] = []
    in_data = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@classlabel"):
                labels = tuple(line.split()[2:])
            elif low == "@data":
                in_data = True
            continue
        *dims, label = line.split(":")
        try:
            xs.append(np.array([[float(v) for v in d.split(",")] for d in dims], dtype=np.float32))
        except ValueError:
            raise DataError(f"{path}:{number}: not a numeric series") from None
        ys.append(label)
    if not labels or not xs:
        raise DataError(f"{path}: no class labels or no data")
    x = np.stack(xs)  # (cases, dimensions, length)
    y = np.array([labels.index(v) for v in ys], dtype=np.int64)
    return x, y, labels


def load_basicmotions() -> dict[str, object]:
    """{'train': (x, y), 'test': (x, y), 'labels': names}; x is (cases, 100, 6) float32 (time, channel)."""
    xtr, ytr, labels = parse_ts(data_file("BasicMotions_TRAIN.ts"))
    xte, yte, _ = parse_ts(data_file("BasicMotions_TEST.ts"))
    return {
        "train": (np.ascontiguousarray(xtr.transpose(0, 2, 1)), ytr),
        "test": (np.ascontiguousarray(xte.transpose(0, 2, 1)), yte),
        "labels": labels,
    }
