"""Consistent overhead byte stuffing (COBS): removes every zero byte from a block of bytes.

The encoding is the minimal one: a block of 254 non-zero bytes (code 0xFF) implies no zero, and the
output ends right after such a block when the input ends there.
"""

from __future__ import annotations

_FULL = 254  # data bytes in a block with code 0xFF


def max_encoded_size(n: int) -> int:
    """Upper bound of the encoded size of ``n`` bytes (without the 0x00 delimiter)."""
    return n + n // _FULL + 1


def encode(data: bytes) -> bytes:
    """Encode ``data``; the result contains no 0x00 and does not include the delimiter."""
    out = bytearray()
    segments = bytes(data).split(b"\x00")
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        start = 0
        while len(segment) - start >= _FULL:
            out.append(0xFF)
            out += segment[start : start + _FULL]
            start += _FULL
        if index == last and start > 0 and start == len(segment):
            break  # ends on a full block: no empty block needed
        out.append(len(segment) - start + 1)
        out += segment[start:]
    return bytes(out)


def decode(data: bytes) -> bytes:
    """Decode one COBS block (without its delimiter); raise ``ValueError`` when it is malformed."""
    data = bytes(data)
    if not data:
        raise ValueError("COBS: empty input")
    if 0 in data:
        raise ValueError(f"COBS: zero byte at offset {data.index(0)}")
    out = bytearray()
    pos = 0
    size = len(data)
    while pos < size:
        code = data[pos]
        end = pos + code
        if end > size:
            raise ValueError(f"COBS: code {code} at offset {pos} runs past the end ({size} bytes)")
        out += data[pos + 1 : end]
        pos = end
        if code != 0xFF and pos < size:
            out.append(0)
    return bytes(out)
