"""The AN3155 flasher against the bootloader emulator, the emulator against Debian's stm32flash, the CLI."""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial

from tinyodl.boards import load_board
from tinyodl.cli import main
from tinyodl.link import an3155, bootemu
from tinyodl.link.an3155 import ACK, NACK, Bootloader, FlashError

BOARDS = {0x415: "nucleo-l476rg", 0x450: "nucleo-h743zi"}
FLASH = 0x08000000
needs_stm32flash = pytest.mark.skipif(shutil.which("stm32flash") is None, reason="stm32flash not installed (apt)")
needs_arm_gcc = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc missing")


def _profile(chip: int) -> bootemu.ChipProfile:
    return bootemu.profile_from_board(load_board(BOARDS[chip]))


@contextmanager
def emulated(chip: int, faults: bootemu.Faults | None = None, flash: bytes | None = None,
             timeout_s: float = 1.0) -> Iterator[tuple[bootemu.PtyBootloader, Bootloader]]:  # fmt: skip
    """An emulated chip on a pty and a synchronised flasher protocol on it."""
    with bootemu.PtyBootloader(bootemu.BootloaderDevice(_profile(chip), faults, flash)) as emu:
        port = serial.serial_for_url(emu.path, baudrate=115200, timeout=1.0)
        try:
            bl = Bootloader(port, timeout_s=timeout_s)
            an3155.connect(bl, 2.0)
            yield emu, bl
        finally:
            port.close()


def _image(size: int, seed: int, address: int = FLASH) -> an3155.Image:
    data = random.Random(seed).randbytes(size)
    return an3155.Image(((address, data),), f"random-{size}.bin")


def _expected(chip: int, image: an3155.Image) -> bytes:
    p = _profile(chip)
    flash = bytearray(b"\xff" * p.flash_bytes)
    for address, data in image.chunks:
        flash[address - FLASH : address - FLASH + len(data)] = data
    return bytes(flash)


# --- the device alone: AN3155 answers byte for byte -----------------------------------------------------


def _device(chip: int = 0x415) -> bootemu.BootloaderDevice:
    dev = bootemu.BootloaderDevice(_profile(chip))
    assert dev.feed(b"\x7f") == bytes([ACK])
    return dev


def _addr(address: int) -> bytes:
    raw = address.to_bytes(4, "big")
    return raw + bytes([raw[0] ^ raw[1] ^ raw[2] ^ raw[3]])


def _write_frame(data: bytes) -> bytes:
    frame = bytes([len(data) - 1]) + data
    x = 0
    for b in frame:
        x ^= b
    return frame + bytes([x])


@pytest.mark.parametrize("chip", [0x415, 0x450])
def test_device_get_version_id(chip: int) -> None:
    dev = _device(chip)
    assert dev.feed(b"\x00\xff") == bytes([ACK, 11, 0x31, 0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x44, 0x63, 0x73,
                                           0x82, 0x92, ACK])  # fmt: skip
    assert dev.feed(b"\x01\xfe") == bytes([ACK, 0x31, 0, 0, ACK])
    assert dev.feed(b"\x02\xfd") == bytes([ACK, 1, chip >> 8, chip & 0xFF, ACK])


def test_device_nacks_bad_frames() -> None:
    dev = bootemu.BootloaderDevice(_profile(0x415))
    assert dev.feed(b"\x00\xff") == b""  # before the 0x7F sync nothing answers
    assert dev.feed(b"\x7f") == bytes([ACK])
    assert dev.feed(b"\x00\x00") == bytes([NACK])  # complement wrong
    assert dev.feed(b"\x43\xbc") == bytes([NACK])  # legacy Erase: not in this bootloader's list
    assert dev.feed(b"\x7f") == b"" and dev.feed(b"\x7f") == bytes([NACK])  # a second sync is a bad command
    assert dev.feed(b"\x11\xee" + b"\x08\x00\x00\x00\x09") == bytes([ACK, NACK])  # address checksum wrong
    assert dev.feed(b"\x11\xee" + _addr(0x30000000)) == bytes([ACK, NACK])  # not memory
    assert dev.feed(b"\x11\xee" + _addr(FLASH) + b"\x03\xfb") == bytes([ACK, ACK, NACK])  # N without complement
    assert dev.feed(b"\x31\xce" + _addr(FLASH + 2)) == bytes([ACK, NACK])  # unaligned write
    assert dev.feed(b"\x31\xce" + _addr(FLASH) + _write_frame(b"\x01\x02\x03")) == bytes([ACK, ACK, NACK])  # 3 B
    bad = bytearray(_write_frame(b"\x01\x02\x03\x04"))
    bad[-1] ^= 1
    assert dev.feed(b"\x31\xce" + _addr(FLASH) + bytes(bad)) == bytes([ACK, ACK, NACK])  # checksum
    assert dev.flash[:8] == b"\xff" * 8


