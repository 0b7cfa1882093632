"""The Python link endpoint and transports (pure Python, no compiler needed)."""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest

from tinyodl.link import (
    FAULT_KINDS,
    FaultyTransport,
    Frame,
    FrameDecoder,
    Link,
    LinkError,
    MemoryTransport,
    SerialTransport,
    encode_frame,
    memory_pair,
)


def written_frames(peer: MemoryTransport) -> list[Frame]:
    return FrameDecoder().feed(peer.read(1 << 20, 0.0))


def test_send_rejects_bad_arguments() -> None:
    link = Link(memory_pair()[0])
    with pytest.raises(ValueError):
        link.send(0x01, b"")
    with pytest.raises(ValueError):
        link.send(0x80, b"")
    with pytest.raises(ValueError):
        link.send(0x10, bytes(1025))


def test_send_gives_up_naming_type_and_seq() -> None:
    near, far = memory_pair()
    link = Link(near, retransmit_s=0.005, max_attempts=3)
    with pytest.raises(LinkError, match=r"type 0x12 seq 0 after 3 attempts"):
        link.send(0x12, b"x")
    assert link.retransmissions == 2
    assert written_frames(far) == [Frame(0x12, 0, b"x")] * 3


def test_recv_times_out() -> None:
    link = Link(memory_pair()[0])
    with pytest.raises(LinkError, match="timed out waiting for a message"):
        link.recv(0.01)


def test_receiver_rules() -> None:
    near, far = memory_pair()
    link = Link(near)
    far.write(encode_frame(0x10, 0, b"a") + encode_frame(0x10, 0, b"a"))  # a duplicate
    far.write(encode_frame(0x10, 2, b"c"))  # ahead: dropped
    far.write(encode_frame(0x10, 1, b"b") + encode_frame(0x01, 9, b"") + encode_frame(0x05, 2, b""))
    assert link.recv(1.0) == (0x10, b"a")
    assert link.recv(1.0) == (0x10, b"b")
    with pytest.raises(LinkError):
        link.recv(0.01)
    assert link.duplicates == 1
    assert link.frames_dropped == 3  # seq 2 ahead, stray ACK, unknown type
    assert written_frames(far) == [Frame(0x01, 0, b""), Frame(0x01, 0, b""), Frame(0x01, 1, b"")]


def test_raw_log_is_bounded() -> None:
    near, far = memory_pair()
    link = Link(near, raw_log_bytes=1000)
    far.write(bytes(range(1, 256)) * 20)
    for _ in range(3):  # more than one read chunk
        link.poll(0.0)
    assert link.raw_log == (bytes(range(1, 256)) * 20)[-1000:]
    with pytest.raises(LinkError, match="logged bytes received"):
        link.recv(0.0)


def test_faulty_transport_is_seeded_and_counts() -> None:
    outputs = []
    for _ in range(2):
        near, far = memory_pair()
        faulty = FaultyTransport(
            near, seed=5, p_drop=0.01, p_flip=0.01, p_dup=0.01, p_trunc=0.1, p_dup_frame=0.1, p_reorder=0.1
        )
        rng = random.Random(3)
        for seq in range(200):
            faulty.write(encode_frame(0x10, seq, rng.randbytes(rng.randrange(100))))
        outputs.append((far.read(1 << 20, 0.0), dict(faulty.faults)))
    assert outputs[0] == outputs[1]
    assert all(outputs[0][1].get(kind, 0) > 0 for kind in FAULT_KINDS)
    near, far = memory_pair()
    clean = FaultyTransport(near, seed=5)
    clean.write(b"\x01\x02\x00" * 100)
    assert far.read(1000, 0.0) == b"\x01\x02\x00" * 100 and not clean.faults


def exchange(a: Link, b: Link, count: int, seed: int) -> None:
    """Both sides send ``count`` messages at the same time and must receive the other's in order."""
    rng = random.Random(seed)
    streams = [
        [(rng.randrange(0x10, 0x80), rng.randbytes(rng.randrange(1025))) for _ in range(count)] for _ in range(2)
    ]
    received: list[list[tuple[int, bytes]]] = [[], []]
    errors: list[BaseException] = []

    done = [threading.Event(), threading.Event()]

    def side(index: int, link: Link) -> None:
        try:
            for message in streams[index]:
                link.send(*message)
            received[index] += [link.recv(10.0) for _ in range(count)]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            done[index].set()
        # keep answering (re-acknowledging) until the other side is done too: its last ACK may have been lost,
        # and on a loaded machine its retransmission can come late
        deadline = time.monotonic() + 30
        while not all(d.is_set() for d in done) and time.monotonic() < deadline:
            link.poll(0.05)

    threads = [threading.Thread(target=side, args=(i, link)) for i, link in enumerate((a, b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert received[0] == streams[1] and received[1] == streams[0]


def test_link_pair_without_faults() -> None:
    near, far = memory_pair()
    exchange(Link(near), Link(far), 300, seed=1)


def test_link_pair_with_faults() -> None:
    near, far = memory_pair()
    rates = dict(p_drop=2e-4, p_flip=2e-4, p_dup=2e-4, p_trunc=0.03, p_dup_frame=0.03, p_reorder=0.03)
    fa, fb = FaultyTransport(near, seed=1, **rates), FaultyTransport(far, seed=2, **rates)
    a = Link(fa, retransmit_s=0.01, max_attempts=400)
    b = Link(fb, retransmit_s=0.01, max_attempts=400)
    exchange(a, b, 250, seed=2)
    faults = fa.faults + fb.faults
    assert all(faults[kind] > 0 for kind in FAULT_KINDS), faults
    assert a.retransmissions + b.retransmissions > 20
    assert a.duplicates + b.duplicates > 0


def test_serial_transport_over_socket_url() -> None:
    """A socket that echoes every byte back makes a Link talk to itself: data, then its own ACK."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    transport = SerialTransport(f"socket://127.0.0.1:{port}")
    try:
        link = Link(transport, retransmit_s=0.5, max_attempts=4)
        started = time.monotonic()
        for seq in range(20):
            payload = bytes([seq]) * (seq * 50)
            link.send(0x20, payload)
            assert link.recv(2.0) == (0x20, payload)
        assert link.retransmissions == 0 and time.monotonic() - started < 5
        assert transport.read(10, 0.01) == b""
    finally:
        transport.close()
        server.close()
    thread.join(5)
