"""The TinyRCE C learner (firmware/learn) built for the host with ASan and UBSan, against its numpy
reference on seeded random and adversarial streams, int8 and float32; then random bytes (it must never
crash, whatever it is fed)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyodl.learn.tinyrce import Outcome, RceParams, TinyRCE

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "tests" / "c" / "rce_host.c", *sorted((ROOT / "firmware" / "learn").glob("tl_rce*.c"))]
FLAGS = "-std=c99 -O1 -g -Wall -Wextra -Werror -Wshadow -Wdouble-promotion -ffp-contract=off".split()
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
RECORD = struct.Struct("<hBBHBBIB")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no host gcc")
    out = tmp_path_factory.mktemp("rce") / "rce_host"
    includes = [f"-I{ROOT / 'firmware' / 'learn'}", f"-I{ROOT / 'firmware' / 'kernels'}"]
    subprocess.run(["gcc", *FLAGS, *SANITIZE, *includes, *map(str, SOURCES), "-o", str(out)], check=True)
    return out


def _stream(params: RceParams, int8: bool, features: int, xs: np.ndarray, ops: list[tuple[int, int]]) -> bytes:
    flags = (1 if params.aging else 0) | (2 if params.pruning else 0) | (4 if params.distance == "l2" else 0)
    radii = struct.pack("<ii", int(params.r_min), int(min(params.r_max, 2**31 - 1))) if int8 else struct.pack(
        "<ff", params.r_min, params.r_max)  # fmt: skip
    head = struct.pack("<BBHHHI", int(int8), flags, features, params.capacity, params.age_step, params.age_limit)
    body = b"".join(struct.pack("<Bh", op, label) + x.tobytes() for (op, label), x in zip(ops, xs, strict=True))
    return head + radii + body


def _compare(driver: Path, params: RceParams, int8: bool, xs: np.ndarray, labels: np.ndarray,
             learn: np.ndarray) -> None:  # fmt: skip
    features = xs.shape[1]
    ops = [(int(lr), int(y)) for lr, y in zip(learn, labels, strict=True)]
    proc = subprocess.run([str(driver)], input=_stream(params, int8, features, xs, ops), capture_output=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    host = TinyRCE(features, "int8" if int8 else "float32", params)
    records = list(RECORD.iter_unpack(proc.stdout))
    assert len(records) == len(xs)
    for n, (x, (op, y), rec) in enumerate(zip(xs, ops, records, strict=True)):
        label, status, outcome, count, pstatus, lstatus, dbits, check = rec
        assert pstatus == 0 and lstatus == 0 and check == 0, n
        d = host.distances(x)
        p = host.predict(x, d)
        o = host.learn(x, y, d) if op else None
        assert (label, status, count) == (p.label, int(p.status), host.count), n
        assert outcome == (255 if o is None else int(o)), n
        dist = struct.unpack("<i" if int8 else "<f", struct.pack("<I", dbits))[0]
        assert dist == (p.distance if p.winner >= 0 else 0), n
        host.check()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_int8_streams(driver: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    features = [64, 36, 7][seed]  # multiples of 32 and 4 (USADA8 blocks and words), and neither
    centres = rng.integers(-100, 100, (5, features))
    labels = rng.integers(0, 5, 1500)
    xs = np.clip(centres[labels] + rng.integers(-40, 41, (1500, features)), -128, 127).astype(np.int8)
    learn = rng.random(1500) < 0.8
    for params in (RceParams(r_max=40 * features, capacity=12, age_limit=60 * 256),
                   RceParams(r_max=40 * features, r_min=5 * features, capacity=40),
                   RceParams.plain_rce(r_max=30 * features, capacity=20)):  # fmt: skip
        _compare(driver, params, True, xs, labels, learn)


def test_int8_adversarial_stream_keeps_the_cap(driver: Path) -> None:
    rng = np.random.default_rng(7)
    xs = rng.integers(-128, 128, (3000, 16)).astype(np.int8)
    labels = np.arange(3000) % 250  # every sample a new class or an outlier
    _compare(driver, RceParams(r_max=4000, capacity=9), True, xs, labels, np.ones(3000, bool))


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_float32_streams_with_near_ties(driver: Path, distance: str) -> None:
    rng = np.random.default_rng(11)
    base = rng.standard_normal((4, 19)).astype(np.float32)
    xs, labels = [], []
    for k in range(1200):
        a, b = base[k % 4], base[(k + 1) % 4]
        x = [(a + b) / np.float32(2), a.copy(), a + np.float32(1e-7) * rng.standard_normal(19).astype(np.float32),
             a + np.float32(0.4) * rng.standard_normal(19).astype(np.float32)][k % 4]  # fmt: skip
        xs.append(np.asarray(x, np.float32))
        labels.append((k // 3) % 4)
    params = RceParams(distance=distance, r_max=20.0 if distance == "l2" else 10.0, capacity=15, age_limit=50 * 256)
    _compare(driver, params, False, np.stack(xs), np.array(labels), np.arange(1200) % 7 != 0)


def test_random_bytes_never_crash(driver: Path) -> None:
    rng = np.random.default_rng(3)
    for _ in range(60):
        head = struct.pack("<BBHHHIii", int(rng.integers(0, 2)), int(rng.integers(0, 8)), int(rng.integers(1, 40)),
                           int(rng.integers(1, 30)), int(rng.integers(0, 65536)), int(rng.integers(0, 2**32)),
                           int(rng.integers(0, 100)), int(rng.integers(0, 10_000)))  # fmt: skip
        blob = head + rng.integers(0, 256, int(rng.integers(0, 20_000)), dtype=np.uint8).tobytes()
        proc = subprocess.run([str(driver)], input=blob, capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]


def test_outcome_codes_match() -> None:
    header = (ROOT / "firmware" / "learn" / "tl_rce.h").read_text()
    for o in Outcome:
        assert f"TL_RCE_{o.name} = {o.value}" in header