def test_device_l4_double_words() -> None:
    dev = _device(0x415)
    write = b"\x31\xce" + _addr(FLASH) + _write_frame(b"\x11\x22\x33\x44")
    assert dev.feed(write) == bytes([ACK, ACK, ACK])
    assert dev.flash[:8] == b"\x11\x22\x33\x44\xff\xff\xff\xff"  # the double word's other half stays erased
    # the double word is programmed now: its second half cannot be written without an erase (PROGERR)
    assert dev.feed(b"\x31\xce" + _addr(FLASH + 4) + _write_frame(b"\x55" * 4)) == bytes([ACK, ACK, NACK])
    assert dev.feed(b"\x31\xce" + _addr(FLASH) + _write_frame(b"\x00" * 8)) == bytes([ACK, ACK, ACK])  # zeroing
    assert dev.flash[:8] == b"\x00" * 8
    erase = b"\x00\x00\x00\x00"  # one page: number 0
    assert dev.feed(b"\x44\xbb" + erase + b"\x00") == bytes([ACK, ACK])
    assert dev.flash[:8] == b"\xff" * 8
    assert dev.feed(b"\x44\xbb" + b"\x00\x00\x02\x00\x02") == bytes([ACK, NACK])  # page 512 does not exist
    assert dev.feed(b"\x44\xbb" + b"\xff\xfd\x02") == bytes([ACK, ACK])  # bank 2
    assert dev.erased_units[-256:] == list(range(256, 512))


def test_device_h7_flash_words() -> None:
    dev = _device(0x450)
    assert dev.feed(b"\x31\xce" + _addr(FLASH + 0x20) + _write_frame(b"\xab" * 8)) == bytes([ACK, ACK, ACK])
    assert dev.flash[0x20:0x40] == b"\xab" * 8 + b"\xff" * 24
    assert dev.feed(b"\x31\xce" + _addr(FLASH + 0x28) + _write_frame(b"\xcd" * 4)) == bytes([ACK, ACK, NACK])
    assert dev.feed(b"\x44\xbb" + b"\x00\x00\x00\x10\x10") == bytes([ACK, NACK])  # sector 16 does not exist
    assert dev.feed(b"\x44\xbb" + b"\x00\x00\x00\x08\x08") == bytes([ACK, ACK])  # bank 2's first sector
    assert dev.erased_units == [8]


def test_device_protection_commands() -> None:
    dev = _device(0x415)
    dev.flash[0:4] = b"\x12\x34\x56\x78"
    assert dev.feed(b"\x63\x9c" + b"\x00\x03\x03") == bytes([ACK, ACK])  # write-protect page 3, then reset
    assert dev.feed(b"\x7f") == bytes([ACK])
    assert dev.feed(b"\x44\xbb" + b"\x00\x00\x00\x03\x03") == bytes([ACK, NACK])  # page 3 is protected
    assert dev.feed(b"\x31\xce" + _addr(FLASH + 3 * 2048) + _write_frame(b"\x00" * 4)) == bytes([ACK, ACK, NACK])
    assert dev.feed(b"\x73\x8c") == bytes([ACK, ACK])  # write-unprotect, reset
    assert dev.feed(b"\x7f" + b"\x44\xbb" + b"\x00\x00\x00\x03\x03") == bytes([ACK, ACK, ACK])
    assert dev.feed(b"\x82\x7d") == bytes([ACK, ACK])  # readout protection, reset
    assert dev.feed(b"\x7f" + b"\x11\xee") == bytes([ACK, NACK])  # no reads
    assert dev.feed(b"\x92\x6d") == bytes([ACK, ACK])  # leaving it mass-erases
    assert dev.flash[0:4] == b"\xff" * 4
    assert dev.feed(b"\x7f" + b"\x11\xee" + _addr(FLASH) + b"\x03\xfc") == bytes([ACK] * 4) + b"\xff" * 4


