"""The scripted link exchanges of the Robot suites (tinyodl/sim/robot.py), checked against the link's own
decoder and the numpy reference; no Renode needed."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import needs_arm_gcc, needs_tf

from tinyodl.apps.model import MSG_DATA, MSG_DONE, MSG_INFO, MSG_INPUT, MSG_INVOKE, MSG_READ
from tinyodl.apps.protocol import MSG_HELLO, Hello
from tinyodl.boards import load_board
from tinyodl.link import TYPE_ACK, encode_frame
from tinyodl.link.frame import Frame, decode_body
from tinyodl.sim.robot import Exchange


def _frames(ex: Exchange, kind: str) -> list[Frame]:
    out = []
    for k, data in ex.steps:
        raw = bytes.fromhex(data)
        if k == kind and raw.endswith(b"\0"):
            out.append(decode_body(raw[:-1]))
    return out


def test_stop_and_wait_numbering() -> None:
    ex = Exchange()
    ex.reply(0x10, b"hi")
    ex.request(0x30, b"")
    ex.reply(0x30, b"\x01\x02")
    ex.request(0x31, b"abc")
    assert [k for k, _ in ex.steps] == ["wait", "send", "send", "wait", "wait", "send", "send", "wait"]
    sent = [(f.type, f.seq, f.payload) for f in _frames(ex, "send")]
    waited = [(f.type, f.seq, f.payload) for f in _frames(ex, "wait")]
    # the host numbers its frames 0, 1 and acknowledges the firmware's 0, 1
    assert sent == [(TYPE_ACK, 0, b""), (0x30, 0, b""), (TYPE_ACK, 1, b""), (0x31, 1, b"abc")]
    assert waited == [(0x10, 0, b"hi"), (TYPE_ACK, 0, b""), (0x30, 1, b"\x01\x02"), (TYPE_ACK, 1, b"")]


@pytest.mark.parametrize("layers", [1, 5, 100, 127])  # 127: the most one DONE frame holds
def test_frame_prefix_matches_every_measurement(layers: int) -> None:
    ex = Exchange(firmware_seq=3)
    ex.reply_starting(MSG_DONE, struct.pack("<iHH", 0, layers, 0))
    prefix = bytes.fromhex(ex.steps[0][1])
    rng = np.random.default_rng(layers)
    for _ in range(50):
        ticks = rng.integers(0, 2**40, layers, dtype=np.uint64)
        payload = struct.pack("<iHH", 0, layers, 0) + ticks.astype("<u8").tobytes()
        assert encode_frame(MSG_DONE, 3, payload).startswith(prefix)
    assert not encode_frame(MSG_DONE, 3, struct.pack("<iHH", 1, layers, 0)).startswith(prefix)  # a failed run
    with pytest.raises(ValueError, match="must end in a zero byte"):
        Exchange().reply_starting(MSG_DONE, b"\x01")


def test_hello_encode_round_trips() -> None:
    board = load_board("nucleo-h743zi")
    hello = Hello(1, "dwt", False, board.target.reset_clock_hz, board.stack_bytes, "model", board.name)
    assert Hello.parse(hello.encode()) == hello


@needs_tf
@needs_arm_gcc
def test_model_exchange_carries_the_reference(har_tflite: dict[str, Path], tmp_path: Path) -> None:
    from tinyodl.modelrun import ModelOptions, import_model, model_inputs, robot_files
    from tinyodl.reference.graph import run_graph

    opts = ModelOptions()
    files = robot_files(har_tflite["int8"], "nucleo-l476rg", None, opts, tmp_path)
    variables = yaml.safe_load(files["variables"].read_text())
    assert variables["BOARD"] == "nucleo-l476rg" and variables["CONSOLE"] == "usart2"
    assert Path(variables["ELF"]) == files["elf"] and files["elf"].is_file()
    ex = Exchange(steps=[(k, v) for k, v in variables["EXCHANGE"]])
    waited = {f.type: f for f in reversed(_frames(ex, "wait"))}  # the first frame of each type
    hello = Hello.parse(waited[MSG_HELLO].payload)
    assert (hello.app, hello.board, hello.timer_source) == ("model", "nucleo-l476rg", "dwt")
    in_bytes, out_bytes, _, layers, _ = struct.unpack("<5I", waited[MSG_INFO].payload)
    _, graph, _ = import_model(har_tflite["int8"], opts)
    x = model_inputs(graph, None, 1, opts.run.seed)[0]
    sent = _frames(ex, "send")
    inputs = b"".join(f.payload[4:] for f in sent if f.type == MSG_INPUT)
    assert inputs == x.tobytes() and len(inputs) == in_bytes
    assert [f.type for f in sent if f.type in (MSG_INVOKE, MSG_READ)][0] == MSG_INVOKE
    data = b"".join(f.payload for f in _frames(ex, "wait") if f.type == MSG_DATA)
    assert data == run_graph(graph, x)[graph.outputs[0]].tobytes() and len(data) == out_bytes
    assert layers > 0
