"""SOFTMAX: the int8 fixed-point arithmetic (reference/softmax.py) against LiteRT and tflite-micro on many
rows, and whole networks (the classifier head included, `--whole`) bit-exact on both simulated boards.
The C kernels against numpy on random shapes: tests/test_kernels_c.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import needs_tf

from tinyodl.modelrun import ModelOptions, run_model
from tinyodl.reference.softmax import exp_on_negative_values, softmax_s8, softmax_scaling

pytestmark = needs_tf

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"


def _head(int8: bool, directory: Path) -> Path:
    import tensorflow as tf
    from tfmodels import convert

    tf.keras.utils.set_random_seed(3)
    layers = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((24, 2), batch_size=1), layers.Conv1D(6, 3, activation="relu"),
                                 layers.Flatten(), layers.Dense(10), layers.Softmax()])  # fmt: skip
    return convert(model, directory / f"head_{'int8' if int8 else 'f32'}.tflite", int8, seed=3)


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("softmax")
    return {"int8": _head(True, directory), "f32": _head(False, directory)}


def test_exp_is_exact_at_the_whole_numbers() -> None:
    """exp(0) is the largest Q0.31 value; exp(-1), exp(-2), exp(-1/4) within 2^-20 of the real values."""
    one = 1 << 26  # 1.0 in Q5.26
    values = exp_on_negative_values(np.array([0, -one, -2 * one, -one // 4], np.int64)) / 2.0**31
    np.testing.assert_allclose(values, [1.0, np.exp(-1), np.exp(-2), np.exp(-0.25)], rtol=0, atol=2.0**-20)


def test_int8_softmax_equals_both_interpreters(heads: dict[str, Path]) -> None:
    """The SOFTMAX layer alone, on the interpreters' own inputs to it, over 400 windows."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it: Any = Interpreter(model_path=str(heads["int8"]), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                          experimental_preserve_all_tensors=True)  # fmt: skip
    it.allocate_tensors()
    op = next(o for o in it._get_ops_details() if o["op_name"] == "SOFTMAX")
    x_detail = it.get_tensor_details()[op["inputs"][0]]
    multiplier, shift, diff_min = softmax_scaling(1.0, x_detail["quantization"][0])
    inp = it.get_input_details()[0]
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(400):
        it.set_tensor(inp["index"], rng.integers(-128, 128, inp["shape"]).astype(np.int8))
        it.invoke()
        x, want = it.get_tensor(op["inputs"][0]), it.get_tensor(op["outputs"][0])
        np.testing.assert_array_equal(softmax_s8(x, x.shape[-1], multiplier, shift, diff_min), want)
        checked += want.size
    assert checked == 4000


@pytest.mark.parametrize("board", ["nucleo-l476rg", "nucleo-h743zi"])
@pytest.mark.parametrize("dtype", ["int8", "f32"])
def test_whole_network_with_softmax_on_the_board(heads: dict[str, Path], dtype: str, board: str) -> None:
    result = run_model(heads[dtype], board, None, ModelOptions(whole=True, limit=3))
    assert result["outputs_match"] is True and result["passed"] is True
    assert result["matches_tflite_micro"] is True and result["matches_litert"] is True
    assert result["layers"][-1]["kind"] == "SOFTMAX"
    assert result["layers"][-1]["kernel"] == f"tl_softmax_{'s8' if dtype == 'int8' else 'f32'}"


@pytest.mark.skipif(not (MLPERF / "kws_ref_model.tflite").is_file(), reason=f"no MLPerf Tiny models in {MLPERF}")
def test_mlperf_keyword_spotting_whole() -> None:
    """The DS-CNN of MLPerf Tiny, classifier and SOFTMAX included, as the benchmark runs it."""
    result = run_model(MLPERF / "kws_ref_model.tflite", "nucleo-l476rg", None, ModelOptions(whole=True, limit=2))
    assert result["outputs_match"] is True and result["matches_tflite_micro"] is True and result["passed"] is True
    assert result["layers"][-1]["kind"] == "SOFTMAX"
