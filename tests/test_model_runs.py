"""Models on the simulated boards: generated, built, run over the link; int8 outputs equal the numpy
reference, tflite-micro and LiteRT bit for bit; fp32 within the stated tolerance; per-layer counts."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.errors import BuildError
from tinyodl.modelrun import ModelOptions, run_model
from tinyodl.runner import RunOptions

pytestmark = [needs_arm_gcc, needs_qemu, needs_tf, pytest.mark.sim]

ROOT = Path(__file__).resolve().parents[1]


def _inputs(tmp: Path, shape: tuple[int, ...], n: int, seed: int) -> Path:
    path = tmp / f"inputs_{seed}.npz"
    np.savez(path, x=np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32))
    return path


@pytest.mark.parametrize("board", ["nucleo-l476rg", "nucleo-h743zi"])
def test_har_int8_bit_exact(har_tflite: dict[str, Path], tmp_path: Path, board: str) -> None:
    result = run_model(har_tflite["int8"], board, _inputs(tmp_path, (100, 6), 4, 1), ModelOptions(limit=4))
    assert result["outputs_match"] is True and result["first_mismatch"] is None
    assert result["matches_litert"] is True and result["matches_tflite_micro"] is True
    # the second convolution is fused with its pooling: 100x32 and 50x32 live, not two 100x32 tensors; the
    # working memory: the im2col buffer of the 32-channel convolutions (5 x 160) + a band of 14 x 32 outputs
    assert result["macc"] == 1_120_000 and result["activation_bytes"] == 4800
    assert result["arena_bytes"] == 4800 + 5 * 160 + 14 * 32 == 6048 <= 0.6 * 10_640  # tflite-micro's arena
    lo, hi = result["instructions_range"]
    assert lo <= result["instructions"] <= hi and hi - lo < 0.05 * hi  # data-dependent branches only
    assert [layer["kind"] for layer in result["layers"]] == ["CONV_2D", "CONV_POOL", "CONV_2D", "MEAN"]
    kernels = ["tl_conv2d_s8_dsp_w8", "tl_conv_pool_s8", "tl_conv2d_s8_dsp_w8", "tl_mean_s8_dsp"]  # balanced flash
    assert [layer["kernel"] for layer in result["layers"]] == kernels
    fused = result["layers"][1]["kernel_note"]
    assert "conv: tl_conv2d_s8_dsp_w8" in fused and "pool: tl_max_pool2d_s8_dsp" in fused and "bands of 14" in fused
    assert all(layer["instructions"] > 0 for layer in result["layers"])
    assert result["instructions_per_mac"] == pytest.approx(result["instructions"] / result["macc"], abs=1e-3)
    assert result["features"]["shape"] == [1, 64]


def test_same_input_same_count(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    inputs = _inputs(tmp_path, (100, 6), 2, 5)
    first = run_model(har_tflite["int8"], "nucleo-l476rg", inputs, ModelOptions(limit=2))
    second = run_model(har_tflite["int8"], "nucleo-l476rg", inputs, ModelOptions(limit=2))
    assert [layer["instructions"] for layer in first["layers"]] == [layer["instructions"] for layer in second["layers"]]
    assert first["instructions_range"] == second["instructions_range"]


def test_har_f32_within_tolerance(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    result = run_model(har_tflite["f32"], "nucleo-l476rg", _inputs(tmp_path, (100, 6), 3, 2), ModelOptions(limit=3))
    assert result["outputs_match"] is True and result["matches_litert"] is True
    assert result["matches_tflite_micro"] is True
    assert result["fp32_tolerance"] == {"rtol": 1e-5, "atol": 1e-6}
    assert result["arena_bytes"] == 4 * (4800 + 16 * 32)  # fused: 100x32 and 50x32 live, and a band of 16 x 32


@cache
def _random_model(seed: int, directory: str) -> Path:
    from tfmodels import build, random_cnn

    return build(Path(directory), f"random{seed}", lambda: random_cnn(seed), int8=True, seed=seed)


@pytest.mark.parametrize("seed", [3, 8, 17, 23])
def test_random_cnn_matches_tflite(tmp_path_factory: pytest.TempPathFactory, seed: int) -> None:
    """Architectures nobody wrote by hand: seeded random CNNs over the supported ops, whole network."""
    model = _random_model(seed, str(tmp_path_factory.mktemp("random")))
    board = "nucleo-l476rg" if seed % 2 else "nucleo-h743zi"
    result = run_model(model, board, None, ModelOptions(whole=True, limit=3))
    assert result["outputs_match"] is True, result["first_mismatch"]
    assert result["matches_litert"] is True


def test_mismatch_is_traced_to_the_layer(har_tflite: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong constant in one layer: the run fails and the trace names that layer and an element."""
    import tinyodl.modelrun as mr

    real = mr.generate_files

    def corrupt(graph, board_name, prefix=None, optimise=True, backend="tinyodl", flash="balanced"):  # type: ignore[no-untyped-def]  # noqa: E501
        lowered, files = real(graph, board_name, prefix, optimise, backend, flash)
        name = f"{lowered.prefix}.c"
        ident = f"{lowered.layers[0].ident}_bias"
        head, tail = files[name].split(f"static const int32_t {ident}[", 1)
        size, rest = tail.split("] = {\n    ", 1)
        first, rest = rest.split(",", 1)
        files[name] = f"{head}static const int32_t {ident}[{size}] = {{\n    {int(first) + 5000},{rest}"
        return lowered, files

    monkeypatch.setattr(mr, "generate_files", corrupt)
    result = run_model(har_tflite["int8"], "nucleo-h743zi", None, ModelOptions(limit=1, optimise=False))
    assert result["outputs_match"] is False
    trace = result["first_mismatch"]
    assert trace["layer"] == "conv_2d_0" and trace["layer_index"] == 0
    assert trace["element"][-1] == 0  # the first output channel, whose bias was changed
    assert trace["device"] != trace["reference"]


