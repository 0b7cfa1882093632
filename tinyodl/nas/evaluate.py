"""One candidate's evaluation: the extremely early-stopped training, then the exact footprint of its firmware.

The candidate is trained for a few epochs (default 6; the seed used 3, docs/nas.md says why 6) with fixed
seeds and one TensorFlow thread, so the same candidate gets the same score in any process; its score is the
best validation accuracy seen over those epochs. It is then saved as .keras, converted to int8 by
tinyodl's Keras import (TFLite's converter, calibration windows from the training split), generated as the
whole network (head included) and linked for the board, and run on the board's simulator: exactly what
`tinyodl run MODEL --board B --whole` does, and the footprint comes from that result. Footprints are cached
by the hash of the int8 model (plus board, simulator and a hash of tinyodl's sources and firmware): a model
met again is not built twice.

Everything here runs in a Ray task as well as in the calling process: the arguments and the result are plain
data (numpy arrays and JSON-ready dicts).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import TinyodlError
from .space import Candidate, build_model, kernels

MEASURE_WINDOWS = 4  # validation windows run on the simulator per candidate
CALIBRATION_WINDOWS = 200


@dataclass(frozen=True)
class EvalConfig:
    board: str
    epochs: int = 6
    batch: int = 32
    lr: float = 5e-3
    seed: int = 0
    sim: str = "qemu"
    timeout_s: float = 300.0
    workdir: str = "."  # candidates' files go to WORKDIR/candidates/<name>/
    cache: str = ""  # footprint cache folder; "" = none


@dataclass(frozen=True)
class Split:
    """Normalised windows of one search: training, validation (the score) and held-out test (never searched)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])


def _candidate_seed(seed: int, cand: Candidate) -> int:
    return (seed * 1_000_003 + cand.k * 1009 + cand.c) % (2**31)


def _tensorflow(log: Path | None = None) -> Any:
    """TensorFlow with one thread and deterministic ops; its import's C++ chatter goes to `log` (or nowhere)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from ..frontends.keras import captured

    with captured(log or Path(os.devnull)):
        import tensorflow as tf

    try:  # one thread: the same sums in the same order in every process, and one core per Ray task
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised in this process (set by an earlier candidate)
    tf.config.experimental.enable_op_determinism()
    return tf


def train(cand: Candidate, split: Split, cfg: EvalConfig, epochs: int | None = None) -> tuple[Any, float, list[float]]:
    """(Keras model, best validation accuracy, validation accuracy per epoch)."""
    tf = _tensorflow()
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(_candidate_seed(cfg.seed, cand))
    model = build_model(cand, split.shape, split.classes)
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=tf.keras.optimizers.Adam(cfg.lr), loss=loss, metrics=["accuracy"])
    hist = model.fit(split.x_train, split.y_train, epochs=epochs or cfg.epochs, batch_size=cfg.batch, shuffle=True,
                     validation_data=(split.x_val, split.y_val), verbose=0)  # fmt: skip
    curve = [round(float(v), 6) for v in hist.history["val_accuracy"]]
    return model, max(curve), curve


def calibration_windows(split: Split, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = min(CALIBRATION_WINDOWS, len(split.x_train))
    return split.x_train[np.sort(rng.choice(len(split.x_train), n, replace=False))].astype(np.float32)


def export(model: Any, split: Split, seed: int, directory: Path, stem: str) -> tuple[Path, Path, Path]:
    """Save the model (.keras), its calibration windows and its int8 .tflite from tinyodl's Keras import."""
    from ..frontends.keras import keras_to_tflite

    directory.mkdir(parents=True, exist_ok=True)
    keras_path = directory / f"{stem}.keras"
    model.save(keras_path)
    calib = directory / "calibration.npz"
    np.savez(calib, x=calibration_windows(split, seed))
    tflite = directory / f"{stem}_int8.tflite"
    shutil.copyfile(keras_to_tflite(keras_path, calib), tflite)
    return keras_path, calib, tflite


