"""The smartwatch shoulder-exercise set: recordings, fixed-length windows, splits by subject."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fetch import data_file

CLASSES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
CHANNELS = ("ax", "ay", "az", "wx", "wy", "wz")
RATE_HZ = 50


@dataclass(frozen=True, eq=False)
class Recording:
    data: np.ndarray  # (samples, 6) float32: accelerometer then gyroscope
    label: int
    subject: int
    side: int  # 1 right, 0 left
    index: int  # position in the data set (recording order)


def load_watch() -> list[Recording]:
    raw = np.load(data_file("watch_dataset.npy"), allow_pickle=True).item()
    return [
        Recording(np.asarray(x, dtype=np.float32), int(y), int(s), int(side), i)
        for i, (x, y, s, side) in enumerate(zip(raw["X"], raw["y"], raw["subject"], raw["side"], strict=True))
    ]


def windows(
    recordings: list[Recording], length: int = 100, stride: int = 50
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Windows of `length` samples every `stride` samples, in time order within each recording.

    Returns (x [n, length, 6] float32, labels [n], subjects [n], recording index [n])."""
    xs, ys, subjects, recs = [], [], [], []
    for r in recordings:
        for start in range(0, r.data.shape[0] - length + 1, stride):
            xs.append(r.data[start : start + length])
            ys.append(r.label)
            subjects.append(r.subject)
            recs.append(r.index)
    return (np.stack(xs).astype(np.float32), np.array(ys, np.int64), np.array(subjects, np.int64),
            np.array(recs, np.int64))  # fmt: skip


def split_by_subject(
    recordings: list[Recording], test_subjects: tuple[int, ...]
) -> tuple[list[Recording], list[Recording]]:
    train = [r for r in recordings if r.subject not in test_subjects]
    test = [r for r in recordings if r.subject in test_subjects]
    return train, test
