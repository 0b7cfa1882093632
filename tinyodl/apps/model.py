"""Host side of the model firmware application (docs/apps.md): inputs in, outputs and counts out."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..cmsisnn import CmsisNN
from ..errors import RunError
from ..toolchain.project import AppSpec
from .protocol import MEASURE_ATTEMPTS, Channel, expect

MSG_INFO = 0x30
MSG_INPUT = 0x31
MSG_INVOKE = 0x32
MSG_DONE = 0x33
MSG_READ = 0x34
MSG_DATA = 0x35
CHUNK = 1020


def app_spec(files: dict[str, str], cmsis_nn: CmsisNN | None = None) -> AppSpec:
    """The model application; with `cmsis_nn`, also the CMSIS-NN adapters and ARM's library from that tree."""
    if cmsis_nn is None:
        return AppSpec(name="model", generated=files, libraries=("kernels",))
    return AppSpec(name="model", generated=files, libraries=("kernels", "cmsisnn"), cmsis_nn=cmsis_nn)


@dataclass(frozen=True)
class ModelInfo:
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    layers: int
    hash32: int


class ModelDriver:
    def __init__(self, channel: Channel) -> None:
        self.ch = channel

    def info(self) -> ModelInfo:
        self.ch.send(MSG_INFO, b"")
        return ModelInfo(*struct.unpack("<5I", expect(self.ch, MSG_INFO)))

    def set_input(self, data: bytes) -> None:
        for offset in range(0, len(data), CHUNK):
            self.ch.send(MSG_INPUT, struct.pack("<I", offset) + data[offset : offset + CHUNK])
            if expect(self.ch, MSG_INPUT)[:1] != b"\0":
                raise RunError("the firmware refused an INPUT chunk", self.ch.log())

    def invoke(self, layers: int) -> list[int]:
        """Run the whole model; per-layer tick counts of a run no received byte disturbed (the host's own
        retransmission arriving while the model runs adds its interrupt to the count: run it again)."""
        for _ in range(MEASURE_ATTEMPTS):
            self.ch.send(MSG_INVOKE, struct.pack("<BBH", 0, 0, 0))
            reply = expect(self.ch, MSG_DONE, timeout_s=300)
            status, ran, disturbances = struct.unpack_from("<iHH", reply)
            if status != 0:
                raise RunError(f"the model returned status {status} ({_STATUS.get(status, 'unknown')})", self.ch.log())
            ticks = list(struct.unpack_from(f"<{ran}Q", reply, 8))
            if ran != layers:
                raise RunError(f"the firmware ran {ran} layers, expected {layers}")
            if disturbances == 0:
                return ticks
        raise RunError("every run of the model was disturbed by bytes arriving on the link", self.ch.log())

    def run_until(self, last: int) -> None:
        self.ch.send(MSG_INVOKE, struct.pack("<BBH", 1, 0, last))
        status, ran, _ = struct.unpack_from("<iHH", expect(self.ch, MSG_DONE, timeout_s=300))
        if status != 0 or ran != last + 1:
            raise RunError(f"layer-by-layer run stopped at layer {ran - 1} with status {status}", self.ch.log())

    def read(self, what: int, layer: int, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            n = min(1024, size - len(out))
            self.ch.send(MSG_READ, struct.pack("<BBHIH", what, 0, layer, len(out), n))
            out += expect(self.ch, MSG_DATA)
        return bytes(out)

    def output(self, size: int) -> bytes:
        return self.read(0, 0, size)

    def layer_output(self, layer: int, size: int) -> bytes:
        return self.read(1, layer, size)


_STATUS = {
    1: "null argument",
    2: "bad shape",
    3: "bad quantization",
    4: "accumulator overflow",
    5: "a kernel variant's generated data does not match its params",
}
