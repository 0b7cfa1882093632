"""`tinyodl bench --models DIR`: every .tflite of a folder, tinyodl's optimised kernels beside ARM's CMSIS-NN.

Each model runs on each board twice, on the same inputs: with tinyodl's kernels (`--kernels optimised`) and
with `--kernels cmsis-nn` (the int8 layers CMSIS-NN covers call it; the others keep tinyodl's kernel, and
the layer's note says why). Per model and board: exact instructions, instructions per MAC, flash, static
RAM, the arena, the ratio ours / CMSIS-NN, and whether each run's outputs equal the numpy reference and
tflite-micro; per layer (in --json and the per-layer tables) the kernels and their instructions side by
side. Every figure is measured in this run. By default the feature-extractor part runs (as `tinyodl run`
does); `whole` runs the whole network.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__, cmsisnn
from ..errors import TinyodlError
from ..runner import Progress, quiet
from . import SIM_COUNTERS

KERNELS = ("optimised", "cmsis-nn")
TOTAL_KEYS = (
    "instructions",
    "instructions_per_mac",
    "latency_ms_estimated",
    "flash_bytes",
    "static_ram_bytes",
    "arena_bytes",
    "stack_peak_bytes",
    "outputs_match",
    "matches_tflite_micro",
    "matches_litert",
    "passed",
    "build_seconds",
)


@dataclass(frozen=True)
class ModelsBenchOptions:
    directory: Path | None = None  # every .tflite in it (not recursive)
    files: tuple[Path, ...] = ()  # or these files
    boards: tuple[str, ...] = ("nucleo-l476rg",)
    whole: bool = False
    limit: int = 1  # inputs per run (seeded random; the counts are those of the first)
    seed: int = 0
    sim: str = "qemu"
    cmsis_nn: Path | None = None  # --cmsis-nn DIR
    cycles: bool = True  # estimated cycles of both runs with the per-core model (tinyodl/cycles; QEMU only)
    flash: str = "balanced"  # --optimise speed|size|balanced: the flash policy of both runs (codegen/lower.py)


def model_files(opts: ModelsBenchOptions) -> list[Path]:
    if opts.files:
        return list(opts.files)
    directory = opts.directory
    if directory is None or not directory.is_dir():
        raise TinyodlError(f"--models {directory}: not a folder")
    found = sorted(p for p in directory.glob("*.tflite") if p.is_file())
    if not found:
        raise TinyodlError(f"--models {directory}: no .tflite files in it")
    return found


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _tflm_arena(model: Path) -> dict[str, int] | str:
    """tflite-micro's arena for the whole model file (its recording allocator), or why there is none."""
    from ..frontends.oracle import tflm_arena

    try:
        return tflm_arena(model)
    except TinyodlError as exc:
        return str(exc)


