"""The C link (firmware/link) against the Python link: codec equivalence and a faulty echo session."""

from __future__ import annotations

import ctypes
import random
import shutil
import subprocess
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tinyodl.link import (
    FAULT_KINDS,
    LINK_MAX_PAYLOAD,
    FaultyTransport,
    Link,
    PipeTransport,
    cobs_decode,
    cobs_encode,
    encode_frame,
)
from tinyodl.link.frame import MAX_BODY, MAX_ENCODED

ROOT = Path(__file__).resolve().parents[1]
LINK_DIR = ROOT / "firmware" / "link"
LINK_SOURCES = sorted(LINK_DIR.glob("*.c"))
WARNINGS = "-std=c99 -O2 -Wall -Wextra -Werror -Wdouble-promotion -Wshadow"
HOST_FLAGS = f"{WARNINGS} -ffp-contract=off".split()
ARM_FLAGS = (
    f"{WARNINGS} -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -ffunction-sections -fdata-sections -c"
).split()
SIZE_MAX = ctypes.c_size_t(-1).value
# message types of tests/c/link_echo_host.c
MSG_HELLO = 0x10
MSG_ECHO = 0x20
MSG_ECHO_REPLY = 0x21
MSG_ECHO_LONG_REPLY = 0x22
MSG_QUIT = 0x2F
MSG_BYE = 0x30


def compile_c(compiler: str, args: list[str]) -> None:
    result = subprocess.run([compiler, *args], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr, f"{compiler} failed:\n{result.stderr}"


@dataclass
class CBuild:
    lib: ctypes.CDLL
    echo_host: Path


class FrameT(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_uint8),
        ("seq", ctypes.c_uint8),
        ("len", ctypes.c_uint16),
        ("payload", ctypes.POINTER(ctypes.c_uint8)),
    ]


class FrameRxT(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_uint8 * MAX_ENCODED),
        ("n", ctypes.c_size_t),
        ("overflow", ctypes.c_uint8),
        ("body", ctypes.c_uint8 * MAX_BODY),
        ("dropped", ctypes.c_uint32),
    ]


@pytest.fixture(scope="module")
def c_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CBuild]:
    if shutil.which("gcc") is None:
        pytest.skip("host gcc not found")
    out = tmp_path_factory.mktemp("c_link")
    lib_path = out / "libtl_link.so"
    compile_c("gcc", [*HOST_FLAGS, "-shared", "-fPIC", *map(str, LINK_SOURCES), "-o", str(lib_path)])
    echo_host = out / "link_echo_host"
    compile_c(
        "gcc",
        [
            *HOST_FLAGS,
            str(ROOT / "tests" / "c" / "link_echo_host.c"),
            *map(str, LINK_SOURCES),
            "-o",
            str(echo_host),
        ],
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.tl_crc32.restype = ctypes.c_uint32
    lib.tl_crc32.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    for name in ("tl_cobs_encode", "tl_cobs_decode"):
        getattr(lib, name).restype = ctypes.c_size_t
        getattr(lib, name).argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    lib.tl_frame_encode.restype = ctypes.c_size_t
    lib.tl_frame_encode.argtypes = [
        ctypes.c_uint8,
        ctypes.c_uint8,
        ctypes.c_char_p,
        ctypes.c_uint16,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    lib.tl_frame_rx_init.argtypes = [ctypes.POINTER(FrameRxT)]
    lib.tl_frame_rx_push.restype = ctypes.c_int
    lib.tl_frame_rx_push.argtypes = [ctypes.POINTER(FrameRxT), ctypes.c_uint8, ctypes.POINTER(FrameT)]
    yield CBuild(lib, echo_host)


def random_payload(rng: random.Random, n: int) -> bytes:
    zeros = rng.choice([0.0, 0.05, 0.5])
    return bytes(0 if rng.random() < zeros else rng.randrange(1, 256) for _ in range(n))


def c_cobs_encode(lib: ctypes.CDLL, data: bytes, cap: int) -> bytes | None:
    out = ctypes.create_string_buffer(max(cap, 1))
    n = lib.tl_cobs_encode(data, len(data), out, cap)
    return out.raw[:n] if n else None


def c_cobs_decode(lib: ctypes.CDLL, data: bytes) -> bytes | None:
    out = ctypes.create_string_buffer(len(data) + 1)
    n = lib.tl_cobs_decode(data, len(data), out, len(data) + 1)
    return None if n == SIZE_MAX else out.raw[:n]


def test_c_crc32_matches_zlib(c_build: CBuild) -> None:
    rng = random.Random(11)
    assert c_build.lib.tl_crc32(0, b"123456789", 9) == 0xCBF43926
    for _ in range(300):
        data = rng.randbytes(rng.randrange(2000))
        cut = rng.randrange(len(data) + 1)
        partial = c_build.lib.tl_crc32(0, data[:cut], cut)
        assert c_build.lib.tl_crc32(partial, data[cut:], len(data) - cut) == zlib.crc32(data)


def test_c_cobs_matches_python(c_build: CBuild) -> None:
    rng = random.Random(12)
    lengths = [0, 1, 253, 254, 255, 508, 509, 1030] + [rng.randrange(1100) for _ in range(600)]
    for n in lengths:
        data = random_payload(rng, n)
        expected = cobs_encode(data)
        assert c_cobs_encode(c_build.lib, data, len(expected)) == expected
        assert c_cobs_encode(c_build.lib, data, len(expected) - 1) is None  # no room
        assert c_cobs_decode(c_build.lib, expected) == data


def test_c_cobs_rejects_what_python_rejects(c_build: CBuild) -> None:
    rng = random.Random(13)
    for _ in range(3000):
        encoded = bytearray(cobs_encode(random_payload(rng, rng.randrange(600))))
        for _ in range(rng.randrange(1, 4)):
            if not encoded:
                break
            pos = rng.randrange(len(encoded))
            kind = rng.randrange(3)
            if kind == 0:
                encoded[pos] = rng.randrange(256)
            elif kind == 1:
                del encoded[pos:]
            else:
                encoded.insert(pos, rng.choice([0, rng.randrange(256)]))
        try:
            expected: bytes | None = cobs_decode(bytes(encoded))
        except ValueError:
            expected = None
        assert c_cobs_decode(c_build.lib, bytes(encoded)) == expected


def test_c_frames_match_python(c_build: CBuild) -> None:
    lib = c_build.lib
    rng = random.Random(14)
    rx = FrameRxT()
    lib.tl_frame_rx_init(ctypes.byref(rx))
    frame = FrameT()
    out = ctypes.create_string_buffer(MAX_ENCODED + 1)
    for i in range(400):
        payload = random_payload(rng, rng.choice([0, LINK_MAX_PAYLOAD, rng.randrange(LINK_MAX_PAYLOAD + 1)]))
        ftype, seq = rng.randrange(256), i & 0xFF
        wire = encode_frame(ftype, seq, payload)
        n = lib.tl_frame_encode(ftype, seq, payload, len(payload), out, len(out))
        assert out.raw[:n] == wire
        assert lib.tl_frame_encode(ftype, seq, payload, len(payload), out, len(wire) - 1) == 0
        garbage = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(8)))
        stream = garbage + b"\x00" + wire
        got = [lib.tl_frame_rx_push(ctypes.byref(rx), byte, ctypes.byref(frame)) for byte in stream]
        assert got == [0] * (len(stream) - 1) + [1]
        assert (frame.type, frame.seq) == (ftype, seq)
        assert ctypes.string_at(frame.payload, frame.len) == payload
    assert lib.tl_frame_encode(0x10, 0, bytes(1025), 1025, out, len(out)) == 0


