"""The self-test firmware on QEMU: outputs equal the host's, counts are exact and repeatable, the link
survives injected faults, and faults and hangs end the run with a clear error and the UART log."""

from __future__ import annotations

import struct
from functools import cache

import pytest
from conftest import needs_arm_gcc, needs_qemu

from tinyodl.apps.protocol import open_session
from tinyodl.errors import RunError
from tinyodl.link import FAULT_KINDS, FaultyTransport, Transport
from tinyodl.runner import Prepared, RunOptions, execute, prepare
from tinyodl.sim.qemu import QemuRunner

pytestmark = [needs_arm_gcc, needs_qemu, pytest.mark.sim]

CASES = [("nucleo-l476rg", None), ("nucleo-l476rg", "mps2-an386"), ("nucleo-h743zi", None)]


@cache
def _prepared(board: str, machine: str | None) -> Prepared:
    return prepare(board, "selftest", RunOptions(machine=machine))


@pytest.mark.parametrize(("board", "machine"), CASES)
def test_outputs_match_and_counts_repeat(board: str, machine: str | None) -> None:
    prep = _prepared(board, machine)
    opts = RunOptions(machine=machine)
    first = execute(prep, "selftest", opts)
    second = execute(prep, "selftest", opts)
    assert first["outputs_match"] is True, first
    assert first["counter_check"]["ok"]
    assert [s["match"] for s in first["steps"]] == [True] * len(first["steps"])
    # exact and repeatable: identical tick counts in every step of two runs
    assert [s["ticks"] for s in first["steps"]] == [s["ticks"] for s in second["steps"]]
    assert first["instructions"] == second["instructions"] > 0
    # the stack peak includes exception frames pushed by interrupts, which arrive at host-dependent moments
    for run in (first, second):
        assert 0 < run["stack_peak_bytes"] < 1024 < run["stack_reserved_bytes"]
    expected_machine = machine or {"nucleo-l476rg": "b-l475e-iot01a", "nucleo-h743zi": "mps2-an500"}[board]
    assert first["machine"] == expected_machine
    assert first["image"] == ("board" if expected_machine == "b-l475e-iot01a" else "twin")
    granularity = {"b-l475e-iot01a": 250.0, "mps2-an386": 40.0, "mps2-an500": 40.0}[expected_machine]
    assert first["instructions_granularity"] == granularity
    for key in ("flash_bytes", "static_ram_bytes", "cycles_estimated", "latency_ms_estimated"):
        assert first[key] > 0


def test_simd_and_reference_agree_and_simd_is_faster() -> None:
    result = execute(_prepared("nucleo-l476rg", None), "selftest", RunOptions())
    steps = {s["name"]: s for s in result["steps"]}
    assert steps["dot_i8_simd"]["value"] == steps["dot_i8_ref"]["value"] == steps["dot_i8_ref"]["expected"]
    assert steps["dot_i8_simd"]["instructions_per_element"] < 0.6 * steps["dot_i8_ref"]["instructions_per_element"]


@pytest.mark.parametrize(("board", "machine"), [("nucleo-l476rg", None), ("nucleo-h743zi", None)])
def test_link_survives_injected_faults(board: str, machine: str | None) -> None:
    faulty: list[FaultyTransport] = []

    def wrap(inner: Transport) -> Transport:
        t = FaultyTransport(
            inner,
            seed=7,
            p_drop=2e-4,
            p_flip=2e-4,
            p_dup=2e-4,
            p_trunc=0.03,
            p_dup_frame=0.03,
            p_reorder=0.03,
        )
        faulty.append(t)
        return t

    prep = _prepared(board, machine)
    clean = execute(prep, "selftest", RunOptions())
    noisy = execute(prep, "selftest", RunOptions(timeout_s=240), wrap=wrap)
    assert noisy["outputs_match"] is True
    # the same values and the same counts as the clean run: faults cost time, never a wrong value
    assert [(s["value"], s["ticks"]) for s in noisy["steps"]] == [(s["value"], s["ticks"]) for s in clean["steps"]]
    injected = faulty[0].faults
    assert sum(injected.values()) > 0, injected
    assert set(injected) <= set(FAULT_KINDS)
    assert noisy["link"]["retransmissions"] > 0


def _fresh_session(prep: Prepared, timeout_s: float) -> QemuRunner:
    place = prep.placement
    return QemuRunner(machine=place.machine, elf=prep.elf, serial_index=place.serial_index, timeout_s=timeout_s)


@pytest.mark.parametrize(("board", "machine"), [("nucleo-l476rg", None), ("nucleo-h743zi", None)])
def test_fault_is_reported(board: str, machine: str | None) -> None:
    prep = _prepared(board, machine)
    with _fresh_session(prep, 30).session() as sess:
        open_session(sess, "selftest")
        sess.send(0x21, struct.pack("<BBHI", 0xF0, 0, 0, 1))
        with pytest.raises(RunError) as info:
            from tinyodl.apps.protocol import expect

            expect(sess, 0x22, timeout_s=20)
    text = str(info.value)
    assert text.startswith("firmware fault: UsageFault at pc=0x")
    assert "cfsr=0x00010000" in text  # UNDEFINSTR
    assert "--- UART log ---" in text


def test_hang_ends_in_timeout_with_log() -> None:
    prep = _prepared("nucleo-h743zi", None)
    runner = _fresh_session(prep, 4)
    with runner.session() as sess:
        open_session(sess, "selftest")
        sess.send(0x21, struct.pack("<BBHI", 0xF1, 0, 0, 1))
        with pytest.raises(RunError) as info:
            sess.recv(60)
    text = str(info.value)
    assert "timeout: the run took longer than 4 s" in text or "QEMU exited" in text
    assert "bytes received from the console UART" in text


@pytest.mark.slow
def test_firmware_link_soak_under_faults() -> None:
    """Hundreds of 1 KB frames through injected faults: every byte the firmware accepted is right
    (its CRC-32 of the buffer equals the host's), the exchange completes, the firmware keeps answering."""
    import random
    import zlib

    from tinyodl.apps import selftest
    from tinyodl.apps.protocol import close_session

    prep = _prepared("nucleo-l476rg", None)
    faulty: list[FaultyTransport] = []

    def wrap(inner: Transport) -> Transport:
        t = FaultyTransport(inner, seed=11, p_drop=1e-4, p_flip=1e-4, p_dup=1e-4, p_trunc=0.02, p_dup_frame=0.02,
                            p_reorder=0.02)  # fmt: skip
        faulty.append(t)
        return t

    rng = random.Random(3)
    frames = 0
    with _fresh_session(prep, 600).session(wrap) as sess:
        open_session(sess, "selftest")
        for _ in range(100):
            data = rng.randbytes(rng.randrange(1, 2041))  # one or two LOAD frames, then RUN and two replies
            assert selftest.load_and_checksum(sess, data) == zlib.crc32(data)
            frames += 2 * (len(data) // selftest.LOAD_CHUNK + 1) + 2
        close_session(sess)
        retransmissions = sess.link.retransmissions
    assert frames > 350
    assert sum(faulty[0].faults.values()) > 20
    assert retransmissions > 0
