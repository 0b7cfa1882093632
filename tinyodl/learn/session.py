"""`tinyodl session`: a learning session with the TinyRCE learner firmware, on a simulated or a real board.

data -> normalisation -> model -> learner firmware (as `tinyodl learn` builds it) -> a simulator started
here (--sim), or a board on a serial port already flashed with that firmware (--port) -> for each window:
the window over the link, the device's prediction and status; when the status asks for it (UNKNOWN by
default) a label from the labeller (the data set, or the user at a prompt) and a learning step on the
features the device extracted -> a live view, a JSON-lines log and, at the end or on Ctrl-C, the learner's
state exported over the link into a state file that a later session (on the same or another board) imports.

The state file: a magic line, one line of JSON naming what makes the state usable elsewhere (the model's
content hash, the feature tensor, count and type, the class names, the learner's rules, the position in the
data stream), then the state exactly as the firmware exports it (docs/apps.md).
"""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import numpy as np
from serial import SerialException

from .. import __version__
from ..apps.learn import DeviceError, LearnDriver, StepReply
from ..apps.protocol import Hello, close_session, open_session
from ..boards import load_board
from ..datasets.labelled import Labelled, load_labelled
from ..errors import RunError, TinyodlError
from ..link import Link, SerialTransport
from ..measure import estimate_cycles, latency_ms
from ..runner import Progress, prepare, quiet
from ..sim.base import LinkedSession, Session
from .firmware import LearnerFirmware, import_for_learning, learner_firmware
from .run import LearnOptions, normalise, quantize_inputs, r_max_for
from .tinyrce import RceParams, Status, neuron_bytes

STATE_MAGIC = b"TINYODL-RCE-STATE 1\n"
STATE_HEADER_BYTES = 16  # the firmware's own header at the start of the exported state
ASK_POLICIES = ("unknown", "uncertain", "always")
HELLO_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SessionOptions:
    learn: LearnOptions = field(default_factory=LearnOptions)  # data, learner rules, RAM budget, simulator
    port: str | None = None  # a pyserial URL: a board flashed with the learner firmware
    baud: int = 115200
    interactive: bool = False  # labels from the user at a prompt (else from the data set)
    ask: str = "unknown"  # which statuses ask for a label: unknown, uncertain (and unknown), always
    state: Path | None = None
    log: Path | None = None
    windows: int | None = None  # windows this session streams (default: the rest of the stream)
    user: int | None = None  # stream this user's windows only (default: every learned user's, in turn)
    start: int | None = None  # position in the stream to start at (default: where the state left off, or 0)
    classes: tuple[str, ...] = ()  # class names overriding the data set's

    def __post_init__(self) -> None:
        if self.ask not in ASK_POLICIES:
            raise TinyodlError(f"--ask {self.ask}: one of {', '.join(ASK_POLICIES)}")
        if self.windows is not None and self.windows < 0:
            raise TinyodlError(f"--windows must be 0 or more, not {self.windows}")
        if self.start is not None and self.start < 0:
            raise TinyodlError(f"--start must be 0 or more, not {self.start}")


# --- the state file ----------------------------------------------------------------------------------


def model_hash(fw: LearnerFirmware) -> str:
    """What the learner's prototypes depend on, whatever the board: the model file's content, where the
    features are taken, their count and type."""
    source = fw.graph.source
    content = source.split("sha256:")[-1] if "sha256:" in source else ",".join(op.name for op in fw.graph.ops)
    key = f"{content}|{fw.feature_tensor}|{fw.features}|{fw.dtype}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def params_dict(p: RceParams) -> dict[str, Any]:
    return {"distance": p.distance, "r_max": p.r_max, "r_min": p.r_min, "aging": p.aging, "age_step": p.age_step,
            "pruning": p.pruning, "age_limit": p.age_limit}  # fmt: skip


