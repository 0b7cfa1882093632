"""Models and the benchmark on a real Renode: the same outputs as on QEMU, instruction counts within 1%.

The same generated model runs on both simulators. int8 outputs are bit-exact with the numpy reference on
both; every output byte (float32 included) must be the same on Renode as on QEMU, since the same code runs
on the same core. Renode's DWT counts each instruction; QEMU's SysTick counts in ticks of 250 (STM32L4
machine) or 40 (mps2) instructions, so a layer may differ by QEMU's granularity plus 1%.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import needs_arm_gcc, needs_qemu, needs_renode, needs_renode_test, needs_tf, run_robot

from tinyodl.modelrun import ModelOptions, robot_files, run_model
from tinyodl.runner import RunOptions

BOARDS = ["nucleo-l476rg", "nucleo-h743zi"]
pytestmark = [needs_arm_gcc, needs_qemu, needs_renode, needs_tf, pytest.mark.sim, pytest.mark.slow]


@cache
def _run(model: Path, board: str, sim: str, whole: bool = True) -> dict[str, Any]:
    opts = ModelOptions(run=RunOptions(sim=sim, timeout_s=300), whole=whole, limit=3)
    return run_model(model, board, None, opts)


@pytest.mark.parametrize("dtype", ["int8", "f32"])
@pytest.mark.parametrize("board", BOARDS)
def test_model_on_renode_equals_qemu(har_tflite: dict[str, Path], board: str, dtype: str) -> None:
    on_renode = _run(har_tflite[dtype], board, "renode")
    on_qemu = _run(har_tflite[dtype], board, "qemu")
    assert (on_renode["simulator"], on_renode["image"], on_renode["instructions_granularity"]) == ("renode", "board", 1)
    assert on_renode["outputs_match"] and on_qemu["outputs_match"]
    assert on_renode["outputs_sha256"] == on_qemu["outputs_sha256"]  # every output byte, float32 included
    if dtype == "int8":
        assert on_renode["matches_litert"] is True
    granularity = on_qemu["instructions_granularity"]
    for a, b in zip(on_renode["layers"], on_qemu["layers"], strict=True):
        assert (a["name"], a["kernel"]) == (b["name"], b["kernel"])
        assert abs(a["instructions"] - b["instructions"]) <= granularity + 0.01 * b["instructions"], a["name"]
    total, reference = on_renode["instructions"], on_qemu["instructions"]
    assert abs(total - reference) <= len(on_qemu["layers"]) * granularity + 0.01 * reference
    # Renode's count of each input is exact and repeatable: the three inputs differ only where kernels
    # branch on data
    assert on_renode["instructions_range"][0] <= total <= on_renode["instructions_range"][1]


def test_bench_on_renode(har_tflite: dict[str, Path]) -> None:
    """`tinyodl bench --sim renode`, one board and type: reference and optimised kernels side by side."""
    from tinyodl.bench import BenchOptions, run_bench

    result = run_bench(BenchOptions(boards=("nucleo-h743zi",), dtypes=("int8",), sim="renode",
                                    models={"int8": har_tflite["int8"]}))  # fmt: skip
    assert result["all_outputs_match"] and result["simulator"] == "renode"
    (entry,) = result["results"]
    assert entry["simulator"] == "renode" and entry["machine"] == "renode/nucleo-h743zi.repl"
    qemu = _run(har_tflite["int8"], "nucleo-h743zi", "qemu", whole=False)  # the bench cuts a given model
    assert abs(entry["optimised"]["instructions"] - qemu["instructions"]) <= 0.01 * qemu["instructions"] + 5 * 40
    assert entry["speedup"] > 4


@needs_renode_test
@pytest.mark.parametrize("board", BOARDS)
def test_robot_model_suite(har_tflite: dict[str, Path], board: str, tmp_path: Path) -> None:
    """renode/tests/model.robot with the variable file of `tinyodl renode-script MODEL`: one input window in,
    the output read back equal to the numpy reference's."""
    files = robot_files(har_tflite["int8"], board, None, ModelOptions(), tmp_path / "files")
    proc = run_robot("model.robot", tmp_path, {"VARIABLES": str(files["variables"])})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


@needs_renode_test
def test_robot_model_suite_fails_on_a_wrong_output(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    """The same suite, one byte of the expected output changed: the DATA frame never comes."""
    files = robot_files(har_tflite["int8"], "nucleo-l476rg", None, ModelOptions(), tmp_path / "files")
    variables = yaml.safe_load(files["variables"].read_text())
    kind, data = variables["EXCHANGE"][-2]  # the last DATA frame (the ACK of it follows)
    assert kind == "wait"
    frame = bytearray(bytes.fromhex(data))
    frame[-8] ^= 0x01  # a payload byte (the frame ends in 4 CRC bytes, sometimes a COBS code, and 0x00)
    variables["EXCHANGE"][-2][1] = bytes(frame).hex(" ")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(variables))
    proc = run_robot("model.robot", tmp_path, {"VARIABLES": str(bad), "TIMEOUT": "0.5"})
    assert proc.returncode != 0 and "Terminal tester failed" in proc.stdout + proc.stderr
