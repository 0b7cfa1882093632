"""`tinyodl learn --learner replay --protocol class-incremental`: latent replay on a simulated board.

data -> normalisation -> the frozen int8 stage up to the replay layer -> the replay firmware (stage, float32
head trained on the device, int8 replay buffer) -> build -> simulator -> per experience: its windows through
the frozen stage into the device's current store, training on the device, the buffer's update -> the
held-out windows of every class seen so far predicted on the device -> the host reference (the same
training in numpy on the same latents), no replay (forgetting) and joint training (the upper bound).

The training stream is the users that are not held out (for the watch set, subjects 1-8); the held-out
users' windows are the test split. The head starts from a seeded random initialisation: the first
experience holds `first_classes` classes, then one class arrives per experience.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..apps.protocol import close_session, open_session
from ..apps.replay import ReplayDriver
from ..datasets.labelled import Labelled, load_labelled
from ..errors import RunError, TinyodlError
from ..ir import FullyConnected, Graph, Reshape
from ..measure import CPI_SOURCE, estimate_cycles, latency_ms
from ..runner import Progress, RunOptions, prepare, quiet
from .firmware import ReplayFirmware, import_for_learning, replay_firmware
from .replay import HeadLearner, ReplayBuffer, ReplayParams
from .run import normalise, quantize_inputs, reference_outputs

Head = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]
WEIGHT_RTOL, WEIGHT_ATOL = 1e-3, 1e-4  # device (FMA chains) against numpy, after whole experiences


@dataclass(frozen=True)
class ReplayRunOptions:
    run: RunOptions = field(default_factory=RunOptions)
    data: str = "watch"
    first_classes: int = 2
    ram_budget: int = 48 * 1024
    replay_at: str | None = None
    current: int = 256  # latents of one experience the device trains on (evenly spaced)
    eval_per_class: int = 30  # held-out windows per class predicted after each experience
    train: ReplayParams = field(default_factory=ReplayParams)
    init_seed: int = 0
    head_init: str = "seed"  # "seed": small seeded random weights; "trained": the model's own head
    hidden: int = 0  # units of a hidden dense layer (with ReLU) before the output layer; 0: none
    protocol: str = "class-incremental"  # or "new-recording": personalisation on the held-out users
    calibration: Path | None = None
    normalize: str | None = None
    optimise: bool = True
    prefix: str | None = None
    cycles: bool = False  # estimate an SGD step's cycles with the per-core model: one more QEMU run


CYCLE_BATCHES = 2  # SGD steps of the traced training (one epoch on this many minibatches of latents)


def _difference(host: HeadLearner, w: np.ndarray, b: np.ndarray) -> tuple[float, bool]:
    """The device's output layer against the reference's: the largest difference, and whether it is within
    the stated tolerance."""
    hw, hb = host.head
    diff = float(max(np.abs(w - hw).max(), np.abs(b - hb).max()))
    close = bool(np.allclose(w, hw, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL) and np.allclose(b, hb, rtol=WEIGHT_RTOL,
                                                                                       atol=WEIGHT_ATOL))  # fmt: skip
    return diff, close


def _same_latent(device: np.ndarray, reference: np.ndarray) -> bool:
    """int8 latents: equal; float32 ones (the float stage sums in another order): within its tolerance."""
    if device.dtype.kind == "f":
        return bool(np.allclose(device, reference, rtol=1e-5, atol=1e-6))
    return bool(np.array_equal(device, reference))


def evenly(indices: np.ndarray, count: int) -> np.ndarray:
    if len(indices) <= count:
        return indices
    return indices[np.linspace(0, len(indices) - 1, count).astype(int)]


def trained_head(graph: Graph, feature_tensor: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The model's own dense head after the replay layer, as float32 (W, b)."""
    aliases = {feature_tensor}
    for op in graph.ops:
        if isinstance(op, Reshape) and op.inputs[0] in aliases:
            aliases.add(op.outputs[0])
    fc = next((op for op in graph.ops if isinstance(op, FullyConnected) and op.inputs[0] in aliases), None)
    if fc is None:
        raise TinyodlError(f"--head-init trained: no dense layer reads {feature_tensor} in {graph.name}")
    x, w = graph.tensors[fc.inputs[0]], graph.tensors[fc.inputs[1]]
    if w.data is None or w.shape[0] != classes:
        raise TinyodlError(
            f"--head-init trained: the model's head has {w.shape[0]} outputs, the data {classes} classes"
        )
    if w.quant is None:
        weights = w.data.astype(np.float32)
    else:
        scales = np.broadcast_to(np.asarray(w.quant.scale, np.float64), (w.shape[0],))
        zps = np.broadcast_to(np.asarray(w.quant.zero_point, np.float64), (w.shape[0],))
        weights = ((w.data.astype(np.float64) - zps[:, None]) * scales[:, None]).astype(np.float32)
    bias = np.zeros(w.shape[0], np.float32)
    if len(fc.inputs) > 2:
        b = graph.tensors[fc.inputs[2]]
        assert b.data is not None
        if b.quant is None:
            bias = b.data.astype(np.float32)
        else:
            bias = (b.data.astype(np.float64) * np.broadcast_to(np.asarray(b.quant.scale), (w.shape[0],))).astype(
                np.float32)  # fmt: skip
    del x
    return weights, bias


