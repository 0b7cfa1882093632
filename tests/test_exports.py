"""Models exported the way most users export them: Keras models with a dynamic batch, converted by TFLite's
converter as they are, so a Flatten's target shape is computed at run time (SHAPE, STRIDED_SLICE, PACK before
its RESHAPE). The shape arithmetic folds at import, convolutions fuse with the pooling that reads them, and
the firmware equals the numpy reference and tflite-micro on both boards. Shape arithmetic that does not fold
is one line naming the op; a mutated memory plan fails its check; the conversion of a Keras file is quiet
(its output goes to a log beside the converted model) and is reused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.boards import load_board
from tinyodl.codegen.lower import lower
from tinyodl.frontends import FrontendError
from tinyodl.frontends.tflite import load_tflite
from tinyodl.ir import Graph, Reshape
from tinyodl.modelrun import ModelOptions, import_model, run_model
from tinyodl.passes import PlanError, check_plan
from tinyodl.passes.memory import MemoryPlan

pytestmark = needs_tf

BOARDS = ("nucleo-l476rg", "nucleo-h743zi")
DTYPES = ("int8", "f32")


def _conv1d_pool(layers: Any) -> list[Any]:
    return [layers.Conv1D(6, 3, activation="relu"), layers.MaxPooling1D(2), layers.Flatten(), layers.Dense(5)]


def _conv2d_pools(layers: Any) -> list[Any]:
    return [layers.Conv2D(6, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(8, 3, activation="relu"), layers.AveragePooling2D(2), layers.Flatten(),
            layers.Dense(4)]  # fmt: skip


def _conv2d_flat(layers: Any) -> list[Any]:
    return [layers.Conv2D(4, 3, strides=2, activation="relu"), layers.Flatten(), layers.Dense(3)]


# name -> (input shape without the batch, the layers, the layer kinds the firmware runs)
EXPORTS: dict[str, tuple[tuple[int, ...], Callable[[Any], list[Any]], list[str]]] = {
    "conv1d_pool": ((24, 3), _conv1d_pool, ["CONV_POOL", "FULLY_CONNECTED"]),
    "conv2d_pools": ((12, 12, 2), _conv2d_pools, ["CONV_POOL", "CONV_POOL", "FULLY_CONNECTED"]),
    "conv2d_flat": ((8, 8, 1), _conv2d_flat, ["CONV_2D", "FULLY_CONNECTED"]),
}


def _sequential(shape: tuple[int, ...], make: Callable[[Any], list[Any]]) -> Any:
    import tensorflow as tf

    return tf.keras.Sequential([tf.keras.Input(shape), *make(tf.keras.layers)])  # no batch_size: dynamic


def _concatenated(shape: tuple[int, ...]) -> Any:
    """Two convolutions of one input, concatenated: a CONCATENATION of activations, not of shapes."""
    import tensorflow as tf

    layers = tf.keras.layers
    inp = tf.keras.Input(shape)
    joined = layers.Concatenate()([layers.Conv1D(4, 3, padding="same")(inp), layers.Conv1D(4, 3, padding="same")(inp)])
    return tf.keras.Model(inp, layers.Dense(3)(layers.Flatten()(joined)))


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every export, int8 (a seeded representative dataset) and float32, converted once: `NAME_DTYPE` -> path."""
    import tensorflow as tf
    from tfmodels import convert

    directory = tmp_path_factory.mktemp("exports")
    made = {}
    for name, (shape, make, _) in EXPORTS.items():
        for dtype in DTYPES:
            tf.keras.utils.set_random_seed(7)
            model = _sequential(shape, make)
            made[f"{name}_{dtype}"] = convert(model, directory / f"{name}_{dtype}.tflite", dtype == "int8", seed=7)
    tf.keras.utils.set_random_seed(7)
    made["concatenated_int8"] = convert(_concatenated((16, 2)), directory / "concatenated_int8.tflite", True, seed=7)
    for dtype in DTYPES:
        tf.keras.utils.set_random_seed(7)
        model = _sequential((8, 4), lambda layers: [layers.Dense(5), layers.Flatten(), layers.Dense(3)])
        made[f"dense_sequence_{dtype}"] = convert(model, directory / f"dense_sequence_{dtype}.tflite", dtype == "int8",
                                                  seed=7)  # fmt: skip
    return made


