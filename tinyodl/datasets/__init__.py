"""Real data sets, taken out of pinned package distributions (never installed, never committed).

- `load_watch()`: the smartwatch shoulder-exercise IMU set shipped in seglearn 1.2.5 (6 channels at 50 Hz,
  140 recordings, 7 classes, 10 subjects).
- `load_basicmotions()`: the UEA BasicMotions set shipped in sktime 1.2.0 (6 x 100, 4 classes, 80 cases).
"""

from .basicmotions import load_basicmotions
from .fetch import DataError, data_file
from .watch import Recording, load_watch, split_by_subject, windows

__all__ = ["DataError", "Recording", "data_file", "load_basicmotions", "load_watch", "split_by_subject", "windows"]
