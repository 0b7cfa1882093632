"""Host side of the stop-and-wait link (see docs/link.md)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection
from typing import Protocol

from .frame import (
    LINK_MAX_PAYLOAD,
    TYPE_ACK,
    TYPE_DATA_MAX,
    TYPE_DATA_MIN,
    Frame,
    FrameDecoder,
    encode_frame,
)


class Transport(Protocol):
    """A byte pipe: ``read`` returns up to ``max_bytes`` bytes, or b"" after ``timeout_s``."""

    def write(self, data: bytes) -> None: ...

    def read(self, max_bytes: int, timeout_s: float) -> bytes: ...


class LinkError(Exception):
    """The peer did not acknowledge a message in time, or no message arrived in time."""


class Link:
    """One endpoint of the link: reliable, in-order delivery of typed messages over a transport."""

    READ_CHUNK = 4096

    def __init__(
        self,
        transport: Transport,
        *,
        retransmit_s: float = 0.25,
        max_attempts: int = 40,
        raw_log_bytes: int = 64 * 1024,
    ) -> None:
        if retransmit_s <= 0 or max_attempts < 1:
            raise ValueError("retransmit_s must be > 0 and max_attempts >= 1")
        self.transport = transport
        self.retransmit_s = retransmit_s
        self.max_attempts = max_attempts
        self.raw_log = bytearray()
        self.raw_log_bytes = raw_log_bytes
        self.retransmissions = 0
        self.duplicates = 0
        self.ignored = 0
        self._decoder = FrameDecoder()
        self._inbox: deque[tuple[int, bytes]] = deque()
        self._tx_seq = 0
        self._rx_expected = 0
        self._waiting_seq: int | None = None
        self._reply_types: frozenset[int] = frozenset()
        self._acked = False

    @property
    def frames_dropped(self) -> int:
        """Received frames thrown away: invalid ones, stale sequence numbers, unknown types."""
        return self._decoder.dropped + self.ignored

    def send(self, type: int, payload: bytes, reply_types: Collection[int] = ()) -> None:
        """Send one message and wait for its ACK, retransmitting; raise ``LinkError`` on giving up.

        A message of one of ``reply_types`` delivered meanwhile counts as the acknowledgement: the peer can
        only have replied after receiving the request. This closes a session whose last ACK was lost while
        the peer stopped right after its reply (the firmware halts after answering END).
        """
        if not TYPE_DATA_MIN <= type <= TYPE_DATA_MAX:
            raise ValueError(f"message type 0x{type:02X} outside 0x{TYPE_DATA_MIN:02X}..0x{TYPE_DATA_MAX:02X}")
        if len(payload) > LINK_MAX_PAYLOAD:
            raise ValueError(f"payload of {len(payload)} bytes exceeds {LINK_MAX_PAYLOAD}")
        seq = self._tx_seq
        wire = encode_frame(type, seq, payload)
        self._waiting_seq = seq
        self._reply_types = frozenset(reply_types)
        self._acked = False
        try:
            for attempt in range(self.max_attempts):
                if attempt:
                    self.retransmissions += 1
                self.transport.write(wire)
                deadline = time.monotonic() + self.retransmit_s
                while not self._acked:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._pump(left)
                if self._acked:
                    self._tx_seq = (seq + 1) & 0xFF
                    return
        finally:
            self._waiting_seq = None
            self._reply_types = frozenset()
        raise LinkError(
            f"no ACK for message type 0x{type:02X} seq {seq} after {self.max_attempts} attempts{self._raw_tail()}"
        )

    def recv(self, timeout_s: float) -> tuple[int, bytes]:
        """Return the next message as (type, payload); raise ``LinkError`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not self._inbox:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkError(f"timed out waiting for a message{self._raw_tail()}")
            self._pump(left)
        return self._inbox.popleft()

    def poll(self, timeout_s: float = 0.0) -> None:
        """Process received bytes for up to ``timeout_s`` (acknowledging and queueing messages)."""
        self._pump(timeout_s)

    def _pump(self, timeout_s: float) -> None:
        data = self.transport.read(self.READ_CHUNK, max(timeout_s, 0.0))
        if not data:
            return
        self.raw_log += data
        excess = len(self.raw_log) - self.raw_log_bytes
        if excess > 0:
            del self.raw_log[:excess]
        for frame in self._decoder.feed(data):
            self._handle(frame)

    def _handle(self, frame: Frame) -> None:
        if frame.type == TYPE_ACK:
            if frame.seq == self._waiting_seq and not frame.payload:
                self._acked = True
            else:
                self.ignored += 1
        elif TYPE_DATA_MIN <= frame.type <= TYPE_DATA_MAX:
            if frame.seq == self._rx_expected:
                self._inbox.append((frame.type, frame.payload))
                if self._waiting_seq is not None and frame.type in self._reply_types:
                    self._acked = True
                self._rx_expected = (self._rx_expected + 1) & 0xFF
                self.transport.write(encode_frame(TYPE_ACK, frame.seq, b""))
            elif frame.seq == (self._rx_expected - 1) & 0xFF:
                self.duplicates += 1
                self.transport.write(encode_frame(TYPE_ACK, frame.seq, b""))
            else:
                self.ignored += 1
        else:
            self.ignored += 1

    def _raw_tail(self, n: int = 128) -> str:
        if not self.raw_log:
            return " (nothing received)"
        tail = bytes(self.raw_log[-n:])
        return f" (last {len(tail)} of {len(self.raw_log)} logged bytes received: {tail.hex(' ')})"
