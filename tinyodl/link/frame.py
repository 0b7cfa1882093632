"""Link frames: ``COBS(type | seq | payload | crc32 LE) 0x00`` (see docs/link.md)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from . import cobs

LINK_MAX_PAYLOAD = 1024
TYPE_ACK = 0x01
TYPE_DATA_MIN = 0x10
TYPE_DATA_MAX = 0x7F
MIN_BODY = 6  # type, seq, crc
MAX_BODY = LINK_MAX_PAYLOAD + MIN_BODY
MAX_ENCODED = cobs.max_encoded_size(MAX_BODY)
DELIMITER = b"\x00"


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


def encode_frame(type: int, seq: int, payload: bytes) -> bytes:
    """Return the complete wire bytes of one frame, including the trailing 0x00."""
    if not 0 <= type <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError(f"type and seq must be bytes (got type={type}, seq={seq})")
    if len(payload) > LINK_MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {LINK_MAX_PAYLOAD}")
    body = bytes((type, seq)) + bytes(payload)
    body += zlib.crc32(body).to_bytes(4, "little")
    return cobs.encode(body) + DELIMITER


def decode_body(encoded: bytes) -> Frame:
    """Decode the bytes between two delimiters; raise ``ValueError`` for an invalid frame."""
    body = cobs.decode(encoded)
    if not MIN_BODY <= len(body) <= MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes outside {MIN_BODY}..{MAX_BODY}")
    crc = int.from_bytes(body[-4:], "little")
    if zlib.crc32(body[:-4]) != crc:
        raise ValueError("frame CRC mismatch")
    return Frame(body[0], body[1], body[2:-4])


class FrameDecoder:
    """Splits a received byte stream into valid frames; invalid ones are counted in ``dropped``."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self.dropped = 0

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        chunks = bytes(data).split(DELIMITER)
        for index, chunk in enumerate(chunks):
            self._append(chunk)
            if index < len(chunks) - 1:
                frame = self._complete()
                if frame is not None:
                    frames.append(frame)
        return frames

    def _append(self, chunk: bytes) -> None:
        if self._overflow or not chunk:
            return
        if len(self._buf) + len(chunk) > MAX_ENCODED:
            self._buf.clear()
            self._overflow = True  # discard up to the next delimiter
            self.dropped += 1
            return
        self._buf += chunk

    def _complete(self) -> Frame | None:
        if self._overflow:
            self._overflow = False
            return None
        if not self._buf:
            return None  # back-to-back delimiters carry nothing
        encoded = bytes(self._buf)
        self._buf.clear()
        try:
            return decode_body(encoded)
        except ValueError:
            self.dropped += 1
            return None
