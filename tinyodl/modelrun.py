"""Generate, build and run a model on a simulated board; compare every output with the host references.

model file -> frontend -> IR -> cut at the feature layer -> lowering -> emission -> build -> simulator ->
model application over the link -> compare with the numpy reference (bit-exact for int8), with tflite-micro's
interpreter and with LiteRT's -> per-layer instructions -> result contract (SPEC section 6).

The verdict follows the numpy reference and tflite-micro (the interpreter that runs on microcontrollers, the
one the device is meant to match). LiteRT is checked too; where it disagrees with tflite-micro the result
says where (`oracle_disagreement`) and why, when the reason is understood (`tinyodl.crosscheck`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, cmsisnn, crosscheck
from .apps.model import ModelDriver, app_spec
from .apps.protocol import close_session, open_session
from .boards import load_board
from .codegen.emit import emit
from .codegen.lower import LoweredModel, lower
from .errors import RunError, TinyodlError
from .frontends import FrontendError, resolve_tflite
from .frontends.tflite import load_tflite
from .ir import DType, Graph, GraphError
from .measure import CPI_SOURCE, estimate_cycles, latency_ms
from .npz import read_windows
from .passes import cut_at_features, strip_edge_quantization
from .reference.compare import max_ulp
from .reference.graph import run_graph
from .runner import Prepared, Progress, RunOptions, prepare, quiet
from .toolchain.project import AppSpec

FP32_RTOL = 1e-5  # float32: device and numpy may sum in a different order
FP32_ATOL = 1e-6
TOLERANCE = crosscheck.Tolerance(FP32_RTOL, FP32_ATOL)
ORACLES = {"tflite_micro": "tflite-micro", "litert": "LiteRT"}  # result key -> the name the output uses


@dataclass(frozen=True)
class ModelOptions:
    run: RunOptions = RunOptions()
    features_at: str | None = None
    whole: bool = False  # generate the whole network instead of cutting at the classifier head
    limit: int = 16  # input windows to run
    prefix: str | None = None
    calibration: Path | None = None  # Keras models: calibration inputs for int8 conversion
    optimise: bool = True  # optimised kernel variants where their preconditions hold; False: reference only
    backend: str = "tinyodl"  # "cmsis-nn": the int8 layers CMSIS-NN covers call it (codegen/cmsisnn.py)
    flash: str = "balanced"  # speed, size or balanced: the flash the optimised variants may take (lower.py)
    cmsis_nn: Path | None = None  # --cmsis-nn DIR; else TINYODL_CMSIS_NN, else .tools/cmsis-nn
    cycles: bool = False  # estimate cycles per layer with the per-core model (tinyodl/cycles): one more QEMU run

    @property
    def kernels(self) -> str:
        return "cmsis-nn" if self.backend == "cmsis-nn" else ("optimised" if self.optimise else "reference")


def import_model(path: Path, opts: ModelOptions) -> tuple[Graph, Graph, Path]:
    """(full graph, graph to generate, the .tflite file it came from: the oracle's model)."""
    tflite_path = resolve_tflite(path, opts.calibration)
    full = load_tflite(tflite_path)
    if tflite_path != path:
        full = replace(full, name=path.stem, source=f"{path.name} via TFLite ({full.source})")
    inner = strip_edge_quantization(full)
    if opts.whole:
        return full, inner, tflite_path
    try:
        return full, cut_at_features(inner, opts.features_at), tflite_path
    except GraphError as exc:
        raise TinyodlError(f"{path}: {exc}") from None


def generate_files(
    graph: Graph,
    board_name: str,
    prefix: str | None = None,
    optimise: bool = True,
    backend: str = "tinyodl",
    flash: str = "balanced",
) -> tuple[LoweredModel, dict[str, str]]:
    board = load_board(board_name)
    lowered = lower(graph, board, prefix, optimise, backend=backend, flash=flash)
    return lowered, emit(lowered, board.name)


def load_inputs(path: Path, graph: Graph, limit: int) -> np.ndarray:
    """Windows from an .npz ('x', or its only array), quantized with the model's input parameters. A NaN or
    infinity in a window that is run is refused: it has no int8 value, and no meaningful float32 comparison."""
    t = graph.tensors[graph.inputs[0]]
    x = read_windows(path, t.shape, "inputs")[:limit]
    if x.dtype.kind in "fc":
        bad = ~np.isfinite(x.reshape(len(x), -1))
        if bad.any():
            window, element = (int(v) for v in np.argwhere(bad)[0])
            value = x.reshape(len(x), -1)[window, element]
            what = "NaN" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
            position = [int(v) for v in np.unravel_index(element, t.shape)]
            where = f" (position {position} in {t.shape})" if sum(d > 1 for d in t.shape) > 1 else ""
            raise TinyodlError(
                f"{path}: window {window}, element {element}{where} is {what}; the inputs must be finite numbers"
            )
    if t.dtype is DType.INT8:
        if x.dtype.kind == "f":
            assert t.quant is not None
            scale, zp = t.quant.scale[0], t.quant.zero_point[0]
            x = np.clip(np.round(x / scale) + zp, -128, 127)
        return x.astype(np.int8)
    return x.astype(np.float32)


def _matches(device: np.ndarray, ref: np.ndarray) -> bool:
    if device.dtype.kind == "f":
        return bool(np.allclose(device, ref, rtol=FP32_RTOL, atol=FP32_ATOL))
    return bool(np.array_equal(device, ref))


def model_inputs(graph: Graph, inputs_path: Path | None, limit: int, seed: int) -> np.ndarray:
    """The input windows of a run: from the .npz, or seeded random ones (at most 4)."""
    if inputs_path is not None:
        return load_inputs(Path(inputs_path), graph, limit)
    rng = np.random.default_rng(seed)
    t = graph.tensors[graph.inputs[0]]
    shape = (min(limit, 4), t.size)
    return (rng.integers(-128, 128, shape) if t.dtype is DType.INT8 else rng.standard_normal(shape)).astype(
        t.dtype.numpy
    )


def model_app(graph: Graph, board_name: str, opts: ModelOptions, stem: str) -> tuple[LoweredModel, str, AppSpec]:
    """Lower and emit the model; the firmware application's name carries the generated files' hash, so a
    changed model gets its own build directory."""
    cmsis = cmsisnn.require(opts.cmsis_nn) if opts.backend == "cmsis-nn" else None
    lowered, files = generate_files(graph, board_name, opts.prefix or stem, opts.optimise, opts.backend, opts.flash)
    key = hashlib.sha256("".join(files.values()).encode()).hexdigest()[:8]
    return lowered, f"model-{lowered.prefix}-{key}", app_spec(files, cmsis)


def robot_files(
    model_path: Path, board_name: str, inputs_path: Path | None, opts: ModelOptions, out: Path | None = None
) -> dict[str, Path]:
    """For renode/tests/model.robot: the model's board image and a variable file with the link exchange that
    sends the first input window and expects the numpy reference's output back. Needs no Renode."""
    from .sim import renode
    from .sim.robot import model_exchange, write_variables

    board = load_board(board_name)
    platform = renode.platform_path(board)
    model_path = Path(model_path)
    _, graph, _ = import_model(model_path, opts)
    x = model_inputs(graph, inputs_path, 1, opts.run.seed)[0]  # bad inputs fail before anything is built
    lowered, app, spec = model_app(graph, board.name, opts, model_path.stem)
    elf = renode.build_board_image(board, app, spec)
    expected = run_graph(graph, x)[lowered.output]
    exchange = model_exchange(board, lowered, "model", x, expected)
    variables = write_variables((out or elf.parent) / f"{board.name}.model.yaml", board, platform, elf, exchange)
    return {"elf": elf, "variables": variables}


def run_model(
    model_path: Path, board_name: str, inputs_path: Path | None, opts: ModelOptions, progress: Progress = quiet
) -> dict[str, Any]:
    model_path = Path(model_path)
    cmsis = cmsisnn.require(opts.cmsis_nn) if opts.backend == "cmsis-nn" else None  # before anything is built
    full, graph, tflite_path = import_model(model_path, opts)
    xs = model_inputs(graph, inputs_path, opts.limit, opts.run.seed)  # bad inputs fail before anything is built
    t_gen = time.monotonic()
    lowered, app, spec = model_app(graph, board_name, opts, model_path.stem)
    generate_s = time.monotonic() - t_gen
    run_opts = opts.run
    prep = prepare(board_name, app, run_opts, progress, spec=spec)

    refs = [run_graph(graph, x) for x in xs]
    oracles = _oracles(tflite_path)
    result = _execute(prep, lowered, full, graph, xs, refs, oracles, model_path, run_opts, progress)
    result["generate_seconds"] = round(generate_s, 3)
    result["kernels"] = opts.kernels
    if opts.cycles:
        add_cycle_estimate(result, prep, lowered, xs[0], run_opts, progress)
    if cmsis is not None:
        result["cmsis_nn"] = {"path": str(cmsis.path), "version": cmsis.version, "found_by": cmsis.found_by}
    return result


def add_cycle_estimate(
    result: dict[str, Any], prep: Prepared, m: LoweredModel, x: np.ndarray, opts: RunOptions, progress: Progress
) -> None:
    """Estimated cycles per layer and whole, from one more inference with QEMU's execution log (docs/cycles.md):
    `estimated_cycles`, `estimated_latency_ms` and `estimated_cpi` in the result and in every layer, and
    `cycle_model` with the model's method, sources, assumptions and self-check."""
    from .cycles.collect import measure_model

    progress(f"{prep.board.name}: estimating cycles (one inference with QEMU's execution log)")
    t0 = time.monotonic()
    mc = measure_model(prep.board, prep.placement, prep.elf, len(m.layers), x, opts.timeout_s)
    for layer, est in zip(result["layers"], mc.layers, strict=True):
        layer["estimated_cycles"] = round(est.cycles)
        layer["estimated_cpi"] = round(est.cpi, 3)
    model = mc.as_dict()
    model["seconds"] = round(time.monotonic() - t0, 2)
    result["estimated_cycles"] = model["estimated_cycles"]
    result["estimated_latency_ms"] = model["estimated_latency_ms"]
    result["estimated_cpi"] = model["estimated_cpi"]
    result["cycle_model"] = model


def _oracles(path: Path) -> dict[str, Any]:
    """Result key -> the interpreter, or a string saying why it is not available."""
    if path.suffix.lower() != ".tflite":
        return {key: f"no .tflite file for {path}" for key in ORACLES}
    from .frontends.oracle import TFLiteOracle, TFLMOracle, static_shape_problem

    found: dict[str, Any] = {}
    unfit = static_shape_problem(path)
    for key, cls in (("tflite_micro", TFLMOracle), ("litert", TFLiteOracle)):
        if key == "tflite_micro" and unfit is not None:
            found[key] = f"not a reference for this model: {unfit}; LiteRT is"
            continue
        try:
            found[key] = cls(path)
        except FrontendError as exc:
            found[key] = str(exc)
    return found


def _oracle_inputs(full: Graph, graph: Graph, xs: np.ndarray) -> np.ndarray:
    """The windows as the .tflite model takes them: its input shape; for a float-input model whose QUANTIZE the
    device does not run, the int8 windows dequantized (the model's QUANTIZE maps them back to the same values)."""
    src = full.tensors[full.inputs[0]]
    q = graph.tensors[graph.inputs[0]].quant
    x = xs.reshape(len(xs), *src.shape)
    if src.dtype is DType.FLOAT32 and x.dtype == np.int8 and q is not None:
        x = (x.astype(np.float32) - np.float32(q.zero_point[0])) * np.float32(q.scale[0])
    return x.astype(src.dtype.numpy)


def _check_oracles(
    oracles: dict[str, Any], full: Graph, graph: Graph, m: LoweredModel, xs: np.ndarray, device: np.ndarray
) -> dict[str, Any]:
    """Run both interpreters on every window, compare each with the device, and the two with each other."""
    layers = [(layer.op_name, layer.kind, layer.output) for layer in m.layers]
    names = list(dict.fromkeys([t for _, _, t in layers] + [m.output]))
    oracle_xs = _oracle_inputs(full, graph, xs)
    runs: dict[str, dict[str, np.ndarray]] = {}
    notes: dict[str, str] = {}
    for key, oracle in oracles.items():
        if isinstance(oracle, str):
            notes[key] = oracle
            continue
        try:
            got = oracle.run_batch(oracle_xs, names)
        except FrontendError as exc:
            notes[key] = str(exc)
            continue
        if m.output not in got:
            notes[key] = f"{ORACLES[key]} has no tensor named {m.output!r}"
            continue
        runs[key] = got
    out: dict[str, Any] = {"oracle_notes": notes}
    for key in ORACLES:
        diff = crosscheck.difference(device, runs[key][m.output], TOLERANCE) if key in runs else None
        out[f"matches_{key}"] = None if key not in runs else diff is None
        out[f"{key}_difference"] = diff
    disagreement = None
    if len(runs) == 2:
        disagreement = crosscheck.locate(layers, runs["litert"], runs["tflite_micro"], m.output, TOLERANCE)
    if disagreement is not None:
        disagreement["reason"] = _explain(oracles["litert"], graph, oracle_xs, disagreement, runs)
    out["oracle_disagreement"] = disagreement
    return out


def _explain(
    litert: Any, graph: Graph, oracle_xs: np.ndarray, found: dict[str, Any], runs: dict[str, Any]
) -> str | None:
    """The reason for a LiteRT vs tflite-micro disagreement, when it is one understood (crosscheck)."""
    first = found["first_layer"]
    if first is None or first["kind"] != "FULLY_CONNECTED":
        return None
    ops = [op for op in graph.ops if op.outputs[0] == first["tensor"]]
    if not ops:
        return None
    source = ops[0].inputs[0]
    try:
        x = litert.run_batch(oracle_xs, [source]).get(source)
    except FrontendError:
        return None
    if x is None:
        return None
    tensor = first["tensor"]
    return crosscheck.explain_fully_connected(graph, tensor, x, runs["litert"][tensor], runs["tflite_micro"][tensor])


def verdict(r: dict[str, Any]) -> tuple[bool, str]:
    """Pass or fail, from the numpy reference and tflite-micro (LiteRT where tflite-micro was not checked),
    and the line that says so and names every checked interpreter that disagrees with the device or with the
    other one."""
    n = r["windows"]
    micro, lite = r["matches_tflite_micro"], r["matches_litert"]
    passed = bool(r["outputs_match"]) and micro is not False and not (micro is None and lite is False)
    problems = []
    if not r["outputs_match"]:
        first = r["first_mismatch"] or {}
        problems.append(f"the device differs from the numpy reference (first at {first.get('layer') or 'the output'})")
    if micro is False:
        problems.append(f"the device differs from tflite-micro ({_how_much(r['tflite_micro_difference'])})")
    if lite is False:
        problems.append(f"the device differs from LiteRT ({_how_much(r['litert_difference'])})")
    if passed:
        agree = ["the numpy reference"] + (["tflite-micro"] if micro else []) + (["LiteRT"] if lite else [])
        line = f"verdict: pass: the device equals {_and(agree)} on {n} inputs"
        if micro is None:
            line += f"; tflite-micro not checked ({r['oracle_notes'].get('tflite_micro', 'unavailable')})"
        if lite is False:
            where = _where(r["oracle_disagreement"])
            why = crosscheck.FC_FLOAT_REQUANTIZATION_SHORT if (r["oracle_disagreement"] or {}).get("reason") else (
                "reason not established")  # fmt: skip
            how = _how_much(r["litert_difference"])
            line += f"; LiteRT's reference kernels differ from the device ({how}{where}: {why})"
        elif lite is None:
            line += f"; LiteRT not checked ({r['oracle_notes'].get('litert', 'unavailable')})"
        return True, line
    return False, f"verdict: FAIL: {'; '.join(problems)}"


def _how_much(d: dict[str, Any] | None) -> str:
    if not d:
        return "no details"
    return f"{d['elements_differing']:,} of {d['elements']:,} output elements, by up to {d['max_abs_difference']:g}"


def _where(found: dict[str, Any] | None) -> str:
    first = (found or {}).get("first_layer")
    return f"; first at {first['layer']}" if first else ""


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _execute(
    prep: Prepared,
    m: LoweredModel,
    full: Graph,
    graph: Graph,
    xs: np.ndarray,
    refs: list[dict[str, np.ndarray]],
    oracles: dict[str, Any],
    model_path: Path,
    opts: RunOptions,
    progress: Progress,
) -> dict[str, Any]:
    out_t = graph.tensors[m.output]
    place = prep.placement
    per_tick = place.counter.instructions_per_tick
    device_out: list[np.ndarray] = []
    layer_ticks: list[list[int]] = []
    trace: dict[str, Any] | None = None
    t0 = time.monotonic()
    with prep.simulator.session(place, prep.elf, opts.timeout_s) as sess:
        open_session(sess, "model")
        drv = ModelDriver(sess)
        info = drv.info()
        if (info.input_bytes, info.output_bytes, info.layers) != (m.nbytes(m.input), m.nbytes(m.output), len(m.layers)):
            raise RunError(f"the firmware's model ({info}) is not the generated one", sess.log())
        for i, x in enumerate(xs):
            progress(f"{prep.board.name}: input {i + 1}/{len(xs)}")
            drv.set_input(x.tobytes())
            layer_ticks.append(drv.invoke(len(m.layers)))
            device_out.append(np.frombuffer(drv.output(out_t.nbytes), dtype=out_t.dtype.numpy).reshape(out_t.shape))
        mismatched = [i for i, (d, r) in enumerate(zip(device_out, refs, strict=True)) if not _matches(d, r[m.output])]
        if mismatched:
            trace = _trace(drv, m, graph, xs[mismatched[0]], refs[mismatched[0]], mismatched[0])
        stats = close_session(sess)
        link = {"retransmissions": sess.link.retransmissions, "duplicates": sess.link.duplicates}
    run_s = time.monotonic() - t0

    progress(f"{prep.board.name}: tflite-micro and LiteRT")
    checks = _check_oracles(oracles, full, graph, m, xs, np.stack(device_out))
    fp32_difference = None
    if out_t.dtype is DType.FLOAT32:
        got, want = np.stack(device_out), np.stack([r[m.output] for r in refs])
        fp32_difference = {"max_abs": float(np.abs(got.astype(np.float64) - want).max()), "max_ulp": max_ulp(got, want)}
    ticks0 = layer_ticks[0]  # the per-layer figures are those of the first input
    totals = [round(sum(t) * per_tick) for t in layer_ticks]  # kernels branch on data: inputs differ a little
    layers = []
    for layer, ticks in zip(m.layers, ticks0, strict=True):
        instr = round(ticks * per_tick)
        layers.append({
            "name": layer.op_name,
            "kind": layer.kind,
            "kernel": layer.function,
            "kernel_note": layer.note,
            "in_channels": _in_channels(layer.params),
            "macc": layer.macc,
            "instructions": instr,
            "instructions_per_mac": round(instr / layer.macc, 3) if layer.macc else None,
        })  # fmt: skip
    instructions = sum(round(t * per_tick) for t in ticks0)
    macc = sum(layer.macc for layer in m.layers)
    cycles = estimate_cycles(prep.board.cpu, instructions)
    outputs_match = trace is None
    result = {
        "tinyodl_version": __version__,
        "model": str(model_path),
        "source": graph.source,
        "features": {"tensor": m.output, "shape": list(out_t.shape), "dtype": out_t.dtype.value},
        "board": prep.board.name,
        "core": prep.board.cpu,
        "clock_hz": prep.board.clock_hz,
        "simulator": place.simulator,
        "simulator_version": place.simulator_version,
        "machine": place.machine,
        "image": place.image,
        "note": place.note,
        "counter": place.counter.description,
        "windows": len(xs),
        "macc": macc,
        "instructions": instructions,
        "instructions_granularity": per_tick,
        "instructions_per_mac": round(instructions / macc, 3) if macc else None,
        "instructions_scope": "per inference, first input; the same input always gives the same count",
        "instructions_range": [min(totals), max(totals)],
        "cycles_estimated": round(cycles),
        "latency_ms_estimated": round(latency_ms(cycles, prep.board.clock_hz), 4),
        "estimate_model": CPI_SOURCE,
        "flash_bytes": prep.sizes.flash_bytes,
        "static_ram_bytes": prep.sizes.static_ram_bytes,
        "ram_regions": prep.sizes.as_dict()["ram_regions"],
        "arena_bytes": m.plan.arena_bytes,
        "activation_bytes": m.activation_bytes,
        "stack_peak_bytes": stats.stack_peak_bytes,
        "outputs_match": outputs_match,
        "outputs_sha256": hashlib.sha256(b"".join(d.tobytes() for d in device_out)).hexdigest(),
        "matches_tflite_micro": checks["matches_tflite_micro"],
        "matches_litert": checks["matches_litert"],
        "tflite_micro_difference": checks["tflite_micro_difference"],  # device vs tflite-micro, all inputs
        "litert_difference": checks["litert_difference"],
        "oracle_disagreement": checks["oracle_disagreement"],  # LiteRT vs tflite-micro: where, how much, why
        "oracle_notes": checks["oracle_notes"],  # why an interpreter was not checked
        "fp32_tolerance": {"rtol": FP32_RTOL, "atol": FP32_ATOL} if out_t.dtype is DType.FLOAT32 else None,
        "fp32_difference": fp32_difference,  # from the numpy reference, over all inputs
        "first_mismatch": trace,
        "layers": layers,
        "link": link,
        "elf": str(prep.elf),
        "build_seconds": round(prep.build_seconds, 2),
        "run_seconds": round(run_s, 2),
    }
    result["passed"], result["verdict"] = verdict(result)
    return result


def _in_channels(params: Any) -> int | None:
    """A layer's input channels (features); a fused layer's are its convolution's."""
    inner = getattr(params, "conv", getattr(params, "base", params))
    value = getattr(inner, "in_ch", getattr(inner, "in_features", None))
    return None if value is None else int(value)


def _trace(
    drv: ModelDriver, m: LoweredModel, graph: Graph, x: np.ndarray, ref: dict[str, np.ndarray], window: int
) -> dict[str, Any]:
    """Run the layers one by one and name the first layer and element that differ from the reference."""
    for layer in m.layers:
        t = graph.tensors[layer.output]
        drv.set_input(x.tobytes())
        drv.run_until(layer.index)
        got = np.frombuffer(drv.layer_output(layer.index, t.nbytes), dtype=t.dtype.numpy).reshape(t.shape)
        want = ref[layer.output]
        if not _matches(got, want):
            bad = np.flatnonzero(~np.isclose(got, want, rtol=FP32_RTOL, atol=FP32_ATOL) if got.dtype.kind == "f"
                                 else got.reshape(-1) != want.reshape(-1))  # fmt: skip
            flat = int(bad[0])
            return {
                "window": window,
                "layer": layer.op_name,
                "layer_index": layer.index,
                "element": [int(v) for v in np.unravel_index(flat, t.shape)],
                "device": got.reshape(-1)[flat].item(),
                "reference": want.reshape(-1)[flat].item(),
                "elements_differing": int(bad.size),
            }
    return {"window": window, "layer": None, "note": "every layer matched when run one by one"}
