"""`tinyodl session` against QEMU: labels from the data set (checked against the numpy TinyRCE on the host's
own features), a session resumed from its state file on another board, the same firmware reached through
--port as a board on a serial port would be, a user answering the label prompt through tmux, and bad input."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.datasets.labelled import load_labelled
from tinyodl.learn.firmware import import_for_learning, learner_firmware
from tinyodl.learn.run import normalise, quantize_inputs, reference_outputs
from tinyodl.learn.session import STATE_MAGIC, load_state, parse_label
from tinyodl.learn.tinyrce import RceParams, Status, TinyRCE

pytestmark = [needs_arm_gcc, needs_qemu, needs_tf, pytest.mark.sim, pytest.mark.slow]

ARCH = "conv1d:8:5,maxpool:4,conv1d:16:5,gap"
BUDGET = "2000"  # 62 neurons of 16 int8 features


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small random-weight extractors of BasicMotions windows (seeds 0 and 1) as .tflite files."""
    from tinyodl.frontends import resolve_tflite
    from tinyodl.frontends.elm import default_calibration, elm_keras_file

    directory = tmp_path_factory.mktemp("session-models")
    out = {}
    for seed in (0, 1):
        keras = elm_keras_file(ARCH, (100, 6), seed, directory)
        tflite = resolve_tflite(keras, default_calibration((100, 6), seed, directory))
        out[f"seed{seed}"] = shutil.copy(tflite, directory / f"motion{seed}.tflite")
    return {k: Path(v) for k, v in out.items()}


def session(model: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "tinyodl.cli", "session", str(model), "--features-at", "mean_0",
            "--data", "basicmotions", "--ram-budget", BUDGET, *args]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == expect, proc.stderr[-3000:]
    return proc


def windows(log: Path) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, log.read_text().splitlines()) if r["event"] == "window"]


def reference_session(model: Path, params: RceParams, count: int) -> list[tuple[int, str, int, int]]:
    """(prediction, status, neurons, label) per window from the numpy TinyRCE on the numpy extractor's
    features, labelling each UNKNOWN window with the data set's label, as the session does."""
    fw = learner_firmware(import_for_learning(model, None), "nucleo-l476rg", int(BUDGET), "mean_0", "ref")
    stream = normalise(load_labelled("basicmotions"), "std").learning
    feats, _ = reference_outputs(fw.graph, fw.feature_tensor, False, quantize_inputs(fw.graph, stream.x[:count]))
    host = TinyRCE(fw.features, fw.dtype, params)
    out = []
    for x, y in zip(feats, stream.y[:count], strict=True):
        d = host.distances(x)
        p = host.predict(x, d)
        label = int(y) if p.status == Status.UNKNOWN else -1
        if label >= 0:
            host.learn(x, label, d)
        out.append((p.label, p.status.name, host.count, label))
    return out


def test_session_matches_reference_and_resumes_on_another_board(models: dict[str, Path], tmp_path: Path) -> None:
    whole_log, whole_state = tmp_path / "whole.jsonl", tmp_path / "whole.state"
    proc = session(models["seed0"], "--board", "nucleo-l476rg", "--sim", "qemu", "--log", str(whole_log),
                   "--state", str(whole_state), "--json")  # fmt: skip
    summary = json.loads(proc.stdout)
    assert summary["windows"] == 40 and summary["position"] == 40 and summary["state_check_ok"]
    assert summary["unknown"] == summary["labels_asked"] == summary["labels_given"] > 1
    start = json.loads(whole_log.read_text().splitlines()[0])
    assert start["event"] == "start" and start["labels_from"] == "data" and start["capacity"] == 62
    p = start["params"]
    params = RceParams(distance=p["distance"], r_max=p["r_max"], r_min=p["r_min"], aging=p["aging"],
                       age_step=p["age_step"], pruning=p["pruning"], age_limit=p["age_limit"], capacity=62)  # fmt: skip
    whole = windows(whole_log)
    got = [(r["pred"], r["status"], r["neurons"], -1 if r["label"] is None else r["label"]) for r in whole]
    assert got == reference_session(models["seed0"], params, 40)
    assert all(r["instructions"]["extract"] > 10_000 and r["ms"]["step"] > 0 for r in whole)
    assert summary["neurons"] == whole[-1]["neurons"] and summary["accuracy"] == round(
        np.mean([r["pred"] == r["truth"] for r in whole]), 6)  # fmt: skip
    saved = load_state(whole_state)
    assert saved.neurons == summary["neurons"] and saved.header["position"] == 40
    assert saved.header["classes"] == ["Standing", "Running", "Walking", "Badminton"]
    assert len(saved.blob) == 16 + saved.neurons * (16 + 4 + 4 + 2 + 1)

    # the same stream in two halves: the first on the L476, the second resumed from the state on the H743
    half_log, half_state = tmp_path / "halves.jsonl", tmp_path / "halves.state"
    session(models["seed0"], "--board", "nucleo-l476rg", "--sim", "qemu", "--windows", "20", "--log",
            str(half_log), "--state", str(half_state), "--json")  # fmt: skip
    assert load_state(half_state).header["position"] == 20
    session(models["seed0"], "--board", "nucleo-h743zi", "--sim", "qemu", "--log", str(half_log), "--state",
            str(half_state), "--json")  # fmt: skip
    starts = [json.loads(line) for line in half_log.read_text().splitlines() if '"event": "start"' in line]
    assert [(s["board"], s["start"], s["resumed"]) for s in starts] == [("nucleo-l476rg", 0, False),
                                                                     ("nucleo-h743zi", 20, True)]  # fmt: skip
    key = ("window", "pred", "status", "label", "neurons", "outcome")
    assert [[r[k] for k in key] for r in windows(half_log)] == [[r[k] for k in key] for r in whole]
    assert load_state(half_state).blob == saved.blob  # the same learner, byte for byte


