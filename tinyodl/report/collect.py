"""The measurements behind `tinyodl report`: the model runs, the learner runs and the host accuracies, each
a cached unit (cache.py), and the deployability table made from them beside the seed's figures (seed.py).

Rows, per board (SPEC section 11, the seed's "Deployability on MCU"):
- CNN single inference, float32 and int8: the whole trained HAR network (head included), `run_model`;
- CNN + back-propagation, one learning step: the latent-replay learner's SGD step on the device
  (`run_replay`, a minibatch of latents through the float32 head, forward and backward);
- CNN feature extractor (trained, and ELM) + TinyRCE, single inference (extract + predict) and one
  learning step (extract + predict + learn), `run_learn` in the seed's interleaved protocol.
Instructions are exact (the simulator); cycles and latency are estimates, labelled: on QEMU the per-core cycle
model's (a whole inference traced; for the learner rows, each measured part's estimated CPI from a traced step
times the part's mean exact instructions), else instructions at CPI 1.0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..boards import load_board
from ..cycles.collect import step_cycles
from ..errors import TinyodlError
from ..runner import Progress, RunOptions, quiet
from . import seed
from .cache import ResultCache, file_hash, firmware_hash
from .memmap import memory_map

BOARDS = ("nucleo-l476rg", "nucleo-h743zi")
HAR_ARCH = "conv1d:32:5,conv1d:32:5,maxpool:2,conv1d:64:5,gap"
HAR_INPUT = (100, 6)
PROTOCOLS = ("interleaved", "shuffled", "new-recording")
CPI1_LABEL = "estimated at CPI 1.0 from exact instructions"
MODEL_LABEL = "estimated by the per-core cycle model"
STEP_LABEL = ("estimated by the per-core cycle model: each part's CPI in a step traced with QEMU's execution log "
              "times the part's mean exact instructions")  # fmt: skip


@dataclass(frozen=True)
class ReportOptions:
    boards: tuple[str, ...] = BOARDS
    sim: str = "qemu"
    int8: Path = Path("examples/har/out/har_int8.tflite")
    f32: Path = Path("examples/har/out/har_f32.tflite")
    data: str = "watch"
    quick: bool = False  # a small configuration: few windows per user, small experiences
    cache_dir: Path | None = None
    use_cache: bool = True
    elm_seed: int = 0
    cmsis_nn: Path | None = None

    @property
    def window_limit(self) -> int | None:
        return 16 if self.quick else None

    @property
    def accuracy_windows(self) -> int | None:
        return 48 if self.quick else None


def _check_models(opts: ReportOptions) -> None:
    for what, path in (("int8", opts.int8), ("float32", opts.f32)):
        if not Path(path).is_file():
            raise TinyodlError(
                f"{path}: no such {what} model; train it with `python examples/har/train.py` (needs the [tf] extra) "
                f"or give --{'int8' if what == 'int8' else 'f32'} FILE"
            )


def _simulator_version(sim: str, board: str) -> str:
    """The simulator's version, asked without running anything on it."""
    from ..runner import simulators

    backends = simulators()
    if sim not in backends:
        raise TinyodlError(f"unknown simulator {sim!r}; qemu or renode")
    return backends[sim]().place(load_board(board)).simulator_version


# ---- the units ------------------------------------------------------------------------------------------


def _model_unit(path: Path, board: str, opts: ReportOptions, kernels: str, progress: Progress) -> dict[str, Any]:
    from ..modelrun import ModelOptions, run_model

    backend = "cmsis-nn" if kernels == "cmsis-nn" else "tinyodl"
    # our optimised build on QEMU also gets the per-core cycle model's estimate (one more run with QEMU's log)
    cycles = opts.sim == "qemu" and kernels == "optimised"
    mopts = ModelOptions(run=RunOptions(sim=opts.sim), whole=True, limit=2, optimise=kernels != "reference",
                         backend=backend, cmsis_nn=opts.cmsis_nn, cycles=cycles)  # fmt: skip
    r = run_model(path, board, None, mopts, progress)
    r["memory_map"] = memory_map(Path(r["elf"]), board, r["machine"], r["image"])
    r["layer_ram"] = layer_ram(path, board, mopts)
    return r


