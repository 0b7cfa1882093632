"""COBS and frame codec of the link (pure Python)."""

from __future__ import annotations

import random
import zlib

import pytest

from tinyodl.link import Frame, FrameDecoder, cobs_decode, cobs_encode, decode_body, encode_frame
from tinyodl.link.frame import MAX_ENCODED

COBS_VECTORS = [
    (b"", "01"),
    (b"\x00", "01 01"),
    (b"\x00\x00", "01 01 01"),
    (b"\x11\x22\x00\x33", "03 11 22 02 33"),
    (b"\x11\x22\x33\x44", "05 11 22 33 44"),
    (b"\x11\x00\x00\x00", "02 11 01 01 01"),
    (bytes(range(1, 255)), "ff " + bytes(range(1, 255)).hex(" ")),
    (bytes(range(1, 256)), "ff " + bytes(range(1, 255)).hex(" ") + " 02 ff"),
    (bytes(range(2, 256)) + b"\x00", "ff " + bytes(range(2, 256)).hex(" ") + " 01 01"),
    (bytes(range(3, 256)) + b"\x00\x01", "fe " + bytes(range(3, 256)).hex(" ") + " 02 01"),
    (b"\x00" + bytes(range(1, 255)), "01 ff " + bytes(range(1, 255)).hex(" ")),
]


@pytest.mark.parametrize(("raw", "encoded"), COBS_VECTORS)
def test_cobs_known_vectors(raw: bytes, encoded: str) -> None:
    assert cobs_encode(raw) == bytes.fromhex(encoded)
    assert cobs_decode(bytes.fromhex(encoded)) == raw


@pytest.mark.parametrize("run", [1, 253, 254, 255, 508, 509, 1030])
@pytest.mark.parametrize("fill", [b"\x01", b"\xff"])
def test_cobs_nonzero_runs(run: int, fill: bytes) -> None:
    for data in (fill * run, fill * run + b"\x00", b"\x00" + fill * run, fill * run + b"\x00" + fill):
        encoded = cobs_encode(data)
        assert 0 not in encoded
        assert len(encoded) <= len(data) + len(data) // 254 + 1
        assert cobs_decode(encoded) == data


@pytest.mark.parametrize("n", [0, 1, 2, 254, 255, 1030])
def test_cobs_all_zeros(n: int) -> None:
    assert cobs_encode(bytes(n)) == b"\x01" * (n + 1)
    assert cobs_decode(b"\x01" * (n + 1)) == bytes(n)


def test_cobs_random_round_trips() -> None:
    rng = random.Random(1234)
    for _ in range(2000):
        n = rng.randrange(1100)
        density = rng.choice([0.0, 0.01, 0.3, 1.0])
        data = bytes(0 if rng.random() < density else rng.randrange(1, 256) for _ in range(n))
        encoded = cobs_encode(data)
        assert 0 not in encoded
        assert cobs_decode(encoded) == data


@pytest.mark.parametrize(
    "bad",
    [
        b"",  # no code byte at all
        b"\x00",  # zero byte inside
        b"\x03\x11\x00",  # zero byte inside a block
        b"\x05\x11\x22",  # code past the end
        b"\x02\x11\x04\x22",  # second code past the end
        b"\xff" + b"\x01" * 200,  # full block cut short
    ],
)
def test_cobs_decode_errors(bad: bytes) -> None:
    with pytest.raises(ValueError):
        cobs_decode(bad)


def test_frame_layout_and_crc() -> None:
    rng = random.Random(99)
    for n in [0, 1, 2, 253, 254, 1023, 1024] + [rng.randrange(1025) for _ in range(100)]:
        payload = rng.randbytes(n)
        wire = encode_frame(0x42, n & 0xFF, payload)
        assert wire.endswith(b"\x00") and 0 not in wire[:-1]
        body = cobs_decode(wire[:-1])
        assert body[:2] == bytes((0x42, n & 0xFF))
        assert body[2:-4] == payload
        assert int.from_bytes(body[-4:], "little") == zlib.crc32(body[:-4])
        assert decode_body(wire[:-1]) == Frame(0x42, n & 0xFF, payload)


def test_frame_known_vectors() -> None:
    # ACK seq 7: body 01 07 | crc32(01 07) = 0xC6A6B61D stored LE; no zero to stuff: one block of 6.
    assert zlib.crc32(b"\x01\x07") == 0xC6A6B61D
    assert encode_frame(0x01, 0x07, b"") == bytes.fromhex("07 01 07 1d b6 a6 c6 00")
    # data 0x10 seq 0 payload 00: body 10 00 00 | crc 0xE3677A62 -> blocks [10] [] [62 7a 67 e3].
    assert zlib.crc32(b"\x10\x00\x00") == 0xE3677A62
    assert encode_frame(0x10, 0x00, b"\x00") == bytes.fromhex("02 10 01 05 62 7a 67 e3 00")
    assert zlib.crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value


def test_frame_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        encode_frame(0x10, 0, bytes(1025))
    with pytest.raises(ValueError):
        encode_frame(0x100, 0, b"")
    with pytest.raises(ValueError):
        decode_body(cobs_encode(b"\x10\x00\x00\x00\x00"))  # 5 bytes: too short
    body = b"\x10\x00" + bytes(1025)
    with pytest.raises(ValueError):
        decode_body(cobs_encode(body + zlib.crc32(body).to_bytes(4, "little")))  # too long


def test_decoder_resyncs_after_garbage() -> None:
    rng = random.Random(7)
    frames = [Frame(0x10 + i, i, rng.randbytes(rng.randrange(300))) for i in range(50)]
    stream = bytearray(b"\x00\x00")
    for frame in frames:
        stream += bytes(rng.randrange(1, 256) for _ in range(rng.randrange(40)))  # garbage
        stream += b"\x00" + encode_frame(frame.type, frame.seq, frame.payload)
    decoder = FrameDecoder()
    got: list[Frame] = []
    pos = 0
    while pos < len(stream):  # arbitrary chunking
        step = rng.randrange(1, 64)
        got += decoder.feed(bytes(stream[pos : pos + step]))
        pos += step
    assert got == frames
    assert decoder.dropped <= len(frames)


def test_decoder_drops_corrupted_and_overlong() -> None:
    good = encode_frame(0x11, 1, b"payload")
    flipped = bytearray(good)
    flipped[3] ^= 0x40
    overlong = b"\x01" * (MAX_ENCODED + 10) + b"\x00"
    decoder = FrameDecoder()
    frames = decoder.feed(bytes(flipped) + overlong + good[:4] + b"\x00" + good)
    assert frames == [Frame(0x11, 1, b"payload")]
    assert decoder.dropped == 3
    # an overlong run fed in pieces is discarded up to the next delimiter only
    decoder = FrameDecoder()
    for _ in range(5):
        assert decoder.feed(b"\x05" * 400) == []
    assert decoder.feed(b"\x00" + good) == [Frame(0x11, 1, b"payload")]
    assert decoder.dropped == 1