@dataclass(frozen=True)
class SavedState:
    header: dict[str, Any]
    blob: bytes  # the firmware's export

    @property
    def neurons(self) -> int:
        return int.from_bytes(self.blob[6:8], "little")

    def params(self, capacity: int) -> RceParams:
        p = self.header["params"]
        return RceParams(distance=p["distance"], r_max=float(p["r_max"]), r_min=float(p["r_min"]),
                         aging=bool(p["aging"]), age_step=int(p["age_step"]), pruning=bool(p["pruning"]),
                         age_limit=int(p["age_limit"]), capacity=capacity)  # fmt: skip


def save_state(path: Path, header: dict[str, Any], blob: bytes) -> None:
    head = dict(header, state_bytes=len(blob), state_sha256=hashlib.sha256(blob).hexdigest())
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(STATE_MAGIC + json.dumps(head, separators=(",", ":")).encode() + b"\n" + blob)
        tmp.replace(path)  # a session interrupted while saving keeps the previous state
    except OSError as exc:
        raise TinyodlError(f"cannot write the state file {path}: {exc.strerror or exc}") from None


def load_state(path: Path) -> SavedState:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TinyodlError(f"cannot read the state file {path}: {exc.strerror or exc}") from None
    if not raw.startswith(STATE_MAGIC):
        raise TinyodlError(f"{path}: not a tinyodl learner state file (it does not start with {STATE_MAGIC[:-1]!r})")
    line, sep, blob = raw[len(STATE_MAGIC) :].partition(b"\n")
    try:
        header = json.loads(line)
        size, digest = int(header["state_bytes"]), str(header["state_sha256"])
        for key in ("model_hash", "features", "dtype", "params", "classes"):
            header[key]  # noqa: B018 - present, or the KeyError below names it
    except (ValueError, KeyError, TypeError) as exc:
        raise TinyodlError(f"{path}: the state file's header is damaged ({exc})") from None
    if not sep or len(blob) != size or hashlib.sha256(blob).hexdigest() != digest:
        raise TinyodlError(f"{path}: the state file is damaged (its {size:,} B of state fail their checksum)")
    if size < STATE_HEADER_BYTES or blob[:4] != b"RCE1":
        raise TinyodlError(f"{path}: the saved state does not start with the learner's header")
    return SavedState(header, blob)


def check_compatible(saved: SavedState, path: Path, fw: LearnerFirmware, model_name: str, classes: tuple[str, ...],
                     capacity: int | None = None) -> None:  # fmt: skip
    h = saved.header
    if (h["features"], h["dtype"]) != (fw.features, fw.dtype):
        raise TinyodlError(
            f"{path}: the state holds {h['features']} {h['dtype']} features (model {h.get('model', '?')}); "
            f"{model_name} gives {fw.features} {fw.dtype} features"
        )
    if h["model_hash"] != model_hash(fw):
        raise TinyodlError(
            f"{path}: the state was learned on the features of model {h.get('model', '?')} (hash {h['model_hash']}), "
            f"not of {model_name} (hash {model_hash(fw)}); its prototypes mean nothing to this extractor"
        )
    if h["classes"] and classes and tuple(h["classes"]) != classes:
        raise TinyodlError(f"{path}: the state's classes {', '.join(h['classes'])} are not {', '.join(classes)}")
    if capacity is not None and saved.neurons > capacity:
        raise TinyodlError(
            f"{path}: the state holds {saved.neurons} neurons; this learner's pool holds {capacity} "
            f"(give a larger --ram-budget)"
        )


# --- labellers ---------------------------------------------------------------------------------------


# The label of the window at a position in the stream, given the device's reply; None leaves the window
# unlearned; raising StopSession ends the session.
Labeller = Callable[[int, StepReply], int | None]


class StopSession(Exception):
    """The user asked to end the session (the state is saved as at its end)."""


def data_labeller(y: np.ndarray) -> Labeller:
    def label(position: int, _: StepReply) -> int | None:
        return int(y[position])

    return label


