"""What every simulator backend provides: where a board's image runs, and a session to talk to it.

A backend places a board (`Placement`: machine, board image or twin build, how measurement ticks turn into
instructions) and opens a `Session` on a built ELF: the framed link to the firmware plus the simulator's
log for error messages. The runner (tinyodl/runner.py) is the same for every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..boards import Board, Target
from ..link import Link, Transport


@dataclass(frozen=True)
class CounterModel:
    """How the firmware's measurement ticks relate to executed instructions on this simulator."""

    source: str  # the counter the firmware must report: "systick" or "dwt"
    instructions_per_tick: float  # exact conversion
    description: str


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


class Simulator(Protocol):
    name: str

    def place(self, board: Board, machine: str | None = None) -> Placement: ...

    def session(
        self, placement: Placement, elf: Path, timeout_s: float, wrap: Wrap | None = None
    ) -> AbstractContextManager[Session]: ...
