"""`--kernels cmsis-nn`: ARM's CMSIS-NN as a kernel backend, bit-exact with the numpy reference and
tflite-micro on both boards, and `bench --models` putting it beside tinyodl's optimised kernels."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import ROOT, needs_arm_gcc, needs_cmsis_nn, needs_qemu

from tinyodl import cmsisnn
from tinyodl.boards import load_board
from tinyodl.cli import main
from tinyodl.codegen import cmsisnn as backend
from tinyodl.reference import params as kp

MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
BOARDS = ("nucleo-l476rg", "nucleo-h743zi")
COVERED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D"}


def _tree(path: Path) -> Path:
    (path / "Include").mkdir(parents=True)
    (path / "Include" / "arm_nnfunctions.h").write_text("/* stand-in */\n")
    (path / "Source").mkdir()
    return path


# ---- finding the tree ---------------------------------------------------------------------------------------


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, env, local = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "CMSIS-NN-7.0.0")
    monkeypatch.setattr(cmsisnn, "local_install", lambda: local)
    monkeypatch.setenv(cmsisnn.ENV, str(env))
    assert (cmsisnn.find(explicit).path, cmsisnn.find(explicit).found_by) == (explicit, "--cmsis-nn")
    assert (cmsisnn.find().path, cmsisnn.find().found_by) == (env, "TINYODL_CMSIS_NN")
    monkeypatch.delenv(cmsisnn.ENV)
    found = cmsisnn.find()
    assert found is not None and (found.path, found.found_by) == (local, ".tools/cmsis-nn")
    assert found.version == "7.0.0"  # from the folder's name
    assert "7.0.0" in found.describe() and ".tools/cmsis-nn" in found.describe()


def test_missing_tree_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cmsisnn, "local_install", lambda: tmp_path / "none")
    monkeypatch.delenv(cmsisnn.ENV, raising=False)
    assert cmsisnn.find() is None
    reason = cmsisnn.missing_reason()
    assert reason is not None and "--cmsis-nn DIR" in reason and "setup.sh --cmsis-nn" in reason
    with pytest.raises(cmsisnn.CmsisNNError, match="none were found"):
        cmsisnn.require()
    monkeypatch.setenv(cmsisnn.ENV, str(tmp_path))  # set, but not a tree: an error, not a fall-through
    with pytest.raises(cmsisnn.CmsisNNError, match="TINYODL_CMSIS_NN .*not a CMSIS-NN source tree"):
        cmsisnn.find()


def test_cli_names_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cmsisnn, "local_install", lambda: tmp_path / "none")
    monkeypatch.delenv(cmsisnn.ENV, raising=False)
    model = tmp_path / "m.tflite"
    model.write_bytes(b"")
    assert main(["run", str(model), "--board", "nucleo-l476rg", "--kernels", "cmsis-nn"]) == 2
    err = capsys.readouterr().err
    assert "--kernels cmsis-nn needs CMSIS-NN's sources" in err and "Traceback" not in err


def test_setup_unpacks_once(tmp_path: Path) -> None:
    """setup.sh --cmsis-nn TARBALL: unpacked into the folder, the version recorded, a second run does nothing."""
    src = _tree(tmp_path / "src" / "CMSIS-NN-7.0.0")
    tarball = tmp_path / "CMSIS-NN-7.0.0.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(src, arcname="CMSIS-NN-7.0.0")
    dest = tmp_path / "tools" / "cmsis-nn"
    env = {**os.environ, "TINYODL_SETUP_SOURCED": "1", "TINYODL_CMSIS_NN_DIR": str(dest)}
    script = f'. "{ROOT / "scripts" / "setup.sh"}"; setup_cmsis_nn "{tarball}"'
    first = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
    assert "unpacking CMSIS-NN" in first.stderr
    assert cmsisnn.is_tree(dest) and (dest / ".version").read_text().strip() == "7.0.0"
    second = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
    assert second.stderr == ""


# ---- the choice, and CMSIS-NN 7's buffer sizes ---------------------------------------------------------------


def _conv(**kw: int) -> kp.Conv2DS8Params:
    g = {"batches": 1, "in_h": 1, "in_w": 20, "in_ch": 6, "out_h": 1, "out_w": 20, "out_ch": 8, "k_h": 1, "k_w": 5,
         "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1, "pad_top": 0, "pad_left": 2} | kw  # fmt: skip
    import numpy as np

    out = g["out_ch"]
    return kp.Conv2DS8Params(**g, input_zero_point=-3, output_zero_point=5, act_min=-128, act_max=127,
                             multiplier=np.full(out, 1 << 30, np.int32), shift=np.full(out, -3, np.int32),
                             weights=np.ones((out, g["k_h"], g["k_w"], g["in_ch"]), np.int8), bias=None)  # fmt: skip


def test_buffer_sizes_follow_cmsis_nn_dispatch() -> None:
    # in_ch 6: stride * in_ch is not a multiple of 4, so arm_convolve_s8: 2 columns of K rounded up to 4, int16
    assert backend.conv_path(_conv()) == ("arm_convolve_s8", 2 * 32 * 2)
    assert backend.conv_path(_conv(in_ch=8)) == ("arm_convolve_1_x_n_s8", 2 * 40 * 2)
    assert backend.conv_path(_conv(k_w=1, pad_left=0)) == ("arm_convolve_1x1_s8_fast", 0)
    assert backend.conv_path(_conv(k_w=1, pad_left=0, stride_w=2, out_w=10)) == ("arm_convolve_1x1_s8", 0)
    board = load_board("nucleo-l476rg")
    choice = backend.wrap(_conv(), board)
    assert not isinstance(choice, str)
    assert choice.function == "tl_cmsisnn_conv2d_s8" and "arm_convolve_wrapper_s8" in choice.note
    assert choice.params.scratch_bytes == 128  # type: ignore[attr-defined]


# ---- on the boards -------------------------------------------------------------------------------------------


def _run(model: Path, board: str, limit: int, whole: bool = False) -> dict:
    from tinyodl.modelrun import ModelOptions, run_model

    return run_model(model, board, None, ModelOptions(whole=whole, limit=limit, backend="cmsis-nn"))


@needs_cmsis_nn
@needs_arm_gcc
@needs_qemu
@pytest.mark.parametrize("board", BOARDS)
def test_har_bit_exact(har_tflite: dict[str, Path], board: str) -> None:
    r = _run(har_tflite["int8"], board, limit=3)
    assert r["kernels"] == "cmsis-nn" and r["cmsis_nn"]["found_by"]
    assert r["outputs_match"] and r["matches_tflite_micro"] is True and r["passed"], r["verdict"]
    kinds = {layer["kind"]: layer for layer in r["layers"]}
    assert "CONV_POOL" not in kinds  # CMSIS-NN has no fused convolution + pooling
    for layer in r["layers"]:
        if layer["kind"] in COVERED:
            assert layer["kernel"].startswith("tl_cmsisnn_"), layer
            assert layer["kernel_note"].startswith("CMSIS-NN arm_")
        else:
            assert layer["kernel_note"].startswith("not CMSIS-NN: "), layer
    # SPEC section 11 quotes 2.21 instructions/MAC for CMSIS-NN on this architecture; measured here: 2.20
    assert 1.8 <= r["instructions_per_mac"] <= 2.6, r["instructions_per_mac"]


@needs_cmsis_nn
@needs_arm_gcc
@needs_qemu
def test_mlperf_kws_bit_exact() -> None:
    model = MLPERF / "kws_ref_model.tflite"
    if not model.is_file():
        pytest.skip(f"no MLPerf Tiny model at {model}")
    r = _run(model, "nucleo-l476rg", limit=1)
    assert r["outputs_match"] and r["matches_tflite_micro"] is True, r["verdict"]
    kernels = {layer["kernel"] for layer in r["layers"]}
    assert {"tl_cmsisnn_conv2d_s8", "tl_cmsisnn_depthwise_conv2d_s8"} <= kernels


@needs_cmsis_nn
@needs_arm_gcc
@needs_qemu
def test_bench_models_side_by_side(
    har_tflite: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(har_tflite["int8"], folder / "har.tflite")
    assert main(["bench", "--models", str(folder), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cmsis_nn"]["version"] and result["all_passed"]
    (r,) = result["results"]
    assert r["name"] == "har" and r["board"] == "nucleo-l476rg"
    ours, peer = r["optimised"], r["cmsis_nn"]
    for run in (ours, peer):
        assert run["outputs_match"] and run["matches_tflite_micro"] is True
        assert run["instructions"] > 0 and run["flash_bytes"] > 0 and run["arena_bytes"] > 0
    assert r["same_outputs"]
    assert r["instructions_ratio"] == round(ours["instructions"] / peer["instructions"], 3)
    assert r["instructions_ratio"] < 0.8  # the SPEC target: ours <= 0.8 x CMSIS-NN on this network
    assert r["arena_ratio"] == round(ours["arena_bytes"] / peer["arena_bytes"], 3)
    fused = [layer for layer in r["layers"] if "+" in layer["name"]]  # ours fused; CMSIS-NN's two layers summed
    assert fused and all(layer["cmsis_nn"]["instructions"] for layer in fused)
    assert sum(layer["cmsis_nn"]["instructions"] for layer in r["layers"]) == peer["instructions"]
