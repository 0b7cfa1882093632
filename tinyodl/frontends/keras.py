"""Keras (.keras / .h5) -> TFLite -> IR.

The model is converted by TensorFlow's own TFLite converter, so the import is exactly what a TFLite user
would deploy: float32 without calibration data, full int8 (int8 input and output, per-channel weights) with
a calibration set. The batch is fixed to 1 before conversion, so Flatten/Reshape need no shape arithmetic.
The converted file is kept beside the build outputs (cache) so runs can compare with TFLite's interpreter,
and a second run of the same file reuses it. TensorFlow and its converter talk a lot (C++ logs, the export's
TensorSpec listing): all of it goes to a log file beside the converted model, named on failure (with the
converter's own error in one line) or, with TINYODL_VERBOSE=1 (`tinyodl -v`), after every conversion.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..npz import read_windows
from .tflite import FrontendError


def _cache_dir() -> Path:
    env = os.environ.get("TINYODL_BUILD_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tinyodl"
    return base / "converted"


@contextlib.contextmanager
def captured(log: Path) -> Iterator[TextIO]:
    """Everything written to stdout and stderr meanwhile, by Python or by C++ (file descriptors 1 and 2),
    goes to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8", errors="replace") as f:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                yield f
        finally:
            f.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def converter_cause(message: str) -> str:
    """The converter's own error in one line: its first `error:` line without the location prefix."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        found = re.search(r"error:\s*(.*)", line)
        if found and found.group(1):
            return found.group(1)
    return lines[0] if lines else "no message"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def load_calibration(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    return read_windows(path, shape, "calibration data", FrontendError).astype(np.float32)


def keras_to_tflite(path: Path, calibration: Path | None = None) -> Path:
    """Convert a Keras file; return the path of the .tflite written to the cache (reused when present)."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise FrontendError(f"{path}: cannot read: {exc.strerror}") from None
    calib_bytes = calibration.read_bytes() if calibration is not None else b""
    key = source + b"|" + calib_bytes + b"|" + _version("tensorflow").encode()
    digest = hashlib.sha256(key).hexdigest()[:12]
    out = _cache_dir() / f"{path.stem}-{'int8' if calibration is not None else 'f32'}-{digest}.tflite"
    if out.is_file():
        return out
    log = out.with_suffix(".log")
    try:
        with captured(log):
            blob = _convert(path, calibration)
    except FrontendError as exc:
        raise FrontendError(f"{exc} (converter log: {log})") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(blob)
    tmp.replace(out)
    if os.environ.get("TINYODL_VERBOSE"):
        print(f"tinyodl: converted {path.name} with TFLite's converter; its log: {log}", file=sys.stderr)
    return out


def _convert(path: Path, calibration: Path | None) -> bytes:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        raise FrontendError(f"{path}: importing Keras models needs TensorFlow: pip install 'tinyodl[tf]'") from None
    try:
        model: Any = tf.keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds of errors for a bad file
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrontendError(f"{path}: not a loadable Keras model ({type(exc).__name__}: {cause})") from None
    if len(model.inputs) != 1:
        raise FrontendError(f"{path}: {len(model.inputs)} inputs; one input is supported")
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    calib = None if calibration is None else load_calibration(calibration, shape)

    inp = tf.keras.Input(shape, batch_size=1)
    fixed_batch = tf.keras.Model(inp, model(inp, training=False))
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed_batch)
    if calib is not None:

        def representative() -> Any:
            for i in range(len(calib)):
                yield [calib[i : i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001
        raise FrontendError(f"{path}: the TFLite converter failed: {converter_cause(str(exc))}") from None
