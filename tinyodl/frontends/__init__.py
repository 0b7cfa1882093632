"""Framework -> IR. The only place that imports model formats' libraries (tflite, tensorflow)."""

from __future__ import annotations

from pathlib import Path

from ..ir import Graph
from .tflite import FrontendError


def load_model(path: str | Path) -> Graph:
    """Import a model file by its format: .tflite now; Keras files are converted through TFLite."""
    p = Path(path)
    if not p.exists():
        raise FrontendError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".tflite":
        from .tflite import load_tflite

        return load_tflite(p)
    raise FrontendError(f"{p}: unknown model format {suffix or '(no extension)'}; supported: .tflite")


__all__ = ["FrontendError", "load_model"]
