"""Scripted link exchanges for Renode's Robot Framework suites (renode/tests/*.robot).

A Robot test cannot run the host's link code, so tinyodl writes down, in advance, the exact bytes of one
conversation with a firmware image: the frames to send and the frames to wait for, each acknowledgement
included. `renode/tests/model.robot` plays such a script against a generated model: it sends an input
window, runs the model, reads the output back and waits for the DATA frame that carries the numpy
reference's output, byte for byte. The script goes into a YAML variable file next to the ELF, with the
platform and console UART, so that `renode-test renode/tests/model.robot --variable VARIABLES:FILE` is the
whole command.

Frames whose payload holds a measurement (DONE carries tick counts) are waited for up to the first byte
the measurement can change: the COBS blocks that end before it are fixed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..apps.model import CHUNK, MSG_DATA, MSG_DONE, MSG_INFO, MSG_INPUT, MSG_INVOKE, MSG_READ
from ..apps.protocol import MSG_HELLO, PROTOCOL_VERSION, Hello
from ..boards import Board
from ..codegen.lower import LoweredModel
from ..link import TYPE_ACK, cobs_encode, encode_frame

READ_CHUNK = 1024  # what the host's model driver reads per READ


def spaced(data: bytes) -> str:
    return data.hex(" ")


@dataclass
class Exchange:
    """A conversation over the framed link, as ("send" | "wait", hex bytes) steps; stop-and-wait numbering
    (each side numbers its own frames from 0, an ACK carries the number of the frame it acknowledges)."""

    steps: list[tuple[str, str]] = field(default_factory=list)
    host_seq: int = 0
    firmware_seq: int = 0

    def _send(self, data: bytes) -> None:
        self.steps.append(("send", spaced(data)))

    def _wait(self, data: bytes) -> None:
        self.steps.append(("wait", spaced(data)))

    def request(self, msg_type: int, payload: bytes) -> None:
        """Send a frame and wait for the firmware's acknowledgement of it."""
        self._send(encode_frame(msg_type, self.host_seq, payload))
        self._wait(encode_frame(TYPE_ACK, self.host_seq, b""))
        self.host_seq = (self.host_seq + 1) & 0xFF

    def reply(self, msg_type: int, payload: bytes) -> None:
        """Wait for the firmware's frame with exactly this payload, then acknowledge it."""
        self._wait(encode_frame(msg_type, self.firmware_seq, payload))
        self._acknowledge()

    def reply_starting(self, msg_type: int, payload_prefix: bytes) -> None:
        """Wait for the firmware's frame whose payload starts with `payload_prefix` (which must end in a zero
        byte, so that its COBS blocks are complete), then acknowledge it."""
        body = bytes((msg_type, self.firmware_seq)) + payload_prefix
        if not body.endswith(b"\0"):
            raise ValueError("a frame prefix to wait for must end in a zero byte")
        self._wait(cobs_encode(body)[:-1])  # the last code byte belongs to the block that follows
        self._acknowledge()

    def _acknowledge(self) -> None:
        self._send(encode_frame(TYPE_ACK, self.firmware_seq, b""))
        self.firmware_seq = (self.firmware_seq + 1) & 0xFF


def model_exchange(board: Board, model: LoweredModel, app: str, x: np.ndarray, expected: np.ndarray) -> Exchange:
    """HELLO; INFO; the input window in INPUT chunks; INVOKE (DONE up to its tick counts); the output read
    back in READ chunks, each DATA frame holding the expected output bytes."""
    ex = Exchange()
    hello = Hello(PROTOCOL_VERSION, "dwt", False, board.target.reset_clock_hz, board.stack_bytes, app, board.name)
    ex.reply(MSG_HELLO, hello.encode())
    in_bytes, out_bytes = model.nbytes(model.input), model.nbytes(model.output)
    ex.request(MSG_INFO, b"")
    info = struct.pack("<5I", in_bytes, out_bytes, model.plan.arena_bytes, len(model.layers), model.hash32)
    ex.reply(MSG_INFO, info)
    data = np.ascontiguousarray(x).tobytes()
    if len(data) != in_bytes:
        raise ValueError(f"the input window has {len(data)} bytes, the model takes {in_bytes}")
    for offset in range(0, len(data), CHUNK):
        ex.request(MSG_INPUT, struct.pack("<I", offset) + data[offset : offset + CHUNK])
        ex.reply(MSG_INPUT, b"\0")
    ex.request(MSG_INVOKE, struct.pack("<BBH", 0, 0, 0))
    ex.reply_starting(MSG_DONE, struct.pack("<iHH", 0, len(model.layers), 0))
    want = np.ascontiguousarray(expected).tobytes()
    if len(want) != out_bytes:
        raise ValueError(f"the expected output has {len(want)} bytes, the model gives {out_bytes}")
    for offset in range(0, len(want), READ_CHUNK):
        n = min(READ_CHUNK, len(want) - offset)
        ex.request(MSG_READ, struct.pack("<BBHIH", 0, 0, 0, offset, n))
        ex.reply(MSG_DATA, want[offset : offset + n])
    return ex


def write_variables(path: Path, board: Board, platform: Path, elf: Path, exchange: Exchange,
                    extra: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """The YAML variable file of a Robot suite: board, platform, console, ELF and the exchange."""
    assert board.renode is not None
    variables: dict[str, Any] = {
        "BOARD": board.name,
        "PLATFORM": str(platform),
        "CONSOLE": board.renode.console,
        "ELF": str(elf),
        "EXCHANGE": [list(step) for step in exchange.steps],
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    banner = "# generated by tinyodl for renode/tests/model.robot - do not edit\n"
    path.write_text(banner + yaml.safe_dump(variables, sort_keys=False, width=1_000_000))
    return path
