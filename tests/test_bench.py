"""The benchmark: reference and optimised kernels side by side in one run, the tflite-micro arena beside
ours, the SPEC targets decided from the measurements; a terminal table and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.bench import BenchOptions, evaluate_targets, run_bench

pytestmark = [needs_arm_gcc, needs_qemu, needs_tf, pytest.mark.sim]


def test_bench_int8_side_by_side(har_tflite: dict[str, Path]) -> None:
    opts = BenchOptions(boards=("nucleo-l476rg",), dtypes=("int8",), models={"int8": har_tflite["int8"]})
    result = run_bench(opts)
    assert result["all_outputs_match"] is True
    (r,) = result["results"]
    assert (r["board"], r["dtype"], r["macc"]) == ("nucleo-l476rg", "int8", 1_120_000)
    ref, opt = r["reference"], r["optimised"]
    assert opt["instructions"] < ref["instructions"] and r["speedup"] == pytest.approx(
        ref["instructions"] / opt["instructions"], abs=0.01
    )
    assert [layer["reference"]["kernel"] for layer in r["layers"]][:2] == ["tl_conv2d_s8", "tl_conv_pool_s8"]
    # balanced flash: HAR's convolutions on their int8-weight form (docs/kernels.md)
    assert [layer["optimised"]["kernel"] for layer in r["layers"]][:2] == ["tl_conv2d_s8_dsp_w8", "tl_conv_pool_s8"]
    # fused: 100x32 + 50x32 activations; + the im2col scratch and the band of the fused layer
    assert opt["arena_bytes"] == 6048 > opt["activation_bytes"] == 4800 and ref["arena_bytes"] == 4800 + 14 * 32
    assert opt["latency_ms_estimated"] == pytest.approx(opt["instructions"] / 80e3, rel=1e-3)
    tflm = result["tflite_micro"]
    assert tflm["total_bytes"] == tflm["head_bytes"] + tflm["tail_bytes"] and tflm["head_bytes"] >= 6400
    targets = {(t["target"], t["where"]): t for t in result["targets"]}
    whole = targets[("whole network <= 0.8 x CMSIS-NN (2.21)", "nucleo-l476rg int8")]
    assert whole["measured"] == opt["instructions_per_mac"] and whole["limit"] == 1.77
    assert whole["met"] is True  # 1.18 measured with int8 weights (0.96 int16); 7.9 with the reference kernels
    wide = [t for (name, _), t in targets.items() if name.startswith("conv/dense")]
    assert [t["where"].split()[-1] for t in wide] == ["conv_2d_1+max_pool_2d_0", "conv_2d_2"]  # >= 8 input channels
    # balanced flash keeps HAR's weights int8 (1.16 and 1.08 instr/MAC): the per-layer target is met with the
    # int16 weight forms only (test_har_layers_meet_the_target_with_int16_weights; docs/kernels.md)
    assert all(t["met"] == (t["measured"] <= t["limit"]) for t in wide)


def test_har_layers_meet_the_target_with_int16_weights(har_tflite: dict[str, Path]) -> None:
    """SPEC section 11: the int8 conv layers with >= 8 input channels at <= 1.0 instr/MAC, with --optimise speed."""
    from tinyodl.modelrun import ModelOptions, run_model

    result = run_model(har_tflite["int8"], "nucleo-l476rg", None, ModelOptions(limit=1, flash="speed"))
    assert result["outputs_match"] is True
    layers = {layer["name"]: layer for layer in result["layers"]}
    assert layers["conv_2d_2"]["kernel"] == "tl_conv2d_s8_dsp"
    for name in ("conv_2d_1+max_pool_2d_0", "conv_2d_2"):
        assert layers[name]["instructions_per_mac"] <= 1.0, layers[name]


def test_targets_are_decided_from_the_measurements() -> None:
    run = {"instructions_per_mac": 2.0, "latency_ms_estimated": 20.0, "arena_bytes": 7000, "generate_seconds": 1.0,
           "build_seconds": 12.0}  # fmt: skip
    results = [{"board": "b", "dtype": "int8", "core": "cortex-m4", "optimised": run, "layers": []}]
    marks = {t["target"]: t["met"] for t in evaluate_targets(results, {"total_bytes": 10000})}
    assert marks == {
        "whole network <= 0.8 x CMSIS-NN (2.21)": False,
        "int8 latency (estimated, CPI 1.0)": False,
        "arena <= 0.6 x tflite-micro's": False,
        "generate + build (fresh)": False,
    }


def test_cli_bench_json(har_tflite: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tinyodl.cli", "bench", "--board", "nucleo-h743zi", "--dtype", "f32",
         "--f32", str(har_tflite["f32"]), "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    (r,) = result["results"]
    assert r["dtype"] == "f32" and result["tflite_micro"] is None
    assert {layer["optimised"]["kernel"] for layer in r["layers"]} >= {"tl_conv2d_f32_fpu"}
    assert r["optimised"]["instructions_per_mac"] < r["reference"]["instructions_per_mac"]
