"""Byte transports for the link: serial ports and sockets, subprocess pipes, memory, fault injection.

A transport has ``write(data)`` and ``read(max_bytes, timeout_s)``; ``read`` returns b"" on timeout.
"""

from __future__ import annotations

import math
import os
import random
import selectors
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import serial

from .endpoint import Transport

FAULT_KINDS = ("drop", "flip", "dup", "trunc", "dup_frame", "reorder")


class SerialTransport:
    """A serial port or any pyserial URL (``/dev/ttyACM0``, ``socket://127.0.0.1:4321``)."""

    def __init__(self, url: str, baudrate: int = 115200, parity: str = "N") -> None:
        self._port: Any = serial.serial_for_url(url, baudrate=baudrate, parity=parity, timeout=0)
        self._timeout: float | None = 0.0
        sock = getattr(self._port, "_socket", None)  # socket:// (a simulator's UART): frames are small and
        if sock is not None:  # each waits for its answer, so Nagle's algorithm would hold every second one
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # back for the peer's delayed ACK

    def _set_timeout(self, timeout_s: float) -> None:
        if self._timeout != timeout_s:  # changing it reconfigures a real port: avoid when possible
            self._port.timeout = timeout_s
            self._timeout = timeout_s

    def write(self, data: bytes) -> None:
        self._port.write(data)
        self._port.flush()

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        self._set_timeout(max(timeout_s, 0.0))
        first: bytes = self._port.read(1)
        if not first or max_bytes <= 1:
            return first
        self._set_timeout(0.0)
        return first + self._port.read(max_bytes - 1)

    def close(self) -> None:
        self._port.close()


class PipeTransport:
    """The stdin/stdout pipes of a subprocess (e.g. a host build of the firmware link)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.stdin is None or proc.stdout is None:
            raise ValueError("the process needs stdin=PIPE and stdout=PIPE")
        self.proc = proc
        self._wfd = proc.stdin.fileno()
        self._rfd = proc.stdout.fileno()
        os.set_blocking(self._rfd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._rfd, selectors.EVENT_READ)

    @classmethod
    def spawn(cls, argv: Sequence[str]) -> PipeTransport:
        return cls(subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._wfd, view)
            view = view[written:]

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if not self._selector.select(max(timeout_s, 0.0)):
            return b""
        try:
            data = os.read(self._rfd, max_bytes)
        except BlockingIOError:
            return b""
        if not data:
            raise ConnectionError(f"pipe closed by the peer (exit code {self.proc.poll()})")
        return data

    def close(self, timeout_s: float = 5.0) -> int:
        """Close the pipes and wait for the process; kill it if it does not exit. Returns its code."""
        self._selector.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class _Channel:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.cond = threading.Condition()


class MemoryTransport:
    """One end of an in-memory, thread-safe byte pipe pair (see ``memory_pair``)."""

    def __init__(self, rx: _Channel, tx: _Channel) -> None:
        self._rx = rx
        self._tx = tx

    def write(self, data: bytes) -> None:
        with self._tx.cond:
            self._tx.buf += data
            self._tx.cond.notify_all()

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        with self._rx.cond:
            self._rx.cond.wait_for(lambda: bool(self._rx.buf), max(timeout_s, 0.0))
            data = bytes(self._rx.buf[:max_bytes])
            del self._rx.buf[:max_bytes]
            return data


def memory_pair() -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected transports: what one writes, the other reads."""
    a_to_b, b_to_a = _Channel(), _Channel()
    return MemoryTransport(b_to_a, a_to_b), MemoryTransport(a_to_b, b_to_a)


@dataclass(frozen=True)
class FaultRates:
    """Per-byte (drop, flip, dup) and per-frame (trunc, dup_frame, reorder) fault probabilities."""

    p_drop: float = 0.0
    p_flip: float = 0.0
    p_dup: float = 0.0
    p_trunc: float = 0.0
    p_dup_frame: float = 0.0
    p_reorder: float = 0.0


