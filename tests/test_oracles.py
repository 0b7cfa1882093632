"""Two interpreters, one verdict: every model run is checked against tflite-micro and LiteRT; the verdict and
the exit code follow tflite-micro and the numpy reference, and a LiteRT disagreement is located and explained.
Non-finite input windows are refused before anything is built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.crosscheck import FC_FLOAT_REQUANTIZATION, Tolerance, difference, explain_fully_connected
from tinyodl.errors import TinyodlError
from tinyodl.frontends.tflite import load_tflite
from tinyodl.modelrun import ModelOptions, load_inputs, run_model

ROOT = Path(__file__).resolve().parents[1]
AD01 = ROOT.parent / "shared" / "models" / "mlperf-tiny" / "ad01_int8.tflite"
BOARD = "nucleo-l476rg"


@cache
def _dense_chain(directory: str) -> Path:
    """Three int8 FULLY_CONNECTED layers with per-tensor weight scales, as in the MLPerf Tiny autoencoder."""
    import tensorflow as tf
    from tflite_oracle import convert, quiet_tensorflow

    quiet_tensorflow()
    tf.keras.utils.set_random_seed(4)
    layers = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((48,), batch_size=1), layers.Dense(48, activation="relu"),
                                 layers.Dense(48, activation="relu"), layers.Dense(24)])  # fmt: skip
    path = Path(directory) / "dense_chain_int8.tflite"
    path.write_bytes(convert(model, (48,), int8=True, seed=4, per_tensor=True))
    return path


@cache
def _windows(directory: str) -> tuple[Path, Path]:
    """Two input files for the dense chain, picked on the host: windows where LiteRT's output differs from
    tflite-micro's, and windows where the two agree."""
    from tinyodl.frontends.oracle import TFLiteOracle, TFLMOracle

    path = _dense_chain(directory)
    out = load_tflite(path).outputs[0]
    xs = np.random.default_rng(9).integers(-128, 128, (600, 1, 48)).astype(np.int8)
    lite = TFLiteOracle(path).run_batch(xs, [out])[out].reshape(len(xs), -1)
    micro = TFLMOracle(path).run_batch(xs, [out])[out].reshape(len(xs), -1)
    differ = (lite != micro).any(axis=1)
    assert differ.sum() >= 2, "no window shows the difference: draw more"
    files = []
    for name, pick in (("differ", np.flatnonzero(differ)[:2]), ("agree", np.flatnonzero(~differ)[:3])):
        files.append(Path(directory) / f"{name}.npz")
        np.savez(files[-1], x=xs[pick].reshape(len(pick), 48))
    return files[0], files[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "tinyodl.cli", *args], capture_output=True, text=True, timeout=600,
                          env=env)  # fmt: skip


# ---- on the simulated board ---------------------------------------------------------------------------