def initial_head(graph: Graph, feature_tensor: str, classes: int, opts: ReplayRunOptions) -> Head:
    """(w, b, w1, b1): the output layer and, with `opts.hidden`, the hidden layer (else None, None)."""
    features = graph.tensors[feature_tensor].size
    if opts.head_init == "trained":
        if opts.hidden:
            raise TinyodlError("--head-init trained takes the model's one dense head: use it with --hidden 0")
        return (*trained_head(graph, feature_tensor, classes), None, None)
    rng = np.random.default_rng(opts.init_seed)
    into = opts.hidden or features
    w = (rng.standard_normal((classes, into)) * 0.01).astype(np.float32)
    if not opts.hidden:
        return w, np.zeros(classes, np.float32), None, None
    w1 = (rng.standard_normal((opts.hidden, features)) * np.sqrt(2.0 / features)).astype(np.float32)
    return w, np.zeros(classes, np.float32), w1, np.zeros(opts.hidden, np.float32)


def _splits(data: Labelled) -> tuple[Labelled, Labelled]:
    """(training stream, test split): the users not held out and the held-out ones; with one user, every
    fifth recording is the test split."""
    if len(data.others.y) and len(data.learning.y):
        return data.others, data.learning
    test = np.isin(data.group, np.unique(data.group)[::5])
    return data.select(~test), data.select(test)


def _data(opts: ReplayRunOptions) -> tuple[Labelled, Labelled, Labelled, int]:
    """(the data, normalised; the training stream; the test split; the class count)."""
    data = load_labelled(opts.data)
    data = normalise(data, opts.normalize or ("none" if opts.data.endswith(".npz") else "std"))
    train_set, test_set = _splits(data)
    return data, train_set, test_set, int(max(train_set.y.max(), test_set.y.max())) + 1


def _firmware(model_path: Path, board_name: str, opts: ReplayRunOptions, classes: int) -> tuple[ReplayFirmware, Head]:
    """The replay firmware for the model and the head it starts from."""
    inner = import_for_learning(Path(model_path), opts.calibration)
    fw = replay_firmware(inner, board_name, opts.ram_budget, opts.replay_at, opts.prefix or Path(model_path).stem,
                         classes, opts.current, opts.train.batch, opts.optimise, opts.hidden)  # fmt: skip
    return fw, initial_head(inner, fw.feature_tensor, classes, opts)


def head_learner(fw: ReplayFirmware, head: Head, params: ReplayParams) -> HeadLearner:
    """The host reference of the device's head, from the same start."""
    w, b, w1, b1 = head
    buffer = ReplayBuffer(fw.buffer, fw.features, dtype=fw.latent_dtype)
    return HeadLearner(w, b, fw.scale, fw.zero_point, buffer, params, w1, b1)