class _Injector:
    """Applies seeded faults to one direction of a byte stream, frame by frame."""

    MAX_PARTIAL = 8192  # pass on undelimited bytes beyond this without waiting for a delimiter

    def __init__(self, rng: random.Random, rates: FaultRates, counts: Counter[str]) -> None:
        self._rng = rng
        self._rates = rates
        self._counts = counts
        self._partial = bytearray()
        self._held: bytes | None = None
        self._p_byte = rates.p_drop + rates.p_flip + rates.p_dup
        self._gap = self._next_gap()

    def _next_gap(self) -> int:
        """Number of clean bytes before the next faulty one (geometric distribution)."""
        if self._p_byte <= 0:
            return -1
        if self._p_byte >= 1:
            return 0
        return int(math.log(1.0 - self._rng.random()) / math.log(1.0 - self._p_byte))

    def feed(self, data: bytes) -> bytes:
        self._partial += data
        frames = bytes(self._partial).split(b"\x00")
        self._partial = bytearray(frames.pop())
        out = bytearray()
        for frame in frames:
            out += self._frame_faults(frame + b"\x00")
        if len(self._partial) > self.MAX_PARTIAL:
            out += self._partial
            self._partial.clear()
        return self._byte_faults(bytes(out))

    def _frame_faults(self, frame: bytes) -> bytes:
        rng, rates = self._rng, self._rates
        if len(frame) > 1 and rng.random() < rates.p_trunc:
            self._counts["trunc"] += 1
            cut = frame[: rng.randrange(len(frame) - 1)]
            frame = cut + b"\x00" if rng.random() < 0.5 else cut  # may merge into the next frame
        if rng.random() < rates.p_dup_frame:
            self._counts["dup_frame"] += 1
            frame = frame + frame
        if self._held is None and rng.random() < rates.p_reorder:
            self._counts["reorder"] += 1
            self._held = frame  # delivered after the next frame
            return b""
        held, self._held = self._held, None
        return frame + held if held is not None else frame

    def _byte_faults(self, data: bytes) -> bytes:
        if self._gap < 0 or len(data) <= self._gap:
            if self._gap >= 0:
                self._gap -= len(data)
            return data
        rng, rates = self._rng, self._rates
        out = bytearray()
        pos = 0
        while pos + self._gap < len(data):
            at = pos + self._gap
            out += data[pos:at]
            byte = data[at]
            pick = rng.random() * self._p_byte
            if pick < rates.p_drop:
                self._counts["drop"] += 1
            elif pick < rates.p_drop + rates.p_flip:
                self._counts["flip"] += 1
                out.append(byte ^ (1 << rng.randrange(8)))
            else:
                self._counts["dup"] += 1
                out += bytes((byte, byte))
            pos = at + 1
            self._gap = self._next_gap()
        self._gap -= len(data) - pos
        out += data[pos:]
        return bytes(out)


class FaultyTransport:
    """Wraps a transport and injects seeded faults into both directions, counting them.

    Byte faults: dropped bytes, flipped bits, duplicated bytes. Frame faults: truncation (a frame cut
    short before its delimiter, which is kept or lost), duplicated frames, and reordering (a frame held
    back and delivered after the next one).
    """

    def __init__(
        self,
        inner: Transport,
        seed: int,
        p_drop: float = 0.0,
        p_flip: float = 0.0,
        p_dup: float = 0.0,
        p_trunc: float = 0.0,
        p_dup_frame: float = 0.0,
        p_reorder: float = 0.0,
    ) -> None:
        rates = FaultRates(p_drop, p_flip, p_dup, p_trunc, p_dup_frame, p_reorder)
        self.inner = inner
        self.tx_faults: Counter[str] = Counter()
        self.rx_faults: Counter[str] = Counter()
        self._tx = _Injector(random.Random(f"{seed}/tx"), rates, self.tx_faults)
        self._rx = _Injector(random.Random(f"{seed}/rx"), rates, self.rx_faults)
        self._pending = bytearray()

    @property
    def faults(self) -> Counter[str]:
        """Faults injected so far in both directions, by kind (see ``FAULT_KINDS``)."""
        return self.tx_faults + self.rx_faults

    def write(self, data: bytes) -> None:
        faulty = self._tx.feed(data)
        if faulty:
            self.inner.write(faulty)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        while not self._pending:
            data = self.inner.read(max_bytes, max(deadline - time.monotonic(), 0.0))
            if not data:
                break
            self._pending += self._rx.feed(data)
            if time.monotonic() >= deadline:
                break
        out = bytes(self._pending[:max_bytes])
        del self._pending[:max_bytes]
        return out

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