def _relay(sock: socket.socket, master: int, stop: threading.Event) -> None:
    """Bytes both ways between a socket and a pseudo-terminal's master side, until `stop`."""
    while not stop.is_set():
        ready, _, _ = select.select([sock.fileno(), master], [], [], 0.1)
        try:
            if sock.fileno() in ready:
                data = sock.recv(4096)
                if not data:
                    return
                os.write(master, data)
            if master in ready:
                sock.sendall(os.read(master, 4096))
        except OSError:
            return


def test_port_reaches_the_firmware_as_a_board(models: dict[str, Path], tmp_path: Path) -> None:
    """--port on a serial device: a pseudo-terminal whose other side is wired to the UART of QEMU running the
    learner firmware, as `tinyodl generate --learner tinyrce` builds it for the board."""
    from tinyodl.runner import RunOptions, prepare
    from tinyodl.sim.qemu import QemuRunner, _free_port

    fw = learner_firmware(import_for_learning(models["seed0"], None), "nucleo-l476rg", int(BUDGET), "mean_0",
                          "motion0")  # fmt: skip
    prep = prepare("nucleo-l476rg", fw.app, RunOptions(), spec=fw.spec)
    port = _free_port()
    runner = QemuRunner(prep.placement.machine, prep.elf, prep.placement.serial_index)
    qemu = subprocess.Popen(runner.command(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo or line editing before the session opens the port
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "QEMU did not listen"
                time.sleep(0.05)
        relay = threading.Thread(target=_relay, args=(sock, master, stop), daemon=True)
        relay.start()
        log, device = tmp_path / "port.jsonl", os.ttyname(slave)
        proc = session(models["seed0"], "--board", "nucleo-l476rg", "--port", device, "--windows", "10", "--log",
                       str(log), "--json")  # fmt: skip
        summary = json.loads(proc.stdout)
        assert summary["windows"] == 10 and summary["target"] == device and summary["state_check_ok"]
        rows = windows(log)
        assert rows[0]["status"] == "UNKNOWN" and rows[0]["label"] is not None  # an empty learner knows nothing
        assert all(r["instructions"] is None and r["ms_kind"] == "measured" and r["ticks"]["extract"] > 0 for r in rows)
        stop.set()
        relay.join(timeout=5)
        sock.close()
    finally:  # the firmware halts after the session's END; QEMU runs on until stopped
        stop.set()
        qemu.terminate()
        qemu.wait(timeout=10)
        os.close(master)
        os.close(slave)


def _screen(name: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout


def _wait_for(name: str, test: Any, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        screen = _screen(name)
        if test(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"timed out; the screen:\n{_screen(name)}")


def _prompt(screen: str) -> int | None:
    """The window the label prompt asks about, when the screen ends at the prompt with nothing typed yet."""
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    if not lines or not lines[-1].startswith("Label?") or not lines[-1].endswith("q ends the session)"):
        return None
    asked = [line for line in lines if line.startswith("window ")]
    return int(asked[-1].split()[1].rstrip(":")) if asked else None


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed (scripts/setup.sh --test)")
def test_interactive_labels_through_tmux(models: dict[str, Path], tmp_path: Path) -> None:
    log, state, done = tmp_path / "asked.jsonl", tmp_path / "asked.state", tmp_path / "exit-code"
    name = f"tinyodl-session-{tmp_path.name}"
    command = (f"cd {ROOT} && {sys.executable} -m tinyodl.cli session {models['seed0']} --features-at mean_0 "
               f"--data basicmotions --ram-budget {BUDGET} --board nucleo-l476rg --sim qemu --interactive "
               f"--windows 30 --log {log} --state {state}; echo $? > {done}; sleep 60")  # fmt: skip
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "150", "-y", "50", command], check=True)
    try:
        screen = _wait_for(name, lambda s: _prompt(s) == 0)
        assert "window 0: UNKNOWN" in screen and "0 Standing  1 Running  2 Walking  3 Badminton" in screen
        subprocess.run(["tmux", "send-keys", "-t", name, "jumping", "Enter"], check=True)
        _wait_for(name, lambda s: "'jumping' is not a label" in s and _prompt(s) == 0)
        window = 0
        for answer in ["walk", "3", ""]:  # a name's prefix, a number, skip
            subprocess.run(["tmux", "send-keys", "-t", name, answer, "Enter"], check=True)
            screen = _wait_for(name, lambda s, w=window: (_prompt(s) or -1) > w)
            window = _prompt(screen) or 0
        subprocess.run(["tmux", "send-keys", "-t", name, "C-c"], check=True)  # Ctrl-C ends it, saving the state
        _wait_for(name, lambda s: done.exists() and "state saved to" in s)
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    rows = windows(log)
    asked = [r for r in rows if r["asked"]]
    assert [r["label"] for r in asked] == [2, 3, None]  # the window asked when Ctrl-C came is not logged
    assert all(r["status"] == "UNKNOWN" for r in asked) and not any(r["learned"] for r in rows if not r["asked"])
    end = json.loads(log.read_text().splitlines()[-1])
    assert end["event"] == "end" and end["stopped"] == "ended at the prompt" and end["labels_given"] == 2
    saved = load_state(state)
    assert saved.header["position"] == len(rows) and saved.neurons == rows[-1]["neurons"] == 2


def test_label_answers() -> None:
    classes = ("Standing", "Running", "Walking", "Badminton")
    assert [parse_label(t, classes) for t in ("2", " walking ", "Bad", "", "q", "QUIT")] == [2, 2, 3, None, "quit",
                                                                                            "quit"]  # fmt: skip
    assert parse_label("4", classes) == "4 is not a label: 0..3"
    assert parse_label("s", classes) == 0 and "not a label" in str(parse_label("wa", ("walk", "wave")))
    assert parse_label("200", ()) == 200 and "0..254" in str(parse_label("255", ()))


def test_bad_input_is_one_line(models: dict[str, Path], tmp_path: Path) -> None:
    log, state = tmp_path / "s.jsonl", tmp_path / "s.state"
    session(models["seed0"], "--board", "nucleo-l476rg", "--sim", "qemu", "--windows", "3", "--log", str(log),
            "--state", str(state), "--json")  # fmt: skip
    damaged = tmp_path / "damaged.state"
    raw = bytearray(state.read_bytes())
    raw[-1] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    foreign = tmp_path / "foreign.state"
    foreign.write_bytes(STATE_MAGIC + b"{}\n")
    _, silent = os.openpty()  # a serial port where no board answers
    for model, args, message in (
        (models["seed1"], ["--sim", "qemu", "--state", str(state)],
         "the state was learned on the features of model motion0.tflite"),
        (models["seed0"], ["--sim", "qemu", "--state", str(damaged)], "the state file is damaged"),
        (models["seed0"], ["--sim", "qemu", "--state", str(foreign)], "the state file's header is damaged"),
        (models["seed0"], [], "give --port PORT (a board flashed with the learner firmware) or --sim"),
        (models["seed0"], ["--sim", "qemu", "--user", "7"], "--user 7: basicmotions has users 0, 1"),
        (models["seed0"], ["--port", str(tmp_path / "no-such-tty")], "cannot open the port"),
        (models["seed0"], ["--port", os.ttyname(silent), "--timeout", "1"], "no HELLO from /dev/pts/"),
    ):  # fmt: skip
        proc = session(model, "--board", "nucleo-l476rg", *args, "--json", expect=2)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tinyodl: error: ") and message in lines[0], proc.stderr
