"""Labelled window streams for learning: the built-in sets and a user's own .npz, in one form.

A user's file (`--data FILE.npz`) holds:
- `x`: (N, T, C) float32 windows, in time order within each recording;
- `y`: (N,) integer labels, 0..254;
- `group` (optional): (N,) recording ids; windows of one recording share it (the new-recording protocol
  needs it);
- `subject` (optional): (N,) user ids; each held-out user is learned from nothing;
- `classes` (optional): class names.
Without `subject` every window belongs to one user; without `group` each window is its own recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from ..errors import TinyodlError


@dataclass(frozen=True)
class Labelled:
    name: str
    x: np.ndarray  # (N, T, C) float32
    y: np.ndarray  # (N,) int64
    group: np.ndarray  # (N,) recording ids
    subject: np.ndarray  # (N,) user ids
    classes: tuple[str, ...]
    test_subjects: tuple[int, ...]  # the users learned from nothing; the others may calibrate and train

    def select(self, mask: np.ndarray) -> Labelled:
        return Labelled(self.name, self.x[mask], self.y[mask], self.group[mask], self.subject[mask], self.classes,
                        self.test_subjects)  # fmt: skip

    @property
    def learning(self) -> Labelled:
        return self.select(np.isin(self.subject, self.test_subjects))

    @property
    def others(self) -> Labelled:
        return self.select(~np.isin(self.subject, self.test_subjects))


WATCH_TEST_SUBJECTS = (9, 10)  # as examples/har/train.py holds them out


def watch() -> Labelled:
    from .watch import CLASSES, load_watch, windows

    recordings = load_watch()
    x, y, subject, group = windows(recordings, 100, 50)
    return Labelled("watch", x, y, group, subject, CLASSES, WATCH_TEST_SUBJECTS)


def basicmotions() -> Labelled:
    from .basicmotions import load_basicmotions

    data = load_basicmotions()
    xtr, ytr = cast(tuple[np.ndarray, np.ndarray], data["train"])
    xte, yte = cast(tuple[np.ndarray, np.ndarray], data["test"])
    x = np.concatenate([xtr, xte]).astype(np.float32)
    y = np.concatenate([ytr, yte]).astype(np.int64)
    n = len(y)
    subject = np.concatenate([np.zeros(len(ytr), np.int64), np.ones(len(yte), np.int64)])
    labels = cast(tuple[str, ...], data["labels"])
    return Labelled("basicmotions", x, y, np.arange(n, dtype=np.int64), subject, tuple(labels), (1,))


def from_npz(path: Path) -> Labelled:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise TinyodlError(f"{path}: cannot read labelled windows: {exc}") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise TinyodlError(f"{path}: no array {key!r} (arrays: {', '.join(arrays) or 'none'}); see docs/learn.md")
    x, y = np.asarray(arrays["x"]), np.asarray(arrays["y"])
    if x.ndim != 3 or len(y) != len(x) or y.ndim != 1:
        raise TinyodlError(f"{path}: need x (N, T, C) and y (N,); got x {x.shape}, y {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 254:
        raise TinyodlError(f"{path}: labels y must be integers 0..254")
    if not np.all(np.isfinite(x)):
        raise TinyodlError(f"{path}: x holds NaN or infinite values")
    n = len(y)
    group = np.asarray(arrays.get("group", np.arange(n)), np.int64)
    subject = np.asarray(arrays.get("subject", np.zeros(n)), np.int64)
    if group.shape != (n,) or subject.shape != (n,):
        raise TinyodlError(f"{path}: group and subject must have one entry per window ({n})")
    classes = tuple(str(c) for c in arrays["classes"]) if "classes" in arrays else tuple(
        str(c) for c in range(int(y.max()) + 1))  # fmt: skip
    users = sorted(set(subject.tolist()))
    test = tuple(users[len(users) // 2 :]) if len(users) > 1 else tuple(users)
    return Labelled(path.stem, x.astype(np.float32), y.astype(np.int64), group, subject, classes, test)


def load_labelled(spec: str) -> Labelled:
    """`watch`, `basicmotions`, or the path of a .npz (see the module's description)."""
    if spec == "watch":
        return watch()
    if spec == "basicmotions":
        return basicmotions()
    path = Path(spec)
    if path.suffix != ".npz" or not path.is_file():
        raise TinyodlError(f"--data {spec}: not 'watch', 'basicmotions' or an existing .npz file")
    return from_npz(path)
