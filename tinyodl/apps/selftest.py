"""Host side of the self-test firmware: send vectors, run kernels, check results against numpy.

Steps:
- `counter_check`: two runs of a 2-instruction loop, 1,000 and 21,000 iterations; their difference must be
  40,000 instructions within the counter's granularity. This checks the measurement itself.
- `dot_f32`: fp32 dot product with fused multiply-adds in order; the host computes the same chain with one
  exact rounding per step, so the results are equal bit for bit.
- `dot_i8_ref` / `dot_i8_simd`: int8 dot product into int32, plain C and SXTB16/SMLAD; equal to numpy's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import RunError
from ..toolchain.project import AppSpec
from .protocol import MEASURE_ATTEMPTS, Channel, expect

APP = AppSpec(name="selftest", needs_dsp=("selftest_simd.c",))

MSG_LOAD = 0x20
MSG_RUN = 0x21
MSG_RESULT = 0x22
BUFFER_BYTES = 4096
LOAD_CHUNK = 1020

KERNEL_DOT_F32 = 0
KERNEL_DOT_I8_REF = 1
KERNEL_DOT_I8_SIMD = 2
KERNEL_SPIN = 3
KERNEL_CRC = 4

SPIN_SHORT = 1_000
SPIN_LONG = 21_000
SPIN_INSTRUCTIONS_PER_ITERATION = 2


@dataclass(frozen=True)
class Vectors:
    f32_a: np.ndarray
    f32_b: np.ndarray
    i8_a: np.ndarray
    i8_b: np.ndarray


def make_vectors(seed: int = 2024, n_f32: int = 257, n_i8: int = 1023) -> Vectors:
    """Seeded inputs; lengths not a multiple of 4 exercise the kernels' tails, int8 covers -128 and 127."""
    rng = np.random.default_rng(seed)
    f32_a = rng.uniform(-1.0, 1.0, n_f32).astype(np.float32)
    f32_b = rng.uniform(-1.0, 1.0, n_f32).astype(np.float32)
    i8_a = rng.integers(-128, 128, n_i8, dtype=np.int16).astype(np.int8)
    i8_b = rng.integers(-128, 128, n_i8, dtype=np.int16).astype(np.int8)
    i8_a[:2], i8_b[:2] = (-128, 127), (-128, -128)
    return Vectors(f32_a, f32_b, i8_a, i8_b)


def round_to_f32(x: Fraction) -> np.float32:
    """Round an exact rational to the nearest float32, ties to even (no double rounding)."""
    guess = np.float32(float(x))
    candidates = [guess, np.nextafter(guess, np.float32(np.inf)), np.nextafter(guess, np.float32(-np.inf))]

    def key(c: np.float32) -> tuple[Fraction, int]:
        odd = int(np.array(c, dtype=np.float32).view(np.uint32)) & 1
        return abs(Fraction(float(c)) - x), odd

    return min(candidates, key=key)


def dot_f32_fma(a: np.ndarray, b: np.ndarray) -> np.float32:
    """acc = fma(a[i], b[i], acc) for i in order, each step rounded once to float32."""
    acc = np.float32(0.0)
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        acc = round_to_f32(Fraction(x) * Fraction(y) + Fraction(float(acc)))
    return acc


def f32_bits(value: np.float32) -> int:
    return int(np.array(value, dtype=np.float32).view(np.uint32))


@dataclass(frozen=True)
class StepResult:
    name: str
    n: int
    reps: int
    ticks: int
    value: int | float
    expected: int | float
    match: bool

    def as_dict(self, instructions_per_tick: float | None) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "n": self.n,
            "reps": self.reps,
            "ticks": self.ticks,
            "value": self.value,
            "expected": self.expected,
            "match": self.match,
        }
        if instructions_per_tick is not None:
            total = self.ticks * instructions_per_tick
            out["instructions"] = round(total)
            out["instructions_per_call"] = round(total / self.reps, 2)
            out["instructions_per_call_granularity"] = round(instructions_per_tick / self.reps, 2)
            if self.name.startswith("dot"):
                out["instructions_per_element"] = round(total / self.reps / max(self.n, 1), 3)
        return out


def _load(channel: Channel, which: int, data: bytes) -> None:
    if len(data) > BUFFER_BYTES:
        raise ValueError(f"{len(data)} bytes do not fit the {BUFFER_BYTES}-byte buffer")
    for offset in range(0, len(data), LOAD_CHUNK):
        chunk = data[offset : offset + LOAD_CHUNK]
        channel.send(MSG_LOAD, struct.pack("<BBH", which, 0, offset) + chunk)
        status = expect(channel, MSG_LOAD)
        if status[:1] != b"\0":
            raise RunError(f"LOAD rejected with status {status!r}", channel.log())


def _run(channel: Channel, kernel: int, n: int, reps: int) -> tuple[int, int]:
    """Run a kernel; returns (result bits, ticks) of a window no received byte disturbed."""
    for _ in range(MEASURE_ATTEMPTS):
        channel.send(MSG_RUN, struct.pack("<BBHI", kernel, 0, n, reps))
        payload = expect(channel, MSG_RESULT, timeout_s=120.0)
        k, _, n_back, reps_back, bits, disturbances, ticks = struct.unpack("<BBHIIIQ", payload)
        if (k, n_back, reps_back) != (kernel, n, reps):
            raise RunError(f"RESULT for kernel {k} n={n_back} reps={reps_back}, expected {kernel} n={n} reps={reps}")
        if disturbances == 0:
            return bits, ticks
    raise RunError(f"every measurement of kernel {kernel} was disturbed by bytes arriving on the link", channel.log())


def load_and_checksum(channel: Channel, data: bytes) -> int:
    """LOAD `data` into buffer a and return the firmware's CRC-32 of it (compare with zlib.crc32)."""
    _load(channel, 0, data)
    bits, _ = _run(channel, KERNEL_CRC, len(data), 1)
    return bits


def run(channel: Channel, dsp: bool, vectors: Vectors | None = None, reps: int = 20) -> list[StepResult]:
    v = vectors or make_vectors()
    steps: list[StepResult] = []

    _, short = _run(channel, KERNEL_SPIN, SPIN_SHORT, 1)
    _, long = _run(channel, KERNEL_SPIN, SPIN_LONG, 1)
    steps.append(StepResult("spin_short", SPIN_SHORT, 1, short, 0, 0, True))
    steps.append(StepResult("spin_long", SPIN_LONG, 1, long, 0, 0, True))

    _load(channel, 0, v.f32_a.tobytes())
    _load(channel, 1, v.f32_b.tobytes())
    bits, ticks = _run(channel, KERNEL_DOT_F32, len(v.f32_a), reps)
    expected = f32_bits(dot_f32_fma(v.f32_a, v.f32_b))
    got_f = float(np.array(bits, dtype=np.uint32).view(np.float32))
    exp_f = float(np.array(expected, dtype=np.uint32).view(np.float32))
    steps.append(StepResult("dot_f32", len(v.f32_a), reps, ticks, got_f, exp_f, bits == expected))

    _load(channel, 0, v.i8_a.tobytes())
    _load(channel, 1, v.i8_b.tobytes())
    expected_i = int(np.dot(v.i8_a.astype(np.int64), v.i8_b.astype(np.int64)))
    kernels = [("dot_i8_ref", KERNEL_DOT_I8_REF)] + ([("dot_i8_simd", KERNEL_DOT_I8_SIMD)] if dsp else [])
    for name, kernel in kernels:
        bits, ticks = _run(channel, kernel, len(v.i8_a), reps)
        value = bits - (1 << 32) if bits & 0x80000000 else bits
        steps.append(StepResult(name, len(v.i8_a), reps, ticks, value, expected_i, value == expected_i))
    return steps


def counter_check(steps: list[StepResult], instructions_per_tick: float, tolerance_ticks: int = 2) -> dict[str, object]:
    """The spin loop difference in instructions, against the exact 2 x (long - short) iterations, within
    `tolerance_ticks` of the counter (2 when each end of each window is quantised to one tick)."""
    by_name = {s.name: s for s in steps}
    measured = (by_name["spin_long"].ticks - by_name["spin_short"].ticks) * instructions_per_tick
    expected = SPIN_INSTRUCTIONS_PER_ITERATION * (SPIN_LONG - SPIN_SHORT)
    tolerance = tolerance_ticks * instructions_per_tick
    return {
        "measured_instructions": round(measured),
        "expected_instructions": expected,
        "tolerance": round(tolerance),
        "ok": abs(measured - expected) <= tolerance,
    }
