"""`tinyodl nas`: the Occam's-razor strategy on scripted scores (the same visits with and without Ray, with and
without speculative work), a real search on BasicMotions in a local Ray whose every footprint equals what
`tinyodl run` measures, the found model as `tinyodl learn`'s extractor, budgets nothing fits, and a resumed
search."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.cli import main
from tinyodl.nas import Candidate, Verdict, kernels, max_cells, occam_search
from tinyodl.nas.parallel import RayBackend, SequentialBackend, ray_module

BOARD = "nucleo-l476rg"
needs_ray = pytest.mark.skipif(ray_module() is None, reason="ray not installed (scripts/setup.sh --test)")


def test_kernels_follow_the_seed_rule() -> None:
    assert kernels(1, 0) == [1]
    assert kernels(8, 4) == [8, 16, 24, 30, 34]  # x2, x1.5, x1.25, x1.125, rounded up
    assert kernels(9, 3) == [9, 18, 27, 34]
    assert max_cells((100, 6)) == 5  # 100 -> 50 -> 25 -> 12 -> 6 -> 3 -> 1: six poolings
    assert max_cells((50, 50, 3)) == 4
    assert max_cells((1, 6)) == 0


# A scripted landscape: score by (k, c); RAM grows with k and c.
SCORES = {
    (1, 0): 0.30, (1, 1): 0.50, (1, 2): 0.60, (1, 3): 0.55,
    (2, 0): 0.40, (2, 1): 0.62, (2, 2): 0.70, (2, 3): 0.72, (2, 4): 0.71,
    (3, 0): 0.50, (3, 1): 0.74, (3, 2): 0.74,
    (4, 0): 0.45, (4, 1): 0.73,
}  # fmt: skip


def scripted(cand: Candidate, ram_per_unit: int) -> dict[str, Any]:
    return {"k": cand.k, "c": cand.c, "score": SCORES.get((cand.k, cand.c), 0.0),
            "ram": ram_per_unit * cand.k * (cand.c + 1)}  # fmt: skip


def judge_ram(budget: int) -> Any:
    return lambda r: Verdict(r["ram"] <= budget, "" if r["ram"] <= budget else "RAM")


def search(backend: Any, budget: int) -> tuple[Any, list[tuple[int, int]]]:
    out = occam_search(backend, judge_ram(budget), max_c=4, max_k=8)
    return out, [(c.k, c.c) for c in out.visited]


VISITS_FREE = [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4),
               (3, 0), (3, 1), (3, 2), (4, 0), (4, 1), (4, 2)]  # fmt: skip


def test_strategy_visit_order_and_stops() -> None:
    out, visits = search(SequentialBackend(scripted, (1,), {}), budget=10**9)
    # (1,3) is worse than (1,2): k=2; (2,4) worse than (2,3): k=3; (3,2) only ties (3,1): k=4, whose best (4,1)
    # is no better than (3,1): stop with (3,1).
    assert visits == VISITS_FREE
    assert out.best == Candidate(3, 1)
    assert out.stop_reasons[Candidate(1, 3)] == "no better than one cell fewer"
    assert "no better than the best of k=3" in out.stop
    # RAM budget 6: (2,3) needs 8 -> the k=2 loop ends at (2,2); (3,1) needs 6; (3,2) needs 9 -> infeasible.
    out, visits = search(SequentialBackend(scripted, (1,), {}), budget=6)
    assert visits[:8] == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 1), (2, 2), (2, 3)]
    assert out.stop_reasons[Candidate(2, 3)] == "infeasible: RAM"
    assert out.best == Candidate(3, 1)
    # Nothing fits: the search stops at once with no result.
    out, visits = search(SequentialBackend(scripted, (100,), {}), budget=50)
    assert visits == [(1, 0)] and out.best is None and out.stop == "(1, 0) is infeasible"
    # The k loop ends when (k, 0) is infeasible: budget 3 admits (1,0..2), (2,0) is 2, (3,0) 3, (4,0) 4.
    out, visits = search(SequentialBackend(scripted, (1,), {}), budget=3)
    assert (4, 0) not in visits and out.best is not None


@pytest.fixture(scope="module")
def ray() -> Any:
    """One local Ray for the module (its start-up is slow); two CPUs."""
    ray = ray_module()
    if ray is None:
        pytest.skip("ray not installed (scripts/setup.sh --test)")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # tasks run this module's functions
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@needs_ray
@pytest.mark.slow
@pytest.mark.parametrize("width", [1, 2, 3])
def test_strategy_same_with_ray_and_speculation(ray: Any, width: int) -> None:
    for budget in (10**9, 6):
        want, want_visits = search(SequentialBackend(scripted, (1,), {}), budget)
        known: dict[Candidate, dict[str, Any]] = {}
        backend = RayBackend(ray, width, False, scripted, (1,), known)
        got, visits = search(backend, budget)
        backend.close()
        assert visits == want_visits and got.best == want.best and got.stop == want.stop
        assert set(want_visits) <= {(c.k, c.c) for c in known}  # what ran ahead is kept too
        if width > 1:
            assert len(known) > len(set(visits))  # speculative candidates really ran


def nas(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["nas", *args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture(scope="module")
def found(ray: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One tiny search on BasicMotions in the local Ray (two workers, k up to 1, one epoch)."""
    out = tmp_path_factory.mktemp("nas") / "bm"
    code = main(["nas", "--data", "basicmotions", "--board", BOARD, "-o", str(out), "--epochs", "1",
                 "--final-epochs", "2", "--max-k", "1", "--workers", "2", "--json"])  # fmt: skip
    assert code == 0
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