def layer_ram(path: Path, board: str, mopts: Any) -> list[dict[str, Any]]:
    """The arena during each layer, from the memory plan of the generated model: the activation tensors live
    at that layer (in-place outputs counted once) and the kernel's working memory."""
    from ..modelrun import import_model, model_app

    _, graph, _ = import_model(Path(path), mopts)
    m, _, _ = model_app(graph, board, mopts, Path(path).stem)
    plan = m.plan
    index = {op.name: i for i, op in enumerate(m.graph.ops)}
    out = []
    for layer in m.layers:
        i = index[layer.op_name]
        live = sum(size for t, size in plan.sizes.items() if t not in plan.alias_of and t in plan.lifetimes
                   and plan.lifetimes[t][0] <= i <= plan.lifetimes[t][1])  # fmt: skip
        scratch = int(plan.scratch_bytes.get(i, 0))
        out.append({"name": layer.op_name, "activation_bytes": int(live), "scratch_bytes": scratch,
                    "arena_bytes": int(plan.arena_bytes)})  # fmt: skip
    return out


def _learn_unit(path: Path, board: str, protocol: str, calibration: Path | None, prefix: str | None,
                opts: ReportOptions, progress: Progress) -> dict[str, Any]:  # fmt: skip
    from ..learn.run import LearnOptions, run_learn

    features_at = None
    if prefix == "elm":  # an ELM extractor has no head: all of it is the extractor, its output the features
        from ..learn.firmware import import_for_learning

        features_at = import_for_learning(Path(path), calibration).outputs[0]
    # the rows' runs (interleaved) on QEMU also estimate a learning step's cycles (one more run with QEMU's log)
    cycles = opts.sim == "qemu" and protocol == "interleaved"
    lopts = LearnOptions(run=RunOptions(sim=opts.sim), data=opts.data, protocol=protocol, calibration=calibration,
                         limit=opts.window_limit, prefix=prefix, features_at=features_at, cycles=cycles)  # fmt: skip
    r = run_learn(path, board, lopts, progress)
    r["memory_map"] = memory_map(Path(r["elf"]), board, r["machine"], r["image"])
    return r


def _replay_options(opts: ReportOptions) -> Any:
    from ..learn.replay import ReplayParams
    from ..learn.replay_run import ReplayRunOptions

    if opts.quick:
        return ReplayRunOptions(run=RunOptions(sim=opts.sim), data=opts.data, current=24, eval_per_class=4,
                                train=ReplayParams(epochs=1), cycles=opts.sim == "qemu")  # fmt: skip
    return ReplayRunOptions(run=RunOptions(sim=opts.sim), data=opts.data, cycles=opts.sim == "qemu")


def _replay_unit(path: Path, board: str, opts: ReportOptions, progress: Progress) -> dict[str, Any]:
    from ..learn.replay_run import run_replay

    r = run_replay(path, board, _replay_options(opts), progress)
    return r


def _accuracy_unit(path: Path, opts: ReportOptions, progress: Progress) -> dict[str, Any]:
    """The whole network's accuracy on the held-out users' windows, from the numpy reference (which the
    device equals bit for bit on int8, within the float32 tolerance on float32)."""
    from ..datasets.labelled import load_labelled
    from ..learn.run import normalise, quantize_inputs
    from ..modelrun import ModelOptions, import_model
    from ..reference.graph import run_graph

    progress(f"host reference: accuracy of {Path(path).name} on the held-out users")
    data = normalise(load_labelled(opts.data), "std").learning
    _, graph, _ = import_model(Path(path), ModelOptions(whole=True))
    n = opts.accuracy_windows or len(data.y)
    idx = np.linspace(0, len(data.y) - 1, min(n, len(data.y))).astype(int)
    xq = quantize_inputs(graph, data.x[idx])
    out = graph.outputs[0]
    pred = np.array([int(np.argmax(run_graph(graph, x)[out].reshape(-1))) for x in xq])
    return {"accuracy": round(float(np.mean(pred == data.y[idx])), 4), "windows": len(idx),
            "users": sorted({int(u) for u in data.subject[idx].tolist()})}  # fmt: skip


def _extractor_macc(path: Path, calibration: Path | None, whole: bool) -> int:
    from ..modelrun import ModelOptions, import_model

    _, graph, _ = import_model(Path(path), ModelOptions(whole=whole, calibration=calibration))
    return int(graph.macc())


