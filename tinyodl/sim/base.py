"""What every simulator backend provides: where a board's image runs, and a session to talk to it.

A backend places a board (`Placement`: machine, board image or twin build, how measurement ticks turn into
instructions) and opens a `Session` on a built ELF: the framed link to the firmware plus the simulator's
log for error messages. The runner (tinyodl/runner.py) is the same for every backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from serial import SerialException

from ..boards import Board, Target
from ..errors import RunError
from ..link import Link, LinkError, Transport


@dataclass(frozen=True)
class CounterModel:
    """How the firmware's measurement ticks relate to executed instructions on this simulator."""

    source: str  # the counter the firmware must report: "systick" or "dwt"
    instructions_per_tick: float  # exact conversion
    description: str
    # How far a difference of two measured windows may be off, in ticks: 2 where each end of a window is
    # quantised to a tick (SysTick), 0 where the counter reads the exact instruction (Renode's DWT).
    check_tolerance_ticks: int = 2


@dataclass(frozen=True)
class Placement:
    simulator: str  # "qemu", "renode"
    simulator_version: str
    machine: str  # QEMU machine, or Renode platform description
    image: str  # "board" (the board's own image) or "twin"
    target: Target  # what the image is built for
    counter: CounterModel
    note: str
    serial_index: int = 0  # QEMU: the -serial slot of the console UART


class Session(Protocol):
    link: Link

    def send(self, msg_type: int, payload: bytes, reply_types: Collection[int] = ()) -> None: ...

    def recv(self, timeout_s: float) -> tuple[int, bytes]: ...

    def log(self) -> str: ...


Wrap = Callable[[Transport], Transport]


class LinkedSession:
    """Message exchange with a simulated board, shared by the backends. A backend provides `link`, `label`
    (its name in messages), `log()`, `_check()` (raises a RunError when the simulator died or timed out)
    and `_wait_exit()` (gives a dying simulator a moment to report its exit)."""

    link: Link
    label: ClassVar[str] = "the simulator"

    def log(self) -> str:
        raise NotImplementedError

    def _check(self) -> None:
        raise NotImplementedError

    def _wait_exit(self, timeout_s: float = 2.0) -> None:
        raise NotImplementedError

    def recv(self, timeout_s: float) -> tuple[int, bytes]:
        """Next message from the firmware; a dead simulator or the watchdog end it with a RunError."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.link.recv(min(0.2, max(0.0, deadline - time.monotonic())))
            except LinkError:
                pass
            except (SerialException, OSError) as exc:
                self._wait_exit()
                self._check()
                raise RunError(f"link to {self.label} lost: {exc}", self.log()) from None
            self._check()
            if time.monotonic() >= deadline:
                raise RunError(f"no message from the firmware within {timeout_s:.0f} s", self.log())

    def send(self, msg_type: int, payload: bytes, reply_types: Collection[int] = ()) -> None:
        try:
            self.link.send(msg_type, payload, reply_types)
        except LinkError as exc:
            self._check()
            raise RunError(f"link: {exc}", self.log()) from None
        except (SerialException, OSError) as exc:
            self._wait_exit()
            self._check()
            raise RunError(f"link to {self.label} lost: {exc}", self.log()) from None


class Simulator(Protocol):
    name: str

    def place(self, board: Board, machine: str | None = None) -> Placement: ...

    def session(
        self, placement: Placement, elf: Path, timeout_s: float, wrap: Wrap | None = None
    ) -> AbstractContextManager[Session]: ...
