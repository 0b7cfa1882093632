"""The benchmark (SPEC section 11): the reference HAR extractor, int8 and float32, on the simulated boards,
with the plain reference kernels and with the chosen optimised variants side by side in one run.

Per layer and in total: MACC, exact instructions (QEMU by default, or Renode), instructions per MAC; the
estimated latency at the board's clock; flash, static RAM, the arena (activations and kernel scratch)
beside the arena tflite-micro reports for the same int8 model; generate and build time of a fresh build.
Every figure is measured in this run; the targets are the SPEC's, each marked met or not.

The model is the HAR architecture (conv1d:32:5, conv1d:32:5, maxpool:2, conv1d:64:5, gap on 100 x 6
windows), by default built here with seeded random weights (instruction counts do not depend on the
weights); a trained model (examples/har/train.py) can be given instead.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import TinyodlError
from ..runner import Progress, quiet

HAR_ARCH = "conv1d:32:5,conv1d:32:5,maxpool:2,conv1d:64:5,gap"
HAR_INPUT = (100, 6)
BOARDS = ("nucleo-l476rg", "nucleo-h743zi")
SIM_COUNTERS = {"qemu": "QEMU, -icount", "renode": "Renode, DWT at 1 instruction per tick"}
DTYPES = ("int8", "f32")

# Figures the SPEC quotes for peers measured the same way (QEMU, exact instructions, -O2); not measured here.
PEERS = {
    "cmsis_nn_int8_instructions_per_mac": 2.21,
    "tflite_style_reference_int8_instructions_per_mac": 8.2,
    "plain_c_f32_instructions_per_mac": 6.6,
    "cmsis_dsp_f32_instructions_per_mac": 4.3,
    "source": "SPEC section 11 (quoted, not measured by this benchmark)",
}


@dataclass(frozen=True)
class BenchOptions:
    boards: tuple[str, ...] = BOARDS
    dtypes: tuple[str, ...] = DTYPES
    models: dict[str, Path] = field(default_factory=dict)  # dtype -> a .tflite / Keras file; default: built here
    seed: int = 0
    limit: int = 1  # inputs per run (the counts are those of the first input)
    sim: str = "qemu"  # the simulator every run uses: qemu or renode


def har_models(seed: int, dtypes: tuple[str, ...], directory: Path) -> dict[str, Path]:
    """The HAR extractor as .tflite files (int8 calibrated on seeded standard-normal windows, float32), kept
    in `directory` under the hash of the Keras model and calibration they come from."""
    import hashlib
    import shutil

    from ..frontends import resolve_tflite
    from ..frontends.elm import default_calibration, elm_keras_file

    keras = elm_keras_file(HAR_ARCH, HAR_INPUT, seed, directory)
    calibration = default_calibration(HAR_INPUT, seed, directory)
    models = {}
    for dtype in dtypes:
        calib = calibration if dtype == "int8" else None
        digest = hashlib.sha256(keras.read_bytes() + (calib.read_bytes() if calib else b"")).hexdigest()[:12]
        path = directory / f"har-{dtype}-{digest}.tflite"
        if not path.exists():
            shutil.copyfile(resolve_tflite(keras, calib), path)
        models[dtype] = path
    return models


def _run(model: Path, board: str, dtype: str, optimise: bool, whole: bool, bench: BenchOptions, build: Path,
         progress: Progress) -> dict[str, Any]:  # fmt: skip
    from ..modelrun import ModelOptions, run_model
    from ..runner import RunOptions

    kind = "optimised" if optimise else "reference"
    progress(f"{board}: {dtype}, {kind} kernels")
    run = RunOptions(sim=bench.sim, build_dir=build / f"{board}-{dtype}-{kind}")
    opts = ModelOptions(run=run, whole=whole, limit=bench.limit, optimise=optimise)
    return run_model(model, board, None, opts, lambda m: progress(f"{board}: {dtype}, {kind}: {m}"))


def _side_by_side(ref: dict[str, Any], opt: dict[str, Any]) -> dict[str, Any]:
    layers = []
    for a, b in zip(ref["layers"], opt["layers"], strict=True):
        layers.append({
            "name": a["name"],
            "kind": a["kind"],
            "in_channels": a.get("in_channels"),
            "macc": a["macc"],
            "reference": {k: a[k] for k in ("kernel", "instructions", "instructions_per_mac")},
            "optimised": {k: b[k] for k in ("kernel", "kernel_note", "instructions", "instructions_per_mac")},
            "speedup": round(a["instructions"] / b["instructions"], 2) if b["instructions"] else None,
        })  # fmt: skip
    keys = ("instructions", "instructions_per_mac", "latency_ms_estimated", "flash_bytes", "static_ram_bytes",
            "arena_bytes", "activation_bytes", "stack_peak_bytes", "generate_seconds", "build_seconds",
            "outputs_match", "matches_tflite_micro", "matches_litert")  # fmt: skip
    return {
        "board": opt["board"],
        "core": opt["core"],
        "clock_hz": opt["clock_hz"],
        "simulator": opt["simulator"],
        "simulator_version": opt["simulator_version"],
        "machine": opt["machine"],
        "image": opt["image"],
        "macc": opt["macc"],
        "reference": {k: ref[k] for k in keys},
        "optimised": {k: opt[k] for k in keys},
        "speedup": round(ref["instructions"] / opt["instructions"], 2),
        "layers": layers,
    }


def _target(what: str, where: str, measured: float, limit: float, unit: str) -> dict[str, Any]:
    return {"target": what, "where": where, "measured": measured, "limit": limit, "unit": unit,
            "met": measured <= limit}  # fmt: skip


def evaluate_targets(results: list[dict[str, Any]], tflm: dict[str, int] | None) -> list[dict[str, Any]]:
    """The SPEC section 11 targets the measurements can decide."""
    out = []
    cmsis = PEERS["cmsis_nn_int8_instructions_per_mac"]
    assert isinstance(cmsis, float)
    for r in results:
        where, o = f"{r['board']} {r['dtype']}", r["optimised"]
        if r["dtype"] == "int8":
            out.append(_target(f"whole network <= 0.8 x CMSIS-NN ({cmsis})", where, o["instructions_per_mac"],
                               round(0.8 * cmsis, 2), "instr/MAC"))  # fmt: skip
            for layer in r["layers"]:
                if layer["kind"] in ("CONV_2D", "CONV_POOL", "FULLY_CONNECTED") and (layer["in_channels"] or 0) >= 8:
                    out.append(_target("conv/dense layer with >= 8 input channels", f"{where} {layer['name']}",
                                       layer["optimised"]["instructions_per_mac"], 1.0, "instr/MAC"))  # fmt: skip
            limit = {"cortex-m4": 15.0, "cortex-m7": 1.5}.get(r["core"])
            if limit is not None:
                out.append(_target("int8 latency (estimated, CPI 1.0)", where, o["latency_ms_estimated"], limit, "ms"))
            if tflm is not None:
                out.append(_target("arena <= 0.6 x tflite-micro's", where, o["arena_bytes"],
                                   round(0.6 * tflm["total_bytes"]), "B"))  # fmt: skip
        else:
            out.append(_target("float32 whole network", where, o["instructions_per_mac"], 2.5, "instr/MAC"))
            if r["core"] == "cortex-m4":
                out.append(_target("float32 latency (estimated, CPI 1.0)", where, o["latency_ms_estimated"], 50.0,
                                   "ms"))  # fmt: skip
        out.append(_target("generate + build (fresh)", where,
                           round(o["generate_seconds"] + o["build_seconds"], 2), 10.0, "s"))  # fmt: skip
    return out


def run_bench(opts: BenchOptions, progress: Progress = quiet) -> dict[str, Any]:
    unknown = [d for d in opts.dtypes if d not in DTYPES]
    if unknown:
        raise TinyodlError(f"unknown type {unknown[0]!r}; the benchmark runs {', '.join(DTYPES)}")
    from ..toolchain.project import default_build_root

    given = {d: Path(p) for d, p in opts.models.items()}
    built = [d for d in opts.dtypes if d not in given]
    models = dict(given)
    if built:
        progress(f"building the HAR extractor ({', '.join(built)}) with TensorFlow")
        models.update(har_models(opts.seed, tuple(built), default_build_root().parent / "bench"))
    tflm = None
    if "int8" in opts.dtypes:
        from ..frontends.oracle import tflm_arena

        progress("tflite-micro: arena of the int8 model")
        tflm = tflm_arena(models["int8"])
    results = []
    with tempfile.TemporaryDirectory(prefix="tinyodl-bench-") as tmp:
        for board in opts.boards:
            for dtype in opts.dtypes:
                whole = dtype not in given  # the built extractor has no head; a trained model is cut at it
                runs = [_run(models[dtype], board, dtype, optimise, whole, opts, Path(tmp), progress)
                        for optimise in (False, True)]  # fmt: skip
                entry = _side_by_side(*runs)
                entry["dtype"] = dtype
                results.append(entry)
    targets = evaluate_targets(results, tflm)
    return {
        "tinyodl_version": __version__,
        "model": {
            "architecture": HAR_ARCH,
            "input": list(HAR_INPUT),
            "files": {d: str(p) for d, p in models.items()},
            "weights": {d: ("given" if d in given else f"random, seed {opts.seed}") for d in models},
        },
        "simulator": opts.sim,
        "instructions_scope": f"exact executed instructions ({SIM_COUNTERS.get(opts.sim, opts.sim)}), per inference, "
        "first input",
        "estimate_model": "latency estimated as instructions x CPI 1.0 / clock (docs/measurement.md)",
        "tflite_micro": tflm,
        "peers": PEERS,
        "results": results,
        "targets": targets,
        "all_outputs_match": all(r[k]["outputs_match"] for r in results for k in ("reference", "optimised")),
    }
