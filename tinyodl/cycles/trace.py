"""Per-block execution counts of the measured windows, from QEMU's execution log.

QEMU runs the firmware with `-d in_asm,exec,nochain`: `in_asm` prints each translation block (TB) once,
with the guest address of every instruction in it, when it is translated; `exec` prints a `Trace` line
each time a TB starts executing, naming it by its host code pointer; `nochain` makes every TB go through
that print (chained TBs would jump from one to the next unseen). So the log is the exact sequence of
blocks the core executed, and the block after a block ending in a branch says whether it was taken.

Two lines amend the one before them: `Stopped execution of TB chain before P` (the TB did not run: an
exit request arrived first) and `cpu_io_recompile: rewound execution of TB to A` (under -icount a device
access in the middle of a TB ends it there: only the instructions before A ran, then a new TB starts at
A). The reader applies both, so the counts are those of the instructions that executed.

Windows: the firmware measures a region with tl_measure_begin()/tl_measure_end(). A window opens at the
first block back in the function that called tl_measure_begin and closes at the entry of tl_measure_end,
so it holds what the firmware measured except the few instructions of the two calls themselves.

The log goes through a named pipe to a reader process (nothing is written to disk), about 90 bytes per
executed block (42 MB for a run that executed 4.8 M instructions), parsed as it arrives. The link and
console code is filtered out of it (`log_ranges`).
"""

from __future__ import annotations

import bisect
import multiprocessing
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ..errors import RunError

BlockKey = tuple[int, int]  # (start address, instructions)
BEGIN_SYMBOL = "tl_measure_begin"
END_SYMBOL = "tl_measure_end"


@dataclass
class BlockCount:
    executions: int = 0
    taken: int = 0  # executions after which the next block did not start at this block's end
    flips: int = 0  # executions whose direction differed from this block's previous one (first: vs not taken)


@dataclass
class Window:
    """The blocks executed in one measured window, and the function that measured it."""

    caller: str
    blocks: dict[BlockKey, BlockCount] = field(default_factory=dict)

    def instructions(self) -> int:
        return sum(n * c.executions for (_, n), c in self.blocks.items())


@dataclass(frozen=True)
class Functions:
    """Function symbols of an ELF: where each starts and ends (Thumb bit cleared)."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    names: tuple[str, ...]
    by_name: dict[str, int]

    @classmethod
    def of(cls, elf: Path) -> Functions:
        found: list[tuple[int, int, str]] = []
        with open(elf, "rb") as fh:
            for section in ELFFile(fh).iter_sections():
                if not isinstance(section, SymbolTableSection):
                    continue
                for sym in section.iter_symbols():
                    if sym["st_info"]["type"] == "STT_FUNC" and sym["st_shndx"] != "SHN_UNDEF":
                        start = int(sym["st_value"]) & ~1
                        found.append((start, start + max(int(sym["st_size"]), 2), sym.name))
        found.sort()
        return cls(
            starts=tuple(f[0] for f in found),
            ends=tuple(f[1] for f in found),
            names=tuple(f[2] for f in found),
            by_name={f[2]: f[0] for f in found},
        )

    def index(self, pc: int) -> int:
        i = bisect.bisect_right(self.starts, pc) - 1
        return i if i >= 0 and pc < self.ends[i] else -1

    def address(self, name: str) -> int:
        if name not in self.by_name:
            raise RunError(f"the firmware has no function {name}: its measured windows cannot be found")
        return self.by_name[name]


class LogReader:
    """Parses QEMU's in_asm + exec (nochain) log into per-window block counts."""

    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self.begin = functions.address(BEGIN_SYMBOL)
        self.end = functions.address(END_SYMBOL)
        self.windows: list[Window] = []
        self.blocks_seen = 0
        self._by_ptr: dict[str, BlockKey] = {}
        self._addresses: dict[BlockKey, tuple[int, ...]] = {}
        self._direction: dict[BlockKey, bool] = {}
        self._pending: list[int] = []  # the addresses of the TB being read from an IN: section
        self._pending_end = 0
        self._ends: dict[BlockKey, int] = {}  # the address after each block's last instruction
        self._reading_in = False
        self._last: BlockKey | None = None  # the TB announced last; committed when the next one starts
        self._last_window: Window | None = None
        self._last_ptr = ""
        self._state = 0  # 0: outside, 1: inside tl_measure_begin, 2: in a window
        self._caller = -1  # the function that called tl_measure_begin

    def addresses(self, key: BlockKey) -> tuple[int, ...]:
        return self._addresses[key]

    def drop_state(self) -> None:
        """Forget what only parsing needs (host pointers, pending text), keeping the counts and blocks."""
        self._by_ptr = {}
        self._pending = []

    def feed(self, lines: Iterable[str]) -> None:
        for line in lines:
            if line.startswith("Trace "):
                self._reading_in = False
                self._trace(line)
            elif self._reading_in and line.startswith("0x"):
                address = int(line[2:10], 16)
                self._pending.append(address)
                self._pending_end = address + (4 if line[18:19] not in (" ", "") else 2)
            elif line.startswith("IN:"):
                self._reading_in = True
                self._pending = []
            elif line.startswith("Stopped execution of TB chain"):
                if line.split(None, 7)[6] == self._last_ptr:
                    self._last = None  # that TB did not run
            elif line.startswith("cpu_io_recompile: rewound execution of TB to"):
                self._rewound(int(line.rsplit(" ", 1)[1], 16))

    def finish(self) -> None:
        if self._last is not None:
            self._commit(self._last, None)
            self._last = None

    def _rewound(self, address: int) -> None:
        if self._last is None:
            return
        addrs = self._addresses[self._last]
        if not addrs[0] <= address <= addrs[-1]:
            return  # a block the filter left out of the log
        ran = sum(1 for a in addrs if a < address)
        if ran == 0:
            self._last = None
            return
        key = (addrs[0], ran)
        self._addresses.setdefault(key, addrs[:ran])
        self._ends.setdefault(key, address)
        self._last = key

    def _trace(self, line: str) -> None:
        parts = line.split(None, 4)
        ptr = parts[2]
        pc = int(parts[3].split("/", 2)[1], 16)
        pending = self._pending
        if pending and pending[0] == pc:
            key = (pc, len(pending))
            self._addresses.setdefault(key, tuple(pending))
            self._ends.setdefault(key, self._pending_end)
            self._by_ptr[ptr] = key
            self._pending = []
        key_now = self._by_ptr.get(ptr)
        if key_now is None or key_now[0] != pc:
            raise RunError(f"QEMU's log names a block at {pc:#x} whose instructions it did not list")
        if self._last is not None:
            self._commit(self._last, pc)
        self._step(pc)
        self._last = key_now
        self._last_ptr = ptr
        self._last_window = self.windows[-1] if self._state == 2 else None

    def _step(self, pc: int) -> None:
        """The window state machine, on the start address of the block about to run."""
        if pc == self.begin:
            self._caller = self.functions.index(self._last[0]) if self._last is not None else -1
            self._state = 1
        elif pc == self.end and self._state == 2:
            self._state = 0
        elif self._state == 1 and self._caller >= 0 and self.functions.index(pc) == self._caller:
            self._state = 2
            self.windows.append(Window(caller=self.functions.names[self._caller]))

    def _commit(self, key: BlockKey, next_pc: int | None) -> None:
        self.blocks_seen += 1
        window = self._last_window
        taken = next_pc is not None and next_pc != self._ends[key]
        flipped = taken != self._direction.get(key, False)
        self._direction[key] = taken
        if window is None:
            return
        count = window.blocks.get(key)
        if count is None:
            count = window.blocks[key] = BlockCount()
        count.executions += 1
        count.taken += taken
        count.flips += flipped