def parse_label(text: str, classes: tuple[str, ...]) -> int | None | str:
    """An answer at the prompt: a class index or name -> the label; "" -> None (skip); "q" -> "quit";
    anything else -> an explanation (str) to show before asking again."""
    t = text.strip()
    if not t:
        return None
    if t.lower() in ("q", "quit"):
        return "quit"
    if t.isdigit():
        n = int(t)
        if (classes and n < len(classes)) or (not classes and n <= 254):
            return n
        return f"{n} is not a label: 0..{(len(classes) or 255) - 1}"
    lowered = [c.lower() for c in classes]
    if t.lower() in lowered:
        return lowered.index(t.lower())
    starts = [i for i, c in enumerate(lowered) if c.startswith(t.lower())]
    if len(starts) == 1:
        return starts[0]
    return f"{t!r} is not a label: a number or a class name ({', '.join(classes) or 'no names known'})"


# --- the device ----------------------------------------------------------------------------------------


class PortSession(LinkedSession):
    """The link to a board on a serial port (or any pyserial URL, e.g. a simulator's socket://)."""

    label = "the board"

    def __init__(self, url: str, baud: int) -> None:
        try:
            self.transport = SerialTransport(url, baud)
        except (SerialException, OSError, ValueError) as exc:
            raise TinyodlError(f"cannot open the port {url}: {exc}") from None
        self.link = Link(self.transport)
        self.url = url

    def log(self) -> str:
        tail = bytes(self.link.raw_log)[-512:]
        return f"last {len(tail)} bytes from {self.url}: {tail.hex(' ') if tail else '(nothing)'}"

    def _check(self) -> None:
        pass

    def _wait_exit(self, timeout_s: float = 2.0) -> None:
        pass

    def close(self) -> None:
        try:
            self.transport.close()
        except OSError:
            pass


@dataclass
class Device:
    """What the session knows of the target it talks to."""

    where: str  # "qemu b-l475e-iot01a", "/dev/ttyACM0"
    simulated: bool
    instructions_per_tick: float | None  # simulators: exact instructions per tick
    cpu: str
    clock_hz: int
    hello: Hello | None = None

    def step_figures(self, ticks: int) -> tuple[int | None, float]:
        """(instructions or None, milliseconds: estimated from the instructions on a simulator, measured
        from the counter's ticks at the firmware's clock on a board)."""
        if self.instructions_per_tick is not None:
            instr = round(ticks * self.instructions_per_tick)
            return instr, latency_ms(estimate_cycles(self.cpu, instr), self.clock_hz)
        hz = self.hello.timer_hz if self.hello is not None and self.hello.timer_hz else self.clock_hz
        return None, 1000.0 * ticks / hz


@contextmanager
def connect(fw: LearnerFirmware, board_name: str, opts: SessionOptions,
            progress: Progress) -> Iterator[tuple[Session, Device]]:  # fmt: skip
    board = load_board(board_name)
    if opts.port is not None:
        progress(f"{board.name}: opening {opts.port} (reset the board if no HELLO comes)")
        port = PortSession(opts.port, opts.baud)
        try:
            yield port, Device(opts.port, False, None, board.cpu, board.clock_hz)
        finally:
            port.close()
        return
    lo = opts.learn
    prep = prepare(board_name, fw.app, lo.run, progress, spec=fw.spec)
    place = prep.placement
    progress(f"{board.name}: starting {place.simulator} {place.machine}")
    with prep.simulator.session(place, prep.elf, lo.run.timeout_s) as sess:
        yield sess, Device(f"{place.simulator} {place.machine}", True, place.counter.instructions_per_tick,
                           board.cpu, board.clock_hz)  # fmt: skip


# --- the live view -------------------------------------------------------------------------------------


