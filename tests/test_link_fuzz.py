"""Fuzzing of the C link receive path (tests/c/fuzz_frame.c) under AddressSanitizer and UBSan."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tinyodl.link import LINK_MAX_PAYLOAD, encode_frame

ROOT = Path(__file__).resolve().parents[1]
LINK_SOURCES = [str(p) for p in sorted((ROOT / "firmware" / "link").glob("*.c"))]
TARGET = str(ROOT / "tests" / "c" / "fuzz_frame.c")
DRIVER = str(ROOT / "tests" / "c" / "fuzz_driver.c")
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
WARN = ["-std=c99", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-Wshadow"]
DRIVER_ITERATIONS = int(os.environ.get("TINYODL_FUZZ_ITERATIONS", "200000"))
LIBFUZZER_SECONDS = int(os.environ.get("TINYODL_FUZZ_SECONDS", "8"))


def test_fuzz_driver_with_sanitizers(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("host gcc not found")
    exe = tmp_path / "fuzz_driver"
    build = subprocess.run(
        ["gcc", *WARN, *SANITIZE, TARGET, DRIVER, *LINK_SOURCES, "-o", str(exe)],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0 and "cannot find" in build.stderr:
        pytest.skip(f"gcc sanitizer runtimes missing: {build.stderr.strip()[-200:]}")
    assert build.returncode == 0 and not build.stderr, build.stderr
    iterations = str(DRIVER_ITERATIONS // 2)
    runs = {
        seed: subprocess.Popen(
            [str(exe), str(seed), iterations], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for seed in (1, 2)
    }  # in parallel
    for seed, proc in runs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"seed {seed}: {err[-3000:]}"
        assert f"{iterations} iterations" in out


def write_seed_corpus(corpus: Path) -> None:
    """Valid frame runs as libFuzzer starts: a mode byte, then frames with consecutive seq numbers."""
    rng = random.Random(21)
    corpus.mkdir()
    for i in range(32):
        data = bytearray((i & 0x0F,))
        for seq in range(1 + i % 4):
            n = rng.choice([0, 1, 20, 254, 255, LINK_MAX_PAYLOAD])
            data += encode_frame(rng.choice([0x10, 0x20, 0x7F, 0x01]), seq, rng.randbytes(n))
        (corpus / f"seed{i:02d}").write_bytes(bytes(data))


def test_libfuzzer(tmp_path: Path) -> None:
    if shutil.which("clang") is None:
        pytest.skip("clang not found")
    exe = tmp_path / "fuzz_libfuzzer"
    build = subprocess.run(
        [
            "clang",
            *WARN,
            "-fsanitize=fuzzer,address,undefined",
            "-fno-sanitize-recover=all",
            TARGET,
            *LINK_SOURCES,
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        missing = [line for line in build.stderr.splitlines() if "cannot find" in line]
        pytest.skip(f"clang cannot link libFuzzer (-fsanitize=fuzzer): {(missing or [build.stderr])[0][:200]}")
    corpus = tmp_path / "corpus"
    write_seed_corpus(corpus)
    run = subprocess.run(
        [
            str(exe),
            f"-max_total_time={LIBFUZZER_SECONDS}",
            "-max_len=8192",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=LIBFUZZER_SECONDS + 60,
    )
    assert run.returncode == 0, run.stderr[-3000:]
