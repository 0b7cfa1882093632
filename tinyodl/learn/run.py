"""`tinyodl learn`: the learner firmware on a simulated board, fed a real labelled stream under a protocol,
beside its numpy reference and the baselines (SPEC sections 6 and 7).

data -> normalisation -> model (or ELM) -> learner firmware (extractor + TinyRCE [+ pretrained head]) ->
build -> simulator -> for each held-out user, from an empty learner: the protocol's steps over the link
(window in, features, prediction, status, learning) -> the host reference on the same features, step by
step -> baselines on the same features -> the report.

Protocols (each held-out user is learned from nothing):
- interleaved: the seed's; the user's recordings in order, each window predicted, then learned;
- shuffled: the same windows in a seeded random order;
- new-recording: each recording is predicted with the state frozen before it, then learned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..apps.learn import LearnDriver
from ..apps.protocol import close_session, open_session
from ..datasets.labelled import Labelled, load_labelled
from ..errors import RunError, TinyodlError
from ..ir import DType, Graph
from ..measure import CPI_SOURCE, estimate_cycles, latency_ms
from ..reference.graph import run_graph
from ..runner import Progress, RunOptions, prepare, quiet
from . import baselines
from .firmware import LearnerFirmware, import_for_learning, learner_firmware
from .tinyrce import Outcome, RceParams, Status, TinyRCE, neuron_bytes

PROTOCOLS = ("interleaved", "shuffled", "new-recording")
DEFAULT_RAM_BUDGET = 16 * 1024
CURVE_POINTS = 50
DPASS_REPETITIONS = 20  # distance passes over the whole pool timed at the end of a run


@dataclass(frozen=True)
class LearnOptions:
    run: RunOptions = field(default_factory=RunOptions)
    data: str = "watch"
    protocol: str = "interleaved"
    ram_budget: int = DEFAULT_RAM_BUDGET
    distance: str = "l1"
    r_max: float | None = None  # None: from the data (see auto_r_max)
    r_min: float = 0.0
    aging: bool = True
    pruning: bool = True
    age_step: int = 256
    age_limit: int = 0
    features_at: str | None = None
    calibration: Path | None = None
    normalize: str | None = None  # "std" or "none"; default: std for the built-in sets, none for a file
    limit: int | None = None  # at most this many windows per user (quick runs)
    seed: int = 0
    optimise: bool = True
    prefix: str | None = None
    cycles: bool = False  # estimate a learning step's cycles with the per-core model: one more QEMU run

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise TinyodlError(f"unknown protocol {self.protocol!r}; one of {', '.join(PROTOCOLS)}")
        if self.distance not in ("l1", "l2"):
            raise TinyodlError(f"unknown distance {self.distance!r}; l1 or l2")
        if self.ram_budget <= 0:
            raise TinyodlError(f"the RAM budget must be a positive number of bytes, not {self.ram_budget}")


def steps_for(protocol: str, group: np.ndarray, seed: int) -> list[tuple[int, bool]]:
    """(window index, learn) steps of one user's stream; windows are in time order within recordings."""
    n = len(group)
    if protocol == "interleaved":
        return [(i, True) for i in range(n)]
    if protocol == "shuffled":
        return [(int(i), True) for i in np.random.default_rng(seed).permutation(n)]
    steps: list[tuple[int, bool]] = []
    start = 0
    for end in range(1, n + 1):
        if end == n or group[end] != group[start]:
            steps += [(i, False) for i in range(start, end)] + [(i, True) for i in range(start, end)]
            start = end
    return steps


def user_streams(learning: Labelled, opts: LearnOptions) -> dict[int, list[tuple[int, bool]]]:
    """Each learned user's steps, as (window index into `learning`, learn)."""
    streams = {}
    for user in sorted(set(learning.subject.tolist())):
        rows = np.flatnonzero(learning.subject == user)[: opts.limit or None]
        steps = steps_for(opts.protocol, learning.group[rows], opts.seed + int(user))
        streams[int(user)] = [(int(rows[i]), learn) for i, learn in steps]
    return streams


def normalise(data: Labelled, how: str) -> Labelled:
    if how == "none":
        return data
    basis = data.others if len(data.others.y) else data
    scale = basis.x.reshape(-1, basis.x.shape[-1]).std(axis=0).astype(np.float32)
    scale[scale == 0] = 1.0
    return replace(data, x=(data.x / scale).astype(np.float32))


