"""QEMU runner: a board image (or its twin build) on a QEMU machine, the console UART on a local socket.

The runner is data (`QemuRunner`): machine, ELF, which `-serial` slot the console takes, timeout. Every
run uses `-icount shift=0` (one instruction = 1 ns of virtual time), so SysTick counts instructions
exactly and repeatably. Semihosting is enabled so that simulator-only (twin) builds can report an exit
code; board images end through the link and the runner stops QEMU.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import ClassVar

from ..boards import Board, QemuEntry
from ..errors import RunError, TinyodlError, ToolMissingError
from ..link import Link, SerialTransport, Transport
from .base import CounterModel, LinkedSession, Placement, Wrap

QEMU_BINARY = "qemu-system-arm"
APT_QEMU = "apt-get install --no-install-recommends qemu-system-arm"
APT_QEMU_BACKPORTS = (
    "apt-get install --no-install-recommends -t bookworm-backports qemu-system-arm "
    "(QEMU >= 9 models the STM32L4 board; scripts/setup.sh adds the backports source)"
)


@dataclass(frozen=True)
class QemuInfo:
    binary: str
    version: tuple[int, ...]
    machines: frozenset[str]

    @property
    def version_text(self) -> str:
        return ".".join(str(v) for v in self.version)


@cache
def qemu_info(binary: str = QEMU_BINARY) -> QemuInfo:
    path = shutil.which(binary)
    if path is None:
        raise ToolMissingError(f"{binary} not found; install it with: {APT_QEMU}")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"version (\d+)\.(\d+)\.(\d+)", out)
    version = tuple(int(x) for x in m.groups()) if m else (0,)
    listing = subprocess.run([path, "-M", "help"], capture_output=True, text=True, timeout=30).stdout
    machines = frozenset(line.split()[0] for line in listing.splitlines()[1:] if line.strip())
    return QemuInfo(binary=path, version=version, machines=machines)


def select_entry(board: Board, info: QemuInfo) -> QemuEntry:
    """The first QEMU entry of the board file that this QEMU can run (the board image is listed first)."""
    if not board.qemu:
        raise ToolMissingError(f"board {board.name} has no QEMU machine in {board.path}")
    for entry in board.qemu:
        if entry.machine in info.machines and info.version >= entry.min_version:
            return entry
    wanted = ", ".join(f"{e.machine} (QEMU >= {'.'.join(map(str, e.min_version))})" for e in board.qemu)
    raise ToolMissingError(
        f"QEMU {info.version_text} has none of the machines {board.name} runs on: {wanted}; "
        f"install a newer QEMU: {APT_QEMU_BACKPORTS}"
    )


def twin_note(board: Board, entry: QemuEntry) -> str:
    if entry.image == "board":
        return f"the {board.name} image itself runs on QEMU's {entry.machine}"
    return (
        f"twin build: {board.name}'s core ({board.cpu}), compiler flags and memory budget on QEMU's "
        f"{entry.machine}, with that machine's memory map and UART (no QEMU models the {board.mcu})"
    )


class QemuSimulator:
    """The QEMU backend: places a board on the first machine of its board file this QEMU has."""

    name = "qemu"

    def __init__(self, binary: str = QEMU_BINARY) -> None:
        self.binary = binary

    def place(self, board: Board, machine: str | None = None) -> Placement:
        info = qemu_info(self.binary)
        entry = select_entry(board, info) if machine is None else _named_entry(board, info, machine)
        per_tick = 1e9 / entry.systick_hz  # -icount shift=0: one instruction per nanosecond
        counter = CounterModel(
            source="systick",
            instructions_per_tick=per_tick,
            description=(
                f"SysTick at {entry.systick_hz / 1e6:g} MHz under -icount shift=0: "
                f"{per_tick:g} instructions per tick, exact and repeatable"
            ),
        )
        return Placement(
            simulator="qemu",
            simulator_version=info.version_text,
            machine=entry.machine,
            image=entry.image,
            target=entry.twin or board.target,
            counter=counter,
            note=twin_note(board, entry),
            serial_index=entry.serial_index,
        )

    def session(
        self, placement: Placement, elf: Path, timeout_s: float, wrap: Wrap | None = None
    ) -> AbstractContextManager[QemuSession]:
        runner = QemuRunner(
            machine=placement.machine,
            elf=elf,
            serial_index=placement.serial_index,
            timeout_s=timeout_s,
            binary=self.binary,
        )
        return runner.session(wrap)


def _named_entry(board: Board, info: QemuInfo, machine: str) -> QemuEntry:
    for entry in board.qemu:
        if entry.machine == machine:
            if machine not in info.machines or info.version < entry.min_version:
                raise ToolMissingError(f"QEMU {info.version_text} cannot run machine {machine}")
            return entry
    known = ", ".join(e.machine for e in board.qemu)
    raise TinyodlError(f"board {board.name} does not run on QEMU machine {machine!r}; its machines: {known}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class QemuRunner:
    """How to run one ELF on one QEMU machine."""

    machine: str
    elf: Path
    serial_index: int = 0
    timeout_s: float = 120.0
    binary: str = QEMU_BINARY
    extra_args: tuple[str, ...] = ()

    def command(self, port: int) -> list[str]:
        serial: list[str] = []
        for _ in range(self.serial_index):
            serial += ["-serial", "null"]
        serial += ["-serial", "chardev:link"]
        return [
            self.binary,
            "-M", self.machine,
            "-kernel", str(self.elf),
            "-icount", "shift=0",
            "-display", "none",
            "-monitor", "none",
            "-nodefaults",
            "-chardev", f"socket,id=link,host=127.0.0.1,port={port},server=on,wait=on,nodelay=on",
            *serial,
            "-semihosting-config", "enable=on,target=native",
            *self.extra_args,
        ]  # fmt: skip

    @contextmanager
    def session(self, wrap: Callable[[Transport], Transport] | None = None) -> Iterator[QemuSession]:
        """Start QEMU and connect the link; `wrap` may interpose on the byte stream (fault injection)."""
        sess = QemuSession.start(self, wrap)
        try:
            yield sess
        finally:
            sess.stop()


@dataclass
class QemuSession(LinkedSession):
    """A running QEMU with the link connected. Enforces the wall-clock timeout with a watchdog."""

    label: ClassVar[str] = "QEMU"
    runner: QemuRunner
    proc: subprocess.Popen[bytes]
    link: Link
    transport: SerialTransport
    started: float
    timed_out: threading.Event = field(default_factory=threading.Event)
    _watchdog: threading.Timer | None = None
    exit_code: int | None = None

    @classmethod
    def start(cls, runner: QemuRunner, wrap: Callable[[Transport], Transport] | None = None) -> QemuSession:
        last_error = ""
        for _attempt in range(5):  # a port taken between choosing and binding: choose another
            port = _free_port()
            proc = subprocess.Popen(  # its own session: Ctrl-C at the terminal reaches the host, which ends the run
                runner.command(port), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,
            )  # fmt: skip
            transport = _connect(proc, port)
            if transport is not None:
                link = Link(wrap(transport) if wrap else transport)
                sess = cls(runner=runner, proc=proc, link=link, transport=transport, started=time.monotonic())
                sess._arm_watchdog()
                return sess
            _, err = proc.communicate(timeout=10) if proc.poll() is not None else (b"", b"")
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            last_error = err.decode(errors="replace").strip()
            if "Address already in use" not in last_error and "Failed to bind" not in last_error:
                break
        raise RunError(f"QEMU did not start ({' '.join(runner.command(0)[:4])} ...): {last_error or 'no output'}")

    def _arm_watchdog(self) -> None:
        def expire() -> None:
            self.timed_out.set()
            if self.proc.poll() is None:
                self.proc.kill()

        self._watchdog = threading.Timer(self.runner.timeout_s, expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _wait_exit(self, timeout_s: float = 2.0) -> None:
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass

    def _check(self) -> None:
        if self.timed_out.is_set():
            raise RunError(f"timeout: the run took longer than {self.runner.timeout_s:.0f} s", self.log())
        code = self.proc.poll()
        if code is not None:
            self.exit_code = code
            raise RunError(f"QEMU exited with code {code} before the run ended", self.log())

    def log(self) -> str:
        raw = bytes(self.link.raw_log)
        tail = raw[-512:]
        lines = [
            f"{len(raw)} bytes received from the console UART (framed link); last {len(tail)}:",
            tail.hex(" ") if tail else "(nothing)",
            f"link: {self.link.retransmissions} retransmissions, {self.link.duplicates} duplicates",
        ]
        if self.proc.poll() is not None and self.proc.stderr is not None:
            err = self.proc.stderr.read().decode(errors="replace").strip()
            if err:
                lines.append(f"QEMU stderr: {err[-2000:]}")
        return "\n".join(lines)

    def stop(self, grace_s: float = 0.0) -> int | None:
        """Stop QEMU (after `grace_s` for a twin build to exit by itself). Returns its exit code."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if grace_s > 0:
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            self.transport.close()
        except OSError:
            pass
        self.exit_code = self.proc.returncode
        return self.exit_code


def _connect(proc: subprocess.Popen[bytes], port: int, timeout_s: float = 10.0) -> SerialTransport | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            return SerialTransport(f"socket://127.0.0.1:{port}")
        except Exception:  # noqa: BLE001 - pyserial raises SerialException/OSError while QEMU starts
            time.sleep(0.02)
    return None
