"""The latent-replay buffer: its policy on hand-built experiences, and the C buffer (firmware/learn) under
ASan/UBSan writing the same slots as the numpy reference."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyodl.learn.replay import ReplayBuffer

ROOT = Path(__file__).resolve().parents[1]
FLAGS = "-std=c99 -O1 -g -Wall -Wextra -Werror -Wshadow -fsanitize=address,undefined -fno-sanitize-recover=all"


def experience(label: int, n: int, features: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(-128, 128, (n, features)).astype(np.int8), np.full(n, label, np.uint8)


def test_policy_on_a_hand_built_sequence() -> None:
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(capacity=12, features=3)
    x, y = experience(0, 30, 3, rng)
    assert buf.end_experience(x, y) == list(range(12))  # the first experience fills the buffer
    np.testing.assert_array_equal(buf.latents, x[[j * 30 // 12 for j in range(12)]])  # evenly spaced
    for label, expected in ((1, {0: 6, 1: 6}), (2, {0: 4, 1: 4, 2: 4}), (3, {0: 3, 1: 3, 2: 3, 3: 3})):
        x, y = experience(label, 30, 3, rng)
        slots = buf.end_experience(x, y)
        assert len(slots) == 12 // (label + 1) and len(set(slots)) == len(slots)
        assert buf.share() == expected  # every experience keeps an equal share
    x, y = experience(4, 30, 3, rng)
    buf.end_experience(x, y)
    assert sorted(buf.share().values()) == [2, 2, 2, 3, 3]  # 12 over five: never more than one apart
    # an experience smaller than its share stores all of it
    small = ReplayBuffer(capacity=10, features=2)
    x, y = experience(7, 4, 2, rng)
    assert small.end_experience(x, y) == [0, 1, 2, 3] and small.count == 4
    x, y = experience(8, 20, 2, rng)
    assert small.end_experience(x, y) == [4, 5, 6, 7, 8] and small.count == 9  # cap // 2 = 5, free first
    assert small.share() == {7: 4, 8: 5}


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no host gcc")
    out = tmp_path_factory.mktemp("replay") / "replay_host"
    sources = [ROOT / "tests" / "c" / "replay_host.c", ROOT / "firmware" / "learn" / "tl_replay.c"]
    includes = [f"-I{ROOT / 'firmware' / 'learn'}", f"-I{ROOT / 'firmware' / 'kernels'}"]
    subprocess.run(["gcc", *FLAGS.split(), *includes, *map(str, sources), "-o", str(out)], check=True)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_c_buffer_writes_the_same_slots(driver: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    capacity, features = int(rng.integers(5, 60)), int(rng.integers(1, 9))
    buf = ReplayBuffer(capacity, features, seed=seed * 7919)
    stream = struct.pack("<HHI", capacity, features, seed * 7919)
    expected = b""
    for e in range(int(rng.integers(3, 12))):
        x, y = experience(e % 7, int(rng.integers(0, 80)), features, rng)
        slots = buf.end_experience(x, y)
        stream += struct.pack("<I", len(x)) + x.tobytes() + y.tobytes()
        expected += struct.pack("<H", len(slots)) + struct.pack(f"<{len(slots)}H", *slots)
    expected += struct.pack("<H", buf.count) + buf.latents[: buf.count].tobytes() + buf.labels[: buf.count].tobytes()
    proc = subprocess.run([str(driver)], input=stream, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert proc.stdout == expected