def _raw_ops(path: Path) -> list[str]:
    """The operators of a .tflite file as written, before any import pass."""
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if isinstance(v, int) and not k.startswith("_")}
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = model.Subgraphs(0)
    codes = [model.OperatorCodes(sg.Operators(i).OpcodeIndex()) for i in range(sg.OperatorsLength())]
    return [names[max(c.BuiltinCode(), c.DeprecatedBuiltinCode())] for c in codes]


_RESHAPES = ("RESHAPE", "EXPAND_DIMS", "SQUEEZE")
_FOLDED = ("SHAPE", "STRIDED_SLICE", "PACK")


def _tinyodl(*args: str, build_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it: no TensorFlow settings of the test session in its environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("TINYODL_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    if build_dir is not None:
        env["TINYODL_BUILD_DIR"] = str(build_dir)
    return subprocess.run(
        [sys.executable, "-m", "tinyodl.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_shape_arithmetic_folds_at_import(exports: dict[str, Path], name: str, dtype: str) -> None:
    path = exports[f"{name}_{dtype}"]
    raw = _raw_ops(path)
    flatten = raw.index("SHAPE")  # the dynamic batch: the Flatten's shape is computed at run time
    assert raw[flatten : flatten + 4] == ["SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE"]
    graph = load_tflite(path)
    kinds = [op.kind for op in graph.ops]
    assert "SHAPE_ARITH" not in kinds
    assert graph.tensors[graph.inputs[0]].shape == (1, *EXPORTS[name][0])
    flat = next(op for op in graph.ops if isinstance(op, Reshape) and op.outputs[0] == graph.ops[-1].inputs[0])
    features = int(np.prod(graph.tensors[flat.inputs[0]].shape))
    assert graph.tensors[flat.outputs[0]].shape == (1, features)  # the folded target shape: batch 1, one row
    assert [k for k in kinds if k != "RESHAPE"] == [k for k in raw if k not in _RESHAPES and k not in _FOLDED]


@needs_arm_gcc
@needs_qemu
@pytest.mark.sim
@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_dynamic_batch_export_runs(exports: dict[str, Path], name: str, dtype: str, board: str) -> None:
    result = run_model(exports[f"{name}_{dtype}"], board, None, ModelOptions(whole=True, limit=2))
    assert [layer["kind"] for layer in result["layers"]] == EXPORTS[name][2]
    suffix = "s8" if dtype == "int8" else "f32"
    fused = [layer for layer in result["layers"] if layer["kind"] == "CONV_POOL"]
    assert all(layer["kernel"] == f"tl_conv_pool_{suffix}" for layer in fused)
    assert result["outputs_match"] is True, result["first_mismatch"]
    assert result["matches_tflite_micro"] is True, result["tflite_micro_difference"]
    assert result["passed"] is True and result["verdict"].startswith("verdict: pass"), result["verdict"]
    assert result["windows"] == 2
    if dtype == "int8":  # bit-exact: nothing differs from the numpy reference nor tflite-micro
        assert result["tflite_micro_difference"] is None
    else:
        assert result["fp32_tolerance"] == {"rtol": 1e-5, "atol": 1e-6}


def test_unfoldable_shape_arithmetic_is_named(exports: dict[str, Path]) -> None:
    path = exports["concatenated_int8"]
    assert "CONCATENATION" in _raw_ops(path)
    with pytest.raises(FrontendError, match=r"CONCATENATION \S+ of activations is not supported") as info:
        load_tflite(path)
    assert len(str(info.value).splitlines()) == 1 and str(path) in str(info.value)
    proc = _tinyodl("run", str(path), "--board", "nucleo-l476rg", "--whole", "--limit", "1")
    line = _one_line(proc, 2)
    assert line.startswith(f"tinyodl: error: {path}: CONCATENATION ")
    assert "of activations is not supported (only integer shape arithmetic on constants is" in line
    assert proc.stdout == ""


# ---- the memory plan ---------------------------------------------------------------------------------


def _onto_input(plan: MemoryPlan, index: int, graph: Graph) -> MemoryPlan:
    """The plan with op `index`'s output (and everything aliasing it) moved onto the bytes of its first
    activation input."""
    op = graph.ops[index]
    source = next(n for n in op.inputs if n in plan.offsets)
    out = op.outputs[0]
    offsets = dict(plan.offsets)
    for name in plan.offsets:
        root = name
        while root in plan.alias_of and root != out:
            root = plan.alias_of[root]
        if root == out:
            offsets[name] = plan.offsets[source]
    return replace(plan, offsets=offsets)


def test_mutated_plan_of_the_har_network_fails_its_check(har_tflite: dict[str, Path]) -> None:
    _, graph, _ = import_model(har_tflite["int8"], ModelOptions())
    lowered = lower(graph, load_board("nucleo-l476rg"))  # lower() checks its own plan
    g, plan = lowered.graph, lowered.plan
    check_plan(g, plan)
    fused = next(i for i, op in enumerate(g.ops) if op.kind == "CONV_POOL")
    assert fused not in plan.in_place and fused in plan.scratch
    name = g.ops[fused].name
    with pytest.raises(PlanError, match=rf"op {fused} \({re.escape(name)}\): .* overwrites byte \d+ of "):
        check_plan(g, _onto_input(plan, fused, g))
    # its band buffer on its input's bytes
    source = next(n for n in g.ops[fused].inputs if n in plan.offsets)
    with pytest.raises(PlanError, match=rf"<scratch of op {fused}> overwrites byte"):
        check_plan(g, replace(plan, scratch={**plan.scratch, fused: plan.offsets[source]}))
    # an arena too small for the plan
    with pytest.raises(PlanError, match=rf"past the arena of {plan.arena_bytes - 8} B"):
        check_plan(g, replace(plan, arena_bytes=plan.arena_bytes - 8))


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_mutated_plans_of_the_exports_fail_their_check(exports: dict[str, Path], name: str) -> None:
    graph = load_tflite(exports[f"{name}_int8"])
    lowered = lower(graph, load_board("nucleo-h743zi"))
    g, plan = lowered.graph, lowered.plan
    for index, op in enumerate(g.ops):
        if isinstance(op, Reshape) or index in plan.in_place:
            continue
        with pytest.raises(PlanError, match=rf"op {index} \("):
            check_plan(g, _onto_input(plan, index, g))


# ---- quiet conversion of Keras files ---------------------------------------------------------------------
# Each command below starts a fresh Python that imports TensorFlow; they run on threads from the start of
# the module, beside the tests above, and the tests at the end read their results.

NOISE = ("TensorSpec", "absl", "oneDNN", "WARNING", "W0000", "I0000", "Saved artifact", "fully_quantize")


def _quiet(stderr: str) -> list[str]:
    """stderr's lines, after checking that none of TensorFlow's or its converter's output is among them and
    that every line is tinyodl's own."""
    assert not [word for word in NOISE if word in stderr], stderr
    lines = stderr.splitlines()
    assert all(line.startswith("tinyodl: ") for line in lines), stderr
    return lines


@dataclass
class KerasRuns:
    first: Future[subprocess.CompletedProcess[str]]  # int8, a fresh build folder: converts
    again: Future[tuple[dict[Path, int], subprocess.CompletedProcess[str]]]  # the first's files; the same again
    verbose: Future[subprocess.CompletedProcess[str]]  # -v inspect, float32: converts and names the log
    broken: Future[subprocess.CompletedProcess[str]]  # a file Keras cannot load
    folders: dict[str, Path]  # each run's TINYODL_BUILD_DIR


def _stamps(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (folder / "converted").iterdir()}


@pytest.fixture(scope="module", autouse=True)
def keras_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KerasRuns]:
    import tensorflow as tf

    directory = tmp_path_factory.mktemp("keras")
    tf.keras.utils.set_random_seed(3)
    model = directory / "small.keras"
    _sequential((16, 3), _conv1d_pool).save(model)  # a dynamic batch and a Flatten, saved as users save
    calibration = directory / "calibration.npz"
    np.savez(calibration, x=np.random.default_rng(3).standard_normal((8, 16, 3)).astype(np.float32))
    broken = directory / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 not a Keras archive")
    folders = {name: directory / name for name in ("quiet", "verbose", "broken")}
    run = ("run", str(model), "--board", "nucleo-l476rg", "--limit", "1")
    int8 = (*run, "--calibration", str(calibration))
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(_tinyodl, *int8, build_dir=folders["quiet"])

        def again() -> tuple[dict[Path, int], subprocess.CompletedProcess[str]]:
            first.result()
            stamps = _stamps(folders["quiet"])
            return stamps, _tinyodl(*int8, build_dir=folders["quiet"])

        runs = KerasRuns(
            first=first,
            again=pool.submit(again),
            verbose=pool.submit(_tinyodl, "-v", "inspect", str(model), build_dir=folders["verbose"]),
            broken=pool.submit(_tinyodl, "run", str(broken), "--board", "nucleo-l476rg", build_dir=folders["broken"]),
            folders=folders,
        )
        yield runs


@needs_arm_gcc
@needs_qemu
@pytest.mark.sim
def test_keras_conversion_is_quiet_and_logged(keras_runs: KerasRuns) -> None:
    first = keras_runs.first.result()
    assert first.returncode == 0, first.stderr
    assert _quiet(first.stderr) == []  # nothing at all: without a terminal the tool shows no progress either
    assert first.stdout.splitlines()[-1].startswith("verdict: pass")
    log, tflite = sorted((keras_runs.folders["quiet"] / "converted").iterdir())
    assert log.suffix == ".log" and tflite.suffix == ".tflite" and log.stem == tflite.stem
    assert tflite.stem.startswith("small-int8-")
    text = log.read_text()
    assert "TensorSpec(shape=(1, 16, 3)" in text  # the export of the batch-1 model, as the converter printed it
    assert "fully_quantize" in text  # the converter's int8 pass


@needs_arm_gcc
@needs_qemu
@pytest.mark.sim
def test_keras_conversion_is_reused(keras_runs: KerasRuns) -> None:
    stamps, again = keras_runs.again.result()
    assert again.returncode == 0 and _quiet(again.stderr) == [], again.stderr
    assert len(stamps) == 2 and _stamps(keras_runs.folders["quiet"]) == stamps  # neither file written again


def test_verbose_names_the_log(keras_runs: KerasRuns) -> None:
    verbose = keras_runs.verbose.result()
    assert verbose.returncode == 0, verbose.stderr
    assert "CONV_POOL" in verbose.stdout  # the extractor, imported from the float32 conversion
    (line,) = _quiet(verbose.stderr)
    (log,) = (keras_runs.folders["verbose"] / "converted").glob("small-f32-*.log")  # float32: no calibration
    assert line == f"tinyodl: converted small.keras with TFLite's converter; its log: {log}"
    assert log.with_suffix(".tflite").is_file() and "TensorSpec(shape=(1, 16, 3)" in log.read_text()


def test_broken_keras_file_names_the_log(keras_runs: KerasRuns) -> None:
    proc = keras_runs.broken.result()
    line = _one_line(proc, 2)
    _quiet(line)
    converted = keras_runs.folders["broken"] / "converted"
    (log,) = converted.glob("broken-*.log")
    assert line.startswith("tinyodl: error: ") and "broken.keras: not a loadable Keras model (" in line
    assert line.endswith(f" (converter log: {log})")
    assert not list(converted.glob("*.tflite")) and proc.stdout == ""


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_on_a_sequence_gets_its_shapes(exports: dict[str, Path], dtype: str) -> None:
    """A Dense applied to a [8, 4] sequence, exported with a dynamic batch: the converter reshapes the rows into
    the batch at run time and writes every open dimension as 1 ((1, 1) for the [8, 4] rows). The shapes are
    worked out from the folded reshape targets and the weights, and the model runs."""
    path = exports[f"dense_sequence_{dtype}"]
    assert {"SHAPE", "GATHER", "REDUCE_PROD"} <= set(_raw_ops(path))
    graph = load_tflite(path)
    fcs = [op for op in graph.ops if op.kind == "FULLY_CONNECTED"]
    assert [graph.tensors[op.inputs[0]].shape for op in fcs] == [(8, 4), (1, 40)]
    assert [graph.tensors[op.outputs[0]].shape for op in fcs] == [(8, 5), (1, 3)]
    result = run_model(path, "nucleo-l476rg", None, ModelOptions(whole=True, limit=2))
    assert result["outputs_match"] is True and result["matches_litert"] is True and result["passed"] is True