# --- the plan -------------------------------------------------------------------------------------------


def test_plan_pages_across_banks_and_padding() -> None:
    l4 = an3155.Geometry.of(load_board("nucleo-l476rg"))
    image = an3155.Image(((0x0807F800, b"\x01" * 2048), (0x08080000, b"\x02" * 2053)), "x")
    todo = an3155.plan(image, l4)
    assert todo.erase == (255, 256, 257)  # bank 2 starts at page 256 (0x08080000)
    last_address, last = todo.blocks[-1]
    assert last_address == 0x08080800 and len(last) == 8 and last[:5] == b"\x02" * 5 and last[5:] == b"\xff" * 3
    h7 = an3155.Geometry.of(load_board("nucleo-h743zi"))
    todo = an3155.plan(an3155.Image(((0x08100004, b"\x03" * 40),), "y"), h7)
    assert todo.erase == (8,)
    assert todo.blocks == ((0x08100000, b"\xff" * 4 + b"\x03" * 40 + b"\xff" * 20),)


def test_plan_refuses_images_that_do_not_fit() -> None:
    l4 = an3155.Geometry.of(load_board("nucleo-l476rg"))
    with pytest.raises(FlashError, match=r"spans 1,048,577 B .* flash holds 1,048,576 B"):
        an3155.plan(an3155.Image(((FLASH, b"\0" * (1 << 20) + b"\0"),), "big.bin"), l4)
    with pytest.raises(FlashError, match=r"outside the flash \(0x08000000-0x080fffff\)"):
        an3155.plan(an3155.Image(((0x080FFF00, b"\0" * 512),), "tail.bin"), l4)
    with pytest.raises(FlashError, match="outside the flash"):
        an3155.plan(an3155.Image(((0x20000000, b"\0" * 16),), "ram.bin"), l4)


# --- the flasher against the emulator -------------------------------------------------------------------


