"""Flash an STM32 over its USART system bootloader (ST application note AN3155).

`Bootloader` is the protocol (sync 0x7F, Get, Get Version, Get ID, Read Memory, Write Memory, Extended
Erase, Go) over a pyserial port; `load_image` turns an ELF (its loadable segments, at their load
addresses) or a raw binary into the flash contents; `flash_image` checks the chip ID against the board
file, erases exactly the pages or sectors the image covers, writes it in blocks of at most 256 bytes padded
to the flash's program unit, verifies it by read-back and optionally starts it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..boards import Board
from ..errors import TinyodlError

ACK = 0x79
NACK = 0x1F
SYNC = 0x7F
CMD_GET = 0x00
CMD_GET_VERSION = 0x01
CMD_GET_ID = 0x02
CMD_READ = 0x11
CMD_GO = 0x21
CMD_WRITE = 0x31
CMD_EXT_ERASE = 0x44
BLOCK = 256


class FlashError(TinyodlError):
    """Flashing stopped: no answer, a wrong chip, an image that does not fit, a failed write or verify."""


class BytePort(Protocol):
    """What the protocol needs of a serial port (pyserial's Serial has it)."""

    timeout: float | None

    def write(self, data: bytes, /) -> int | None: ...

    def read(self, size: int = 1, /) -> bytes: ...

    def reset_input_buffer(self) -> None: ...


class Nack(Exception):
    """The device answered NACK."""


class NoAnswer(Exception):
    """The device did not answer in time."""


def _xor(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


def _address_frame(address: int) -> bytes:
    raw = address.to_bytes(4, "big")
    return raw + bytes([_xor(raw)])


class Bootloader:
    """The AN3155 commands over a serial port. Each method raises Nack or NoAnswer."""

    def __init__(self, port: BytePort, timeout_s: float = 1.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        port.timeout = 0.02  # set once: each change reconfigures a real port; reads loop to their deadline
        self.wire_bytes = 0  # characters sent and received: the line time at a baud rate

    def _write(self, data: bytes) -> None:
        self.port.write(data)
        self.wire_bytes += len(data)

    def _read_exact(self, n: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        out = b""
        while len(out) < n:
            if time.monotonic() > deadline:
                self.wire_bytes += len(out)
                raise NoAnswer(f"{len(out)} of {n} bytes")
            out += self.port.read(n - len(out))
        self.wire_bytes += len(out)
        return out

    def _ack(self, timeout_s: float | None = None) -> None:
        (b,) = self._read_exact(1, self.timeout_s if timeout_s is None else timeout_s)
        if b == NACK:
            raise Nack()
        if b != ACK:
            raise NoAnswer(f"byte {b:#04x} instead of ACK")

    def command(self, cmd: int) -> None:
        self._write(bytes([cmd, cmd ^ 0xFF]))
        self._ack()

    def sync(self) -> bool:
        """One 0x7F; True when the device answered (ACK, or NACK when it was already synchronised)."""
        self.port.reset_input_buffer()  # what came before (an application's output) is no answer
        self._write(bytes([SYNC]))
        try:
            self._ack()
        except Nack:
            pass
        except NoAnswer:
            return False
        return not self.port.read(1)  # a bootloader answers one byte; a talking application goes on

    def resync(self, max_bytes: int = 300) -> bool:
        """After a lost byte the device waits for more: feed it 0xFF until it answers, then drain."""
        for _ in range(max_bytes):
            self._write(b"\xff")
            try:
                self._read_exact(1, 0.05)
            except NoAnswer:
                continue
            self.drain()
            return True
        return False

    def flush_frame(self) -> bool:
        """A device left mid-frame (an interrupted session) may wait for up to ~1 KiB: complete the frame in
        bursts of 0xFF, drain the NACKs, then make sure no half command pair is left. True when it answered."""
        for _ in range(5):
            self.port.reset_input_buffer()
            self._write(b"\xff" * (BLOCK + 2))
            try:
                answer = self._read_exact(1, 0.3)
            except NoAnswer:
                continue
            self.drain()
            if answer[0] not in (ACK, NACK):
                return False  # not a bootloader: an application talking
            self._write(b"\xff")  # completes a half pair (NACK), or starts one ...
            try:
                answer = self._read_exact(1, 0.1)
            except NoAnswer:
                self._write(b"\xff")  # ... which this completes
                answer = self._read_exact(1, self.timeout_s)
            self.drain()
            return answer[0] == NACK
        return False

    def drain(self) -> None:
        time.sleep(0.1)
        self.port.reset_input_buffer()

    def get(self) -> tuple[int, tuple[int, ...]]:
        self.command(CMD_GET)
        (n,) = self._read_exact(1, self.timeout_s)
        body = self._read_exact(n + 1, self.timeout_s)
        self._ack()
        return body[0], tuple(body[1:])

    def get_version(self) -> int:
        self.command(CMD_GET_VERSION)
        version = self._read_exact(3, self.timeout_s)[0]
        self._ack()
        return version

    def get_id(self) -> int:
        self.command(CMD_GET_ID)
        (n,) = self._read_exact(1, self.timeout_s)
        pid = self._read_exact(n + 1, self.timeout_s)
        self._ack()
        return int.from_bytes(pid[:2], "big")

    def read_memory(self, address: int, length: int) -> bytes:
        if not 1 <= length <= BLOCK:
            raise ValueError(f"read length {length}: 1..256")
        self.command(CMD_READ)
        self._write(_address_frame(address))
        self._ack()
        self._write(bytes([length - 1, (length - 1) ^ 0xFF]))
        self._ack()
        return self._read_exact(length, self.timeout_s)

    def write_memory(self, address: int, data: bytes) -> None:
        if not 1 <= len(data) <= BLOCK or len(data) % 4 or address % 4:
            raise ValueError(f"write of {len(data)} B at {address:#x}: 4..256 B, multiple of 4, aligned")
        self.command(CMD_WRITE)
        self._write(_address_frame(address))
        self._ack()
        frame = bytes([len(data) - 1]) + data
        self._write(frame + bytes([_xor(frame)]))
        self._ack()

    def extended_erase(self, units: list[int], timeout_s: float) -> None:
        body = (len(units) - 1).to_bytes(2, "big") + b"".join(u.to_bytes(2, "big") for u in units)
        self.command(CMD_EXT_ERASE)
        self._write(body + bytes([_xor(body)]))
        self._ack(timeout_s)

    def go(self, address: int) -> None:
        self.command(CMD_GO)
        self._write(_address_frame(address))
        self._ack()


# --- images --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """Flash contents: (address, bytes) chunks, sorted, not overlapping."""

    chunks: tuple[tuple[int, bytes], ...]
    source: str

    @property
    def start(self) -> int:
        return self.chunks[0][0]

    @property
    def end(self) -> int:
        return max(a + len(d) for a, d in self.chunks)

    @property
    def size(self) -> int:
        return sum(len(d) for _, d in self.chunks)


def load_image(path: Path, base: int | None, flash_origin: int) -> Image:
    """An ELF's loadable segments at their load addresses (LMA), or a raw binary at `base`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FlashError(f"{path}: cannot read: {exc.strerror}") from None
    if raw[:4] == b"\x7fELF":
        if base is not None:
            raise FlashError(f"{path}: --address is for raw binaries; an ELF carries its load addresses")
        return _elf_image(path)
    if path.suffix.lower() == ".elf":
        raise FlashError(f"{path}: not an ELF file (no ELF magic)")
    if path.suffix.lower() in (".hex", ".ihex", ".srec", ".s19"):
        raise FlashError(f"{path}: {path.suffix} files are not supported; give the .elf or a raw .bin")
    if not raw:
        raise FlashError(f"{path}: empty image")
    return Image(((flash_origin if base is None else base, raw),), str(path))


def _elf_image(path: Path) -> Image:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    chunks: list[tuple[int, bytes]] = []
    try:
        with path.open("rb") as f:
            elf = ELFFile(f)
            if elf["e_machine"] != "EM_ARM":
                raise FlashError(f"{path}: an ELF for {elf['e_machine']}, not for ARM")
            for seg in elf.iter_segments():
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"] > 0:
                    chunks.append((int(seg["p_paddr"]), bytes(seg.data())))
    except ELFError as exc:
        raise FlashError(f"{path}: not a valid ELF file: {exc}") from None
    if not chunks:
        raise FlashError(f"{path}: the ELF has no loadable segment with contents")
    chunks.sort()
    for (a, da), (b, _) in zip(chunks, chunks[1:], strict=False):
        if a + len(da) > b:
            raise FlashError(f"{path}: loadable segments overlap at {b:#010x}")
    return Image(tuple(chunks), str(path))


# --- the plan: what to erase and write -----------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    origin: int
    size: int
    erase_unit: int  # bytes one Extended Erase number covers (a page or a sector)
    erase_kind: str  # "page" or "sector"
    program_unit: int

    @staticmethod
    def of(board: Board) -> Geometry:
        geo = board.flash_geometry
        kind = str(geo["kind"])
        unit = int(geo["page_bytes"] if kind == "pages" else geo["sector_bytes"])
        flash = board.target.memory.flash
        return Geometry(flash.origin, flash.length, unit, kind.rstrip("s"), board.flash_program_unit)

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class Plan:
    erase: tuple[int, ...]  # page/sector numbers, counted from the start of flash across banks
    blocks: tuple[tuple[int, bytes], ...]  # writes: (address, data), <= 256 B, padded to the program unit


def check_fits(image: Image, geo: Geometry) -> None:
    span = image.end - image.start
    if span > geo.size:
        raise FlashError(
            f"{image.source}: the image spans {span:,} B ({image.start:#010x}-{image.end - 1:#010x}) but the flash "
            f"holds {geo.size:,} B"
        )
    for address, data in image.chunks:
        if address < geo.origin or address + len(data) > geo.end:
            raise FlashError(
                f"{image.source}: {len(data):,} B at {address:#010x}-{address + len(data) - 1:#010x} lie outside "
                f"the flash ({geo.origin:#010x}-{geo.end - 1:#010x})"
            )


def plan(image: Image, geo: Geometry) -> Plan:
    check_fits(image, geo)
    unit = max(geo.program_unit, 4)
    blocks: dict[int, bytearray] = {}  # 256-byte-aligned block address -> contents (0xFF where not given)
    given: dict[int, list[int]] = {}  # block -> [first, last) offsets with data
    erase: set[int] = set()
    for address, data in image.chunks:
        first_u = (address - geo.origin) // geo.erase_unit
        last_u = (address + len(data) - 1 - geo.origin) // geo.erase_unit
        erase.update(range(first_u, last_u + 1))
        pos = 0
        while pos < len(data):
            a = address + pos
            blk = a - a % BLOCK
            n = min(len(data) - pos, blk + BLOCK - a)
            buf = blocks.setdefault(blk, bytearray(b"\xff" * BLOCK))
            buf[a - blk : a - blk + n] = data[pos : pos + n]
            lo, hi = given.get(blk, [a - blk, a - blk + n])
            given[blk] = [min(lo, a - blk), max(hi, a - blk + n)]
            pos += n
    out: list[tuple[int, bytes]] = []
    for blk in sorted(blocks):
        lo, hi = given[blk]
        lo -= lo % unit
        hi = -(-hi // unit) * unit
        out.append((blk + lo, bytes(blocks[blk][lo:hi])))
    return Plan(tuple(sorted(erase)), tuple(out))


# --- flashing ------------------------------------------------------------------------------------------


@dataclass
class FlashReport:
    board: str
    chip_id: int
    bootloader_version: int
    image: str
    image_bytes: int
    start: int
    end: int
    erased: list[int]
    erase_unit: str
    erase_unit_bytes: int
    blocks: int
    bytes_written: int
    retries: int = 0
    resyncs: int = 0
    verified: bool = False
    go: int | None = None
    seconds: float = 0.0
    wire_bytes: int = 0  # characters on the line both ways, from the sync on

    def line_seconds(self, baud: int, parity: bool) -> float:
        """The time those characters take on the line: start + 8 data (+ parity) + stop bits each."""
        return self.wire_bytes * (11 if parity else 10) / baud

    def as_dict(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "chip_id": f"{self.chip_id:#05x}",
            "bootloader_version": f"{self.bootloader_version >> 4}.{self.bootloader_version & 0xF}",
            "image": self.image,
            "image_bytes": self.image_bytes,
            "start": f"{self.start:#010x}",
            "end": f"{self.end:#010x}",
            f"erased_{self.erase_unit}s": self.erased,
            f"{self.erase_unit}_bytes": self.erase_unit_bytes,
            "blocks": self.blocks,
            "bytes_written": self.bytes_written,
            "retries": self.retries,
            "resyncs": self.resyncs,
            "verified": self.verified,
            "go": None if self.go is None else f"{self.go:#010x}",
            "seconds": round(self.seconds, 3),
            "wire_bytes": self.wire_bytes,
        }


Step = Callable[[str, int, int], None]  # (phase, done, total): progress of erase / write / verify


def _quiet(_phase: str, _done: int, _total: int) -> None:
    pass


def connect(bl: Bootloader, wait_s: float, hint: Callable[[], None] | None = None) -> None:
    """0x7F until the bootloader answers; `hint` runs once when the first try goes unanswered."""
    deadline = time.monotonic() + wait_s
    hinted = False
    tries = 0
    while True:
        if bl.sync():
            bl.drain()
            return
        tries += 1
        if not hinted and hint is not None:
            hint()
            hinted = True
        if tries == 3:  # two 0x7F without an answer: not in the bootloader yet, or waiting mid-frame
            try:
                if bl.flush_frame():
                    return
            except NoAnswer:
                pass
        if time.monotonic() > deadline:
            raise FlashError(
                f"no answer from the bootloader after {wait_s:g} s: is BOOT0 high, was the board reset, "
                "are the port, baud rate and parity right?"
            )


def flash_image(
    bl: Bootloader,
    board: Board,
    image: Image,
    *,
    verify: bool = True,
    go: bool = False,
    retries: int = 3,
    step: Step = _quiet,
) -> FlashReport:
    """Check the chip, erase what the image covers, write, verify, go. The port must be synchronised."""
    t0 = time.monotonic()
    geo = Geometry.of(board)
    todo = plan(image, geo)
    try:
        version, commands = bl.get()
        missing = [c for c in (CMD_GET_ID, CMD_READ, CMD_WRITE, CMD_EXT_ERASE, CMD_GO) if c not in commands]
        if missing:
            raise FlashError(
                "the bootloader lacks commands " + ", ".join(f"{c:#04x}" for c in missing) + " (AN3155 v3.x needed)"
            )
        version = bl.get_version()
        chip = bl.get_id()
    except (Nack, NoAnswer) as exc:
        raise FlashError(f"the bootloader did not answer Get / Get ID ({type(exc).__name__}: {exc})") from None
    if chip != board.chip_id:
        raise FlashError(
            f"chip ID {chip:#05x} is not {board.name}'s {board.chip_id:#05x} ({board.mcu}); nothing was erased"
        )
    report = FlashReport(
        board=board.name,
        chip_id=chip,
        bootloader_version=version,
        image=image.source,
        image_bytes=image.size,
        start=image.start,
        end=image.end,
        erased=list(todo.erase),
        erase_unit=geo.erase_kind,
        erase_unit_bytes=geo.erase_unit,
        blocks=len(todo.blocks),
        bytes_written=sum(len(d) for _, d in todo.blocks),
    )
    _erase(bl, todo.erase, geo, step)
    total = report.bytes_written
    done = 0
    for address, data in todo.blocks:
        _write_block(bl, address, data, retries, report)
        done += len(data)
        step("write", done, total)
    if verify:
        done = 0
        for address, data in todo.blocks:
            _verify_block(bl, address, data, report)
            done += len(data)
            step("verify", done, total)
        report.verified = True
    if go:
        try:
            bl.go(image.start)
        except (Nack, NoAnswer) as exc:
            raise FlashError(f"Go {image.start:#010x} was refused ({type(exc).__name__})") from None
        report.go = image.start
    report.seconds = time.monotonic() - t0
    report.wire_bytes = bl.wire_bytes
    return report


def _erase(bl: Bootloader, units: tuple[int, ...], geo: Geometry, step: Step) -> None:
    per_unit_s = 0.1 if geo.erase_kind == "page" else 4.0  # L4 page: 22-25 ms; H7 sector: up to ~4 s
    done = 0
    for i in range(0, len(units), 64):
        batch = list(units[i : i + 64])
        try:
            bl.extended_erase(batch, timeout_s=2.0 + per_unit_s * len(batch))
        except (Nack, NoAnswer) as exc:
            raise FlashError(
                f"Extended Erase of {geo.erase_kind}s {batch[0]}-{batch[-1]} failed ({type(exc).__name__}): "
                "write-protected, or out of range for this chip?"
            ) from None
        done += len(batch)
        step("erase", done, len(units))


def _recover(bl: Bootloader, report: FlashReport) -> None:
    report.resyncs += 1
    if not bl.resync():
        raise FlashError("lost the bootloader: no answer even after a resynchronisation")


def _write_block(bl: Bootloader, address: int, data: bytes, retries: int, report: FlashReport) -> None:
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            report.retries += 1
            try:  # did the failed attempt program the block after all (a lost ACK)?
                now = bl.read_memory(address, len(data))
            except (Nack, NoAnswer):
                _recover(bl, report)
                now = None
            if now == data:
                return
            if now is not None and now != b"\xff" * len(data):
                raise FlashError(
                    f"write at {address:#010x} failed ({last}) and left other data there; flash the image again"
                )
        try:
            bl.write_memory(address, data)
            return
        except Nack:
            last = "NACK"
        except NoAnswer:
            last = "no answer"
            _recover(bl, report)
    raise FlashError(f"write of {len(data)} B at {address:#010x} failed after {retries + 1} attempts ({last})")


def _verify_block(bl: Bootloader, address: int, data: bytes, report: FlashReport) -> None:
    back = b""
    for _ in range(2):  # a second read tells a line error from flash that holds other data
        try:
            back = bl.read_memory(address, len(data))
        except (Nack, NoAnswer) as exc:
            if isinstance(exc, NoAnswer):
                _recover(bl, report)
            continue
        if back == data:
            return
    if len(back) != len(data):
        raise FlashError(f"verify: the read of {len(data)} B at {address:#010x} failed twice")
    i = next(k for k in range(len(data)) if back[k] != data[k])
    raise FlashError(f"verify failed at {address + i:#010x}: wrote {data[i]:#04x}, read back {back[i]:#04x} (twice)")