def run_echo_session(link: Link, rng: random.Random, count: int) -> None:
    assert link.recv(5.0) == (MSG_HELLO, b"echo")
    for n in [0, 1, 1020, 1021, LINK_MAX_PAYLOAD] + [rng.randrange(LINK_MAX_PAYLOAD + 1) for _ in range(count)]:
        payload = random_payload(rng, n)
        crc = zlib.crc32(payload).to_bytes(4, "little")
        link.send(MSG_ECHO, payload)
        if n <= LINK_MAX_PAYLOAD - 4:
            assert link.recv(10.0) == (MSG_ECHO_REPLY, payload[::-1] + crc)
        else:
            assert link.recv(10.0) == (MSG_ECHO_LONG_REPLY, crc + payload[: LINK_MAX_PAYLOAD - 4][::-1])
    link.send(MSG_QUIT, b"")
    assert link.recv(10.0) == (MSG_BYE, b"")


def finish(link: Link, pipe: PipeTransport) -> int:
    """Keep acknowledging (a lost ACK makes the peer send BYE again) until the peer exits."""
    deadline = time.monotonic() + 10.0
    try:
        while pipe.proc.poll() is None and time.monotonic() < deadline:
            link.poll(0.02)
    except ConnectionError:
        pass  # the peer exited and closed its end
    return pipe.close()


def test_echo_without_faults(c_build: CBuild) -> None:
    pipe = PipeTransport.spawn([str(c_build.echo_host), "250"])
    link = Link(pipe, retransmit_s=1.0, max_attempts=10)  # long timeouts: no spurious retransmission
    try:
        run_echo_session(link, random.Random(15), 3000)
    finally:
        code = finish(link, pipe)
    assert code == 0
    assert (link.retransmissions, link.duplicates, link.frames_dropped) == (0, 0, 0)


def test_echo_with_faults(c_build: CBuild) -> None:
    pipe = PipeTransport.spawn([str(c_build.echo_host), "10"])
    faulty = FaultyTransport(
        pipe, seed=16, p_drop=3e-5, p_flip=3e-5, p_dup=3e-5, p_trunc=0.01, p_dup_frame=0.01, p_reorder=0.01
    )
    link = Link(faulty, retransmit_s=0.01, max_attempts=500)
    started = time.monotonic()
    try:
        run_echo_session(link, random.Random(16), 2500)
    finally:
        code = finish(link, pipe)
    elapsed = time.monotonic() - started
    assert code == 0
    print(
        f"faults tx={dict(faulty.tx_faults)} rx={dict(faulty.rx_faults)} "
        f"retransmissions={link.retransmissions} duplicates={link.duplicates} "
        f"dropped={link.frames_dropped} in {elapsed:.1f} s"
    )
    for kind in FAULT_KINDS:
        assert faulty.tx_faults[kind] > 0 and faulty.rx_faults[kind] > 0, kind
    assert link.retransmissions > 50 and link.duplicates > 0 and link.frames_dropped > 0


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_host_compilers_warning_free(compiler: str, tmp_path: Path) -> None:
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} not found")
    for source in LINK_SOURCES:
        compile_c(compiler, [*HOST_FLAGS, "-c", str(source), "-o", str(tmp_path / f"{source.stem}.o")])


def test_arm_cross_compile(tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not found")
    for source in LINK_SOURCES:
        obj = tmp_path / f"{source.stem}.o"
        compile_c("arm-none-eabi-gcc", [*ARM_FLAGS, str(source), "-o", str(obj)])
        assert obj.stat().st_size > 0