def _elm_model() -> tuple[Path, Path]:
    from ..frontends.elm import default_calibration, elm_keras_file
    from ..toolchain.project import default_build_root

    directory = default_build_root().parent / "elm"
    return elm_keras_file(HAR_ARCH, HAR_INPUT, 0, directory), default_calibration(HAR_INPUT, 0, directory)


# ---- the table --------------------------------------------------------------------------------------------


def _ram(static: int, stack_reserved: int, stack_peak: int) -> int:
    """RAM used: static data and bss (the arena and any learner pool are in it) without the reserved stack,
    plus the stack's measured peak."""
    return static - stack_reserved + stack_peak


def _timing(instructions: float, clock_hz: int, run: dict[str, Any] | None = None,
            cycles: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Cycles and latency of `instructions`: the cycle model's estimate when the run carries one for this
    figure (run = the run result of a whole inference, or `cycles` from step_cycles), else CPI 1.0; always
    labelled."""
    if cycles is not None:
        return {"cycles": round(cycles), "latency_ms": round(cycles / clock_hz * 1e3, 4), "estimated": True,
                "estimate": STEP_LABEL}  # fmt: skip
    if run is not None and run.get("estimated_cycles") is not None:
        cycles = float(run["estimated_cycles"])
        ms = run.get("estimated_latency_ms")
        return {"cycles": round(cycles), "latency_ms": round(float(ms if ms is not None else cycles / clock_hz * 1e3),
                                                                4),
                "estimated": True, "estimate": MODEL_LABEL}  # fmt: skip
    return {"cycles": round(instructions), "latency_ms": round(instructions / clock_hz * 1e3, 4), "estimated": True,
            "estimate": CPI1_LABEL}  # fmt: skip


def _row(key: str, label: str, seed_name: str, board: str, clock_hz: int, *, macc: int, flash: int, ram: int,
         instructions: float, accuracy: float | None, accuracy_note: str, unit: str, ram_parts: dict[str, int],
         run: dict[str, Any] | None = None, cycles: float | None = None) -> dict[str, Any]:  # fmt: skip
    timing = _timing(instructions, clock_hz, run, cycles)
    s = seed.SEED[seed_name]
    sp = seed.per_sample(seed_name)
    seed_ms = sp["latency_ms"].get(board)

    def ratio(ours: float | None, theirs: float | None) -> float | None:
        return round(ours / theirs, 4) if ours is not None and theirs else None

    return {
        "row": key,
        "label": label,
        "unit": unit,
        "board": board,
        "clock_hz": clock_hz,
        "macc": macc,
        "flash_bytes": flash,
        "ram_bytes": ram,
        "ram_parts": ram_parts,
        "instructions": round(instructions, 1),
        "instructions_exact": True,
        "cycles_estimated": timing["cycles"],
        "latency_ms_estimated": timing["latency_ms"],
        "estimate": timing["estimate"],
        "accuracy": accuracy,
        "accuracy_note": accuracy_note,
        "seed": {
            "column": s["label"],
            "macc": s["macc"],
            "flash_kib": s["flash_kib"],
            "ram_kib": s["ram_kib"],
            "latency_ms": s["latency_ms"].get(board),
            "per_sample": sp,
        },
        "ratio": {
            "macc": ratio(macc, sp["macc"]),
            "flash": ratio(flash / 1024, s["flash_kib"]),
            "ram": ratio(ram / 1024, s["ram_kib"]),
            "latency": ratio(timing["latency_ms"], seed_ms),
        },
    }


def deployability(board: str, u: dict[str, Any], opts: ReportOptions) -> list[dict[str, Any]]:
    """The rows of one board from its units (u: name -> result)."""
    rows = []
    clock = int(u["int8"]["clock_hz"])
    for dtype, name in (("f32", "float32"), ("int8", "int8")):
        r = u[dtype]
        mm = r["memory_map"]
        acc = u[f"accuracy_{dtype}"]
        rows.append(_row(f"cnn_{dtype}", f"CNN single inference ({name})", "cnn_inference", board, clock,
                         macc=r["macc"], flash=r["flash_bytes"],
                         ram=_ram(r["static_ram_bytes"], mm["stack_reserved_bytes"], r["stack_peak_bytes"]),
                         ram_parts={"arena": r["arena_bytes"], "stack_peak": r["stack_peak_bytes"]},
                         instructions=r["instructions"], accuracy=acc["accuracy"],
                         accuracy_note=f"whole network on {acc['windows']} windows of users "
                                       f"{', '.join(map(str, acc['users']))} (numpy reference = device)",
                         unit="one inference", run=r))  # fmt: skip
    rp = u["replay"]
    last = rp["experiences"][-1]
    ram = rp["ram"]
    replay_opts = _replay_options(opts)
    batch = int(replay_opts.train.batch)
    rows.append(_row("cnn_backprop", "CNN + back-propagation (int8 frozen stage, float32 head), learning step",
                     "cnn_bp_learning", board, clock,
                     macc=2 * batch * u["head_macc"], flash=rp["flash_bytes"],
                     ram=ram["static_ram_bytes"] - u["stack_reserved_replay"] + ram["stack_peak_bytes"],
                     ram_parts={"arena": ram["frozen_stage_arena_bytes"], "learner": ram["learner_bytes"],
                                "stack_peak": ram["stack_peak_bytes"]},
                     instructions=last["instructions_per_step"], accuracy=rp["accuracy"],
                     accuracy_note=f"all {len(last['seen'])} classes after {len(rp['experiences'])} experiences, "
                                   "class-incremental, on the device",
                     unit=f"one SGD step: {batch} latents through the head, forward and backward",
                     cycles=step_cycles({"training": last["instructions_per_step"]},
                                        rp.get("cycle_model"))))  # fmt: skip
    for fe, title in (("trained", "trained"), ("elm", "ELM, random weights")):
        lr = u[f"learn_{fe}_interleaved"]
        mm = lr["memory_map"]
        s = lr["instructions_per_step"]
        neurons = lr["neurons"]
        feats = lr["features"]["count"]
        macc = u[f"macc_{fe}"] + neurons * feats
        ram_used = _ram(lr["ram"]["static_ram_bytes"], mm["stack_reserved_bytes"], lr["ram"]["stack_peak_bytes"])
        parts = {"arena": lr["ram"]["extractor_arena_bytes"], "learner": lr["ram"]["learner_pool_bytes"],
                 "stack_peak": lr["ram"]["stack_peak_bytes"]}  # fmt: skip
        note = f"prequential, interleaved protocol, users {', '.join(map(str, lr['users']))}, on the device"
        for kind, names, unit in (("inference", ("extract", "predict"), "extract + predict one window"),
                                  ("learning", ("extract", "predict", "learn"),
                                   "extract + predict + learn one window")):  # fmt: skip
            instr = sum(s[n] for n in names)
            rows.append(_row(f"rce_{fe}_{kind}", f"CNN-FE ({title}) + TinyRCE, "
                             f"{'single inference' if kind == 'inference' else 'learning step'}",
                             f"rce_{kind}", board, clock, macc=macc, flash=lr["flash_bytes"], ram=ram_used,
                             ram_parts=parts, instructions=instr, accuracy=lr["accuracy"], accuracy_note=note,
                             unit=unit,
                             cycles=step_cycles({n: s[n] for n in names}, lr.get("cycle_model"))))  # fmt: skip
    return rows


# ---- the whole report -----------------------------------------------------------------------------------------


def run_report(opts: ReportOptions, progress: Progress = quiet) -> dict[str, Any]:
    t0 = time.monotonic()
    _check_models(opts)
    cache = ResultCache(opts.cache_dir, opts.use_cache)
    from .. import cmsisnn

    # the per-layer peer: CMSIS-NN when a tree is found (--quick: our reference kernels, no CMSIS-NN library build)
    found = not opts.quick or opts.cmsis_nn is not None
    peer = "cmsis-nn" if found and cmsisnn.find(opts.cmsis_nn) is not None else "reference"
    units: dict[str, dict[str, Any]] = {}
    cached: dict[str, bool] = {}
    elm: tuple[Path, Path] | None = None

    def unit(name: str, parts: dict[str, Any], run: Any) -> dict[str, Any]:
        progress(f"{name}: checking the cache")
        result, hit = cache.get_or_run({"kind": parts["kind"], "quick": opts.quick, "data": opts.data, **parts}, run)
        cached[name] = hit
        progress(f"{name}: {'cached' if hit else 'measured'}")
        return result

    def say(name: str) -> Progress:
        return lambda m: progress(f"{name}: {m}")

    for dtype, path in (("int8", opts.int8), ("f32", opts.f32)):
        units[f"accuracy_{dtype}"] = unit(
            f"accuracy {dtype}", {"kind": "accuracy", "model": file_hash(path)},
            lambda p=path, d=dtype: _accuracy_unit(p, opts, say(f"accuracy {d}")))  # fmt: skip
    boards: dict[str, dict[str, Any]] = {}
    for board in opts.boards:
        sim_version = _simulator_version(opts.sim, board)
        base = {"board": board, "sim": opts.sim, "simulator_version": sim_version}
        u: dict[str, Any] = {"accuracy_int8": units["accuracy_int8"], "accuracy_f32": units["accuracy_f32"]}
        for dtype, path in (("int8", opts.int8), ("f32", opts.f32)):
            name = f"{board} CNN {dtype}"
            u[dtype] = unit(name, {**base, "kind": "model", "model": file_hash(path), "kernels": "optimised",
                                   "cycle_model": opts.sim == "qemu", "layer_ram": True},
                            lambda p=path, n=name, b=board: _model_unit(p, b, opts, "optimised", say(n)))  # fmt: skip
        name = f"{board} CNN int8 ({peer})"
        u["int8_peer"] = unit(name, {**base, "kind": "model", "model": file_hash(opts.int8), "kernels": peer},
                              lambda n=name, b=board: _model_unit(opts.int8, b, opts, peer, say(n)))  # fmt: skip
        for protocol in PROTOCOLS:
            name = f"{board} TinyRCE {protocol}"
            u[f"learn_trained_{protocol}"] = unit(
                name, {**base, "kind": "learn", "model": file_hash(opts.int8), "protocol": protocol,
                       "cycle_model": opts.sim == "qemu" and protocol == "interleaved"},
                lambda pr=protocol, n=name, b=board: _learn_unit(opts.int8, b, pr, None, None, opts,
                                                                 say(n)))  # fmt: skip
        name = f"{board} ELM + TinyRCE interleaved"
        elm_parts = {**base, "kind": "learn", "model": f"elm:{HAR_ARCH}:{opts.elm_seed}", "protocol": "interleaved",
                     "cycle_model": opts.sim == "qemu"}  # fmt: skip

        def run_elm(n: str = name, b: str = board) -> dict[str, Any]:
            nonlocal elm
            elm = elm or _elm_model()
            return _learn_unit(elm[0], b, "interleaved", elm[1], "elm", opts, say(n))

        u["learn_elm_interleaved"] = unit(name, elm_parts, run_elm)
        name = f"{board} latent replay"
        u["replay"] = unit(name, {**base, "kind": "replay", "model": file_hash(opts.int8),
                                  "cycle_model": opts.sim == "qemu"},
                           lambda n=name, b=board: _replay_unit(opts.int8, b, opts, say(n)))  # fmt: skip
        boards[board] = u
    # figures that need no simulator: MACC of the extractors and the head, the replay image's stack reserve
    static = unit("extractor MACC", {"kind": "static", "model": file_hash(opts.int8), "elm": HAR_ARCH},
                  lambda: _static_figures(opts, boards, elm))  # fmt: skip
    rows: list[dict[str, Any]] = []
    for board, u in boards.items():
        u["macc_trained"], u["macc_elm"], u["head_macc"] = (static["macc_trained"], static["macc_elm"],
                                                            static["head_macc"])  # fmt: skip
        u["stack_reserved_replay"] = load_board(board).stack_bytes  # the replay result names no ELF
        rows += deployability(board, u, opts)
    return _assemble(opts, boards, rows, cached, peer, time.monotonic() - t0)


def _static_figures(opts: ReportOptions, boards: dict[str, dict[str, Any]],
                    elm: tuple[Path, Path] | None) -> dict[str, Any]:  # fmt: skip
    elm = elm or _elm_model()
    whole = _extractor_macc(opts.int8, None, True)
    trained = _extractor_macc(opts.int8, None, False)
    return {"macc_trained": trained, "macc_elm": _extractor_macc(elm[0], elm[1], True), "head_macc": whole - trained}


def _slim_learn(r: dict[str, Any]) -> dict[str, Any]:
    keep = ("board", "protocol", "data", "users", "windows", "steps", "accuracy", "accuracy_curve",
            "matches_reference", "disagreements", "neurons", "ram_cap_bytes", "ram_peak_bytes", "within_ram_cap",
            "unknown_rate", "baselines", "backprop_accuracy", "pretrained_accuracy", "fallback_accuracy",
            "instructions_per_step", "learner", "features", "simulator", "simulator_version", "machine")  # fmt: skip
    return {k: r[k] for k in keep if k in r}


def align_layers(ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our layers beside the peer's: a fused layer of ours ("conv+pool") stands for the peer's layers it
    names; every peer layer is counted once."""
    by_name = {p["name"]: p for p in peer}
    used: set[str] = set()
    out = []
    for a in ours:
        parts = [by_name[n] for n in a["name"].split("+") if n in by_name and n not in used]
        used.update(p["name"] for p in parts)
        out.append({"name": a["name"], "kind": a["kind"], "macc": a["macc"], "ours_kernel": a["kernel"],
                    "ours_instructions": a["instructions"],
                    "peer_kernel": "+".join(p["kernel"] for p in parts) or None,
                    "peer_instructions": sum(p["instructions"] for p in parts) if parts else None})  # fmt: skip
    for p in peer:
        if p["name"] not in used:
            out.append({"name": p["name"], "kind": p["kind"], "macc": p["macc"], "ours_kernel": None,
                        "ours_instructions": None, "peer_kernel": p["kernel"],
                        "peer_instructions": p["instructions"]})  # fmt: skip
    return out


REPLAY_KEYS = ("board", "data", "protocol", "accuracy", "accuracy_per_experience", "no_replay_accuracy",
               "joint_accuracy", "replay_over_joint", "matches_reference", "disagreements", "experiences", "train",
               "ram")  # fmt: skip


def _assemble(opts: ReportOptions, boards: dict[str, dict[str, Any]], rows: list[dict[str, Any]],
              cached: dict[str, bool], peer: str, seconds: float) -> dict[str, Any]:  # fmt: skip
    learning = []
    replay = []
    layers = []
    memory = []
    runs_ok = True
    for board, u in boards.items():
        for protocol in PROTOCOLS:
            learning.append({"extractor": "trained", **_slim_learn(u[f"learn_trained_{protocol}"])})
        learning.append({"extractor": "elm", **_slim_learn(u["learn_elm_interleaved"])})
        rp = u["replay"]
        replay.append({k: rp[k] for k in REPLAY_KEYS})
        ours, other = u["int8"], u["int8_peer"]
        layers.append(
            {
                "board": board,
                "peer": peer,
                "layers": align_layers(ours["layers"], other["layers"]),
                "ours_instructions": ours["instructions"],
                "peer_instructions": other["instructions"],
                "ram": {"int8": ours.get("layer_ram", []), "float32": u["f32"].get("layer_ram", [])},
            }
        )
        for name, r in (("CNN int8", u["int8"]), ("CNN float32", u["f32"]),
                        ("trained CNN-FE + TinyRCE", u["learn_trained_interleaved"])):  # fmt: skip
            memory.append({"board": board, "firmware": name, "flash_bytes": r["flash_bytes"], **r["memory_map"]})
        runs_ok &= bool(ours["outputs_match"] and u["f32"]["outputs_match"] and other["outputs_match"])
        runs_ok &= all(bool(u[f"learn_trained_{p}"]["matches_reference"]) for p in PROTOCOLS)
        runs_ok &= bool(u["learn_elm_interleaved"]["matches_reference"] and rp["matches_reference"])
    first = next(iter(boards.values()))
    return {
        "tinyodl_version": __version__,
        "configuration": "quick (few windows per user, small experiences)" if opts.quick else "full",
        "simulator": opts.sim,
        "simulator_version": first["int8"]["simulator_version"],
        "firmware_hash": firmware_hash(),
        "models": {
            "int8": str(opts.int8),
            "f32": str(opts.f32),
            "elm": f"{HAR_ARCH}, random weights, seed {opts.elm_seed}",
        },  # fmt: skip
        "data": opts.data,
        "seed_source": seed.SOURCE,
        "instructions": "exact executed instructions on the simulator",
        "estimate": "cycles and latency are estimates: each row's `estimate` says how",
        "deployability": rows,
        "learning": learning,
        "replay": replay,
        "layers": layers,
        "memory": memory,
        "all_match_reference": runs_ok,
        "cached": cached,
        "seconds": round(seconds, 1),
    }


def with_options(opts: ReportOptions, **changes: Any) -> ReportOptions:
    return replace(opts, **changes)