@needs_arm_gcc
@needs_qemu
@needs_tf
@pytest.mark.sim
def test_litert_disagreement_is_located_explained_and_passes(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The device equals numpy and tflite-micro; LiteRT's float requantization differs: exit 0, and the
    last line says LiteRT differs, where and why."""
    directory = str(tmp_path_factory.getbasetemp())
    model, (differ, _) = _dense_chain(directory), _windows(directory)
    result = run_model(model, BOARD, differ, ModelOptions(whole=True, limit=2))
    assert result["outputs_match"] is True and result["matches_tflite_micro"] is True
    assert result["matches_litert"] is False and result["passed"] is True
    assert result["litert_difference"]["windows"] == [0, 1]
    found = result["oracle_disagreement"]
    assert found["first_layer"]["kind"] == "FULLY_CONNECTED" and found["first_layer"]["elements_differing"] >= 1
    assert found["output"]["max_abs_difference"] >= 1 and found["reason"] == FC_FLOAT_REQUANTIZATION
    assert "matches_tflite" not in result

    proc = _cli("run", str(model), "--board", BOARD, "--whole", "--inputs", str(differ))
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("verdict: pass: the device equals the numpy reference and tflite-micro on 2 inputs")
    assert "LiteRT's reference kernels differ from the device" in last
    assert f"first at {found['first_layer']['layer']}" in last and "floating point" in last
    assert "LiteRT and tflite-micro disagree, first at" in proc.stdout


@needs_arm_gcc
@needs_qemu
@needs_tf
@pytest.mark.sim
def test_all_interpreters_agree(tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = str(tmp_path_factory.getbasetemp())
    model, (_, agree) = _dense_chain(directory), _windows(directory)
    proc = _cli("run", str(model), "--board", BOARD, "--whole", "--inputs", str(agree), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["outputs_match"] is True
    assert result["matches_tflite_micro"] is True and result["matches_litert"] is True
    assert result["oracle_disagreement"] is None and result["oracle_notes"] == {}
    assert (
        result["verdict"] == "verdict: pass: the device equals the numpy reference, tflite-micro and LiteRT on 3 inputs"
    )


@needs_arm_gcc
@needs_qemu
@pytest.mark.sim
@pytest.mark.skipif(not AD01.exists(), reason=f"the MLPerf Tiny models are not beside the checkout ({AD01.name})")
def test_mlperf_tiny_autoencoder() -> None:
    """The model the difference was found on: device == numpy == tflite-micro, LiteRT differs."""
    result = run_model(AD01, BOARD, None, ModelOptions(whole=True, limit=2))
    assert result["outputs_match"] is True and result["matches_tflite_micro"] is True
    assert result["matches_litert"] is False and result["passed"] is True
    assert result["oracle_disagreement"]["reason"] == FC_FLOAT_REQUANTIZATION


# ---- on the host ---------------------------------------------------------------------------------------


@needs_tf
def test_explanation_is_only_given_when_both_outputs_are_reproduced(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tinyodl.frontends.oracle import TFLiteOracle, TFLMOracle

    directory = str(tmp_path_factory.getbasetemp())
    model, (differ, _) = _dense_chain(directory), _windows(directory)
    graph = load_tflite(model)
    fc = graph.ops[0]
    xs = np.load(differ)["x"].reshape(-1, 1, 48)
    lite = TFLiteOracle(model).run_batch(xs, [fc.outputs[0]])[fc.outputs[0]]
    micro = TFLMOracle(model).run_batch(xs, [fc.outputs[0]])[fc.outputs[0]]
    if np.array_equal(lite, micro):  # the first layer agrees on these windows: shift one output by one
        micro = micro.copy()
        micro.reshape(-1)[0] += 1
        assert explain_fully_connected(graph, fc.outputs[0], xs, lite, micro) is None
    else:
        assert explain_fully_connected(graph, fc.outputs[0], xs, lite, micro) == FC_FLOAT_REQUANTIZATION
        assert explain_fully_connected(graph, fc.outputs[0], xs, micro, lite) is None


def test_difference_counts_windows_elements_and_size() -> None:
    tol = Tolerance(1e-5, 1e-6)
    a = np.zeros((3, 4), np.int8)
    b = a.copy()
    assert difference(a, b, tol) is None
    b[1, 2], b[2, 0] = 2, -1
    assert difference(a, b, tol) == {"windows": [1, 2], "elements_differing": 2, "elements": 12,
                                     "max_abs_difference": 2}  # fmt: skip


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused(tmp_path: Path, bad: float) -> None:
    from tinyodl.ir import DType, Graph, Quant, Tensor

    for dtype, quant in ((DType.INT8, Quant((0.5,), (3,))), (DType.FLOAT32, None)):
        graph = Graph(name="g", tensors={"x": Tensor("x", (1, 10, 3), dtype, quant)}, ops=(), inputs=("x",),
                      outputs=("x",))  # fmt: skip
        x = np.zeros((4, 10, 3), np.float32)
        x[2, 4, 1] = bad
        path = tmp_path / "inputs.npz"
        np.savez(path, x=x)
        with pytest.raises(TinyodlError) as err:
            load_inputs(path, graph, 16)
        message = str(err.value)
        assert "\n" not in message and str(path) in message
        assert "window 2, element 13 (position [0, 4, 1] in (1, 10, 3))" in message and "finite" in message
        assert load_inputs(path, graph, 2).shape == (2, 1, 10, 3)  # windows that are not run are not checked


@needs_tf
@pytest.mark.parametrize("int8", [True, False])
def test_cli_refuses_non_finite_inputs_before_building(tmp_path: Path, int8: bool) -> None:
    import tensorflow as tf
    from tflite_oracle import convert, quiet_tensorflow

    quiet_tensorflow()
    model = tmp_path / f"dense_{int8}.tflite"
    model.write_bytes(convert(tf.keras.Sequential([tf.keras.Input((8,), batch_size=1), tf.keras.layers.Dense(4)]),
                              (8,), int8=int8))  # fmt: skip
    x = np.ones((3, 8), np.float32)
    x[1, 5] = np.nan
    inputs = tmp_path / "nan.npz"
    np.savez(inputs, x=x)
    builds = tmp_path / "builds"
    env = {**os.environ, "TINYODL_BUILD_DIR": str(builds)}
    proc = subprocess.run([sys.executable, "-m", "tinyodl.cli", "run", str(model), "--board", BOARD, "--whole",
                           "--inputs", str(inputs)], capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"tinyodl: error: {inputs}: window 1, element 5 is NaN; the inputs must be finite numbers"
    ]
    assert not builds.exists() or not any(builds.iterdir())