def quantize_inputs(graph: Graph, x: np.ndarray) -> np.ndarray:
    t = graph.tensors[graph.inputs[0]]
    flat = x.reshape(len(x), -1)
    if flat.shape[1] != t.size:
        raise TinyodlError(f"the windows have {flat.shape[1]} values, the model takes {t.size} {tuple(t.shape)}")
    if t.dtype is DType.INT8:
        assert t.quant is not None
        q = np.round(flat / t.quant.scale[0]) + t.quant.zero_point[0]
        return np.clip(q, -128, 127).astype(np.int8)
    return flat.astype(np.float32)


def reference_outputs(
    graph: Graph, feature_tensor: str, head: bool, xq: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """The numpy reference's features and, with a head (the graph's output after them), its classes."""
    feats, heads = [], []
    out = graph.outputs[0]
    for x in xq:
        r = run_graph(graph, x)
        feats.append(r[feature_tensor].reshape(-1))
        if head:
            heads.append(int(np.argmax(r[out].reshape(-1))))
    return np.stack(feats), (np.array(heads) if head else None)


def r_max_for(fw: LearnerFirmware, data: Labelled, opts: LearnOptions,
              learning_features: np.ndarray | None = None) -> float:  # fmt: skip
    """--r-max, or from the data: auto_r_max over up to 300 windows of the users that are not learned (the
    learned users' own windows when there are no others; `learning_features` when already computed)."""
    if opts.r_max is not None:
        return opts.r_max
    others = data.others
    if len(others.y):
        pick = np.random.default_rng(opts.seed).permutation(len(others.y))[:300]
        features, _ = reference_outputs(fw.graph, fw.feature_tensor, False, quantize_inputs(fw.graph, others.x[pick]))
        y = others.y[pick]
    else:
        if learning_features is None:
            learning_features, _ = reference_outputs(fw.graph, fw.feature_tensor, False,
                                                     quantize_inputs(fw.graph, data.learning.x))  # fmt: skip
        features, y = learning_features, data.learning.y
    return auto_r_max(features, y, fw.int8, opts.distance == "l2", opts.seed)


def auto_r_max(features: np.ndarray, y: np.ndarray, int8: bool, l2: bool, seed: int, sample: int = 300) -> float:
    """The median distance from a window to the nearest window of another class: a new neuron's field
    then reaches about halfway into the other classes' typical territory."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))[:sample]
    enc = baselines.encode(features[idx], int8)
    yy = y[idx]
    nearest = []
    for i in range(len(idx)):
        other = yy != yy[i]
        if other.any():
            nearest.append(baselines.distance_rows(enc[other], enc[i], l2).min())
    if not nearest:
        return 1e30
    r = float(np.median(nearest))
    return float(int(r)) if int8 else r


def _per_element(records: list[dict[str, Any]], per_tick: float, features: int) -> float | None:
    """What predict costs per prototype element: the slope of its instructions over the neuron count
    (the distance pass and the decision over each neuron), divided by the feature count."""
    n = np.array([r["neurons_before"] for r in records], dtype=np.float64)
    t = np.array([r["ticks"][1] for r in records], dtype=np.float64) * per_tick
    if len(n) < 2 or np.ptp(n) == 0:
        return None
    slope = np.polyfit(n, t, 1)[0]
    return round(float(slope) / features, 3)


def _accuracy(pred: list[int] | np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == truth)) if len(truth) else 0.0


def _curve(correct: list[bool]) -> list[list[float]]:
    if not correct:
        return []
    cum = np.cumsum(correct) / np.arange(1, len(correct) + 1)
    points = np.unique(np.linspace(1, len(correct), min(CURVE_POINTS, len(correct))).astype(int))
    return [[int(p), round(float(cum[p - 1]), 4)] for p in points]


def run_learn(model_path: Path, board_name: str, opts: LearnOptions, progress: Progress = quiet) -> dict[str, Any]:
    t_start = time.monotonic()
    progress(f"data: {opts.data}")
    data = load_labelled(opts.data)
    how = opts.normalize or ("none" if opts.data.endswith(".npz") else "std")
    data = normalise(data, how)
    inner = import_for_learning(Path(model_path), opts.calibration)
    prefix = opts.prefix or Path(model_path).stem
    fw = learner_firmware(inner, board_name, opts.ram_budget, opts.features_at, prefix, opts.optimise)
    if fw.int8 and opts.distance == "l2":
        raise TinyodlError("int8 features use the L1 distance (USADA8); --distance l2 needs float32 features")
    learning = data.learning
    streams = user_streams(learning, opts)

    progress("host reference: features of the held-out users")
    xq = quantize_inputs(fw.graph, learning.x)
    ref_features, head_pred = reference_outputs(fw.graph, fw.feature_tensor, fw.head_classes > 0, xq)
    r_max = r_max_for(fw, data, opts, ref_features)
    params = RceParams(distance=opts.distance, r_max=r_max, r_min=opts.r_min, aging=opts.aging,
                       age_step=opts.age_step, pruning=opts.pruning, age_limit=opts.age_limit,
                       capacity=fw.capacity)  # fmt: skip

    prep = prepare(board_name, fw.app, opts.run, progress, spec=fw.spec)
    per_tick = prep.placement.counter.instructions_per_tick
    records: list[dict[str, Any]] = []
    feature_mismatches = 0
    max_feature_error = 0.0
    t_run = time.monotonic()
    with prep.simulator.session(prep.placement, prep.elf, max(opts.run.timeout_s, 3600.0)) as sess:
        open_session(sess, "learn")
        drv = LearnDriver(sess)
        info = drv.info()
        if (info.features, info.pool, info.int8) != (fw.features, fw.capacity, fw.int8):
            raise RunError(f"the firmware's learner ({info}) is not the generated one", sess.log())
        for user, steps in streams.items():
            drv.init(params, fw.int8)
            host = TinyRCE(fw.features, fw.dtype, params)
            for n, (i, learn) in enumerate(steps):
                if n % 50 == 0:
                    progress(f"{board_name}: user {user}, step {n + 1}/{len(steps)} ({opts.protocol})")
                drv.window(xq[i].tobytes())
                label = int(learning.y[i])
                reply = drv.step(label if learn else None, learn, int8=fw.int8, send_back=True)
                assert reply.features is not None
                if fw.int8:
                    if not np.array_equal(reply.features, ref_features[i]):
                        feature_mismatches += 1
                else:
                    err = float(np.max(np.abs(reply.features - ref_features[i])))
                    max_feature_error = max(max_feature_error, err)
                neurons_before = host.count
                d = host.distances(reply.features)
                hp = host.predict(reply.features, d)
                outcome = host.learn(reply.features, label, d) if learn else None
                agree = (hp.label, hp.status, host.count) == (reply.label, reply.status, reply.neurons) and (
                    outcome == reply.outcome)  # fmt: skip
                records.append({
                    "user": user, "window": i, "learn": learn, "label": label, "pred": reply.label,
                    "status": int(reply.status), "head": reply.head_label, "neurons": reply.neurons,
                    "outcome": None if reply.outcome is None else int(reply.outcome), "agree": agree,
                    "neurons_before": neurons_before,
                    "ticks": reply.ticks,
                })  # fmt: skip
        state_ok = drv.check() == 0
        neurons_now = records[-1]["neurons"] if records else 0
        blob = drv.export_state(drv.state_size(fw.features, fw.int8, neurons_now)) if opts.cycles else b""
        pool, feats, dpass_ticks = drv.distance_pass(DPASS_REPETITIONS)
        dpass = round(dpass_ticks * per_tick / (DPASS_REPETITIONS * pool * feats), 3)
        stats = close_session(sess)
    run_s = time.monotonic() - t_run
    result = _report(model_path, board_name, opts, data, learning, fw, prep, params, records, ref_features, head_pred,
                     per_tick, stats.stack_peak_bytes, state_ok, feature_mismatches, max_feature_error, streams, how,
                     run_s, time.monotonic() - t_start, dpass)  # fmt: skip
    if opts.cycles:
        first = next(iter(streams.values()))[:CYCLE_STEPS]
        traced = [(xq[i].tobytes(), int(learning.y[i])) for i, _ in first]
        add_step_cycles(result, prep, params, fw.int8, traced, blob, opts.run, progress)
    return result


CYCLE_STEPS = 3  # learning steps traced for the cycle estimate (the last one is estimated)


def add_step_cycles(result: dict[str, Any], prep: Any, params: RceParams, int8: bool, steps: list[tuple[bytes, int]],
                    state: bytes, run: RunOptions, progress: Progress) -> None:  # fmt: skip
    """`cycle_model` in the result: a learning step's estimated cycles per part (extract, predict, learn) from
    QEMU's execution log of `steps` run after importing the learner's final `state` (docs/cycles.md)."""
    from ..cycles.collect import measure_learner_step, step_cycles

    progress(f"{prep.board.name}: estimating a learning step's cycles ({len(steps)} steps with QEMU's execution log)")
    t0 = time.monotonic()
    sc = measure_learner_step(prep.board, prep.placement, prep.elf, params, int8, steps, run.timeout_s, state)
    model = sc.as_dict()
    model["seconds"] = round(time.monotonic() - t0, 2)
    result["cycle_model"] = model
    per_step = result["instructions_per_step"]
    cycles = step_cycles({name: per_step[name] for name in ("extract", "predict", "learn")}, model)
    if cycles is not None:
        result["learning_step_estimated_cycles"] = round(cycles)
        result["learning_step_estimated_latency_ms"] = round(latency_ms(cycles, prep.board.clock_hz), 4)


def _report(model_path: Path, board_name: str, opts: LearnOptions, data: Labelled, learning: Labelled,
            fw: LearnerFirmware, prep: Any, params: RceParams, records: list[dict[str, Any]],
            ref_features: np.ndarray, head_pred: np.ndarray | None, per_tick: float, stack_peak: int,
            state_ok: bool, feature_mismatches: int, max_feature_error: float,
            streams: dict[int, list[tuple[int, bool]]], how: str,
            run_s: float, total_s: float, dpass: float) -> dict[str, Any]:  # fmt: skip
    tested = [r for r in records if not (opts.protocol == "new-recording" and r["learn"])]
    truth = np.array([r["label"] for r in tested])
    pred = [r["pred"] for r in tested]
    unknown = [r["status"] == Status.UNKNOWN for r in tested]
    fallback = [r["head"] if r["status"] == Status.UNKNOWN and r["head"] >= 0 else r["pred"] for r in tested]
    windows = np.array([r["window"] for r in tested])

    # baselines on the same (reference) features, per user, in the same protocol
    base: dict[str, list[int]] = {"trivial": [], "knn": [], "rce": []}
    knn_stored = rce_neurons = 0
    backprop = np.full(len(learning.y), -1, np.int64)
    for mapped in streams.values():
        rows = np.array(sorted({i for i, _ in mapped}))
        keep = [not (opts.protocol == "new-recording" and learn) for _, learn in mapped]
        t = baselines.trivial(mapped, learning.y)
        k, stored = baselines.knn1(mapped, ref_features, learning.y, fw.int8, params.distance == "l2")
        r, count = baselines.plain_rce(mapped, ref_features, learning.y, fw.int8, params, len(mapped))
        for name, out in (("trivial", t), ("knn", k), ("rce", r)):
            base[name] += [p for p, kept in zip(out, keep, strict=True) if kept]
        knn_stored, rce_neurons = max(knn_stored, stored), max(rce_neurons, count)
        folds = learning.group[rows] if opts.protocol == "new-recording" else np.arange(len(rows))
        backprop[rows] = baselines.backprop_kfold(ref_features[rows], learning.y[rows], folds,
                                                  max(len(data.classes), int(learning.y.max()) + 1),
                                                  seed=opts.seed)  # fmt: skip
    nb = neuron_bytes(fw.features, fw.dtype)
    elem = 1 if fw.int8 else 4
    ticks = np.array([r["ticks"] for r in records], dtype=np.float64) * per_tick
    learn_rows = np.array([r["learn"] for r in records])
    extract = ticks[:, 0]
    predict = ticks[:, 1]
    learn_i = ticks[learn_rows, 2] if learn_rows.any() else np.zeros(1)
    head_rows = ticks[:, 3] > 0
    neurons = max((r["neurons"] for r in records), default=0)
    disagreements = sum(not r["agree"] for r in records)
    per_step = {
        "extract": round(float(extract.mean()), 1),
        "predict": round(float(predict.mean()), 1),
        "learn": round(float(learn_i.mean()), 1),
        "head": round(float(ticks[head_rows, 3].mean()), 1) if head_rows.any() else None,
    }
    step_instr = float(extract.mean() + predict.mean() + learn_i.mean())
    measured = extract[extract > 0]
    cycles = estimate_cycles(prep.board.cpu, step_instr)
    result: dict[str, Any] = {
        "tinyodl_version": __version__,
        "model": str(model_path),
        "board": board_name,
        "core": prep.board.cpu,
        "clock_hz": prep.board.clock_hz,
        "simulator": prep.placement.simulator,
        "simulator_version": prep.placement.simulator_version,
        "machine": prep.placement.machine,
        "image": prep.placement.image,
        "data": data.name,
        "normalisation": how,
        "protocol": opts.protocol,
        "users": list(streams),
        "windows": len(tested),
        "steps": len(records),
        "features": {"tensor": fw.feature_tensor, "count": fw.features, "dtype": fw.dtype, "layer": fw.feature_layer},
        "learner": {
            "distance": params.distance,
            "r_max": params.r_max,
            "r_min": params.r_min,
            "aging": params.aging,
            "age_step": params.age_step,
            "pruning": params.pruning,
            "age_limit": params.age_limit,
            "capacity": fw.capacity,
            "neuron_bytes": nb,
        },  # fmt: skip
        "accuracy": round(_accuracy(pred, truth), 4),
        "accuracy_curve": _curve([p == t for p, t in zip(pred, truth, strict=True)]),
        "matches_reference": disagreements == 0,
        "disagreements": disagreements,
        "feature_mismatches": feature_mismatches if fw.int8 else None,
        "max_feature_error": None if fw.int8 else max_feature_error,
        "neurons": neurons,
        "ram_cap_bytes": opts.ram_budget,
        "ram_peak_bytes": neurons * nb,
        "within_ram_cap": neurons <= fw.capacity and neurons * nb <= opts.ram_budget,
        "state_check_ok": state_ok,
        "unknown_rate": round(float(np.mean(unknown)), 4) if unknown else 0.0,
        "instructions_per_step": per_step,
        "instructions_granularity": per_tick,
        "extract_instructions_range": [round(float(measured.min()), 1), round(float(measured.max()), 1)]
        if measured.size
        else None,
        "predict_instructions_per_element": _per_element(records, per_tick, fw.features),
        "distance_pass_instructions_per_element": dpass,
        "learning_step_latency_ms_estimated": round(latency_ms(cycles, prep.board.clock_hz), 4),
        "estimate_model": CPI_SOURCE,
        "ram": {
            "learner_pool_bytes": fw.capacity * nb,
            "extractor_arena_bytes": fw.lowered.plan.arena_bytes,
            "stack_peak_bytes": stack_peak,
            "static_ram_bytes": prep.sizes.static_ram_bytes,
            "extractor_plus_learner_bytes": fw.lowered.plan.arena_bytes + fw.capacity * nb,
        },
        "flash_bytes": prep.sizes.flash_bytes,
        "baselines": {
            "trivial": {"accuracy": round(_accuracy(base["trivial"], truth), 4), "ram_bytes": 1},
            "knn": {
                "accuracy": round(_accuracy(base["knn"], truth), 4),
                "ram_bytes": knn_stored * fw.features * elem,
                "stored": knn_stored,
            },
            "rce": {
                "accuracy": round(_accuracy(base["rce"], truth), 4),
                "ram_bytes": rce_neurons * nb,
                "neurons": rce_neurons,
            },
            "backprop": {
                "accuracy": round(_accuracy(backprop[windows], truth), 4),
                "ram_bytes": (fw.features + 1) * max(len(data.classes), 1) * 4,
                "note": "softmax trained offline, 5-fold over the user's windows (new-recording: over recordings)",
            },
        },  # fmt: skip
        "elf": str(prep.elf),
        "run_seconds": round(run_s, 2),
        "total_seconds": round(total_s, 2),
    }
    result["backprop_accuracy"] = result["baselines"]["backprop"]["accuracy"]
    if head_pred is not None:
        result["pretrained_accuracy"] = round(_accuracy(head_pred[windows], truth), 4)
        result["fallback_accuracy"] = round(_accuracy(fallback, truth), 4)
        result["baselines"]["pretrained"] = {"accuracy": result["pretrained_accuracy"]}
    result["outcomes"] = {o.name.lower(): sum(r["outcome"] == o for r in records) for o in Outcome}
    return result
