"""An STM32 system bootloader (AN3155, USART) emulated on a pty pair: a board to flash without a board.

`BootloaderDevice` is the device: bytes in, bytes out, no I/O. It answers as the ROM bootloader does
(ACK 0x79 / NACK 0x1F, command + complement, big-endian address + XOR checksum, N+1 byte counts), keeps the
chip's flash with its erase granularity (L4: 2 KiB pages, H7: 128 KiB sectors, numbered from the start
of flash across both banks) and its write unit (L4: 8-byte double words, H7: 32-byte flash words; a unit
that is not erased cannot be programmed again, as on silicon), and can inject faults: a NACK of the writes
that touch a chosen address, a byte of a write lost on the line, a corrupted read-back.

`PtyBootloader` runs a device in a thread behind a pty, whose path any serial client opens
(`tinyodl flash`, Debian's `stm32flash`).
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from ..boards import Board, board_names, load_board
from ..errors import BoardError
from .an3155 import (
    ACK,
    CMD_EXT_ERASE,
    CMD_GET,
    CMD_GET_ID,
    CMD_GET_VERSION,
    CMD_GO,
    CMD_READ,
    CMD_WRITE,
    NACK,
    SYNC,
)

CMD_ERASE = 0x43
CMD_WRITE_PROTECT = 0x63
CMD_WRITE_UNPROTECT = 0x73
CMD_READOUT_PROTECT = 0x82
CMD_READOUT_UNPROTECT = 0x92

# The USART bootloaders of the STM32L476 and STM32H743 speak protocol version 3.1 and list these commands
# in their Get answer (AN2606/AN3155): no legacy Erase 0x43, Extended Erase 0x44 instead.
V31_COMMANDS = (
    CMD_GET,
    CMD_GET_VERSION,
    CMD_GET_ID,
    CMD_READ,
    CMD_GO,
    CMD_WRITE,
    CMD_EXT_ERASE,
    CMD_WRITE_PROTECT,
    CMD_WRITE_UNPROTECT,
    CMD_READOUT_PROTECT,
    CMD_READOUT_UNPROTECT,
)

ERASE_MASS = 0xFFFF
ERASE_BANK1 = 0xFFFE
ERASE_BANK2 = 0xFFFD


@dataclass(frozen=True)
class ChipProfile:
    """What the emulated bootloader knows about its chip: ID, version, commands, memories."""

    chip_id: int
    name: str
    version: int
    commands: tuple[int, ...]
    flash_origin: int
    flash_bytes: int
    erase_unit_bytes: int  # one page (L4) or sector (H7): what one Extended Erase number erases
    program_unit_bytes: int  # double word (L4) or flash word (H7)
    banks: int
    ram: tuple[tuple[int, int], ...]  # (origin, length) of each RAM region the Write command accepts

    @property
    def erase_units(self) -> int:
        return self.flash_bytes // self.erase_unit_bytes

    @property
    def flash_end(self) -> int:
        return self.flash_origin + self.flash_bytes


def profile_from_board(board: Board) -> ChipProfile:
    geo = board.flash_geometry
    unit = int(geo["page_bytes"] if geo["kind"] == "pages" else geo["sector_bytes"])
    flash = board.target.memory.flash
    if unit * int(geo["count"]) != flash.length:
        raise BoardError(f"{board.path}: flash_geometry: {geo['count']} x {unit} B is not the flash's {flash.length} B")
    return ChipProfile(
        chip_id=board.chip_id,
        name=board.mcu,
        version=0x31,
        commands=V31_COMMANDS,
        flash_origin=flash.origin,
        flash_bytes=flash.length,
        erase_unit_bytes=unit,
        program_unit_bytes=board.flash_program_unit,
        banks=int(geo.get("banks", 1)),
        ram=tuple((r.origin, r.length) for r in board.target.memory.ram),
    )


def board_for_chip(chip_id: int) -> Board:
    """The board file whose bootloader chip ID is `chip_id`."""
    boards = [load_board(name) for name in board_names()]
    for board in boards:
        if board.chip_id == chip_id:
            return board
    known = ", ".join(f"{b.chip_id:#05x} ({b.name})" for b in boards)
    raise BoardError(f"no board file has bootloader chip ID {chip_id:#05x}; known: {known}")


@dataclass
class Faults:
    """Faults to inject. `*_times` is how often the fault fires (0: every time)."""

    nack_write_at: int | None = None  # NACK (after the data) every Write whose bytes cover this address
    nack_write_times: int = 0
    drop_write_byte_at: int | None = None  # lose one data byte of the Write whose block covers this address
    drop_write_times: int = 1
    corrupt_read_at: int | None = None  # flip bit 0 of this address's byte in Read answers
    corrupt_read_times: int = 0
    fired: dict[str, int] = field(default_factory=dict)

    def fire(self, kind: str, times: int) -> bool:
        count = self.fired.get(kind, 0)
        if times and count >= times:
            return False
        self.fired[kind] = count + 1
        return True


def _xor(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


_Need = Generator[int, bytes, None]  # yields how many bytes it needs, is sent exactly those bytes


class BootloaderDevice:
    """The bootloader as a byte machine: `feed(received)` returns what the device sends back."""

    def __init__(self, profile: ChipProfile, faults: Faults | None = None, flash: bytes | None = None) -> None:
        self.profile = profile
        self.faults = faults or Faults()
        self.flash = bytearray(b"\xff" * profile.flash_bytes)
        if flash is not None:
            self.flash[: len(flash)] = flash[: profile.flash_bytes]
        self.ram = [bytearray(length) for _, length in profile.ram]
        self.log: list[str] = []  # one line per command served, for tests and the emulator's output
        self.go_address: int | None = None
        self.erased_units: list[int] = []
        self.readout_protected = False
        self.write_protected: set[int] = set()
        self.on_go: Callable[[int], None] | None = None
        self._out = bytearray()
        self._pending = bytearray()
        self._drop_after = -1  # bytes to let through before losing one; -1: none
        self._machine = self._run()
        self._need = next(self._machine)

    # --- bytes in, bytes out --------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        for b in data:
            if self._drop_after >= 0:
                self._drop_after -= 1
                if self._drop_after < 0:  # the fault: this byte never reaches the device
                    continue
            self._pending.append(b)
            while len(self._pending) >= self._need:
                chunk = bytes(self._pending[: self._need])
                del self._pending[: self._need]
                self._need = self._machine.send(chunk)
        out = bytes(self._out)
        self._out.clear()
        return out

    def _send(self, *data: int) -> None:
        self._out.extend(data)

    # --- the protocol -------------------------------------------------------------------------------

    def _run(self) -> _Need:
        while True:
            (b,) = yield 1  # after reset: only 0x7F (the baud-rate detection) gets an answer
            if b != SYNC:
                continue
            self._send(ACK)
            self.log.append("sync")
            while True:
                cmd, comp = yield 2
                if cmd ^ comp != 0xFF or cmd not in self.profile.commands:
                    self._send(NACK)
                    continue
                handler = self._handlers()[cmd]
                reset = yield from handler()
                if reset:
                    break

    def _handlers(self) -> dict[int, Callable[[], Generator[int, bytes, bool]]]:
        return {
            CMD_GET: self._get,
            CMD_GET_VERSION: self._get_version,
            CMD_GET_ID: self._get_id,
            CMD_READ: self._read,
            CMD_GO: self._go,
            CMD_WRITE: self._write,
            CMD_EXT_ERASE: self._ext_erase,
            CMD_WRITE_PROTECT: self._write_protect,
            CMD_WRITE_UNPROTECT: self._write_unprotect,
            CMD_READOUT_PROTECT: self._readout_protect,
            CMD_READOUT_UNPROTECT: self._readout_unprotect,
        }

    def _get(self) -> Generator[int, bytes, bool]:
        cmds = self.profile.commands
        self._send(ACK, len(cmds), self.profile.version, *cmds, ACK)
        self.log.append("get")
        return False
        yield 0  # a generator

    def _get_version(self) -> Generator[int, bytes, bool]:
        self._send(ACK, self.profile.version, 0x00, 0x00, ACK)
        self.log.append("get-version")
        return False
        yield 0

    def _get_id(self) -> Generator[int, bytes, bool]:
        pid = self.profile.chip_id
        self._send(ACK, 1, pid >> 8, pid & 0xFF, ACK)
        self.log.append("get-id")
        return False
        yield 0

    def _address(self) -> Generator[int, bytes, int | None]:
        """Four address bytes and their XOR: the address, or None (NACK sent) on a bad checksum."""
        raw = yield 5
        if _xor(raw[:4]) != raw[4]:
            self._send(NACK)
            return None
        return int.from_bytes(raw[:4], "big")

    def _memory(self, address: int, length: int) -> tuple[bytearray, int] | None:
        """The buffer holding [address, address + length) and the offset in it, or None."""
        p = self.profile
        if p.flash_origin <= address and address + length <= p.flash_end:
            return self.flash, address - p.flash_origin
        for (origin, size), buf in zip(p.ram, self.ram, strict=True):
            if origin <= address and address + length <= origin + size:
                return buf, address - origin
        return None

    def _addressed(self, length: int, aligned: int = 1) -> Generator[int, bytes, int | None]:
        """The opening of Read, Go and Write: refused under readout protection, then an address (a multiple of
        `aligned`) with `length` bytes of memory behind it, each step ACKed; None after a NACK."""
        if self.readout_protected:
            self._send(NACK)
            return None
        self._send(ACK)
        address = yield from self._address()
        if address is None:
            return None
        if address % aligned or self._memory(address, length) is None:
            self._send(NACK)
            return None
        self._send(ACK)
        return address

    def _read(self) -> Generator[int, bytes, bool]:
        address = yield from self._addressed(1)
        if address is None:
            return False
        n, comp = yield 2
        where = self._memory(address, n + 1)
        if n ^ comp != 0xFF or where is None:
            self._send(NACK)
            return False
        buf, off = where
        data = bytearray(buf[off : off + n + 1])
        bad = self.faults.corrupt_read_at
        if (
            bad is not None
            and address <= bad <= address + n
            and self.faults.fire("corrupt", self.faults.corrupt_read_times)
        ):
            data[bad - address] ^= 0x01
        self._send(ACK, *data)
        self.log.append(f"read {address:#010x} {n + 1}")
        return False

    def _go(self) -> Generator[int, bytes, bool]:
        address = yield from self._addressed(8)
        if address is None:
            return False
        self.go_address = address
        self.log.append(f"go {address:#010x}")
        if self.on_go is not None:
            self.on_go(address)
        return True  # the application runs; its next reset (BOOT0 still high) is the bootloader again

    def _write(self) -> Generator[int, bytes, bool]:
        address = yield from self._addressed(1, aligned=4)
        if address is None:
            return False
        drop = self.faults.drop_write_byte_at
        if (
            drop is not None
            and address <= drop < address + 256
            and self.faults.fire("drop", self.faults.drop_write_times)
        ):
            self._drop_after = 1 + (drop - address)  # that address's data byte is lost on the line
        (n,) = yield 1
        rest = yield n + 2
        data, checksum = rest[:-1], rest[-1]
        if _xor(bytes([n]) + data) != checksum or (n + 1) % 4:
            self._send(NACK)
            return False
        nack = self.faults.nack_write_at
        if (
            nack is not None
            and address <= nack < address + len(data)
            and self.faults.fire("nack", self.faults.nack_write_times)
        ):
            self._send(NACK)
            self.log.append(f"write {address:#010x} {len(data)} NACK (injected)")
            return False
        ok = self._program(address, data)
        self._send(ACK if ok else NACK)
        self.log.append(f"write {address:#010x} {len(data)}" + ("" if ok else " NACK"))
        return False

    def _program(self, address: int, data: bytes) -> bool:
        where = self._memory(address, len(data))
        if where is None:
            return False
        buf, off = where
        p = self.profile
        if buf is not self.flash:
            buf[off : off + len(data)] = data
            return True
        if (off // p.erase_unit_bytes) in self.write_protected:
            return False
        unit = p.program_unit_bytes
        first = off - off % unit
        last = -(-(off + len(data)) // unit) * unit
        image = bytearray(b"\xff" * (last - first))  # bytes of a unit the write does not give stay erased
        image[off - first : off - first + len(data)] = data
        for u in range(first, last, unit):
            old = self.flash[u : u + unit]
            new = image[u - first : u - first + unit]
            erased = old == b"\xff" * unit
            zeroing = unit == 8 and new == b"\x00" * unit  # L4: a programmed double word may be zeroed
            if not erased and not zeroing:
                return False  # PROGERR on silicon: the unit was not erased
            if self._unit_of(u) in self.write_protected:
                return False
        self.flash[first:last] = image
        return True

    def _unit_of(self, flash_offset: int) -> int:
        return flash_offset // self.profile.erase_unit_bytes

    def _ext_erase(self) -> Generator[int, bytes, bool]:
        if self.readout_protected:
            self._send(NACK)
            return False
        self._send(ACK)
        head = yield 2
        n = int.from_bytes(head, "big")
        p = self.profile
        if n >= 0xFFF0:
            (checksum,) = yield 1
            per_bank = p.erase_units // p.banks
            units: list[int] = {
                ERASE_MASS: list(range(p.erase_units)),
                ERASE_BANK1: list(range(per_bank)),
                ERASE_BANK2: list(range(per_bank, 2 * per_bank)) if p.banks == 2 else [],
            }.get(n, [])
            if checksum != _xor(head) or not units:
                self._send(NACK)
                return False
        else:
            body = yield 2 * (n + 1) + 1
            if _xor(head + body[:-1]) != body[-1]:
                self._send(NACK)
                return False
            units = [int.from_bytes(body[i : i + 2], "big") for i in range(0, 2 * (n + 1), 2)]
            if any(u >= p.erase_units for u in units):
                self._send(NACK)
                return False
        if any(u in self.write_protected for u in units):
            self._send(NACK)
            return False
        size = p.erase_unit_bytes
        for u in units:
            self.flash[u * size : (u + 1) * size] = b"\xff" * size
        self.erased_units.extend(units)
        self._send(ACK)
        self.log.append(f"erase {len(units)} x {size} B: {_ranges(units)}")
        return False

    def _write_protect(self) -> Generator[int, bytes, bool]:
        if self.readout_protected:
            self._send(NACK)
            return False
        self._send(ACK)
        (n,) = yield 1
        body = yield n + 2
        sectors = list(body[:-1])
        if _xor(bytes([n]) + body[:-1]) != body[-1] or any(s >= self.profile.erase_units for s in sectors):
            self._send(NACK)
            return False
        self.write_protected.update(sectors)
        self._send(ACK)
        self.log.append(f"write-protect {_ranges(sectors)}")
        return True  # the option bytes are reloaded: a system reset

    def _write_unprotect(self) -> Generator[int, bytes, bool]:
        self._send(ACK)
        self.write_protected.clear()
        self._send(ACK)
        self.log.append("write-unprotect")
        return True
        yield 0

    def _readout_protect(self) -> Generator[int, bytes, bool]:
        self._send(ACK)
        self.readout_protected = True
        self._send(ACK)
        self.log.append("readout-protect")
        return True
        yield 0

    def _readout_unprotect(self) -> Generator[int, bytes, bool]:
        self._send(ACK)
        self.flash[:] = b"\xff" * len(self.flash)  # leaving RDP level 1 mass-erases the flash
        self.readout_protected = False
        self._send(ACK)
        self.log.append("readout-unprotect (mass erase)")
        return True
        yield 0


def _ranges(units: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    out: list[str] = []
    for u in sorted(set(units)):
        if out and u == int(out[-1].rsplit("-", 1)[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{u}"
        else:
            out.append(str(u))
    return ", ".join(out)


class PtyBootloader:
    """A `BootloaderDevice` behind a pty: clients open `path` as a serial port (8N1, any baud rate).

    With `line_baud`, answers take the time the characters both ways would take on a serial line at that
    rate (10 bits each), so that a client sees a real line's pace; a pty alone is as fast as memory.
    """

    def __init__(self, device: BootloaderDevice, line_baud: int | None = None) -> None:
        self.device = device
        self._char_s = 0.0 if line_baud is None else 10.0 / line_baud
        self._line_free = 0.0  # when the emulated line is idle again (time.monotonic)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="bootloader-emulator", daemon=True)

    def __enter__(self) -> PtyBootloader:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._master, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            with self._lock:
                out = self.device.feed(data)
            if self._char_s:
                now = time.monotonic()
                self._line_free = max(now, self._line_free) + (len(data) + len(out)) * self._char_s
                if out:
                    time.sleep(max(0.0, self._line_free - now))
            if out:
                os.write(self._master, out)

    def flash_copy(self) -> bytes:
        with self._lock:
            return bytes(self.device.flash)

    def close(self) -> None:
        if self._thread.is_alive():
            os.write(self._stop_w, b"x")
            self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass
