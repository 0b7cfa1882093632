"""`tinyodl nas`: data -> splits -> the Occam's-razor search (candidates as Ray tasks) -> the found model trained
longer -> its int8 model, firmware, measured table, history and plot in the output folder.

Splits: the data set's held-out users (watch: subjects 9 and 10, as the reference HAR network holds them
out) are the test set and are never seen by the search. Of the other users, a quarter (at least one) give
the validation windows that score candidates; with a single other user (BasicMotions' training half) a
seeded quarter of its windows does. Windows are normalised as `tinyodl learn` normalises them (per-channel
standard deviation of the non-held-out users for the built-in sets, none for a file), so the found model
plugs into `tinyodl learn` unchanged.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..boards import load_board
from ..datasets.labelled import Labelled, load_labelled
from ..errors import TinyodlError
from .evaluate import MEASURE_WINDOWS, EvalConfig, Split, evaluate, export, footprint, measure, stack_reserved, train
from .parallel import make_backend
from .space import Candidate, kernels, max_cells
from .strategy import Verdict, occam_search

Progress = Callable[[str], None]
HISTORY = "history.jsonl"


@dataclass(frozen=True)
class NasOptions:
    data: str = "watch"
    board: str = "nucleo-l476rg"
    ram_budget: int | None = None
    flash_budget: int | None = None
    latency_ms: float | None = None
    workers: int | None = None
    ray_address: str | None = None
    out: Path = Path("nas-out")
    resume: bool = False
    epochs: int = 6
    final_epochs: int = 30
    seed: int = 0
    max_k: int = 32
    sim: str = "qemu"

    def __post_init__(self) -> None:
        for name in ("ram_budget", "flash_budget"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise TinyodlError(f"--{name.replace('_', '-')} must be a positive number of bytes, not {value}")
        if self.latency_ms is not None and self.latency_ms <= 0:
            raise TinyodlError(f"--latency-ms must be positive, not {self.latency_ms}")
        if self.workers is not None and self.workers < 1:
            raise TinyodlError(f"--workers must be at least 1, not {self.workers}")
        if self.epochs < 1 or self.final_epochs < 1:
            raise TinyodlError("--epochs and --final-epochs must be at least 1")

    def search_key(self) -> dict[str, Any]:
        """What a resumed search must share with the one that wrote the history (budgets may change: they only
        judge the recorded footprints)."""
        return {"data": self.data, "board": self.board, "epochs": self.epochs, "seed": self.seed, "sim": self.sim,
                "tinyodl": __version__}  # fmt: skip


def normalise(data: Labelled) -> Labelled:
    """As `tinyodl learn` does (learn.run.normalise), for the built-in sets; a file's windows as they are."""
    from ..learn.run import normalise as learn_normalise

    return learn_normalise(data, "none" if data.name not in ("watch", "basicmotions") else "std")


def load_data(spec: str) -> Labelled:
    """`tinyodl learn`'s data sets (watch, basicmotions, a .npz of (N, T, C) windows), and a .npz of (N, H, W, C)
    images with the same optional arrays (y, group, subject, classes) for the 2-D search space."""
    path = Path(spec)
    if path.suffix == ".npz" and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                x = f["x"] if "x" in f.files else None
                arrays = {k: f[k] for k in f.files if k != "x"} if x is not None and x.ndim == 4 else None
        except (OSError, ValueError) as exc:
            raise TinyodlError(f"{path}: cannot read labelled windows: {exc}") from None
        if x is not None and arrays is not None:
            return _images(path, x, arrays)
    return load_labelled(spec)