@dataclass
class View:
    """The rich live view: the last windows, and where the session stands."""

    title: str
    classes: tuple[str, ...]
    neuron_bytes: int
    capacity: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    shown: int = 12
    summary: str = ""
    console: Any = None  # a rich Console: None shows nothing
    _live: Any = None  # the running rich Live

    def show(self) -> None:
        """Show the view as it is now, live. After a pause the view starts anew below what is on the screen
        (the prompt's lines), the one before staying as it was when the prompt came."""
        if self.console is None:
            return
        if self._live is None:
            from rich.live import Live

            self._live = Live(self.render(), console=self.console, refresh_per_second=8)
            self._live.start()
        else:
            self._live.update(self.render())

    def pause(self) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.stop()
            self._live = None

    def name(self, label: int | None) -> str:
        if label is None or label < 0:
            return "-"
        return self.classes[label] if label < len(self.classes) else str(label)

    def render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        t = Table(title=self.title, title_justify="left", expand=False)
        instr_col = "step instr." if any(r["instructions"] is not None for r in self.rows) else "step cycles"
        for col in ("window", "prediction", "status", "label", "neurons", "RAM B", instr_col, "step ms"):
            t.add_column(col, justify="left" if col in ("prediction", "status", "label") else "right")
        for r in self.rows[-self.shown :]:
            known = r["status"] != Status.UNKNOWN.name
            status = Text(r["status"], style="green" if known else "bold yellow")
            label = self.name(r["label"]) if r["label"] is not None else ("skipped" if r["asked"] else "")
            cost = r["instructions"]["step"] if r["instructions"] is not None else sum(r["ticks"].values())
            t.add_row(str(r["window"]), self.name(r["pred"]), status, label, str(r["neurons"]),
                      f"{r['neurons'] * self.neuron_bytes:,}", f"{cost:,}", f"{r['ms']['step']:.3f}")  # fmt: skip
        cap = f"learner RAM cap {self.capacity * self.neuron_bytes:,} B ({self.capacity} neurons)"
        return Group(t, Text(f"{self.summary}\n{cap}" if self.summary else cap))


# --- the session -----------------------------------------------------------------------------------------


