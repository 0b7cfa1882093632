"""How much flash the int16 weight forms may take (`--optimise speed|size|balanced`, codegen/lower.py): int8
weight forms by default, int16 only within FLASH_ALLOWANCE of the model's constants; a model whose int8
weights fit the board's flash is never refused because the variants would expand them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_arm_gcc, needs_cmsis_nn, needs_qemu, needs_tf

from tinyodl.boards import load_board
from tinyodl.cli import main
from tinyodl.codegen.lower import FLASH_ALLOWANCE, FLASH_RESERVE_BYTES, constant_bytes, lower
from tinyodl.modelrun import ModelOptions, import_model, run_model

pytestmark = needs_tf
BOARD = "nucleo-l476rg"  # 1 MiB of flash


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dense model of 664,640 int8 weights: about 0.63 MiB as int8, 1.27 MiB pre-expanded to int16."""
    import tensorflow as tf
    from tfmodels import convert

    tf.keras.utils.set_random_seed(5)
    layers = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((600,), batch_size=1), layers.Dense(1000, activation="relu"),
                                 layers.Dense(64, activation="relu"), layers.Dense(10)])  # fmt: skip
    calibration = np.random.default_rng(5).standard_normal((16, 600)).astype(np.float32)
    return convert(model, tmp_path_factory.mktemp("flash") / "wide_int8.tflite", True, calibration)


def _lowered(path: Path, policy: str) -> tuple[int, list[str], list[str]]:
    """(constant bytes, kernels, notes) of the whole model lowered with this policy."""
    _, graph, _ = import_model(path, ModelOptions(whole=True))
    lowered = lower(graph, load_board(BOARD), flash=policy)
    layers = lowered.layers
    total = sum(constant_bytes(layer.params, layer.omit) for layer in layers)
    return total, [layer.function for layer in layers], [layer.note for layer in layers]


def test_policies_on_a_model_that_only_fits_with_int8_weights(wide: Path) -> None:
    flash = load_board(BOARD).target.memory.flash.length
    speed, speed_kernels, _ = _lowered(wide, "speed")
    size, size_kernels, size_notes = _lowered(wide, "size")
    balanced, kernels, notes = _lowered(wide, "balanced")
    assert speed > flash > size  # every int16 form would overflow the flash; the int8 weights fit
    assert speed_kernels == ["tl_fully_connected_s8_dsp"] * 3
    assert size_kernels == ["tl_fully_connected_s8_dsp_w8"] * 3  # int8 weights, still the DSP kernel
    assert all("size: tl_fully_connected_s8_dsp would add" in note for note in size_notes)
    assert size < balanced <= size * (1 + FLASH_ALLOWANCE) <= flash - FLASH_RESERVE_BYTES
    # the two large layers stay int8; the 64 x 10 one (640 B more, and the int16 form's code) fits the allowance
    assert kernels == ["tl_fully_connected_s8_dsp_w8", "tl_fully_connected_s8_dsp_w8", "tl_fully_connected_s8_dsp"]
    assert "balanced: tl_fully_connected_s8_dsp would add 600,000 B" in notes[0]


@needs_arm_gcc
@needs_qemu
@pytest.mark.slow
def test_balanced_runs_where_speed_would_not_fit(wide: Path) -> None:
    result = run_model(wide, BOARD, None, ModelOptions(whole=True, limit=2))
    assert result["outputs_match"] is True and result["matches_tflite_micro"] is True and result["passed"] is True
    assert result["flash_bytes"] < load_board(BOARD).target.memory.flash.length
    kernels = [layer["kernel"] for layer in result["layers"]]
    assert kernels == ["tl_fully_connected_s8_dsp_w8", "tl_fully_connected_s8_dsp_w8", "tl_fully_connected_s8_dsp"]


def test_small_models_take_int8_weight_forms(har_tflite: dict[str, Path]) -> None:
    """HAR's constants are small: 5% of them does not pay for the int16 convolution's code, so balanced is
    size, on DSP kernels throughout; speed expands every convolution."""
    speed, speed_kernels, _ = _lowered(har_tflite["int8"], "speed")
    balanced, kernels, _ = _lowered(har_tflite["int8"], "balanced")
    size, _, _ = _lowered(har_tflite["int8"], "size")
    assert balanced == size < speed
    assert "tl_conv2d_s8_dsp_w8" in kernels and "tl_conv2d_s8_dsp" in speed_kernels
    assert "tl_conv2d_s8" not in kernels  # never the reference kernel for flash


@needs_cmsis_nn
@needs_arm_gcc
@needs_qemu
@pytest.mark.slow
def test_balanced_flash_within_cmsis_nn_plus_10_percent(
    har_tflite: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench --models with --optimise: ours in balanced against CMSIS-NN on the same model, in the same run;
    tflite-micro's arena beside ours."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(har_tflite["int8"], folder / "har.tflite")
    assert main(["bench", "--models", str(folder), "--optimise", "balanced", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["flash_policy"] == "balanced" and result["all_passed"]
    (r,) = result["results"]
    assert r["flash_ratio"] == round(r["optimised"]["flash_bytes"] / r["cmsis_nn"]["flash_bytes"], 3)
    assert r["flash_ratio"] <= 1.10, r["flash_ratio"]
    assert r["instructions_ratio"] <= 0.8, r["instructions_ratio"]
    tflm = r["tflite_micro_arena"]
    assert isinstance(tflm, dict) and tflm["total_bytes"] > 0
    assert r["arena_vs_tflite_micro"] == round(r["optimised"]["arena_bytes"] / tflm["total_bytes"], 3) <= 1.0
