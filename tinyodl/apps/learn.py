"""Host side of the learner firmware application (firmware/apps/learn/main.c, docs/apps.md)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import RunError
from ..learn.tinyrce import Outcome, RceParams, Status
from ..toolchain.project import AppSpec
from .protocol import ERROR_CODES, MEASURE_ATTEMPTS, MSG_ERROR, MSG_FAULT, Channel, describe_fault

MSG_LINFO = 0x40
MSG_LINIT = 0x41
MSG_WINDOW = 0x42
MSG_STEP = 0x43
MSG_EXPORT = 0x44
MSG_DATA = 0x45
MSG_IMPORT = 0x46
MSG_ADOPT = 0x47
MSG_CHECK = 0x48
MSG_DPASS = 0x49
CHUNK = 1020
EXPORT_CHUNK = 1024

FLAG_AGING = 0x01
FLAG_PRUNING = 0x02
FLAG_L2 = 0x04
NO_OUTCOME = 255


def app_spec(files: dict[str, str]) -> AppSpec:
    return AppSpec(name="learn", generated=files, libraries=("kernels", "learn"))


class DeviceError(RunError):
    """The firmware refused a message (ERROR with a code): bad input, state unchanged."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LearnInfo:
    features: int
    pool: int
    int8: bool
    head_classes: int
    feature_layer: int
    input_bytes: int
    hash32: int
    learner_bytes: int
    layers: int


@dataclass(frozen=True)
class StepReply:
    status: Status
    label: int
    head_label: int  # -1: the head did not run (the learner did not answer UNKNOWN, or there is no head)
    outcome: Outcome | None  # None: no learning in this step
    neurons: int
    distance: float
    ticks: tuple[int, int, int, int]  # extract, predict, learn, head
    features: np.ndarray | None


class LearnDriver:
    def __init__(self, channel: Channel) -> None:
        self.ch = channel

    def _request(self, msg_type: int, payload: bytes, reply_type: int | None = None, timeout_s: float = 60.0) -> bytes:
        self.ch.send(msg_type, payload)
        got, reply = self.ch.recv(timeout_s)
        if got == MSG_ERROR:
            code = reply[1] if len(reply) > 1 else 0
            what = ERROR_CODES.get(code, f"error {code}")
            raise DeviceError(f"the firmware refused message 0x{msg_type:02x}: {what}", code)
        if got == MSG_FAULT:
            raise RunError(describe_fault(reply), self.ch.log())
        if got != (msg_type if reply_type is None else reply_type):
            raise RunError(f"expected a reply to 0x{msg_type:02x}, got 0x{got:02x}", self.ch.log())
        return reply

    def info(self) -> LearnInfo:
        f, pool, int8, head, layer, inb, h, lb, layers, _ = struct.unpack("<HHBBHIIIHH", self._request(MSG_LINFO, b""))
        return LearnInfo(f, pool, bool(int8), head, layer, inb, h, lb, layers)

    def init(self, params: RceParams, int8: bool) -> None:
        flags = (FLAG_AGING if params.aging else 0) | (FLAG_PRUNING if params.pruning else 0)
        flags |= FLAG_L2 if params.distance == "l2" else 0
        fmt = "<ii" if int8 else "<ff"
        radii = (int(params.r_min), int(min(params.r_max, 0x7FFFFFFF))) if int8 else (
            float(np.float32(params.r_min)), float(np.float32(min(params.r_max, 3.0e38))))  # fmt: skip
        payload = struct.pack("<BBHIHH", flags, 0, params.age_step, params.age_limit, params.capacity, 0)
        status = self._request(MSG_LINIT, payload + struct.pack(fmt, *radii))[0]
        if status != 0:
            raise RunError(f"the learner refused its parameters (status {status})", self.ch.log())

    def window(self, data: bytes) -> None:
        for offset in range(0, len(data), CHUNK):
            self._request(MSG_WINDOW, struct.pack("<I", offset) + data[offset : offset + CHUNK])

    def step(self, label: int | None, learn: bool, features: np.ndarray | None = None, int8: bool = True,
             send_back: bool = False) -> StepReply:  # fmt: skip
        """One step on the window sent before (features None) or on given features; `learn` with `label`."""
        flags = (1 if learn else 0) | (2 if send_back else 0)
        head = struct.pack("<BBh", 0 if features is None else 1, flags, -1 if label is None else label)
        body = b"" if features is None else np.ascontiguousarray(features).tobytes()
        if learn:  # a learning step changes the state: it cannot be repeated when its window was disturbed
            reply = self._request(MSG_STEP, head + body)
        else:
            for _ in range(MEASURE_ATTEMPTS):
                reply = self._request(MSG_STEP, head + body)
                if struct.unpack_from("<H", reply, 10)[0] == 0:
                    break
        _, status, lab, head_lab, outcome, _, neurons, _disturbed = struct.unpack_from("<BBhhBBHH", reply)
        dist_raw = reply[12:16]
        distance = float(struct.unpack("<i" if int8 else "<f", dist_raw)[0])
        ticks = struct.unpack_from("<4Q", reply, 16)
        feats = None
        if send_back:
            feats = np.frombuffer(reply[48:], dtype=np.int8 if int8 else np.float32).copy()
        return StepReply(Status(status), lab, head_lab, None if outcome == NO_OUTCOME else Outcome(outcome),
                         neurons, distance, ticks, feats)  # fmt: skip

    def export_state(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            n = min(EXPORT_CHUNK, size - len(out))
            out += self._request(MSG_EXPORT, struct.pack("<IH", len(out), n), MSG_DATA)
        return bytes(out)

    def state_size(self, features: int, int8: bool, count: int) -> int:
        return 16 + count * (features * (1 if int8 else 4) + 4 + 4 + 2 + 1)

    def import_state(self, blob: bytes) -> int:
        for offset in range(0, len(blob), CHUNK):
            self._request(MSG_IMPORT, struct.pack("<I", offset) + blob[offset : offset + CHUNK])
        return self._request(MSG_ADOPT, struct.pack("<I", len(blob)))[0]

    def check(self) -> int:
        return self._request(MSG_CHECK, b"")[0]

    def distance_pass(self, repetitions: int) -> tuple[int, int, int]:
        """(neurons, features, ticks) of `repetitions` distance passes over the whole pool, undisturbed."""
        for _ in range(MEASURE_ATTEMPTS):
            reply = self._request(MSG_DPASS, struct.pack("<H", repetitions))
            neurons, features, disturbances, _, ticks = struct.unpack("<HHHHQ", reply)
            if disturbances == 0:
                return neurons, features, ticks
        raise RunError("every distance-pass measurement was disturbed by bytes arriving on the link", self.ch.log())
