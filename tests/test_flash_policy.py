"""How much flash the optimised variants may take (`--optimise speed|size|balanced`, codegen/lower.py): a
model whose int8 weights fit the board's flash is never refused because the variants would expand them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import needs_tf

from tinyodl.boards import load_board
from tinyodl.codegen.lower import FLASH_RESERVE_BYTES, constant_bytes, lower
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


def _bytes(path: Path, policy: str) -> tuple[int, list[str]]:
    _, graph, _ = import_model(path, ModelOptions(whole=True))
    lowered = lower(graph, load_board(BOARD), flash=policy)
    return sum(constant_bytes(layer.params, layer.omit) for layer in lowered.layers), [
        layer.note for layer in lowered.layers
    ]


def test_policies_on_a_model_that_only_fits_with_int8_weights(wide: Path) -> None:
    flash = load_board(BOARD).target.memory.flash.length
    speed, _ = _bytes(wide, "speed")
    size, size_notes = _bytes(wide, "size")
    balanced, notes = _bytes(wide, "balanced")
    assert speed > flash > size  # every variant would overflow the flash; the int8 weights fit
    assert size <= balanced <= flash - FLASH_RESERVE_BYTES  # balanced spends what is left, no more
    assert sum("kept for flash (balanced)" in note for note in notes) == 1  # only the 600 x 1000 layer stays int8
    assert all("kept for flash (size)" in note for note in size_notes)
    assert balanced > size  # the smaller layers got their variant


def test_balanced_runs_where_speed_would_not_fit(wide: Path) -> None:
    result = run_model(wide, BOARD, None, ModelOptions(whole=True, limit=2))
    assert result["outputs_match"] is True and result["matches_tflite_micro"] is True and result["passed"] is True
    assert result["flash_bytes"] < load_board(BOARD).target.memory.flash.length
    kernels = [layer["kernel"] for layer in result["layers"]]
    assert kernels == ["tl_fully_connected_s8", "tl_fully_connected_s8_dsp", "tl_fully_connected_s8_dsp"]


def test_small_models_get_every_variant(har_tflite: dict[str, Path]) -> None:
    speed, _ = _bytes(har_tflite["int8"], "speed")
    balanced, notes = _bytes(har_tflite["int8"], "balanced")
    size, _ = _bytes(har_tflite["int8"], "size")
    assert balanced == speed > size and not any("kept for flash" in note for note in notes)
