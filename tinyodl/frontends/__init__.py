"""Framework -> IR. The only place that imports model formats' libraries (tflite, tensorflow, litert)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..ir import Graph
from .tflite import FrontendError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def resolve_tflite(path: str | Path, calibration: str | Path | None = None) -> Path:
    """The .tflite file for a model file: itself, or a Keras model converted by TFLite's converter
    (int8 when a calibration set is given, float32 otherwise)."""
    p = Path(path)
    if not p.exists():
        raise FrontendError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".tflite":
        if calibration is not None:
            raise FrontendError(f"{p}: a .tflite model is already converted; --calibration applies to Keras models")
        return p
    if suffix in KERAS_SUFFIXES:
        from .keras import keras_to_tflite

        return keras_to_tflite(p, None if calibration is None else Path(calibration))
    raise FrontendError(
        f"{p}: unknown model format {suffix or '(no extension)'}; supported: .tflite, {', '.join(KERAS_SUFFIXES)}"
    )


def load_model(path: str | Path, calibration: str | Path | None = None) -> Graph:
    """Import a model file (.tflite, or Keras through TFLite's converter) into the IR."""
    from .tflite import load_tflite

    p = Path(path)
    tfl = resolve_tflite(p, calibration)
    graph = load_tflite(tfl)
    if tfl != p:
        graph = replace(graph, name=p.stem, source=f"{p.name} via TFLite ({graph.source})")
    return graph


__all__ = ["FrontendError", "KERAS_SUFFIXES", "load_model", "resolve_tflite"]