def _images(path: Path, x: np.ndarray, arrays: dict[str, np.ndarray]) -> Labelled:
    if "y" not in arrays:
        raise TinyodlError(f"{path}: no array 'y' of labels; see docs/nas.md")
    y = np.asarray(arrays["y"])
    n = len(x)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 254:
        raise TinyodlError(f"{path}: need y (N,) of integer labels 0..254 for x {x.shape}; got y {y.shape}")
    if not np.all(np.isfinite(x)):
        raise TinyodlError(f"{path}: x holds NaN or infinite values")
    group = np.asarray(arrays.get("group", np.arange(n)), np.int64)
    subject = np.asarray(arrays.get("subject", np.zeros(n)), np.int64)
    if group.shape != (n,) or subject.shape != (n,):
        raise TinyodlError(f"{path}: group and subject must have one entry per image ({n})")
    classes = tuple(str(c) for c in arrays.get("classes", range(int(y.max()) + 1)))
    users = sorted(set(subject.tolist()))
    test = tuple(users[len(users) // 2 :]) if len(users) > 1 else tuple(users)
    return Labelled(path.stem, x.astype(np.float32), y.astype(np.int64), group, subject, classes, test)


def splits(data: Labelled, seed: int) -> tuple[Split, Labelled]:
    """(training/validation split for the search, held-out test windows)."""
    others, test = data.others, data.learning
    if len(others.y) == 0:  # a file with one user: its first half of recordings searches, the rest tests
        groups = np.unique(data.group)
        cut = np.isin(data.group, groups[: max(1, len(groups) // 2)])
        others, test = data.select(cut), data.select(~cut)
    users = sorted(set(others.subject.tolist()))
    rng = np.random.default_rng(seed)
    if len(users) > 1:
        n_val = max(1, len(users) // 4)
        val_mask = np.isin(others.subject, users[-n_val:])
    else:
        val_mask = np.zeros(len(others.y), bool)
        val_mask[rng.permutation(len(others.y))[: max(1, len(others.y) // 4)]] = True
    if val_mask.all() or not val_mask.any():
        raise TinyodlError(f"--data {data.name}: too few windows to split for a search ({len(others.y)})")
    classes = int(max(data.y.max() + 1, len(data.classes)))
    split = Split(others.x[~val_mask], others.y[~val_mask], others.x[val_mask], others.y[val_mask], classes)
    return split, test


def judge(record: dict[str, Any], opts: NasOptions) -> Verdict:
    if "error" in record:
        return Verdict(False, record["error"])
    fp = record["footprint"]
    if not fp["outputs_match"]:
        return Verdict(False, "the firmware's outputs differ from the reference")
    if fp["stack_peak_bytes"] > fp["stack_reserved_bytes"]:
        return Verdict(False, f"stack peak {fp['stack_peak_bytes']:,} B > reserved {fp['stack_reserved_bytes']:,} B")
    if opts.ram_budget is not None and fp["ram_bytes"] > opts.ram_budget:
        return Verdict(False, f"RAM {fp['ram_bytes']:,} B > budget {opts.ram_budget:,} B")
    if opts.flash_budget is not None and fp["flash_bytes"] > opts.flash_budget:
        return Verdict(False, f"flash {fp['flash_bytes']:,} B > budget {opts.flash_budget:,} B")
    if opts.latency_ms is not None and fp["latency_ms_estimated"] > opts.latency_ms:
        return Verdict(False, f"latency {fp['latency_ms_estimated']} ms (estimated) > bound {opts.latency_ms} ms")
    return Verdict(True)


def read_history(path: Path, opts: NasOptions) -> dict[Candidate, dict[str, Any]]:
    known: dict[Candidate, dict[str, Any]] = {}
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                break  # a line cut by the interruption
            raise TinyodlError(f"{path}:{n}: not a JSON line; the history is damaged") from None
        if rec.get("kind") == "search":
            if rec["key"] != opts.search_key():
                diff = ", ".join(f"{k} {rec['key'].get(k)!r} -> {v!r}" for k, v in opts.search_key().items()
                                 if rec["key"].get(k) != v)  # fmt: skip
                raise TinyodlError(f"{path}: the history is of another search ({diff}); use another -o")
        elif rec.get("kind") == "candidate":
            result = {k: v for k, v in rec.items() if k not in ("kind", "feasible", "reason")}
            known[Candidate(rec["k"], rec["c"])] = result
    return known


class History:
    """history.jsonl: one header line, then one line per evaluated candidate as soon as it is done."""

    def __init__(self, path: Path, opts: NasOptions, fresh: bool) -> None:
        self.path, self.opts = path, opts
        if fresh:
            path.write_text(json.dumps({"kind": "search", "key": opts.search_key()}) + "\n")
            return
        lines = path.read_text().splitlines()
        if lines and not _is_json(lines[-1]):  # the line an interruption cut: drop it, the candidate runs again
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in lines[:-1]))
            tmp.replace(path)

    def add(self, cand: Candidate, record: dict[str, Any]) -> None:
        verdict = judge(record, self.opts)
        line = {"kind": "candidate", **record, "feasible": verdict.feasible, "reason": verdict.reason}
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def held_out_accuracy(tflite: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the int8 model on the held-out windows, on LiteRT's reference kernels."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(tflite), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale, zero = inp["quantization"]
    correct = 0
    for xi, yi in zip(x, y, strict=True):
        q = np.clip(np.round(xi / scale) + zero, -128, 127).astype(np.int8).reshape(inp["shape"])
        it.set_tensor(inp["index"], q)
        it.invoke()
        correct += int(np.argmax(it.get_tensor(out["index"]).reshape(-1)) == yi)
    return correct / len(y)


def _check_out(opts: NasOptions) -> bool:
    """True when the search starts afresh. An existing search is never overwritten."""
    history = opts.out / HISTORY
    if opts.resume:
        if not history.is_file():
            raise TinyodlError(f"--resume: {history} does not exist; nothing to resume")
        return False
    if opts.out.exists() and any(opts.out.iterdir()):
        what = "holds a search (resume it with --resume)" if history.is_file() else "is not empty"
        raise TinyodlError(f"-o {opts.out}: the folder {what}; choose another folder")
    return True


def run_nas(opts: NasOptions, progress: Progress, note: Progress | None = None) -> dict[str, Any]:
    t_start = time.monotonic()
    board = load_board(opts.board)
    fresh = _check_out(opts)
    progress(f"data: {opts.data}")
    data = normalise(load_data(opts.data))
    split, test = splits(data, opts.seed)
    try:
        limit = max_cells(split.shape)
    except ValueError as exc:
        raise TinyodlError(f"--data {opts.data}: {exc}") from None
    out = opts.out.resolve()
    known = {} if fresh else read_history(out / HISTORY, opts)
    resumed = len(known)
    cfg = EvalConfig(board=board.name, epochs=opts.epochs, seed=opts.seed, sim=opts.sim, workdir=str(out),
                     cache=str(_footprint_cache()))  # fmt: skip

    def done(cand: Candidate, record: dict[str, Any]) -> None:
        history.add(cand, record)
        progress(f"evaluated ({cand.k}, {cand.c}): accuracy {record.get('score', 0):.3f}, " + _fp_text(record))

    def visit(cand: Candidate, record: dict[str, Any], verdict: Verdict) -> None:
        state = "feasible" if verdict.feasible else f"infeasible ({verdict.reason})"
        score = record.get("score", 0)
        progress(f"visited ({cand.k}, {cand.c}) #{len(outcome_visits) + 1}: score {score:.3f}, {state}")
        outcome_visits.append(cand)

    outcome_visits: list[Candidate] = []
    backend = make_backend(opts.workers, opts.ray_address, evaluate, (split, cfg), known, done, note)
    out.mkdir(parents=True, exist_ok=True)
    history = History(out / HISTORY, opts, fresh)  # once Ray runs: a search that cannot start leaves nothing
    t_search = time.monotonic()
    try:
        outcome = occam_search(backend, lambda r: judge(r, opts), limit, opts.max_k, visit)
    finally:
        backend.close()
    search_s = time.monotonic() - t_search
    visited = [_row(c, known[c], judge(known[c], opts)) for c in outcome.visited]
    if outcome.best is None:
        first = known[Candidate(1, 0)]
        raise TinyodlError(f"no candidate fits: the smallest, (k=1, c=0), {_fp_text(first)} on {board.name}: "
                           f"{judge(first, opts).reason}")  # fmt: skip

    best = outcome.best
    progress(f"training ({best.k}, {best.c}) for {opts.final_epochs} epochs")
    full = Split(np.concatenate([split.x_train, split.x_val]), np.concatenate([split.y_train, split.y_val]),
                 split.x_val, split.y_val, split.classes)  # fmt: skip
    model, _, _ = train(best, full, replace(cfg, epochs=opts.final_epochs))
    keras_path, calib, tflite = export(model, split, opts.seed, out, "best")
    float_acc = float(np.mean(np.argmax(model.predict(test.x, verbose=0), axis=1) == test.y))
    int8_acc = held_out_accuracy(tflite, test.x, test.y)
    inputs = out / "test_windows.npz"
    np.savez(inputs, x=test.x.astype(np.float32), y=test.y)
    progress(f"{board.name}: building and running the found model")
    run = measure(tflite, inputs, replace(cfg, timeout_s=600.0))
    (out / "measured.json").write_text(json.dumps(run, indent=2))
    fp = footprint(run, stack_reserved(run))
    final_verdict = judge({"footprint": fp}, opts)
    _write_firmware(tflite, board.name, out / "firmware")
    evaluated = [_row(c, r, judge(r, opts)) for c, r in sorted(known.items())]
    summary: dict[str, Any] = {
        "tinyodl_version": __version__,
        "data": opts.data,
        "board": board.name,
        "budgets": {"ram_bytes": opts.ram_budget, "flash_bytes": opts.flash_budget, "latency_ms": opts.latency_ms},
        "found": {"k": best.k, "c": best.c, "kernels": kernels(best.k, best.c), "score": known[best]["score"]},
        "search_footprint": known[best]["footprint"],
        "footprint": fp,
        "feasible": final_verdict.feasible,
        "reason": final_verdict.reason,
        "accuracy_held_out_int8": round(int8_acc, 4),
        "accuracy_held_out_float": round(float_acc, 4),
        "test_windows": len(test.y),
        "test_subjects": sorted(set(test.subject.tolist())),
        "params": int(model.count_params()),
        "outputs_match": bool(run["passed"]),
        "stop": outcome.stop,
        "visited": visited,
        "evaluated": evaluated,
        "evaluated_here": backend.evaluated,
        "resumed": resumed,
        "speculative_unused": len(known) - len(set(outcome.visited)),
        "workers": backend.width,
        "backend": type(backend).__name__.removesuffix("Backend").lower(),
        "epochs": opts.epochs,
        "final_epochs": opts.final_epochs,
        "search_seconds": round(search_s, 1),
        "total_seconds": 0.0,
        "files": {
            "keras": str(keras_path),
            "tflite": str(tflite),
            "calibration": str(calib),
            "measured": str(out / "measured.json"),
            "history": str(out / HISTORY),
            "firmware": str(out / "firmware"),
            "plot": str(out / "search.png"),
            "test_windows": str(inputs),
        },  # fmt: skip
        "reproduce": f"tinyodl run {tflite} --board {board.name} --whole --inputs {inputs} "
        f"--limit {MEASURE_WINDOWS} --json",
        "learn": f"tinyodl learn {tflite} --board {board.name} --data {opts.data}",
    }
    summary["plot_written"] = _plot(evaluated, visited, best, out / "search.png")
    summary["total_seconds"] = round(time.monotonic() - t_start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _footprint_cache() -> Path:
    from ..toolchain.project import default_build_root

    return default_build_root().parent / "nas-footprints"


def _fp_text(record: dict[str, Any]) -> str:
    if "footprint" not in record:
        return f"not measured ({record.get('error', 'no footprint')})"
    fp = record["footprint"]
    return f"RAM {fp['ram_bytes']:,} B, flash {fp['flash_bytes']:,} B, {fp['instructions']:,} instructions"


def _row(cand: Candidate, record: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    fp = record.get("footprint") or {}
    return {"k": cand.k, "c": cand.c, "score": record.get("score"), "ram_bytes": fp.get("ram_bytes"),
            "flash_bytes": fp.get("flash_bytes"), "arena_bytes": fp.get("arena_bytes"),
            "instructions": fp.get("instructions"), "latency_ms_estimated": fp.get("latency_ms_estimated"),
            "feasible": verdict.feasible, "reason": verdict.reason}  # fmt: skip


def _write_firmware(tflite: Path, board_name: str, directory: Path) -> None:
    """The measured firmware (the model application, whole network) as a project: make -C DIR builds it."""
    from ..modelrun import ModelOptions, import_model, model_app
    from ..toolchain.outdir import write_stamp
    from ..toolchain.project import write_project

    opts = ModelOptions(whole=True)
    _, graph, _ = import_model(tflite, opts)
    _, _, spec = model_app(graph, board_name, opts, tflite.stem)
    board = load_board(board_name)
    if directory.exists():
        shutil.rmtree(directory)
    write_project(board, board.target, spec, directory)
    write_stamp(directory, "project")


def _plot(evaluated: list[dict[str, Any]], visited: list[dict[str, Any]], best: Candidate, path: Path) -> bool:
    """Accuracy (validation, early-stopped) against RAM and against instructions; the found model marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    measured = [r for r in evaluated if r["ram_bytes"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, key, label in ((axes[0], "ram_bytes", "RAM (B, linked firmware)"),
                           (axes[1], "instructions", "instructions per inference (simulated)")):  # fmt: skip
        for feasible, colour, name in ((True, "tab:blue", "feasible"), (False, "tab:gray", "infeasible")):
            pts = [r for r in measured if r["feasible"] is feasible]
            ax.scatter([r[key] for r in pts], [r["score"] for r in pts], c=colour, s=22, label=name)
        for r in measured:
            ax.annotate(f"{r['k']},{r['c']}", (r[key], r["score"]), fontsize=6, xytext=(2, 2),
                        textcoords="offset points")  # fmt: skip
        chosen = [r for r in measured if (r["k"], r["c"]) == (best.k, best.c)]
        if chosen:
            ax.scatter([chosen[0][key]], [chosen[0]["score"]], marker="*", s=220, c="tab:red", label="found")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy (early-stopped)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"architecture search: {len(visited)} candidates visited, {len(measured)} measured")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def as_dict(opts: NasOptions) -> dict[str, Any]:
    d = asdict(opts)
    d["out"] = str(opts.out)
    return d
