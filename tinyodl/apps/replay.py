"""Host side of the latent-replay application (firmware/apps/replay/main.c, docs/apps.md)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import RunError
from ..learn.replay import ReplayParams
from .protocol import Channel, expect

MSG_RINFO = 0x60
MSG_RPARAM = 0x61
MSG_RLOAD = 0x62
MSG_WINDOW = 0x63
MSG_RADD = 0x64
MSG_RTRAIN = 0x65
MSG_RPRED = 0x66
MSG_RREAD = 0x67
MSG_RDATA = 0x68
CHUNK = 1016


@dataclass(frozen=True)
class ReplayInfo:
    features: int
    classes: int
    current: int
    buffer: int
    batch: int
    input_bytes: int
    hash32: int
    learner_bytes: int


@dataclass(frozen=True)
class TrainReply:
    status: int
    loss: float
    steps: int
    rows_updated: int
    buffer_count: int
    train_ticks: int
    buffer_ticks: int


class ReplayDriver:
    def __init__(self, channel: Channel) -> None:
        self.ch = channel

    def info(self) -> ReplayInfo:
        f, c, cur, buf, batch, _, inb, h, lb = struct.unpack("<6HIII", self._ask(MSG_RINFO, b""))
        return ReplayInfo(f, c, cur, buf, batch, inb, h, lb)

    def _ask(self, msg_type: int, payload: bytes, reply: int | None = None, timeout_s: float = 60.0) -> bytes:
        self.ch.send(msg_type, payload)
        return expect(self.ch, msg_type if reply is None else reply, timeout_s)

    def params(self, p: ReplayParams) -> None:
        flags = (1 if p.replay else 0) | (2 if p.tinyprop else 0)
        payload = struct.pack("<fffHBBI", p.lr, p.momentum, p.weight_decay, p.epochs, flags, 0, p.seed)
        if self._ask(MSG_RPARAM, payload)[0] != 0:
            raise RunError("the replay learner refused its parameters", self.ch.log())

    def load_head(self, w: np.ndarray, b: np.ndarray, w1: np.ndarray | None = None,
                  b1: np.ndarray | None = None) -> None:  # fmt: skip
        """The output layer (w, b) and, with a hidden layer, its (w1, b1)."""
        tensors = [(0, w), (1, b)] + ([] if w1 is None or b1 is None else [(4, w1), (5, b1)])
        for which, tensor in tensors:
            raw = np.ascontiguousarray(tensor, np.float32).tobytes()
            for offset in range(0, len(raw), CHUNK):
                self._ask(MSG_RLOAD, struct.pack("<BBHI", which, 0, 0, offset) + raw[offset : offset + CHUNK])

    def window(self, data: bytes) -> None:
        for offset in range(0, len(data), CHUNK):
            self._ask(MSG_WINDOW, struct.pack("<I", offset) + data[offset : offset + CHUNK])

    def add(self, label: int, latent: np.ndarray | None = None) -> int:
        """The window's latent (or a latent the device gave before) joins the current experience; returns
        the frozen stage's ticks (0 for a given latent)."""
        extra = b"" if latent is None else np.ascontiguousarray(latent).tobytes()
        _, _, _, ticks = struct.unpack("<BBHQ", self._ask(MSG_RADD, bytes([label]) + extra))
        return int(ticks)

    def train(self) -> TrainReply:
        status, loss, steps, rows, count, _, t_train, t_buf = struct.unpack(
            "<ifIIHHQQ", self._ask(MSG_RTRAIN, b"", timeout_s=600.0))  # fmt: skip
        return TrainReply(status, loss, steps, rows, count, t_train, t_buf)

    def predict(self, latent: np.ndarray | None = None, dtype: type = np.int8) -> tuple[int, np.ndarray, int, int]:
        """(class, latent, frozen-stage ticks, head ticks) for the window sent before, or a given latent;
        `dtype`: the latents' type (int8, or float32 from a float32 stage)."""
        payload = b"" if latent is None else np.ascontiguousarray(latent, dtype).tobytes()
        reply = self._ask(MSG_RPRED, payload)
        label, _, frozen, head = struct.unpack_from("<hHQQ", reply)
        return label, np.frombuffer(reply[20:], dtype).copy(), int(frozen), int(head)

    def read(self, what: int, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            n = min(1024, size - len(out))
            out += self._ask(MSG_RREAD, struct.pack("<BBHI", what, 0, n, len(out)), MSG_RDATA)
        return bytes(out)

    def head(self, classes: int, features: int) -> tuple[np.ndarray, np.ndarray]:
        w = np.frombuffer(self.read(0, classes * features * 4), np.float32).reshape(classes, features)
        return w.copy(), np.frombuffer(self.read(1, classes * 4), np.float32).copy()
