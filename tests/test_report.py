"""`tinyodl report` end to end on the quick configuration (one board): every row of the seed's table with
figures and labelled estimates, exact figures identical run to run, the cache (a second run builds and runs
nothing), and the HTML page rendered by headless Chromium (tables and non-blank plots)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.report import seed
from tinyodl.report.collect import ReportOptions, align_layers

BOARD = "nucleo-l476rg"
ROWS = ["cnn_f32", "cnn_int8", "cnn_backprop", "rce_trained_inference", "rce_trained_learning", "rce_elm_inference",
        "rce_elm_learning"]  # fmt: skip


def test_seed_per_sample_divides_by_f_times_e() -> None:
    fe = seed.samples_per_training("cnn_bp_learning")
    assert fe == pytest.approx(8e9 / 1.213e6)
    ps = seed.per_sample("rce_learning")
    assert ps["derived"] and ps["latency_ms"]["nucleo-l476rg"] == pytest.approx(2380 / (23.4e6 / 1.251e6), abs=0.01)
    assert seed.per_sample("cnn_inference") == {"macc": 1_213_000, "latency_ms": {"nucleo-l476rg": 123.4,
                                                "nucleo-h743zi": 11.21}, "derived": False}  # fmt: skip


def test_a_fused_layer_stands_for_the_peer_layers_it_names() -> None:
    ours = [{"name": "c0", "kind": "CONV_2D", "macc": 10, "kernel": "a", "instructions": 5},
            {"name": "c1+p0", "kind": "CONV_POOL", "macc": 20, "kernel": "b", "instructions": 7}]  # fmt: skip
    peer = [{"name": n, "kind": "X", "macc": 0, "kernel": f"k{n}", "instructions": i}
            for n, i in (("c0", 9), ("c1", 11), ("p0", 3), ("fc", 1))]  # fmt: skip
    got = align_layers(ours, peer)
    assert [(g["name"], g["ours_instructions"], g["peer_instructions"]) for g in got] == [
        ("c0", 5, 9), ("c1+p0", 7, 14), ("fc", None, 1)]  # fmt: skip


def _report(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyodl.cli", "report", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)  # fmt: skip


@pytest.fixture(scope="module")
def quick(har_tflite: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("report")
    args = ["--quick", "--board", BOARD, "--int8", str(har_tflite["int8"]), "--f32", str(har_tflite["f32"]),
            "--cache-dir", str(out / "cache"), "--html", str(out / "report.html"),
            "--markdown", str(out / "t.md")]  # fmt: skip
    proc = _report([*args, "--json"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"result": json.loads(proc.stdout), "dir": out, "args": args, "models": har_tflite}


@needs_arm_gcc
@needs_qemu
@needs_tf
@pytest.mark.sim
@pytest.mark.slow
def test_every_row_has_its_figures_and_labelled_estimates(quick: dict[str, Any]) -> None:
    r = quick["result"]
    assert r["all_match_reference"] and r["configuration"].startswith("quick")
    assert [row["row"] for row in r["deployability"]] == ROWS
    for row in r["deployability"]:
        assert row["board"] == BOARD and row["clock_hz"] == 80_000_000
        assert row["macc"] > 0 and row["flash_bytes"] > 10_000 and row["ram_bytes"] > row["ram_parts"]["arena"] > 0
        assert row["instructions"] > 0 and row["instructions_exact"] is True
        assert row["estimate"] and "estimated" in row["estimate"]  # every estimate says so
        assert row["latency_ms_estimated"] > 0 and 0 <= row["accuracy"] <= 1
        assert row["seed"]["latency_ms"] is not None and row["ratio"]["latency"] is not None
        if row["estimate"].endswith("CPI 1.0 from exact instructions"):
            assert row["latency_ms_estimated"] == pytest.approx(row["instructions"] / 80e3, abs=1e-4)
    rows = {row["row"]: row for row in r["deployability"]}
    for key in ROWS:  # on QEMU every row carries the per-core cycle model's estimate (learners: per part CPI)
        row = rows[key]
        assert "cycle model" in row["estimate"] and row["cycles_estimated"] > 0
        assert row["latency_ms_estimated"] == pytest.approx(row["cycles_estimated"] / 80e3, rel=1e-3)
    # TinyRCE's learning step is its inference plus the learning: never cheaper
    assert rows["rce_trained_learning"]["instructions"] >= rows["rce_trained_inference"]["instructions"]
    assert [x["protocol"] for x in r["learning"]] == ["interleaved", "shuffled", "new-recording", "interleaved"]
    for x in r["learning"]:
        assert {"trivial", "knn", "backprop"} <= set(x["baselines"]) and x["matches_reference"]
        assert len(x["accuracy_curve"]) > 1
    rp = r["replay"][0]
    assert len(rp["experiences"]) == 6 and 0 < rp["joint_accuracy"] <= 1
    assert all("no_replay_accuracy" in e for e in rp["experiences"])
    layers = r["layers"][0]
    assert layers["peer"] in ("cmsis-nn", "reference") and layers["ours_instructions"] > 0
    for dtype, per_layer in layers["ram"].items():  # the arena during each layer never exceeds the arena
        arena = rows[f"cnn_{'f32' if dtype == 'float32' else 'int8'}"]["ram_parts"]["arena"]
        assert per_layer and all(0 < x["activation_bytes"] + x["scratch_bytes"] <= arena for x in per_layer)
    regions = {m["firmware"]: {x["name"]: x for x in m["regions"]} for m in r["memory"]}
    assert regions["CNN int8"]["FLASH"]["used_bytes"] == rows["cnn_int8"]["flash_bytes"]
    md = (quick["dir"] / "t.md").read_text()
    assert md.count("\n| CNN") >= 3 and "(estimated)" in md and "seed" in md


@needs_arm_gcc
@needs_qemu
@needs_tf
@pytest.mark.sim
@pytest.mark.slow
def test_exact_figures_are_identical_run_to_run(quick: dict[str, Any], tmp_path: Path) -> None:
    """Measured again (not from the cache: the simulator runs again) equals the first run on every exact
    figure."""
    from tinyodl.report.cache import firmware_hash
    from tinyodl.report.collect import _learn_unit, _model_unit

    def sources_changed() -> bool:  # the working tree was edited since the first run: its figures may differ
        return bool(firmware_hash.__wrapped__() != quick["result"]["firmware_hash"])

    if sources_changed():
        pytest.skip("firmware or generator sources changed since the first run")
    m = quick["models"]
    opts = ReportOptions(boards=(BOARD,), int8=m["int8"], f32=m["f32"], quick=True, cache_dir=tmp_path)
    cache = quick["dir"] / "cache"
    first_model = next(json.loads(p.read_text()) for p in sorted(cache.glob("model-*.json"))
                       if json.loads(p.read_text())["kernels"] == "optimised"
                       and json.loads(p.read_text())["model"] == str(m["int8"]))  # fmt: skip
    again = _model_unit(m["int8"], BOARD, opts, "optimised", lambda _: None)
    if sources_changed():
        pytest.skip("firmware or generator sources changed during the test")
    keys = ("instructions", "macc", "flash_bytes", "static_ram_bytes", "arena_bytes", "stack_peak_bytes",
            "outputs_sha256")  # fmt: skip
    assert {k: again[k] for k in keys} == {k: first_model[k] for k in keys}
    assert [x["instructions"] for x in again["layers"]] == [x["instructions"] for x in first_model["layers"]]
    first_learn = next(json.loads(p.read_text()) for p in sorted(cache.glob("learn-*.json"))
                       if json.loads(p.read_text())["protocol"] == "interleaved"
                       and "elm" not in json.loads(p.read_text())["model"])  # fmt: skip
    learn = _learn_unit(m["int8"], BOARD, "interleaved", None, None, opts, lambda _: None)
    if sources_changed():
        pytest.skip("firmware or generator sources changed during the test")
    for k in ("accuracy", "instructions_per_step", "neurons", "flash_bytes", "accuracy_curve", "baselines"):
        assert learn[k] == first_learn[k], k


@needs_arm_gcc
@needs_qemu
@needs_tf
@pytest.mark.sim
@pytest.mark.slow
def test_a_second_run_builds_and_runs_nothing(quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import tinyodl.learn.replay_run
    import tinyodl.learn.run
    import tinyodl.modelrun
    from tinyodl.report import run_report
    from tinyodl.report.cache import firmware_hash

    firmware_hash.cache_clear()
    if firmware_hash() != quick["result"]["firmware_hash"]:  # a changed firmware is measured again, rightly
        pytest.skip("firmware or generator sources changed since the first run")

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a cached report built or ran a firmware image")

    for module in (tinyodl.modelrun, tinyodl.learn.run, tinyodl.learn.replay_run):
        monkeypatch.setattr(module, "prepare", refuse)
    m = quick["models"]
    said: list[str] = []
    opts = ReportOptions(boards=(BOARD,), int8=m["int8"], f32=m["f32"], quick=True, cache_dir=quick["dir"] / "cache")
    again = run_report(opts, said.append)
    assert all(again["cached"].values()) and set(again["cached"]) == set(quick["result"]["cached"])
    assert any(s.endswith(": cached") for s in said)
    assert again["deployability"] == quick["result"]["deployability"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@needs_arm_gcc
@needs_qemu
@needs_tf
@pytest.mark.sim
@pytest.mark.slow
def test_the_html_renders_in_headless_chromium(quick: dict[str, Any], tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed (scripts/setup.sh --test)")
    import matplotlib.image

    page = quick["dir"] / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text  # self-contained
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) >= 7
    for data in images:  # every embedded plot has content, not one flat colour
        pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png")
        assert pixels.shape[0] > 100 and float(np.std(pixels[..., :3])) > 0.05
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    cells = re.findall(r"<td>([^<]*)</td>", dom.stdout)
    assert len(cells) > 7 * 8 and any("seed 123.4 ms" in c for c in cells)
    assert dom.stdout.count("<img") == len(images)
    shot = tmp_path / "shot.png"
    run = subprocess.run([*common, f"--screenshot={shot}", "--window-size=1400,2600", page.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    rgb = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(int)
    blue = np.all(np.abs(rgb - np.array([0x1F, 0x77, 0xB4])) <= 3, axis=-1)  # the plots' first colour
    assert blue.sum() > 500, "no plot was drawn"
    assert float((rgb.sum(axis=-1) < 600).mean()) > 0.02, "the page is blank"