def test_cli_run_model_json(har_tflite: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tinyodl.cli", "run", str(har_tflite["int8"]), "--board", "nucleo-h743zi",
         "--json", "--limit", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for key in ("macc", "instructions", "instructions_per_mac", "arena_bytes", "layers", "outputs_match",
                "flash_bytes", "static_ram_bytes", "stack_peak_bytes", "latency_ms_estimated"):  # fmt: skip
        assert key in result, key


def test_generate_writes_a_standalone_project(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "proj"
    proc = subprocess.run(
        [sys.executable, "-m", "tinyodl.cli", "generate", str(har_tflite["int8"]), "--board", "nucleo-l476rg",
         "-o", str(out), "--prefix", "har"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = (out / "gen" / "har.c").read_text()
    assert text.startswith("/* generated by tinyodl ") and "do not edit" in text.splitlines()[0]
    assert "static const int8_t har_conv_2d_0_weights[" not in text  # the DSP variant reads its own copy:
    assert "static const int8_t har_conv_2d_0_dsp_weights8[1056]" in text  # 33 channels x 32 (30 rounded up)
    assert ".weights = 0," in text and "tl_conv2d_s8_dsp_w8(&har_conv_2d_0, " in text
    assert "tl_status_t har_invoke(uint64_t *layer_ticks)" in text
    subprocess.run(["make", "-C", str(out), "-s", "-j2"], check=True, capture_output=True)  # no Python involved
    assert (out / "firmware.elf").is_file()


def test_model_too_large_names_the_region(tmp_path: Path) -> None:
    import tensorflow as tf
    from tfmodels import convert

    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((100, 6), batch_size=1), layers.Conv1D(64, 5, padding="same"),
                                 layers.Reshape((6400,)), layers.Dense(256), layers.Dense(4)])  # fmt: skip
    path = convert(model, tmp_path / "big.tflite", int8=True)
    with pytest.raises(BuildError, match=r"does not fit nucleo-l476rg: FLASH needs [\d,]+ bytes, has 1,048,576"):
        run_model(path, "nucleo-l476rg", None, ModelOptions(whole=True, run=RunOptions()))


def test_float_io_model_and_fc_rounding(tmp_path: Path) -> None:
    """A model with float input/output (QUANTIZE/DEQUANTIZE at the edges) runs as int8 inside; its
    per-channel FULLY_CONNECTED requantizes with two roundings in fixed point, as tflite-micro does (LiteRT's
    reference kernel rounds once in floating point, and differs near ties: docs/kernels.md)."""
    import tensorflow as tf

    from tinyodl.frontends import load_model
    from tinyodl.frontends.oracle import TFLMOracle
    from tinyodl.passes import strip_edge_quantization
    from tinyodl.reference.graph import run_graph

    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((20, 3), batch_size=1), layers.Conv1D(8, 3, activation="relu"),
                                 layers.GlobalAveragePooling1D(), layers.Dense(4)])  # fmt: skip
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    calib = np.random.default_rng(0).standard_normal((16, 20, 3)).astype(np.float32)
    converter.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(16))
    path = tmp_path / "float_io.tflite"
    path.write_bytes(converter.convert())

    full = load_model(path)
    assert [op.kind for op in full.ops][0] == "QUANTIZE" and full.ops[-1].kind == "DEQUANTIZE"
    inner = strip_edge_quantization(full)
    t = inner.tensors[inner.inputs[0]]
    assert t.quant is not None
    xs = np.random.default_rng(7).integers(-128, 128, (300, 60)).astype(np.int8)  # near-ties included
    real = (xs.astype(np.float32) - np.float32(t.quant.zero_point[0])) * np.float32(t.quant.scale[0])
    out = inner.outputs[0]
    want = TFLMOracle(path).run_batch(real.reshape(300, 1, 20, 3), [out])[out]
    got = np.stack([run_graph(inner, x)[out] for x in xs])
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    result = run_model(path, "nucleo-l476rg", None, ModelOptions(whole=True, limit=4))
    assert result["outputs_match"] is True and result["matches_tflite_micro"] is True and result["passed"] is True
    assert result["layers"][-1]["kernel"].startswith("tl_fully_connected_s8_dsp")  # rounds twice, like tflite-micro