class _Interrupts:
    """Ctrl-C during link traffic only sets a flag (the session then ends between windows, saving its state);
    at the label prompt, or a second time, it interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.prompting = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.prompting or self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _Interrupts:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C is not ours to catch
            self._previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _stream(data: Labelled, user: int | None) -> Labelled:
    """The windows a session streams: the learned users' recordings in order, or one user's."""
    if user is None:
        return data.learning
    users = sorted(set(data.subject.tolist()))
    if user not in users:
        raise TinyodlError(f"--user {user}: {data.name} has users {', '.join(map(str, users))}")
    return data.select(data.subject == user)


def run_session(model_path: Path, board_name: str, opts: SessionOptions, progress: Progress = quiet,
                console: Any = None, prompt: Callable[[str], str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Run one session; returns its summary. `console` (a rich Console) shows the live view; `prompt` reads
    the user's answer (interactive)."""
    lo = opts.learn
    model_name = Path(model_path).name
    saved: SavedState | None = None
    if opts.state is not None and opts.state.exists():
        saved = load_state(opts.state)  # a damaged file stops here, before anything is built
    progress(f"data: {lo.data}")
    data = load_labelled(lo.data)
    how = lo.normalize or ("none" if lo.data.endswith(".npz") else "std")
    data = normalise(data, how)
    classes = opts.classes or tuple(data.classes)
    inner = import_for_learning(Path(model_path), lo.calibration)
    fw = learner_firmware(inner, board_name, lo.ram_budget, lo.features_at, lo.prefix or Path(model_path).stem,
                          lo.optimise)  # fmt: skip
    if fw.int8 and lo.distance == "l2":
        raise TinyodlError("int8 features use the L1 distance (USADA8); --distance l2 needs float32 features")
    if saved is not None:
        assert opts.state is not None
        check_compatible(saved, opts.state, fw, model_name, classes, None if opts.port else fw.capacity)
        classes = classes or tuple(saved.header["classes"])
    stream = _stream(data, opts.user)
    if len(stream.y) == 0:
        raise TinyodlError(f"--data {lo.data}: no windows of the learned users to stream")
    resume_at = (
        int(saved.header.get("position", 0))
        if saved is not None and (saved.header.get("data"), saved.header.get("user")) == (data.name, opts.user)
        else 0
    )
    start = opts.start if opts.start is not None else resume_at
    if start > len(stream.y):
        raise TinyodlError(f"--start {start}: the stream of {data.name} has {len(stream.y)} windows")
    end = len(stream.y) if opts.windows is None else min(len(stream.y), start + opts.windows)
    xq = quantize_inputs(fw.graph, stream.x[start:end])
    if saved is None:
        progress("host reference: the radius of a new neuron from the calibration users")
        params = RceParams(distance=lo.distance, r_max=r_max_for(fw, data, lo), r_min=lo.r_min, aging=lo.aging,
                           age_step=lo.age_step, pruning=lo.pruning, age_limit=lo.age_limit,
                           capacity=fw.capacity)  # fmt: skip
    else:
        params = saved.params(fw.capacity)
    labeller: Labeller = data_labeller(stream.y)
    nb = neuron_bytes(fw.features, fw.dtype)

    log_file: TextIO | None = None
    if opts.log is not None:
        try:
            log_file = opts.log.open("a", encoding="utf-8")
        except OSError as exc:
            raise TinyodlError(f"cannot write the log {opts.log}: {exc.strerror or exc}") from None

    def log(record: dict[str, Any]) -> None:
        if log_file is not None:
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()

    records: list[dict[str, Any]] = []
    stopped = "end of the stream"
    blob = b""
    t0 = time.monotonic()
    try:
        with connect(fw, board_name, opts, progress) as (sess, device), _Interrupts() as interrupts:
            device.hello = _hello(sess, opts)
            drv = LearnDriver(sess)
            info = drv.info()
            _check_firmware(info, fw, device)
            if saved is not None:
                assert opts.state is not None
                check_compatible(saved, opts.state, fw, model_name, classes, info.pool)
            params = replace(params, capacity=info.pool)
            drv.init(params, fw.int8)
            if saved is not None:
                status = drv.import_state(saved.blob)
                if status != 0:
                    raise TinyodlError(f"{opts.state}: the learner refused the saved state (check status {status})")
            view = View(f"TinyRCE session on {board_name} ({device.where}), {data.name}", classes, nb, info.pool,
                        console=console)  # fmt: skip
            if opts.interactive:
                labeller = _prompting_labeller(classes, view, interrupts, console, prompt)
            log({"event": "start", "time": _now(), "board": board_name, "target": device.where,
                 "simulated": device.simulated, "model": model_name, "model_hash": model_hash(fw),
                 "features": fw.features, "dtype": fw.dtype, "data": data.name, "user": opts.user, "normalisation": how,
                 "classes": list(classes), "params": params_dict(params), "capacity": info.pool,
                 "neuron_bytes": nb, "start": start, "end": end, "resumed": saved is not None,
                 "neurons": saved.neurons if saved is not None else 0, "ask": opts.ask,
                 "labels_from": "prompt" if opts.interactive else "data"})  # fmt: skip
            try:
                for k, position in enumerate(range(start, end)):
                    if interrupts.requested:
                        stopped = "interrupted (Ctrl-C)"
                        break
                    rec = _one_window(drv, fw, device, position, xq[k], stream, labeller, opts.ask, interrupts)
                    if rec is None:
                        stopped = "ended at the prompt"
                        break
                    records.append(rec)
                    log(dict(rec, event="window"))
                    view.rows.append(rec)
                    view.summary = _summary_line(records, len(range(start, end)), classes)
                    view.show()
            finally:
                view.pause()
            neurons = records[-1]["neurons"] if records else (saved.neurons if saved is not None else 0)
            blob = drv.export_state(drv.state_size(fw.features, fw.int8, neurons))
            state_ok = drv.check() == 0
            close_session(sess)
    except BaseException as exc:
        if log_file is not None:
            log_file.close()
        if isinstance(exc, DeviceError):
            raise TinyodlError(str(exc)) from None
        raise
    position = start + len(records)
    summary = _summary(records, board_name, device.where, data, model_name, fw, params, start, position,
                       stopped, state_ok, time.monotonic() - t0, saved)  # fmt: skip
    summary["user"] = opts.user
    if opts.state is not None:
        header = {"format": 1, "tinyodl_version": __version__, "saved": _now(), "model": model_name,
                  "model_hash": model_hash(fw), "feature_tensor": fw.feature_tensor, "features": fw.features,
                  "dtype": fw.dtype, "classes": list(classes), "params": params_dict(params), "data": data.name,
                  "user": opts.user, "position": position, "board": board_name,
                  "windows": int((saved.header.get("windows", 0) if saved else 0) + len(records)),
                  "labels": int((saved.header.get("labels", 0) if saved else 0) + summary["labels_given"])}  # fmt: skip
        save_state(opts.state, header, blob)
        summary["state"] = str(opts.state)
    log(dict(summary, event="end", time=_now()))
    if log_file is not None:
        log_file.close()
    return summary