@pytest.mark.parametrize("chip", [0x415, 0x450])
@pytest.mark.parametrize("size", [4, 301, 5003, 40_000])
def test_flash_write_verify_go(chip: int, size: int) -> None:
    board = load_board(BOARDS[chip])
    image = _image(size, seed=size)
    with emulated(chip) as (emu, bl):
        report = an3155.flash_image(bl, board, image, go=True)
        assert emu.flash_copy() == _expected(chip, image)
        unit = 2048 if chip == 0x415 else 0x20000
        assert emu.device.erased_units == list(range(-(-size // unit)))
        assert emu.device.go_address == FLASH and report.go == FLASH and report.verified
        assert report.retries == 0 and report.chip_id == chip
        assert f"erased_{'page' if chip == 0x415 else 'sector'}s" in report.as_dict()


def test_flash_into_bank2_keeps_the_rest() -> None:
    old = random.Random(1).randbytes(3000)
    image = _image(2500, seed=2, address=0x08080400)
    with emulated(0x415, flash=old) as (emu, bl):
        an3155.flash_image(bl, load_board("nucleo-l476rg"), image)
        assert emu.device.erased_units == [256, 257]
        flash = emu.flash_copy()
        assert flash[:3000] == old and flash[0x80400 : 0x80400 + 2500] == image.chunks[0][1]


def test_paced_line_takes_the_line_time() -> None:
    image = _image(3000, 10)
    device = bootemu.BootloaderDevice(_profile(0x415))
    with bootemu.PtyBootloader(device, line_baud=115200) as emu:
        port = serial.serial_for_url(emu.path, baudrate=115200)
        try:
            bl = Bootloader(port)
            an3155.connect(bl, 2.0)
            t0 = time.monotonic()
            report = an3155.flash_image(bl, load_board("nucleo-l476rg"), image)
            elapsed = time.monotonic() - t0
        finally:
            port.close()
    # about 6,500 characters both ways: 0.56 s at 10 bits each; the host's own time comes on top
    line_s = report.line_seconds(115200, parity=False)
    assert 0.5 < line_s < 0.65 and line_s * 0.9 < elapsed < line_s + 3.0


def test_wrong_chip_refused_before_any_erase() -> None:
    old = random.Random(3).randbytes(4096)
    with emulated(0x450, flash=old) as (emu, bl):
        with pytest.raises(FlashError, match=r"chip ID 0x450 is not nucleo-l476rg's 0x415 .* nothing was erased"):
            an3155.flash_image(bl, load_board("nucleo-l476rg"), _image(100, 0))
        assert not any(line.startswith(("erase", "write")) for line in emu.device.log)
        assert emu.flash_copy()[:4096] == old


def test_nack_mid_write_reported_with_address() -> None:
    faults = bootemu.Faults(nack_write_at=0x08000410)
    with emulated(0x415, faults) as (emu, bl):
        with pytest.raises(FlashError, match=r"write of 256 B at 0x08000400 failed after 4 attempts \(NACK\)"):
            an3155.flash_image(bl, load_board("nucleo-l476rg"), _image(3000, 4), retries=3)
        assert faults.fired["nack"] == 4
        assert not any(line.startswith("go") for line in emu.device.log)


def test_transient_nack_retried() -> None:
    faults = bootemu.Faults(nack_write_at=0x08000410, nack_write_times=2)
    image = _image(3000, 5)
    with emulated(0x450, faults) as (emu, bl):
        report = an3155.flash_image(bl, load_board("nucleo-h743zi"), image, retries=3)
        assert report.retries == 2 and emu.flash_copy() == _expected(0x450, image)


def test_corrupted_read_back_reported() -> None:
    faults = bootemu.Faults(corrupt_read_at=0x08000123)
    image = _image(1000, 6)
    with emulated(0x415, faults) as (_emu, bl):
        expect = image.chunks[0][1][0x123]
        with pytest.raises(FlashError, match=rf"verify failed at 0x08000123: wrote {expect:#04x}, read back "
                                             rf"{expect ^ 1:#04x} \(twice\)"):  # fmt: skip
            an3155.flash_image(bl, load_board("nucleo-l476rg"), image)
    once = bootemu.Faults(corrupt_read_at=0x08000123, corrupt_read_times=1)
    with emulated(0x415, once) as (emu, bl):
        assert an3155.flash_image(bl, load_board("nucleo-l476rg"), image).verified  # the second read is right
        assert emu.flash_copy() == _expected(0x415, image)


@pytest.mark.parametrize("chip", [0x415, 0x450])
def test_dropped_byte_recovered(chip: int) -> None:
    faults = bootemu.Faults(drop_write_byte_at=0x08000250)
    image = _image(2000, 7)
    with emulated(chip, faults, timeout_s=0.3) as (emu, bl):
        report = an3155.flash_image(bl, load_board(BOARDS[chip]), image)
        assert faults.fired["drop"] == 1 and report.resyncs >= 1 and report.retries >= 1
        assert emu.flash_copy() == _expected(chip, image)


def test_connect_completes_a_frame_left_by_an_interrupted_session() -> None:
    image = _image(600, 9)
    with bootemu.PtyBootloader(bootemu.BootloaderDevice(_profile(0x415))) as emu:
        port = serial.serial_for_url(emu.path, baudrate=115200, timeout=1.0)
        try:  # a write stopped after 10 of 256 data bytes: the device waits for 247 more
            port.write(b"\x7f" + b"\x31\xce" + _addr(FLASH) + b"\xff" + bytes(10))
            port.read(3)
            bl = Bootloader(port, timeout_s=0.3)
            an3155.connect(bl, 5.0)
            report = an3155.flash_image(bl, load_board("nucleo-l476rg"), image)
        finally:
            port.close()
        assert report.verified and emu.flash_copy() == _expected(0x415, image)


class _Lines:
    """A port that records its modem-line changes."""

    def __init__(self) -> None:
        self.changes: list[str] = []

    def __setattr__(self, name: str, value: object) -> None:
        if name in ("dtr", "rts"):
            self.changes.append(f"{name}={int(bool(value))}")
        object.__setattr__(self, name, value)


def test_reset_sequences() -> None:
    from tinyodl.flashcmd import _release_boot0, _reset_into_bootloader

    port = _Lines()
    object.__setattr__(port, "changes", [])
    _reset_into_bootloader(port, "dtr")
    _release_boot0(port, "dtr")
    assert port.changes == ["rts=0", "dtr=1", "dtr=0", "rts=1"]  # BOOT0 high, NRST pulse, BOOT0 low at the end
    port = _Lines()
    _reset_into_bootloader(port, "rts")
    assert port.changes == ["dtr=0", "rts=1", "rts=0"]


def test_a_talking_application_is_no_bootloader() -> None:
    master, slave = os.openpty()
    stop = threading.Event()

    def talk() -> None:  # an application's output, 'y' (0x79, ACK) and 0x1F (NACK) included, never pausing
        os.set_blocking(master, False)
        while not stop.is_set():
            if select.select([], [master], [], 0.05)[1]:
                try:
                    os.write(master, b"ready\x1f\n" * 64)
                except BlockingIOError:
                    pass

    thread = threading.Thread(target=talk, daemon=True)
    thread.start()
    try:
        port = serial.serial_for_url(os.ttyname(slave), baudrate=115200)
        with pytest.raises(FlashError, match="no answer from the bootloader"):
            an3155.connect(Bootloader(port, timeout_s=0.1), 1.0)
        port.close()
    finally:
        stop.set()
        thread.join()
        os.close(master)
        os.close(slave)


def test_no_bootloader_clear_error() -> None:
    master, slave = os.openpty()
    try:
        port = serial.serial_for_url(os.ttyname(slave), baudrate=115200, timeout=0.1)
        with pytest.raises(FlashError, match=r"no answer from the bootloader after 0.3 s: is BOOT0 high"):
            an3155.connect(Bootloader(port, timeout_s=0.1), 0.3)
        port.close()
    finally:
        os.close(master)
        os.close(slave)


# --- Debian's stm32flash: a real client -----------------------------------------------------------------


@needs_stm32flash
@pytest.mark.parametrize("chip", [0x415, 0x450])
def test_stm32flash_and_tinyodl_give_identical_flash(
    chip: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = random.Random(chip).randbytes(5003)  # not a multiple of 4, 8, 32 or 256
    fw = tmp_path / "fw.bin"
    fw.write_bytes(data)
    with bootemu.PtyBootloader(bootemu.BootloaderDevice(_profile(chip))) as emu:
        argv = ["stm32flash", "-b", "115200", "-m", "8n1", "-w", str(fw), "-v", "-g", "0x08000000", emu.path]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"Device ID    : {chip:#06x}" in proc.stdout and "Wrote and verified address 0x0800138b" in proc.stdout
        by_stm32flash = emu.flash_copy()
        assert emu.device.go_address == FLASH
    assert by_stm32flash[:5003] == data and by_stm32flash[5003:] == b"\xff" * (len(by_stm32flash) - 5003)
    with bootemu.PtyBootloader(bootemu.BootloaderDevice(_profile(chip))) as emu:
        rc = main(["flash", str(fw), "--board", BOARDS[chip], "--port", emu.path, "--parity", "none", "--go"])
        assert rc == 0
        assert emu.flash_copy() == by_stm32flash
    out = capsys.readouterr().out
    assert f"{BOARDS[chip]}: chip {chip:#05x}, bootloader v3.1;" in out and "verified; started at 0x08000000" in out


# --- the command line -----------------------------------------------------------------------------------


def _objcopy_image(elf: Path, out: Path) -> bytes:
    objcopy = shutil.which("arm-none-eabi-objcopy")
    assert objcopy is not None
    subprocess.run([objcopy, "-O", "binary", str(elf), str(out)], check=True)  # the board images' segments touch
    return out.read_bytes()


@needs_arm_gcc
@pytest.mark.parametrize("chip", [0x415, 0x450])
def test_cli_flashes_the_selftest_board_image(chip: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinyodl.sim.renode import build_board_image

    board = load_board(BOARDS[chip])
    elf = build_board_image(board, "selftest")
    binary = _objcopy_image(elf, tmp_path / "fw.bin")  # the oracle: binutils' view of the load image
    with bootemu.PtyBootloader(bootemu.BootloaderDevice(_profile(chip))) as emu:
        rc = main(["flash", str(elf), "--board", board.name, "--port", emu.path, "--parity", "none", "--go", "--json"])
        out = json.loads(capsys.readouterr().out)
        assert rc == 0
        flash = emu.flash_copy()
    assert flash[: len(binary)] == binary and flash[len(binary) :] == b"\xff" * (len(flash) - len(binary))
    assert out["image_bytes"] <= len(binary) and out["verified"] and out["go"] == "0x08000000"
    assert out["chip_id"] == f"{chip:#05x}" and out["start"] == "0x08000000"
    assert out["line_seconds"] == round(out["wire_bytes"] * 10 / 115200, 3) and out["wire_bytes"] > 2 * len(binary)


@needs_arm_gcc
def test_cli_refuses_a_twin_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinyodl.apps import APPS
    from tinyodl.toolchain.project import build_project, write_project

    board = load_board("nucleo-h743zi")  # its QEMU machine runs a twin: the self-test linked at 0x00000000
    entry = board.qemu[0]
    assert entry.twin is not None
    elf = build_project(write_project(board, entry.twin, APPS["selftest"], tmp_path / "twin", entry.machine))
    rc = main(["flash", str(elf), "--board", board.name, "--port", "/nonexistent/tty"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "at 0x00000000-" in err and "lie outside the flash (0x08000000-0x081fffff)" in err


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (2 * 1024 * 1024 + 4))
    rc = main(["flash", str(big), "--board", "nucleo-h743zi", "--port", "/nonexistent/tty", "--parity", "none"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "flash holds 2,097,152 B" in err and len(err.splitlines()) == 1
    small = tmp_path / "small.bin"
    small.write_bytes(b"\0" * 64)
    rc = main(
        ["flash", str(small), "--board", "nucleo-l476rg", "--port", "/nonexistent/tty", "--address", "0x20000000"]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "outside the flash" in err and len(err.splitlines()) == 1
    rc = main(["flash", str(small), "--board", "nucleo-l476rg", "--port", "/nonexistent/tty"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("tinyodl: error: cannot open /nonexistent/tty")
    master, slave = os.openpty()
    try:  # a pty has no modem lines
        rc = main(["flash", str(small), "--board", "nucleo-l476rg", "--port", os.ttyname(slave), "--reset", "dtr"])
        assert rc == 2 and "cannot drive the DTR line of this port" in capsys.readouterr().err
    finally:
        os.close(master)
        os.close(slave)
    with bootemu.PtyBootloader(bootemu.BootloaderDevice(_profile(0x415))) as emu:  # 8E1 on a pty
        rc = main(["flash", str(small), "--board", "nucleo-l476rg", "--port", emu.path, "--wait", "1"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and err.endswith("(a pseudo-terminal takes --parity none)") and len(err.splitlines()) == 1
    fake = tmp_path / "fw.elf"
    fake.write_bytes(b"not an elf")
    rc = main(["flash", str(fake), "--board", "nucleo-l476rg", "--port", "/nonexistent/tty"])
    assert rc == 2 and "not an ELF file" in capsys.readouterr().err


def test_cli_emulator_and_flash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "flash.bin"
    before = tmp_path / "before.bin"
    before.write_bytes(b"\x00" * 0x20000 + b"\x5a" * 100)  # sector 0 programmed, the start of sector 1 too
    fw = tmp_path / "fw.bin"
    data = random.Random(8).randbytes(777)
    fw.write_bytes(data)
    argv = [sys.executable, "-m", "tinyodl.cli", "bootloader-emulator", "--chip", "0x450", "--image-in", str(before),
            "--image-out", str(out), "--json"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["chip_id"] == "0x450" and info["board"] == "nucleo-h743zi"
        rc = main(["flash", str(fw), "--board", "nucleo-h743zi", "--port", info["pty"], "--parity", "none", "--json"])
        assert rc == 0 and json.loads(capsys.readouterr().out)["erased_sectors"] == [0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert proc.returncode == 0
    flash = out.read_bytes()
    assert len(flash) == 2 * 1024 * 1024 and flash[:777] == data and flash[777:0x20000] == b"\xff" * (0x20000 - 777)
    assert flash[0x20000:0x20064] == b"\x5a" * 100 and flash[0x20064:] == b"\xff" * (len(flash) - 0x20064)
