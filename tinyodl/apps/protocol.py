"""The messages every firmware application shares (docs/apps.md): HELLO, END, STATS, FAULT, ERROR."""

from __future__ import annotations

import struct
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from ..errors import RunError

PROTOCOL_VERSION = 1
MSG_HELLO = 0x10
MSG_END = 0x11
MSG_STATS = 0x12
MSG_FAULT = 0x13
MSG_ERROR = 0x15

TIMER_SOURCES = {0: "dwt", 1: "systick"}
# A measured window that received bytes (the host's own retransmission arriving while the firmware
# computed) counts their interrupts too: the drivers measure it again, at most this many times in all.
MEASURE_ATTEMPTS = 4
FAULT_KINDS = {
    1: "HardFault",
    2: "MemManage fault",
    3: "BusFault",
    4: "UsageFault",
    5: "unexpected interrupt",
}
ERROR_CODES = {1: "unknown message type", 2: "bad payload length", 3: "bad argument"}


class Channel(Protocol):
    """What an application driver needs from a running target (a simulator session or a board)."""

    def send(self, msg_type: int, payload: bytes, reply_types: Collection[int] = ()) -> None: ...

    def recv(self, timeout_s: float) -> tuple[int, bytes]: ...

    def log(self) -> str: ...


@dataclass(frozen=True)
class Hello:
    protocol: int
    timer_source: str
    twin: bool
    timer_hz: int
    stack_size: int
    app: str
    board: str

    @classmethod
    def parse(cls, payload: bytes) -> Hello:
        if len(payload) < 12:
            raise ValueError(f"HELLO payload of {len(payload)} bytes is too short")
        proto, timer, twin, _, hz, stack = struct.unpack_from("<BBBBII", payload)
        names = payload[12:].split(b"\0")
        app = names[0].decode(errors="replace") if names else ""
        board = names[1].decode(errors="replace") if len(names) > 1 else ""
        return cls(proto, TIMER_SOURCES.get(timer, f"unknown({timer})"), bool(twin), hz, stack, app, board)

    def encode(self) -> bytes:
        """The payload as the firmware sends it (tl_session.c): what a scripted peer expects to see."""
        source = {name: code for code, name in TIMER_SOURCES.items()}[self.timer_source]
        head = struct.pack("<BBBBII", self.protocol, source, int(self.twin), 0, self.timer_hz, self.stack_size)
        return head + self.app.encode() + b"\0" + self.board.encode() + b"\0"


@dataclass(frozen=True)
class Stats:
    stack_peak_bytes: int
    stack_size_bytes: int
    rx_overflows: int
    uptime_ms: int

    @classmethod
    def parse(cls, payload: bytes) -> Stats:
        peak, size, overflows, ms, _ = struct.unpack_from("<IIIII", payload)
        return cls(peak, size, overflows, ms)


def describe_fault(payload: bytes) -> str:
    kind, pc, lr, xpsr, cfsr, hfsr, mmfar, bfar = struct.unpack_from("<8I", payload.ljust(32, b"\0"))
    name = FAULT_KINDS.get(kind, f"fault {kind}")
    return (
        f"firmware fault: {name} at pc=0x{pc:08x} lr=0x{lr:08x} xpsr=0x{xpsr:08x} "
        f"cfsr=0x{cfsr:08x} hfsr=0x{hfsr:08x} mmfar=0x{mmfar:08x} bfar=0x{bfar:08x}"
    )


def expect(channel: Channel, msg_type: int, timeout_s: float = 30.0) -> bytes:
    """Receive the next message and check its type; FAULT and ERROR become a RunError."""
    got, payload = channel.recv(timeout_s)
    if got == msg_type:
        return payload
    if got == MSG_FAULT:
        raise RunError(describe_fault(payload), channel.log())
    if got == MSG_ERROR and len(payload) >= 2:
        what = ERROR_CODES.get(payload[1], f"error {payload[1]}")
        raise RunError(f"firmware rejected message type 0x{payload[0]:02x}: {what}", channel.log())
    raise RunError(f"expected message type 0x{msg_type:02x} from the firmware, got 0x{got:02x}", channel.log())


def open_session(channel: Channel, app: str, timeout_s: float = 30.0) -> Hello:
    hello = Hello.parse(expect(channel, MSG_HELLO, timeout_s))
    if hello.protocol != PROTOCOL_VERSION:
        raise RunError(f"firmware speaks protocol {hello.protocol}, this host {PROTOCOL_VERSION}", channel.log())
    if hello.app != app:
        raise RunError(f"firmware runs application {hello.app!r}, expected {app!r}", channel.log())
    return hello


def close_session(channel: Channel, timeout_s: float = 30.0) -> Stats:
    channel.send(MSG_END, b"", reply_types=(MSG_STATS,))  # the firmware halts after STATS
    return Stats.parse(expect(channel, MSG_STATS, timeout_s))