def _hello(sess: Session, opts: SessionOptions) -> Hello:
    if opts.port is None:
        return open_session(sess, "learn", 60.0)
    wait = min(opts.learn.run.timeout_s, HELLO_TIMEOUT_S)
    try:
        return open_session(sess, "learn", wait)
    except RunError as exc:
        if "no message from the firmware" not in str(exc).splitlines()[0]:
            raise
        raise TinyodlError(
            f"no HELLO from {opts.port} within {wait:g} s: press the board's reset button (every "
            f"session starts from a reset; BOOT0 low) and check that it runs the learner firmware "
            f"(tinyodl generate MODEL --learner tinyrce, make, tinyodl flash)"
        ) from None


def _check_firmware(info: Any, fw: LearnerFirmware, device: Device) -> None:
    if (info.features, info.int8) != (fw.features, fw.int8) or info.hash32 != fw.lowered.hash32:
        how = "flash the firmware `tinyodl generate MODEL --learner tinyrce` writes" if not device.simulated else ""
        raise TinyodlError(
            f"{device.where} runs a learner of {info.features} {'int8' if info.int8 else 'float32'} features "
            f"(model hash {info.hash32:08x}), not this model's {fw.features} {fw.dtype} "
            f"(hash {fw.lowered.hash32:08x}){'; ' + how if how else ''}"
        )


def _one_window(drv: LearnDriver, fw: LearnerFirmware, device: Device, position: int, window: np.ndarray,
                stream: Labelled, labeller: Labeller, ask: str,
                interrupts: _Interrupts) -> dict[str, Any] | None:  # fmt: skip
    t = time.monotonic()
    drv.window(window.tobytes())
    seen = drv.step(None, False, int8=fw.int8, send_back=True)
    asked = ask == "always" or seen.status == Status.UNKNOWN or (ask == "uncertain" and seen.status == Status.UNCERTAIN)
    label: int | None = None
    if asked:
        try:
            label = labeller(position, seen)
        except StopSession:
            return None
    learn_ticks = 0
    neurons, outcome = seen.neurons, None
    if label is not None:
        learned = drv.step(label, True, features=seen.features, int8=fw.int8)
        if (learned.label, learned.status) != (seen.label, seen.status):
            raise RunError(f"window {position}: the learning step predicted otherwise than the step before it")
        neurons, outcome, learn_ticks = learned.neurons, learned.outcome, learned.ticks[2]
    extract, predict = seen.ticks[0], seen.ticks[1]
    figures = {k: device.step_figures(v) for k, v in (("extract", extract), ("predict", predict),
                                                       ("learn", learn_ticks))}  # fmt: skip
    step = device.step_figures(extract + predict + learn_ticks)
    head = seen.head_label if seen.status == Status.UNKNOWN and seen.head_label >= 0 else None
    return {
        "window": position,
        "pred": seen.label,
        "status": seen.status.name,
        "distance": seen.distance,
        "head": head,
        "asked": asked,
        "label": label,
        "truth": int(stream.y[position]),
        "learned": label is not None,
        "outcome": None if outcome is None else outcome.name.lower(),
        "neurons": neurons,
        "ticks": {"extract": extract, "predict": predict, "learn": learn_ticks},
        "instructions": None if step[0] is None else dict({k: v[0] for k, v in figures.items()}, step=step[0]),
        "ms": dict({k: round(v[1], 4) for k, v in figures.items()}, step=round(step[1], 4)),
        "ms_kind": "estimated" if device.simulated else "measured",
        "wall_ms": round(1000 * (time.monotonic() - t), 1),
    }


