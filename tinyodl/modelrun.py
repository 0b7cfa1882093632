"""Generate, build and run a model on a simulated board; compare every output with the host references.

model file -> frontend -> IR -> cut at the feature layer -> lowering -> emission -> build -> simulator ->
model application over the link -> compare with the numpy reference (bit-exact for int8) and with TFLite's
own interpreter -> per-layer instructions -> result contract (SPEC section 6).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
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


@dataclass(frozen=True)
class ModelOptions:
    run: RunOptions = RunOptions()
    features_at: str | None = None
    whole: bool = False  # generate the whole network instead of cutting at the classifier head
    limit: int = 16  # input windows to run
    prefix: str | None = None
    calibration: Path | None = None  # Keras models: calibration inputs for int8 conversion
    optimise: bool = True  # optimised kernel variants where their preconditions hold; False: reference only


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
    graph: Graph, board_name: str, prefix: str | None = None, optimise: bool = True
) -> tuple[LoweredModel, dict[str, str]]:
    board = load_board(board_name)
    lowered = lower(graph, board, prefix, optimise)
    return lowered, emit(lowered, board.name)


def load_inputs(path: Path, graph: Graph, limit: int) -> np.ndarray:
    """Windows from an .npz ('x', or its only array), quantized with the model's input parameters."""
    t = graph.tensors[graph.inputs[0]]
    x = read_windows(path, t.shape, "inputs")[:limit]
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
    lowered, files = generate_files(graph, board_name, opts.prefix or stem, opts.optimise)
    key = hashlib.sha256("".join(files.values()).encode()).hexdigest()[:8]
    return lowered, f"model-{lowered.prefix}-{key}", app_spec(files)


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
    lowered, app, spec = model_app(graph, board.name, opts, model_path.stem)
    elf = renode.build_board_image(board, app, spec)
    x = model_inputs(graph, inputs_path, 1, opts.run.seed)[0]
    expected = run_graph(graph, x)[lowered.output]
    exchange = model_exchange(board, lowered, "model", x, expected)
    variables = write_variables((out or elf.parent) / f"{board.name}.model.yaml", board, platform, elf, exchange)
    return {"elf": elf, "variables": variables}


def run_model(
    model_path: Path, board_name: str, inputs_path: Path | None, opts: ModelOptions, progress: Progress = quiet
) -> dict[str, Any]:
    model_path = Path(model_path)
    full, graph, tflite_path = import_model(model_path, opts)
    t_gen = time.monotonic()
    lowered, app, spec = model_app(graph, board_name, opts, model_path.stem)
    generate_s = time.monotonic() - t_gen
    run_opts = opts.run
    prep = prepare(board_name, app, run_opts, progress, spec=spec)

    xs = model_inputs(graph, inputs_path, opts.limit, run_opts.seed)
    refs = [run_graph(graph, x) for x in xs]
    oracle = _oracle(tflite_path)
    result = _execute(prep, lowered, full, graph, xs, refs, oracle, model_path, run_opts, progress)
    result["generate_seconds"] = round(generate_s, 3)
    result["kernels"] = "optimised" if opts.optimise else "reference"
    return result


def _oracle(path: Path) -> Any:
    if path.suffix.lower() != ".tflite":
        return None
    try:
        from .frontends.oracle import TFLiteOracle

        return TFLiteOracle(path)
    except FrontendError:
        return None


def _execute(
    prep: Prepared,
    m: LoweredModel,
    full: Graph,
    graph: Graph,
    xs: np.ndarray,
    refs: list[dict[str, np.ndarray]],
    oracle: Any,
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

    tflite_match: bool | None = None
    if oracle is not None:
        in_t = graph.tensors[m.input]
        quant = (in_t.quant.scale[0], in_t.quant.zero_point[0]) if in_t.quant is not None else None
        tflite_match = all(
            _matches(d, oracle.run(x.reshape(full.tensors[full.inputs[0]].shape), [m.output], quant)[m.output])
            for d, x in zip(device_out, xs, strict=True)
        )
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
            "in_channels": getattr(layer.params, "in_ch", getattr(layer.params, "in_features", None)),
            "macc": layer.macc,
            "instructions": instr,
            "instructions_per_mac": round(instr / layer.macc, 3) if layer.macc else None,
        })  # fmt: skip
    instructions = sum(round(t * per_tick) for t in ticks0)
    macc = sum(layer.macc for layer in m.layers)
    cycles = estimate_cycles(prep.board.cpu, instructions)
    outputs_match = trace is None
    return {
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
        "matches_tflite": tflite_match,
        "fp32_tolerance": {"rtol": FP32_RTOL, "atol": FP32_ATOL} if out_t.dtype is DType.FLOAT32 else None,
        "fp32_difference": fp32_difference,  # from the numpy reference, over all inputs
        "first_mismatch": trace,
        "layers": layers,
        "link": link,
        "elf": str(prep.elf),
        "build_seconds": round(prep.build_seconds, 2),
        "run_seconds": round(run_s, 2),
    }


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
