"""Host side of the training-primitive application (firmware/apps/train/main.c, docs/apps.md)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..toolchain.project import AppSpec
from .protocol import MEASURE_ATTEMPTS, Channel, expect

APP = AppSpec(name="train", libraries=("kernels", "learn"))

MSG_TLOAD = 0x50
MSG_TRUN = 0x51
MSG_TREAD = 0x52
MSG_TDATA = 0x53
CHUNK = 1016
SLOT_BYTES = 4096
SLOTS = {"x": 0, "w": 1, "b": 2, "dy": 3, "r0": 4, "r1": 5, "v": 6, "labels": 7}
OPS = {"forward": 0, "weight_grad": 1, "input_grad": 2, "relu_backward": 3, "softmax_xent": 4, "sgd": 5}


@dataclass(frozen=True)
class RunReply:
    status: int
    loss: float
    ticks: int


class TrainDriver:
    def __init__(self, channel: Channel) -> None:
        self.ch = channel

    def load(self, slot: str, data: np.ndarray) -> None:
        raw = np.ascontiguousarray(data).tobytes()
        if len(raw) > SLOT_BYTES:
            raise ValueError(f"{len(raw)} bytes do not fit a {SLOT_BYTES}-byte slot")
        for offset in range(0, len(raw), CHUNK):
            self.ch.send(MSG_TLOAD, struct.pack("<BBHI", SLOTS[slot], 0, 0, offset) + raw[offset : offset + CHUNK])
            expect(self.ch, MSG_TLOAD)

    def run(self, op: str, batch: int, n_in: int, n_out: int, lr: float = 0.0, momentum: float = 0.0,
            weight_decay: float = 0.0) -> RunReply:  # fmt: skip
        """Run a primitive; an op that only reads its inputs is measured again when a received byte disturbed
        its window (SGD updates in place: its first count is kept)."""
        payload = struct.pack("<BBHHHfff", OPS[op], 0, batch, n_in, n_out, lr, momentum, weight_decay)
        for _ in range(1 if op == "sgd" else MEASURE_ATTEMPTS):
            self.ch.send(MSG_TRUN, payload)
            status, loss, disturbances, _, ticks = struct.unpack("<ifHHQ", expect(self.ch, MSG_TRUN))
            if disturbances == 0:
                break
        return RunReply(status, loss, ticks)

    def read(self, slot: str, count: int, dtype: type = np.float32) -> np.ndarray:
        size = count * np.dtype(dtype).itemsize
        out = bytearray()
        while len(out) < size:
            n = min(1024, size - len(out))
            self.ch.send(MSG_TREAD, struct.pack("<BBHI", SLOTS[slot], 0, n, len(out)))
            out += expect(self.ch, MSG_TDATA)
        return np.frombuffer(bytes(out), dtype=dtype).copy()