def run_replay(model_path: Path, board_name: str, opts: ReplayRunOptions, progress: Progress = quiet) -> dict[str, Any]:
    t_start = time.monotonic()
    data, train_set, test_set, classes = _data(opts)
    if not 1 <= opts.first_classes < classes:
        raise TinyodlError(f"--first-classes must be 1..{classes - 1} for {classes} classes")
    fw, head = _firmware(model_path, board_name, opts, classes)
    experiences = [list(range(opts.first_classes))] + [[c] for c in range(opts.first_classes, classes)]
    chosen = [evenly(np.flatnonzero(np.isin(train_set.y, e)), fw.current) for e in experiences]
    tests = np.concatenate([evenly(np.flatnonzero(test_set.y == c), opts.eval_per_class) for c in range(classes)])

    progress("host reference: latents")
    train_rows = np.concatenate(chosen)
    xq_train = quantize_inputs(fw.graph, train_set.x[train_rows])
    xq_test = quantize_inputs(fw.graph, test_set.x[tests])
    lat_train = dict(zip(train_rows.tolist(), reference_outputs(fw.graph, fw.feature_tensor, False, xq_train)[0],
                         strict=True))  # fmt: skip
    lat_test, _ = reference_outputs(fw.graph, fw.feature_tensor, False, xq_test)
    lat_test = lat_test.astype(fw.latent_dtype)

    def learner(params: ReplayParams) -> HeadLearner:
        return head_learner(fw, head, params)

    host, no_replay = learner(opts.train), learner(replace(opts.train, replay=False))
    prep = prepare(board_name, fw.app, opts.run, progress, spec=fw.spec)
    per_tick = prep.placement.counter.instructions_per_tick
    rows: list[dict[str, Any]] = []
    latent_mismatches = 0
    t_run = time.monotonic()
    with prep.simulator.session(prep.placement, prep.elf, max(opts.run.timeout_s, 3600.0)) as sess:
        open_session(sess, "replay")
        drv = ReplayDriver(sess)
        info = drv.info()
        if (info.features, info.classes, info.buffer) != (fw.features, classes, fw.buffer):
            raise RunError(f"the firmware's learner ({info}) is not the generated one", sess.log())
        drv.params(opts.train)
        drv.load_head(*head)
        for e, (exp_classes, picked) in enumerate(zip(experiences, chosen, strict=True)):
            frozen_ticks = []
            for n, i in enumerate(picked):
                if n % 64 == 0:
                    progress(f"{board_name}: experience {e + 1}/{len(experiences)}, window {n + 1}/{len(picked)}")
                drv.window(quantize_inputs(fw.graph, train_set.x[i : i + 1])[0].tobytes())
                frozen_ticks.append(drv.add(int(train_set.y[i])))
            progress(f"{board_name}: experience {e + 1}/{len(experiences)}: training on the device")
            reply = drv.train()
            if reply.status != 0:
                raise RunError(f"training on the device stopped with status {reply.status} (4: a step would have "
                               "made a weight non-finite; the weights before it are kept)", sess.log())  # fmt: skip
            lat: np.ndarray = np.stack([lat_train[int(i)] for i in picked]).astype(fw.latent_dtype)
            host_loss = host.train_experience(lat, train_set.y[picked])
            no_replay.train_experience(lat, train_set.y[picked])
            seen = sorted(c for ex in experiences[: e + 1] for c in ex)
            mask = np.isin(test_set.y[tests], seen)
            device_pred, head_ticks = [], []
            for j in np.flatnonzero(mask):
                label, latent, _, head_t = drv.predict(lat_test[j], fw.latent_dtype)
                device_pred.append(label)
                head_ticks.append(head_t)
            truth = test_set.y[tests][mask]
            host_pred = host.predict(lat_test[mask])
            w_dev, b_dev = drv.head(classes, fw.hidden or fw.features)
            rows.append({
                "experience": e + 1, "classes": exp_classes, "seen": seen, "windows": len(picked),
                "accuracy": round(float(np.mean(np.array(device_pred) == truth)), 4),
                "host_accuracy": round(float(np.mean(host_pred == truth)), 4),
                "no_replay_accuracy": round(float(np.mean(no_replay.predict(lat_test[mask]) == truth)), 4),
                "prediction_disagreements": int(np.sum(np.array(device_pred) != host_pred)),
                "max_weight_difference": _difference(host, w_dev, b_dev)[0],
                "weights_match": _difference(host, w_dev, b_dev)[1],
                "loss": round(reply.loss, 5), "host_loss": round(host_loss, 5), "steps": reply.steps,
                "rows_updated": reply.rows_updated, "buffer_count": reply.buffer_count,
                "instructions_training": round(reply.train_ticks * per_tick),
                "instructions_per_step": round(reply.train_ticks * per_tick / max(reply.steps, 1), 1),
                "instructions_per_epoch": round(reply.train_ticks * per_tick / opts.train.epochs),
                "instructions_buffer_update": round(reply.buffer_ticks * per_tick),
                "instructions_frozen_stage": round(float(np.mean(frozen_ticks)) * per_tick, 1),
                "instructions_head_inference": round(float(np.mean(head_ticks)) * per_tick, 1) if head_ticks else None,
            })  # fmt: skip
        stats = close_session(sess)
    run_s = time.monotonic() - t_run
    cycle_model = None
    if opts.cycles:
        from ..cycles.collect import measure_replay_training

        picked = chosen[0][: CYCLE_BATCHES * fw.batch]
        progress(f"{board_name}: estimating an SGD step's cycles (one training with QEMU's execution log)")
        t0 = time.monotonic()
        sc = measure_replay_training(prep.board, prep.placement, prep.elf, replace(opts.train, epochs=1), head,
                                     np.stack([lat_train[int(i)] for i in picked]).astype(fw.latent_dtype),
                                     [int(v) for v in train_set.y[picked]], opts.run.timeout_s)  # fmt: skip
        cycle_model = sc.as_dict()
        cycle_model["seconds"] = round(time.monotonic() - t0, 2)
    joint = learner(replace(opts.train, replay=False, tinyprop=False))  # the upper bound: full training
    all_lat = np.concatenate([np.stack([lat_train[int(i)] for i in p]) for p in chosen]).astype(fw.latent_dtype)
    joint.train_experience(all_lat, train_set.y[np.concatenate(chosen)])
    joint_acc = float(np.mean(joint.predict(lat_test) == test_set.y[tests]))
    head_b, store_b, buf_b = fw.ram()
    last = rows[-1]
    time_per_exp = [latency_ms(estimate_cycles(prep.board.cpu, r["instructions_training"] + r["windows"]
                                               * r["instructions_frozen_stage"]), prep.board.clock_hz)
                    for r in rows]  # fmt: skip
    return {
        "tinyodl_version": __version__,
        "learner": "replay",
        "model": str(model_path),
        "board": board_name,
        "core": prep.board.cpu,
        "clock_hz": prep.board.clock_hz,
        "simulator": prep.placement.simulator,
        "machine": prep.placement.machine,
        "image": prep.placement.image,
        "data": data.name,
        "protocol": "class-incremental",
        "experiences": rows,
        "accuracy": last["accuracy"],
        "accuracy_per_experience": [r["accuracy"] for r in rows],
        "no_replay_accuracy": last["no_replay_accuracy"],
        "joint_accuracy": round(joint_acc, 4),
        "replay_over_joint": round(last["accuracy"] / joint_acc, 4) if joint_acc else None,
        "matches_reference": all(r["weights_match"] for r in rows),
        "disagreements": sum(r["prediction_disagreements"] for r in rows),
        "latent_mismatches": latent_mismatches,
        "train": {
            "lr": opts.train.lr,
            "momentum": opts.train.momentum,
            "weight_decay": opts.train.weight_decay,
            "epochs": opts.train.epochs,
            "batch": opts.train.batch,
            "tinyprop": opts.train.tinyprop,
        },  # fmt: skip
        "ram": {
            "head_and_training_bytes": head_b,
            "current_store_bytes": store_b,
            "buffer_bytes": buf_b,
            "buffer_latents": fw.buffer,
            "current_latents": fw.current,
            "learner_bytes": head_b + store_b + buf_b,
            "frozen_stage_arena_bytes": fw.lowered.plan.arena_bytes,
            "stack_peak_bytes": stats.stack_peak_bytes,
            "static_ram_bytes": prep.sizes.static_ram_bytes,
        },  # fmt: skip
        "ram_cap_bytes": opts.ram_budget,
        "within_ram_cap": head_b + store_b + buf_b <= opts.ram_budget,
        "flash_bytes": prep.sizes.flash_bytes,
        "instructions_granularity": per_tick,
        "time_per_experience_ms_estimated": [round(t, 2) for t in time_per_exp],
        "estimate_model": CPI_SOURCE,
        **({"cycle_model": cycle_model} if cycle_model is not None else {}),
        "run_seconds": round(run_s, 2),
        "total_seconds": round(time.monotonic() - t_start, 2),
    }


