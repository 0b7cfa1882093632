"""A stand-in for Renode in tests (no Renode on this machine): prints what Renode prints, serves the
console UART socket named in the generated script, answers a few monitor commands on stdin.

As an executable (tests write a launcher named `renode` that calls `main()`), the mode comes from the
environment variable FAKE_RENODE_MODE:
- `ok`: opens the socket and plays the self-test firmware (HELLO; LOAD and RUN computed in numpy, with
  made-up tick counts; END answered with STATS, then it "halts"); answers `cpu IsHalted` and
  `cpu ExecutedInstructions`, exits on `quit`;
- `hang`: never opens the socket; `error`: prints a script error and waits; `exit`: exits with code 3;
- `lose`: sends HELLO, then closes the socket and exits; `silent`: sends HELLO, then says nothing more.
FAKE_RENODE_RECORD names a JSON file that receives argv, TMPDIR and the script text.

`FakePyrenode3` plays the same firmware in-process behind pyrenode3's `wrappers.Monitor/Emulation` API.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tinyodl.apps import selftest
from tinyodl.apps.protocol import MSG_END, MSG_HELLO, MSG_STATS
from tinyodl.apps.selftest import MSG_LOAD, MSG_RESULT, MSG_RUN
from tinyodl.link import Link

VERSION_LINE = "Renode, version 1.16.1.29910 (fake-202601010000)"
EXECUTED = 123456
HELLO_PAYLOAD = struct.pack("<BBBBII", 1, 0, 0, 0, 4_000_000, 0x2000) + b"selftest\0nucleo-l476rg\0"
STATS_PAYLOAD = struct.pack("<IIIII", 400, 0x2000, 0, 12, 0)


def log(message: str, level: str = "INFO") -> None:
    stamp = time.strftime("%H:%M:%S") + ".0000"
    print(f"{stamp} [{level}] {message}", flush=True)


def script_port(text: str) -> int:
    m = re.search(r"CreateServerSocketTerminal (\d+) ", text)
    assert m, "the script opens no socket terminal"
    return int(m.group(1))


class SocketTransport:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn

    def write(self, data: bytes) -> None:
        self.conn.sendall(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self.conn], [], [], max(timeout_s, 0.0))
        if not ready:
            return b""
        data = self.conn.recv(max_bytes)
        if not data:
            raise ConnectionError("host closed the socket")
        return data


class Firmware:
    """Serves one connection on `port` like the self-test firmware's session layer."""

    def __init__(self, port: int, mode: str) -> None:
        self.mode = mode
        self.halted = threading.Event()
        self.buffers = [bytearray(selftest.BUFFER_BYTES), bytearray(selftest.BUFFER_BYTES)]
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        link = Link(SocketTransport(conn), retransmit_s=0.05, max_attempts=200)
        try:
            link.send(MSG_HELLO, HELLO_PAYLOAD)
            if self.mode == "lose":
                conn.close()
                self.halted.set()
                return
            if self.mode == "silent":
                time.sleep(3600)
            while True:
                msg_type, payload = link.recv(60.0)
                if msg_type == MSG_END:
                    link.send(MSG_STATS, STATS_PAYLOAD)
                    self.halted.set()
                    time.sleep(3600)
                elif msg_type == MSG_LOAD:
                    which, _, offset = struct.unpack_from("<BBH", payload)
                    self.buffers[which][offset : offset + len(payload) - 4] = payload[4:]
                    link.send(MSG_LOAD, b"\0")
                elif msg_type == MSG_RUN:
                    link.send(MSG_RESULT, self._run(payload))
        except Exception:  # noqa: BLE001 - the host went away
            self.halted.set()

    def _run(self, payload: bytes) -> bytes:
        """The self-test kernels, computed here the way the host checks them; ticks as a DWT would count."""
        kernel, _, n, reps = struct.unpack("<BBHI", payload)
        a, b = bytes(self.buffers[0]), bytes(self.buffers[1])
        bits, per_call = 0, 2 * n  # spin: a 2-instruction loop
        if kernel == selftest.KERNEL_DOT_F32:
            x, y = np.frombuffer(a[: 4 * n], np.float32), np.frombuffer(b[: 4 * n], np.float32)
            bits, per_call = selftest.f32_bits(selftest.dot_f32_fma(x, y)), 5 * n
        elif kernel in (selftest.KERNEL_DOT_I8_REF, selftest.KERNEL_DOT_I8_SIMD):
            x, y = np.frombuffer(a[:n], np.int8), np.frombuffer(b[:n], np.int8)
            bits = int(np.dot(x.astype(np.int64), y.astype(np.int64))) & 0xFFFFFFFF
            per_call = 5 * n if kernel == selftest.KERNEL_DOT_I8_REF else 5 * n // 2
        ticks = reps * per_call + 17  # plus the window's fixed overhead
        return struct.pack("<BBHIIIQ", kernel, 0, n, reps, bits, 0, ticks)

    def answer(self, command: str) -> str | None:
        if command == "cpu IsHalted":
            return "True" if self.halted.is_set() else "False"
        if command == "cpu ExecutedInstructions":
            return f"0x{EXECUTED:X}"
        return None


def main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:
        print(VERSION_LINE)
        return
    mode = os.environ.get("FAKE_RENODE_MODE", "ok")
    script = Path(args[-1])
    text = script.read_text()
    record = os.environ.get("FAKE_RENODE_RECORD")
    if record:
        Path(record).write_text(json.dumps({"argv": sys.argv, "tmpdir": os.environ.get("TMPDIR"), "script": text}))
    print(VERSION_LINE, flush=True)
    log(f"Including script: {script}")
    if mode == "exit":
        log("Could not start the emulation", "ERROR")
        sys.exit(3)
    if mode == "error":
        print(f"There was an error executing command 'machine LoadPlatformDescription @{script}'", flush=True)
        time.sleep(3600)
    if mode == "hang":
        time.sleep(3600)
    firmware = Firmware(script_port(text), mode)
    log("cpu: Setting initial values: PC = 0x80004C1, SP = 0x20002000.")
    log("nucleo-l476rg: Machine started.")
    if mode == "lose":
        firmware.halted.wait(60)
        time.sleep(0.2)
        sys.exit(0)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            print("(nucleo-l476rg) Renode is quitting", flush=True)
            return
        answer = firmware.answer(command)
        if answer is not None:
            log("cpu: a log line between a command and its answer")
            print(f"(nucleo-l476rg) {command}", flush=True)
            print(answer, flush=True)


class FakePyrenode3:
    """Module-shaped stand-in for `pyrenode3` (only `wrappers.Monitor` and `wrappers.Emulation`)."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.firmware: Firmware | None = None
        self.cleared = False
        fake = self

        class Monitor:
            def execute_script(self, path: str) -> tuple[str, str]:
                text = Path(path).read_text()
                if fake.mode == "error":
                    return "", "There was an error executing command 'machine LoadPlatformDescription'"
                fake.firmware = Firmware(script_port(text), fake.mode)
                return "Machine started.\n", ""

            def execute(self, command: str) -> tuple[str, str]:
                assert fake.firmware is not None
                answer = fake.firmware.answer(command)
                return ("", f"unknown command {command}") if answer is None else (answer + "\n", "")

        class Emulation:
            def clear(self) -> None:
                fake.cleared = True

        self.wrappers = SimpleNamespace(Monitor=Monitor, Emulation=Emulation)


if __name__ == "__main__":
    main()