def _compare(model: Path, runs: dict[str, dict[str, Any]], tflm: dict[str, int] | str) -> dict[str, Any]:
    ours, peer = runs["optimised"], runs["cmsis-nn"]
    layers_by_name = {layer["name"]: layer for layer in peer["layers"]}
    layers = []
    for layer in ours["layers"]:  # ours may fuse a convolution with its pooling: CMSIS-NN runs them apart
        names = layer["name"].split("+")
        theirs = [layers_by_name[n] for n in names if n in layers_by_name]
        peer_instr = sum(t["instructions"] for t in theirs) if len(theirs) == len(names) else None
        peer_cycles = sum(t["estimated_cycles"] for t in theirs) if (
            len(theirs) == len(names) and all("estimated_cycles" in t for t in theirs)) else None  # fmt: skip
        layers.append({
            "name": layer["name"],
            "kind": layer["kind"],
            "macc": layer["macc"],
            "optimised": {k: layer[k] for k in ("kernel", "kernel_note", "instructions", "instructions_per_mac")},
            "cmsis_nn": {
                "kernel": " + ".join(t["kernel"] for t in theirs),
                "kernel_note": "; ".join(t["kernel_note"] for t in theirs),
                "instructions": peer_instr,
                "instructions_per_mac": round(peer_instr / layer["macc"], 3) if peer_instr and layer["macc"] else None,
            },
            "ratio": _ratio(layer["instructions"], peer_instr),
            "estimated_cycles": {"optimised": layer.get("estimated_cycles"), "cmsis_nn": peer_cycles},
            "estimated_cycles_ratio": _ratio(layer.get("estimated_cycles"), peer_cycles),
        })  # fmt: skip
    return {
        "model": str(model),
        "name": model.stem,
        "board": ours["board"],
        "core": ours["core"],
        "clock_hz": ours["clock_hz"],
        "machine": ours["machine"],
        "macc": ours["macc"],
        "features": ours["features"],
        "optimised": {k: ours[k] for k in TOTAL_KEYS},
        "cmsis_nn": {k: peer[k] for k in TOTAL_KEYS},
        "instructions_ratio": _ratio(ours["instructions"], peer["instructions"]),
        "flash_ratio": _ratio(ours["flash_bytes"], peer["flash_bytes"]),
        "arena_ratio": _ratio(ours["arena_bytes"], peer["arena_bytes"]),
        "tflite_micro_arena": tflm,
        "arena_vs_tflite_micro": _ratio(ours["arena_bytes"], tflm["total_bytes"]) if isinstance(tflm, dict) else None,
        "estimated_cycles": {"optimised": ours.get("estimated_cycles"), "cmsis_nn": peer.get("estimated_cycles")},
        "estimated_latency_ms": {
            "optimised": ours.get("estimated_latency_ms"),
            "cmsis_nn": peer.get("estimated_latency_ms"),
        },
        "estimated_cycles_ratio": _ratio(ours.get("estimated_cycles"), peer.get("estimated_cycles")),
        "same_outputs": ours["outputs_sha256"] == peer["outputs_sha256"],
        "layers": layers,
    }


def _prefixed(progress: Progress, where: str) -> Progress:
    def report(message: str) -> None:
        progress(f"{where}: {message}")

    return report


def run_models_bench(opts: ModelsBenchOptions, progress: Progress = quiet) -> dict[str, Any]:
    from ..modelrun import ModelOptions, run_model
    from ..runner import RunOptions

    tree = cmsisnn.require(opts.cmsis_nn)  # before anything is built
    files = model_files(opts)
    results = []
    with tempfile.TemporaryDirectory(prefix="tinyodl-bench-models-") as tmp:
        for i, model in enumerate(files):
            progress(f"[{i + 1}/{len(files)}] {model.name}: tflite-micro's arena")
            tflm = _tflm_arena(model)
            for board in opts.boards:
                runs = {}
                for kernels in KERNELS:
                    where = f"[{i + 1}/{len(files)}] {model.name} on {board}, {kernels}"
                    progress(where)
                    build = Path(tmp) / f"{model.stem}-{board}-{kernels}"
                    mopts = ModelOptions(
                        run=RunOptions(sim=opts.sim, build_dir=build, seed=opts.seed),
                        whole=opts.whole,
                        limit=opts.limit,
                        backend="cmsis-nn" if kernels == "cmsis-nn" else "tinyodl",
                        cmsis_nn=tree.path,
                        cycles=opts.cycles and opts.sim == "qemu",
                        flash=opts.flash,
                    )
                    runs[kernels] = run_model(model, board, None, mopts, _prefixed(progress, where))
                results.append(_compare(model, runs, tflm))
    return {
        "tinyodl_version": __version__,
        "cmsis_nn": {"path": str(tree.path), "version": tree.version, "found_by": tree.found_by},
        "part": "whole network" if opts.whole else "feature extractor (cut at the classifier head's input)",
        "simulator": opts.sim,
        "instructions_scope": f"exact executed instructions ({SIM_COUNTERS.get(opts.sim, opts.sim)}), per "
        "inference, first input; both runs on the same seeded inputs",
        "ratio": "ours / CMSIS-NN (below 1: ours is smaller or faster)",
        "estimated_cycles_scope": "ESTIMATED with the per-core cycle model (docs/cycles.md): one inference, first "
        "input, per-block counts from QEMU's execution log x Cortex-M4/M7 instruction timings",
        "flash_policy": opts.flash,
        "tflite_micro_arena_scope": "tflite-micro's arena for the whole model file (total: activations, scratch "
        "and its bookkeeping); ours is the arena of the part that runs",
        "results": results,
        "all_passed": all(r[k]["passed"] for r in results for k in ("optimised", "cmsis_nn")),
    }