def generator_fingerprint() -> str:
    """A hash of what turns a model into measured firmware: tinyodl's Python sources and its firmware, templates
    and board files. A footprint cached by another version of any of them is not reused."""
    from ..resources import data_dir

    h = hashlib.sha256(__version__.encode())
    roots = [Path(__file__).resolve().parents[1], data_dir("firmware"), data_dir("templates"), data_dir("boards")]
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def footprint_key(tflite: Path, cfg: EvalConfig) -> str:
    """Cache key of a footprint: the int8 model's bytes, the board, the simulator and the generator."""
    h = hashlib.sha256(tflite.read_bytes())
    h.update(f"|{cfg.board}|{cfg.sim}|whole|{MEASURE_WINDOWS}|{generator_fingerprint()}".encode())
    return h.hexdigest()


def measure(tflite: Path, inputs: Path, cfg: EvalConfig) -> dict[str, Any]:
    """The result of `tinyodl run TFLITE --board B --whole --inputs INPUTS --limit 4` (a dict, as --json)."""
    from ..modelrun import ModelOptions, run_model
    from ..runner import RunOptions

    opts = ModelOptions(run=RunOptions(sim=cfg.sim, timeout_s=cfg.timeout_s), whole=True, limit=MEASURE_WINDOWS)
    return run_model(tflite, cfg.board, inputs, opts)


FOOTPRINT_FIELDS = ("flash_bytes", "static_ram_bytes", "arena_bytes", "stack_peak_bytes", "instructions",
                    "latency_ms_estimated", "cycles_estimated", "macc")  # fmt: skip


def footprint(run: dict[str, Any], stack_reserved: int) -> dict[str, Any]:
    fp = {key: run[key] for key in FOOTPRINT_FIELDS}
    fp["stack_reserved_bytes"] = stack_reserved
    fp["ram_bytes"] = run["static_ram_bytes"]  # .data + .bss (the arena is a .bss buffer) + the reserved stack
    fp["outputs_match"] = bool(run["passed"])
    return fp


def stack_reserved(run: dict[str, Any]) -> int:
    """The stack the linker reserved in the measured ELF (part of its static RAM)."""
    from ..boards import load_board
    from ..toolchain.elfsize import size_report

    return size_report(Path(run["elf"]), load_board(run["board"]).target).stack_bytes


def evaluate(cand: Candidate, split: Split, cfg: EvalConfig) -> dict[str, Any]:
    """Train, export, build and measure one candidate. Never raises for the candidate's own failures (they
    become `error`); the result is one history record without the budget verdict."""
    t0 = time.monotonic()
    record: dict[str, Any] = {"k": cand.k, "c": cand.c, "kernels": kernels(cand.k, cand.c)}
    directory = Path(cfg.workdir) / "candidates" / cand.name
    model, score, curve = train(cand, split, cfg)
    record.update(score=round(score, 6), val_curve=curve, params=int(model.count_params()))
    record["train_seconds"] = round(time.monotonic() - t0, 2)
    t1 = time.monotonic()
    try:
        _, calib, tflite = export(model, split, cfg.seed, directory, "model")
    except TinyodlError as exc:
        record.update(error=f"conversion: {exc}", measure_seconds=round(time.monotonic() - t1, 2))
        return record
    inputs = directory / "inputs.npz"
    np.savez(inputs, x=split.x_val[:MEASURE_WINDOWS].astype(np.float32))
    key = footprint_key(tflite, cfg)
    record["model_sha256"] = hashlib.sha256(tflite.read_bytes()).hexdigest()
    cached = Path(cfg.cache) / f"{key}.json" if cfg.cache else None
    if cached is not None and cached.is_file():
        record["footprint"] = json.loads(cached.read_text())
        record["footprint_cached"] = True
    else:
        try:
            run = measure(tflite, inputs, cfg)
        except TinyodlError as exc:
            record.update(error=str(exc).splitlines()[0], measure_seconds=round(time.monotonic() - t1, 2))
            return record
        (directory / "measured.json").write_text(json.dumps(run, indent=2))
        record["footprint"] = footprint(run, stack_reserved(run))
        record["footprint_cached"] = False
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record["footprint"]))
            tmp.replace(cached)
    record["measure_seconds"] = round(time.monotonic() - t1, 2)
    return record
