"""Latent replay on the simulated boards against its numpy reference: `tinyodl learn --learner replay`
class-incrementally on BasicMotions, the weights after every experience equal within tolerance, the same
predictions; TinyProp; a budget too small; a step that would make a weight non-finite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, needs_arm_gcc, needs_qemu, needs_renode, needs_tf

from tinyodl.learn.replay import HeadLearner, ReplayBuffer, ReplayParams

pytestmark = [needs_arm_gcc, needs_qemu, needs_tf, pytest.mark.sim]


def learn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyodl.cli", "learn", "--learner", "replay", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)  # fmt: skip


@pytest.mark.parametrize("board", ["nucleo-l476rg", "nucleo-h743zi"])
def test_class_incremental_on_the_board_equals_the_reference(har_tflite: dict[str, Path], board: str) -> None:
    proc = learn(str(har_tflite["int8"]), "--board", board, "--data", "basicmotions", "--first-classes", "2",
                 "--epochs", "3", "--lr", "0.01", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r: dict[str, Any] = json.loads(proc.stdout)
    assert r["matches_reference"] and r["disagreements"] == 0 and r["within_ram_cap"]
    assert [e["classes"] for e in r["experiences"]] == [[0, 1], [2], [3]]
    for e in r["experiences"]:
        assert e["weights_match"] and e["max_weight_difference"] < 1e-3
        assert e["steps"] > 0 and e["instructions_per_step"] > 0 and e["instructions_frozen_stage"] > 1e6
    assert r["experiences"][-1]["buffer_count"] == r["ram"]["buffer_latents"] or r["experiences"][-1][
        "buffer_count"] == sum(e["windows"] for e in r["experiences"])  # fmt: skip
    assert 0 <= r["no_replay_accuracy"] <= 1 and 0 < r["joint_accuracy"] <= 1


def test_tinyprop_updates_fewer_rows(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    plot = tmp_path / "experiences.png"
    proc = learn(str(har_tflite["int8"]), "--board", "nucleo-l476rg", "--data", "basicmotions", "--tinyprop",
                 "--epochs", "2", "--json", "--plot", str(plot))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the accuracy per experience, drawn
    r = json.loads(proc.stdout)
    assert r["matches_reference"] and r["train"]["tinyprop"]
    for e in r["experiences"]:
        assert e["rows_updated"] < e["steps"] * 4  # 4 classes: full training updates every row


def test_bad_settings_are_one_line(har_tflite: dict[str, Path]) -> None:
    proc = learn(str(har_tflite["int8"]), "--board", "nucleo-l476rg", "--data", "basicmotions", "--ram-budget", "9000")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "a RAM budget of 9,000 B holds no replay slot: the head and its training take" in line
    proc = learn(str(har_tflite["int8"]), "--board", "nucleo-l476rg", "--data", "basicmotions", "--lr", "1e37")
    assert proc.returncode != 0
    assert "a step would have made a weight non-finite" in proc.stderr


def test_host_learner_keeps_the_weights_before_a_non_finite_step() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    h = HeadLearner(w, np.zeros(3, np.float32), 1.0, 0, ReplayBuffer(8, 4), ReplayParams(lr=1e38, epochs=1))
    with pytest.raises(ValueError, match="non-finite"):
        h.train_experience(rng.integers(-100, 100, (5, 4)).astype(np.int8), np.array([0, 1, 2, 0, 1]))
    np.testing.assert_array_equal(h.head[0], w)


def test_class_incremental_on_renode(har_tflite: dict[str, Path]) -> None:
    if needs_renode.args[0]:  # type: ignore[attr-defined]
        pytest.skip(needs_renode.kwargs["reason"])  # type: ignore[attr-defined]
    proc = learn(str(har_tflite["int8"]), "--board", "nucleo-h743zi", "--data", "basicmotions", "--sim", "renode",
                 "--epochs", "2", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    assert r["simulator"] == "renode" and r["instructions_granularity"] == 1.0
    assert r["matches_reference"] and r["disagreements"] == 0


def test_new_recording_personalisation(har_tflite: dict[str, Path]) -> None:
    """TinyRCE's new-recording protocol for latent replay: each recording predicted with the state before it,
    then learned with replay; the device's latents and weights equal the reference's."""
    proc = learn(str(har_tflite["int8"]), "--board", "nucleo-l476rg", "--data", "basicmotions", "--protocol",
                 "new-recording", "--head-init", "seed", "--epochs", "2", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    assert r["protocol"] == "new-recording" and r["windows"] == 40
    assert r["matches_reference"] and r["latent_mismatches"] == 0 and r["disagreements"] == 0
    assert 0 <= r["accuracy"] <= 1 and 0 <= r["pretrained_accuracy"] <= 1
    # the model's own head cannot start a head over other classes: one line
    proc = learn(str(har_tflite["int8"]), "--board", "nucleo-l476rg", "--data", "basicmotions", "--protocol",
                 "new-recording")  # fmt: skip
    assert proc.returncode == 2 and "the model's head has 7 outputs, the data 4 classes" in proc.stderr


def test_hidden_layer_with_tinyprop(har_tflite: dict[str, Path]) -> None:
    """A head of two dense layers (ReLU between), TinyProp on both: the device equals the reference."""
    proc = learn(str(har_tflite["int8"]), "--board", "nucleo-h743zi", "--data", "basicmotions", "--hidden", "16",
                 "--tinyprop", "--lr", "0.01", "--epochs", "2", "--ram-budget", "65536", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    assert r["matches_reference"] and r["disagreements"] == 0
    for e in r["experiences"]:
        assert e["weights_match"] and e["rows_updated"] < e["steps"] * (16 + 4)
    proc = learn(str(har_tflite["int8"]), "--board", "nucleo-h743zi", "--data", "basicmotions", "--hidden", "16",
                 "--protocol", "new-recording")  # fmt: skip
    assert proc.returncode == 2 and "--head-init trained takes the model's one dense head" in proc.stderr


def test_float32_latents_from_a_float_stage(har_tflite: dict[str, Path]) -> None:
    """A float32 frozen stage: its float32 latents stored as they are; the device equals the reference."""
    proc = learn(str(har_tflite["f32"]), "--board", "nucleo-h743zi", "--data", "basicmotions", "--current", "64",
                 "--ram-budget", "40000", "--epochs", "2", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    assert r["matches_reference"] and r["disagreements"] == 0
    # 64 float32 values, a label and the slot bookkeeping per latent: 4x the values of an int8 latent
    assert r["ram"]["current_store_bytes"] == 64 * (64 * 4 + 3)