# The link and the console: they run while the host talks to the firmware, never inside a measured window
# (a byte received during a window makes the host measure it again). Left out of the log (-dfilter), they no
# longer slow QEMU down while inputs arrive: logged, the reader's pace would hold up the link's ACKs.
UNLOGGED_PREFIXES = ("tl_console_", "io_", "tl_link_", "tl_frame_", "tl_cobs_", "tl_crc32", "tl_session_")


def log_ranges(functions: Functions) -> str:
    """QEMU's -dfilter argument: every address but the functions of UNLOGGED_PREFIXES."""
    skipped = sorted((lo, hi) for lo, hi, name in zip(functions.starts, functions.ends, functions.names, strict=True)
                     if name.startswith(UNLOGGED_PREFIXES))  # fmt: skip
    ranges = []
    at = 0
    for lo, hi in skipped:
        if lo > at:
            ranges.append(f"{at:#x}..{lo - 1:#x}")
        at = max(at, hi)
    ranges.append(f"{at:#x}..0xffffffff")
    return ",".join(ranges)


def _read_log(functions: Functions, fifo: str, conn: Connection) -> None:
    """The reader process: parse the log from the pipe to its end, send back the reader (or the error)."""
    reader = LogReader(functions)
    try:
        with open(fifo, encoding="utf-8", errors="replace") as fh:
            try:
                reader.feed(fh)
                reader.finish()
            except Exception as exc:  # noqa: BLE001 - reported to the parent; the pipe is drained so QEMU ends
                conn.send(("error", str(exc)))
                for _ in fh:
                    pass
                return
    except OSError as exc:
        conn.send(("error", str(exc)))
        return
    reader.drop_state()
    conn.send(("ok", reader))


@dataclass
class Collector:
    """A named pipe QEMU logs into and the process that reads it (a process of its own, so that parsing
    never holds up this one's link to the firmware). `args()` are QEMU's extra arguments."""

    functions: Functions
    fifo: Path
    process: BaseProcess | None = None
    conn: Connection | None = None
    reader: LogReader | None = None

    def args(self) -> tuple[str, ...]:
        return ("-d", "in_asm,exec,nochain", "-D", str(self.fifo), "-dfilter", log_ranges(self.functions))

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        self.conn = parent
        self.process = ctx.Process(target=_read_log, args=(self.functions, str(self.fifo), child), daemon=True)
        self.process.start()
        child.close()

    def join(self, timeout_s: float = 120.0) -> LogReader:
        """After QEMU stopped: the reader with every window's counts."""
        assert self.conn is not None and self.process is not None
        if not self.conn.poll(timeout_s):
            raise RunError("QEMU's execution log was not read to its end")
        try:
            kind, payload = self.conn.recv()
        except EOFError:
            raise RunError("the reader of QEMU's execution log ended without a result") from None
        self.process.join(10.0)
        if kind != "ok":
            raise RunError(f"reading QEMU's execution log failed: {payload}")
        self.reader = payload
        return payload


@contextmanager
def collector(elf: Path) -> Iterator[Collector]:
    """A collector for a run of `elf`; start it before QEMU starts, join it after QEMU stopped."""
    functions = Functions.of(elf)
    LogReader(functions)  # the measurement functions must exist before anything runs
    with tempfile.TemporaryDirectory(prefix="tinyodl-exec-") as tmp:
        fifo = Path(tmp) / "exec.log"
        os.mkfifo(fifo)
        col = Collector(functions=functions, fifo=fifo)
        col.start()
        try:
            yield col
        finally:
            proc = col.process
            if proc is not None and proc.is_alive():
                try:  # unblock a reader still waiting for a writer (QEMU never started)
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass
                proc.join(5.0)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(5.0)
            if col.conn is not None:
                col.conn.close()