@needs_ray
@needs_tf
@needs_arm_gcc
@needs_qemu
@pytest.mark.slow
def test_search_on_basicmotions_with_ray(found: dict[str, Any]) -> None:
    s = found
    assert s["backend"] == "ray" and s["workers"] == 2 and s["feasible"] and s["outputs_match"]
    assert [(v["k"], v["c"]) for v in s["visited"]][:2] == [(1, 0), (1, 1)]
    assert s["stop"] == "k reached its limit 1" and s["found"]["k"] == 1
    files = {k: Path(v) for k, v in s["files"].items()}
    for key in ("keras", "tflite", "calibration", "measured", "history", "plot", "test_windows"):
        assert files[key].is_file(), key
    assert (files["firmware"] / "Makefile").is_file()
    lines = [json.loads(line) for line in files["history"].read_text().splitlines()]
    assert lines[0]["kind"] == "search" and len(lines) - 1 == len(s["evaluated"])
    assert all({"k", "c", "score", "feasible", "reason", "footprint"} <= set(r) for r in lines[1:])
    measured = json.loads(files["measured"].read_text())
    assert s["footprint"]["ram_bytes"] == measured["static_ram_bytes"]
    assert s["footprint"]["instructions"] == measured["instructions"]


def run_json(tflite: Path, inputs: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(["run", str(tflite), "--board", BOARD, "--whole", "--inputs", str(inputs), "--limit", "4", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    result: dict[str, Any] = json.loads(out)
    return result


@needs_ray
@needs_tf
@needs_arm_gcc
@needs_qemu
@pytest.mark.slow
def test_footprints_equal_tinyodl_run(found: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """A candidate's recorded footprint, and the found model's, are what `tinyodl run --whole` measures."""
    out = Path(found["files"]["history"]).parent
    record = json.loads(Path(found["files"]["history"]).read_text().splitlines()[2])  # the candidate (1, 1)
    cand = out / "candidates" / f"k{record['k']}_c{record['c']}"
    run = run_json(cand / "model_int8.tflite", cand / "inputs.npz", capsys)
    fp = record["footprint"]
    for key in ("flash_bytes", "static_ram_bytes", "arena_bytes", "instructions", "macc", "latency_ms_estimated"):
        assert fp[key] == run[key], key
    assert abs(fp["stack_peak_bytes"] - run["stack_peak_bytes"]) <= 104  # one exception frame (measurement.md)
    assert fp["ram_bytes"] == run["static_ram_bytes"]
    best = run_json(Path(found["files"]["tflite"]), Path(found["files"]["test_windows"]), capsys)
    for key in ("flash_bytes", "static_ram_bytes", "arena_bytes", "instructions"):
        assert found["footprint"][key] == best[key], key
    # The budget verdicts follow those exact figures: one byte less RAM or flash than measured is infeasible.
    from tinyodl.nas.run import NasOptions, judge

    assert judge(record, NasOptions(ram_budget=fp["ram_bytes"], flash_budget=fp["flash_bytes"])).feasible
    assert "RAM" in judge(record, NasOptions(ram_budget=fp["ram_bytes"] - 1)).reason
    assert "flash" in judge(record, NasOptions(flash_budget=fp["flash_bytes"] - 1)).reason
    assert "latency" in judge(record, NasOptions(latency_ms=fp["latency_ms_estimated"] / 2)).reason


@needs_ray
@needs_tf
@needs_arm_gcc
@needs_qemu
@pytest.mark.slow
def test_found_model_is_learns_extractor(found: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["learn", found["files"]["tflite"], "--board", BOARD, "--data", "basicmotions", "--limit", "6",
                 "--json"])  # fmt: skip
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["matches_reference"] and r["feature_mismatches"] == 0
    assert r["features"]["count"] == found["found"]["kernels"][-1]  # the GAP output of the last cell


@needs_ray
@needs_tf
@needs_arm_gcc
@needs_qemu
@pytest.mark.slow
def test_budget_below_the_smallest_candidate(
    found: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A RAM budget under the smallest candidate's linked RAM: one line, exit 2. (The search's history gives
    the candidates' footprints, so nothing is trained again.)"""
    out = tmp_path / "small"
    out.mkdir()
    shutil.copyfile(found["files"]["history"], out / "history.jsonl")
    smallest = found["evaluated"][0]
    assert (smallest["k"], smallest["c"]) == (1, 0)
    budget = smallest["ram_bytes"] - 1
    code, stdout, err = nas("--data", "basicmotions", "--board", BOARD, "-o", str(out), "--epochs", "1", "--max-k",
                            "1", "--resume", "--ram-budget", str(budget), capsys=capsys)  # fmt: skip
    assert code == 2 and stdout == ""
    lines = [line for line in err.splitlines() if line.startswith("tinyodl: error")]
    assert len(lines) == 1 and "no candidate fits" in lines[0], err
    assert f"RAM {smallest['ram_bytes']:,} B > budget {budget:,} B" in lines[0]


@needs_ray
@needs_tf
@needs_arm_gcc
@needs_qemu
@pytest.mark.slow
def test_interrupted_search_resumes(found: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The history cut before its last candidate (in the middle of its line) resumes to the same result,
    evaluating only what is missing."""
    src = Path(found["files"]["history"])
    out = tmp_path / "bm"
    out.mkdir()
    lines = src.read_text().splitlines()
    kept = len(lines) - 2  # candidates kept
    (out / "history.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40])
    args = ["--epochs", "1", "--final-epochs", "2", "--max-k", "1", "--workers", "2", "--resume", "--json"]
    code, _, err = nas("--data", "basicmotions", "--board", BOARD, "-o", str(out), *args, capsys=capsys)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["resumed"] == kept and s["evaluated_here"] == len(s["evaluated"]) - kept
    assert s["visited"] == found["visited"] and s["found"] == found["found"]
    assert all(json.loads(line) for line in (out / "history.jsonl").read_text().splitlines())  # the cut line went
    code, _, err = nas("--data", "basicmotions", "--board", BOARD, "-o", str(out), capsys=capsys)
    assert code == 2 and "resume it with --resume" in err
    code, _, err = nas("--data", "basicmotions", "--board", BOARD, "-o", str(out), "--resume", "--epochs", "2",
                       capsys=capsys)  # fmt: skip
    assert code == 2 and "another search" in err


def test_without_ray_candidates_run_here(monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyodl.errors import TinyodlError
    from tinyodl.nas import parallel

    monkeypatch.setattr(parallel, "ray_module", lambda: None)
    notes: list[str] = []
    backend = parallel.make_backend(2, None, scripted, (1,), {}, note=notes.append)
    assert isinstance(backend, SequentialBackend) and len(notes) == 1 and "one after another" in notes[0]
    _, visits = search(backend, 10**9)
    assert visits == VISITS_FREE
    with pytest.raises(TinyodlError, match="Ray is not installed"):
        parallel.make_backend(None, "10.0.0.1:6379", scripted, (1,), {})


@needs_tf
@needs_arm_gcc
@needs_qemu
@pytest.mark.slow
def test_two_d_candidate_compiles_and_runs(tmp_path: Path) -> None:
    """A (H, W, C) image set from a .npz: Conv2D cells, converted, generated, linked and run bit-exact."""
    import numpy as np

    from tinyodl.nas.evaluate import EvalConfig, evaluate
    from tinyodl.nas.run import load_data, normalise, splits

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 8, 8, 2)).astype(np.float32)
    np.savez(tmp_path / "img.npz", x=x, y=(x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(np.int64))
    data = normalise(load_data(str(tmp_path / "img.npz")))
    split, test = splits(data, 0)
    assert split.shape == (8, 8, 2) and len(test.y) and max_cells(split.shape) == 2
    r = evaluate(Candidate(1, 1), split, EvalConfig(board=BOARD, epochs=1, workdir=str(tmp_path)))
    assert r["kernels"] == [1, 2] and r["footprint"]["outputs_match"]
    assert r["footprint"]["arena_bytes"] > 0 and r["footprint"]["instructions"] > r["footprint"]["macc"] > 0
