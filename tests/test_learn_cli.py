"""`tinyodl learn` end to end: real data (BasicMotions, the watch set), a user's own .npz, the three
protocols, QEMU and Renode; the device agrees with its host reference on every step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, needs_arm_gcc, needs_qemu, needs_renode, needs_tf

pytestmark = [needs_arm_gcc, needs_qemu, needs_tf, pytest.mark.sim, pytest.mark.slow]


def learn(*args: str) -> dict[str, Any] | list[dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "tinyodl.cli", "learn", *args, "--json"], capture_output=True,
                          text=True, cwd=ROOT, timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] | list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def check(r: dict[str, Any]) -> None:
    assert r["matches_reference"] and r["disagreements"] == 0
    assert r["feature_mismatches"] == 0  # int8 features: the device's equal the numpy reference's
    assert r["within_ram_cap"] and r["state_check_ok"] and r["neurons"] <= r["learner"]["capacity"]
    assert 0 <= r["accuracy"] <= 1 and len(r["accuracy_curve"]) > 1
    assert set(r["baselines"]) >= {"trivial", "knn", "rce", "backprop", "pretrained"}
    assert r["instructions_per_step"]["extract"] > 1e6 and r["instructions_per_step"]["predict"] > 0
    low, high = r["extract_instructions_range"]  # the extractor takes the same path for every window
    assert high - low <= 0.01 * low + 2 * r["instructions_granularity"], (low, high)
    ram = r["ram"]
    assert ram["extractor_plus_learner_bytes"] == ram["extractor_arena_bytes"] + ram["learner_pool_bytes"]


@pytest.mark.parametrize("board", ["nucleo-l476rg", "nucleo-h743zi"])
def test_basicmotions_three_protocols(har_tflite: dict[str, Path], board: str) -> None:
    results = learn(str(har_tflite["int8"]), "--board", board, "--data", "basicmotions",
                    "--protocol", "interleaved,shuffled,new-recording", "--ram-budget", "2000")  # fmt: skip
    assert isinstance(results, list) and [r["protocol"] for r in results] == list(
        ("interleaved", "shuffled", "new-recording"))  # fmt: skip
    for r in results:
        check(r)
        assert r["learner"]["capacity"] == 2000 // 80 and r["windows"] == 40  # the TEST split is the user
    assert results[2]["steps"] == 80  # new-recording: every window predicted frozen, then learned


def test_watch_on_renode_and_a_users_npz(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    if needs_renode.args[0]:  # type: ignore[attr-defined]
        pytest.skip(needs_renode.kwargs["reason"])  # type: ignore[attr-defined]
    r = learn(str(har_tflite["int8"]), "--board", "nucleo-h743zi", "--data", "watch", "--protocol", "shuffled",
              "--limit", "120", "--sim", "renode")  # fmt: skip
    assert isinstance(r, dict)
    check(r)
    assert r["simulator"] == "renode" and r["users"] == [9, 10] and r["windows"] == 240
    assert r["instructions_granularity"] == 1.0 and r["predict_instructions_per_element"] is not None
    # a user's own file: x, y, group, subject (docs/learn.md)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 100, 6)).astype(np.float32)
    y = np.repeat(np.arange(3), 20)
    x += y[:, None, None].astype(np.float32)  # three separable classes
    path = tmp_path / "mine.npz"
    np.savez(path, x=x, y=y, group=np.repeat(np.arange(6), 10), subject=np.repeat([0, 1], 30))
    r = learn(str(har_tflite["int8"]), "--board", "nucleo-l476rg", "--data", str(path), "--protocol", "new-recording")
    assert isinstance(r, dict)
    check(r)
    assert r["data"] == "mine" and r["users"] == [1] and r["normalisation"] == "none"


def test_bad_input_is_one_line(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 100, 6), np.float32), y=np.array([0, 1, 300, 2]))
    for args, message in (
        (["--data", str(bad)], "labels y must be integers 0..254"),
        (["--data", "nowhere.npz"], "not 'watch', 'basicmotions' or an existing .npz file"),
        (["--ram-budget", "40"], "a RAM budget of 40 B holds no neuron: one takes 80 B"),
        (["--protocol", "sideways"], "unknown protocol 'sideways'"),
        (["--distance", "l2"], "int8 features use the L1 distance"),
    ):
        argv = [sys.executable, "-m", "tinyodl.cli", "learn", str(har_tflite["int8"]), "--board", "nucleo-l476rg"]
        proc = subprocess.run([*argv, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert proc.returncode == 2, (args, proc.stderr)
        (line,) = proc.stderr.strip().splitlines()
        assert message in line, (args, line)


def test_generate_with_the_learner_builds_without_python(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "project"
    proc = subprocess.run([sys.executable, "-m", "tinyodl.cli", "generate", str(har_tflite["int8"]), "--board",
                           "nucleo-h743zi", "--learner", "tinyrce", "--ram-budget", "8192", "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "TinyRCE with 102 neurons of 64 int8 features" in proc.stdout
    assert "pretrained head of 7 classes" in proc.stdout
    cfg = (out / "gen" / "tl_learn_cfg.h").read_text()
    assert "#define TL_LEARN_POOL 102u" in cfg and "#define TL_LEARN_HEAD_CLASSES 7" in cfg
    subprocess.run(["make", "-C", str(out), "-s", "-j2"], check=True, capture_output=True, timeout=300)
    assert (out / "firmware.elf").is_file()