def _prompting_labeller(classes: tuple[str, ...], view: View, interrupts: _Interrupts, console: Any,
                        prompt: Callable[[str], str] | None) -> Labeller:  # fmt: skip
    listing = "  ".join(f"{i} {c}" for i, c in enumerate(classes)) or "numbers 0..254"

    def ask(position: int, reply: StepReply) -> int | None:
        view.pause()
        nearest = f"nearest prototype: {view.name(reply.label)}" if reply.label >= 0 else "no neuron yet"
        head = f", pretrained head: {view.name(reply.head_label)}" if reply.head_label >= 0 else ""
        say = console.print if console is not None else print
        say(f"window {position}: {reply.status.name} ({nearest}{head})")
        say(f"labels: {listing}")
        while True:
            interrupts.prompting = True
            try:
                text = (prompt or input)("Label? (number or name; Enter skips, q ends the session) ")
            except (EOFError, KeyboardInterrupt):  # Ctrl-C or end of input at the prompt: end, saving
                raise StopSession from None
            finally:
                interrupts.prompting = False
            answer = parse_label(text, classes)
            if answer == "quit":
                raise StopSession
            if answer is None or isinstance(answer, int):
                return answer
            say(answer)

    return ask


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _summary_line(records: list[dict[str, Any]], total: int, classes: tuple[str, ...]) -> str:
    done = len(records)
    asked = sum(r["asked"] for r in records)
    given = sum(r["label"] is not None for r in records)
    correct = sum(r["pred"] == r["truth"] for r in records)
    last = records[-1] if records else None
    return (f"{done}/{total} windows; UNKNOWN {sum(r['status'] == 'UNKNOWN' for r in records)}, labels asked "
            f"{asked}, given {given}; accuracy against the data set's labels {correct / max(done, 1):.1%}"
            + (f"; {last['neurons']} neurons" if last else ""))  # fmt: skip


def _summary(records: list[dict[str, Any]], board: str, where: str, data: Labelled,
             model_name: str, fw: LearnerFirmware, params: RceParams, start: int, position: int, stopped: str,
             state_ok: bool, seconds: float, saved: SavedState | None) -> dict[str, Any]:  # fmt: skip
    n = len(records)
    instr = [r["instructions"]["step"] for r in records if r["instructions"] is not None]
    nb = neuron_bytes(fw.features, fw.dtype)
    neurons = records[-1]["neurons"] if records else (saved.neurons if saved is not None else 0)
    return {
        "tinyodl_version": __version__,
        "board": board,
        "target": where,
        "model": model_name,
        "model_hash": model_hash(fw),
        "data": data.name,
        "windows": n,
        "start": start,
        "position": position,
        "stopped": stopped,
        "resumed": saved is not None,
        "labels_asked": sum(r["asked"] for r in records),
        "labels_given": sum(r["label"] is not None for r in records),
        "unknown": sum(r["status"] == "UNKNOWN" for r in records),
        "accuracy": round(sum(r["pred"] == r["truth"] for r in records) / n, 6) if n else None,
        "neurons": neurons,
        "capacity": params.capacity,
        "learner_ram_bytes": neurons * nb,
        "learner_ram_cap_bytes": params.capacity * nb,
        "r_max": params.r_max,
        "step_instructions_mean": round(float(np.mean(instr)), 1) if instr else None,
        "state_check_ok": state_ok,
        "seconds": round(seconds, 2),
    }