def run_personalise(model_path: Path, board_name: str, opts: ReplayRunOptions,
                    progress: Progress = quiet) -> dict[str, Any]:  # fmt: skip
    """Latent replay under TinyRCE's new-recording protocol: for each held-out user, from the trained
    head, a warm-up experience on the other users' latents fills the buffer; then each recording is
    predicted on the device with the state before it, then learned as one experience (with replay)."""
    t_start = time.monotonic()
    data, train_set, test_set, classes = _data(opts)
    fw, head = _firmware(model_path, board_name, opts, classes)
    warm = evenly(np.arange(len(train_set.y)), fw.current)
    progress("host reference: latents")
    warm_lat = reference_outputs(fw.graph, fw.feature_tensor, False, quantize_inputs(fw.graph, train_set.x[warm]))[0]
    warm_lat = warm_lat.astype(fw.latent_dtype)
    xq = quantize_inputs(fw.graph, test_set.x)
    ref_lat: np.ndarray = reference_outputs(fw.graph, fw.feature_tensor, False, xq)[0].astype(fw.latent_dtype)
    users = sorted({int(u) for u in test_set.subject.tolist()})

    def learner(params: ReplayParams) -> HeadLearner:
        return head_learner(fw, head, params)

    prep = prepare(board_name, fw.app, opts.run, progress, spec=fw.spec)
    per_tick = prep.placement.counter.instructions_per_tick
    truth: list[int] = []
    device: list[int] = []
    host_pred: list[int] = []
    no_replay_pred: list[int] = []
    latent_mismatches = 0
    train_ticks, steps, weight_diff = 0, 0, 0.0
    t_run = time.monotonic()
    with prep.simulator.session(prep.placement, prep.elf, max(opts.run.timeout_s, 3600.0)) as sess:
        open_session(sess, "replay")
        drv = ReplayDriver(sess)
        for user in users:
            host, no_replay = learner(opts.train), learner(replace(opts.train, replay=False))
            drv.params(opts.train)
            drv.load_head(*head)
            for lat, label in zip(warm_lat, train_set.y[warm], strict=True):
                drv.add(int(label), lat)
            reply = drv.train()
            for h in (host, no_replay):
                h.train_experience(warm_lat, train_set.y[warm])
            rows = np.flatnonzero(test_set.subject == user)
            starts = [0] + [k for k in range(1, len(rows)) if test_set.group[rows[k]] != test_set.group[rows[k - 1]]]
            for a, b in zip(starts, [*starts[1:], len(rows)], strict=True):
                progress(f"{board_name}: user {user}, recording at window {a + 1}/{len(rows)}")
                recording = rows[a:b][: fw.current]
                latents = []
                for i in recording:
                    drv.window(xq[i].tobytes())
                    label, latent, _, _ = drv.predict(dtype=fw.latent_dtype)
                    latent_mismatches += int(not _same_latent(latent, ref_lat[i]))
                    device.append(label)
                    latents.append(latent)
                truth += test_set.y[recording].tolist()
                host_pred += host.predict(ref_lat[recording]).tolist()
                no_replay_pred += no_replay.predict(ref_lat[recording]).tolist()
                for lat, i in zip(latents, recording, strict=True):
                    drv.add(int(test_set.y[i]), lat)
                reply = drv.train()
                if reply.status != 0:
                    raise RunError(f"training on the device stopped with status {reply.status}", sess.log())
                train_ticks += reply.train_ticks
                steps += reply.steps
                host.train_experience(ref_lat[recording], test_set.y[recording])
                no_replay.train_experience(ref_lat[recording], test_set.y[recording])
            w_dev, b_dev = drv.head(classes, fw.hidden or fw.features)
            weight_diff = max(
                weight_diff, float(np.abs(w_dev - host.head[0]).max()), float(np.abs(b_dev - host.head[1]).max())
            )
        stats = close_session(sess)
    t = np.array(truth)
    pretrained = learner(opts.train).predict(ref_lat)
    return {
        "tinyodl_version": __version__,
        "learner": "replay",
        "model": str(model_path),
        "board": board_name,
        "simulator": prep.placement.simulator,
        "machine": prep.placement.machine,
        "data": data.name,
        "protocol": "new-recording",
        "head_init": opts.head_init,
        "users": users,
        "windows": len(t),
        "accuracy": round(float(np.mean(np.array(device) == t)), 4),
        "host_accuracy": round(float(np.mean(np.array(host_pred) == t)), 4),
        "no_replay_accuracy": round(float(np.mean(np.array(no_replay_pred) == t)), 4),
        "pretrained_accuracy": round(float(np.mean(pretrained == test_set.y)), 4),
        "disagreements": int(np.sum(np.array(device) != np.array(host_pred))),
        "latent_mismatches": latent_mismatches,
        "max_weight_difference": weight_diff,
        "matches_reference": latent_mismatches == 0 and weight_diff < 1e-3,
        "instructions_training": round(train_ticks * per_tick),
        "instructions_per_step": round(train_ticks * per_tick / max(steps, 1), 1),
        "ram_cap_bytes": opts.ram_budget,
        "within_ram_cap": sum(fw.ram()) <= opts.ram_budget,
        "stack_peak_bytes": stats.stack_peak_bytes,
        "estimate_model": CPI_SOURCE,
        "run_seconds": round(time.monotonic() - t_run, 2),
        "total_seconds": round(time.monotonic() - t_start, 2),
    }
