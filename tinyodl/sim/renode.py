"""Renode backend: the board's own image on a Renode platform, the console UART on a local socket.

Each run writes a Renode script (.resc, from templates/renode/run.resc.j2) into a private temporary
directory: create the machine, load the board's platform description (renode/*.repl) and the ELF, set
`PerformanceInMips` to 1000 (the platforms' DWT runs at 1 GHz, so CYCCNT counts executed instructions),
put the console UART on a raw TCP socket, halt the core when the firmware reaches `tl_halt`, and start.
The script is generated text because a monitor variable cannot stand for a peripheral name.

`renode --disable-xwt --console --plain SCRIPT` runs with pipes on stdin, stdout and stderr and its own
TMPDIR (Renode deletes every `$TMPDIR/renode-*` directory when it starts). The host connects the framed
link to the socket while Renode starts, and after the run asks the monitor, on stdin, for
`cpu ExecutedInstructions` before it quits. A wall-clock watchdog bounds start-up and the run.

`--sim pyrenode3` runs the same script in-process through pyrenode3 when that package imports.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .. import __version__
from ..boards import Board
from ..errors import RunError, TinyodlError, ToolMissingError
from ..link import Link, SerialTransport, Transport
from ..resources import data_dir, data_root
from ..toolchain.project import AppSpec
from .base import CounterModel, LinkedSession, Placement, Wrap

RENODE_BINARY = "renode"
BINARY_ENV = "TINYODL_RENODE"  # another launcher than `renode` on PATH
LOCAL_INSTALL = Path(".tools") / "renode"  # in a checkout: where `scripts/setup.sh --renode TARBALL` puts it
INSTALL_HINT = (
    "install Renode 1.16 or newer from its release packages and put `renode` on PATH "
    f"(or point {BINARY_ENV} at it, or unpack a Renode tarball with scripts/setup.sh --renode); see docs/renode.md"
)
ROBOT_MODULES = ("robot", "psutil", "yaml")  # what renode-test imports from its tests/requirements.txt
PYRENODE3_HINT = (
    "pyrenode3 is not importable: it is not on PyPI; install it from its git repository together with a "
    "Renode package (PYRENODE_PKG), see docs/renode.md, or use --sim renode"
)
TERMINAL = "link"  # the name of the socket terminal in the script
HALT_SYMBOL = "tl_halt"
STARTUP_TIMEOUT_S = 60.0  # Renode takes several seconds to start (its .NET runtime, then the script)
STARTUP_ERRORS = ("There was an error executing command", "Could not execute script")
PORT_ERRORS = ("Address already in use", "address already in use")
LOG_LINE = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d+ \[[A-Z]+\]")
PROMPT = re.compile(r"^\([^()]*\)\s*")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
NUMBER = re.compile(r"^(?:0x(?P<hex>[0-9A-Fa-f]+)|(?P<dec>\d+))(?:\s*\((?P<paren>\d+)\))?$")


def local_install() -> Path | None:
    """The checkout's own Renode (`scripts/setup.sh --renode TARBALL`), when there is one."""
    directory = Path(__file__).resolve().parents[2] / LOCAL_INSTALL
    return directory if (directory / RENODE_BINARY).is_file() else None


def renode_binary() -> str:
    """The Renode launcher to run: $TINYODL_RENODE, else `renode` on PATH, else the checkout's own."""
    chosen = os.environ.get(BINARY_ENV)
    if chosen:
        return chosen
    if shutil.which(RENODE_BINARY) is None:
        local = local_install()
        if local is not None:
            return str(local / RENODE_BINARY)
    return RENODE_BINARY


@dataclass(frozen=True)
class RenodeTest:
    """How to run `renode-test` (Renode's Robot Framework runner) beside the Renode that runs the board."""

    argv: list[str]
    env: dict[str, str]
    ready: bool
    reason: str  # why not ready, or what it is

    def command(self, suite: Path, results: Path, variables: dict[str, str]) -> list[str]:
        args = [f"--variable={name}:{value}" for name, value in variables.items()]
        return [*self.argv, "-r", str(results), *args, str(suite)]


def renode_test() -> RenodeTest:
    """Find renode-test (beside the Renode launcher, else on PATH) and check the Python packages it needs.

    renode-test runs `python3` from PATH: a `venv/` beside the launcher (what setup.sh --renode makes) goes
    first on PATH. Missing packages make it not ready, with the reason and the pip command.
    """
    env = dict(os.environ)
    found = shutil.which(renode_binary())
    candidates = []
    if found is not None:
        candidates.append(Path(os.path.realpath(found)).parent / "renode-test")
    on_path = shutil.which("renode-test")
    if on_path is not None:
        candidates.append(Path(on_path))
    launcher = next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)
    if launcher is None:
        return RenodeTest([], env, False, "renode-test not found beside renode or on PATH (see docs/renode.md)")
    home = Path(os.path.realpath(launcher)).parent
    venv = home / "venv" / "bin"
    if (venv / "python3").exists():
        env["PATH"] = f"{venv}{os.pathsep}{env.get('PATH', '')}"
    check = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)"
    try:
        proc = subprocess.run(
            ["python3", "-c", check, *ROBOT_MODULES], capture_output=True, text=True, timeout=60, env=env
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return RenodeTest([str(launcher)], env, False, f"cannot run python3 for renode-test ({exc})")
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        missing = lines[-1] if lines else "an import failed"
        requirements = home / "tests" / "requirements.txt"
        return RenodeTest(
            [str(launcher)], env, False,
            f"renode-test's Python packages are missing ({missing}): pip install -r {requirements}, "
            "or scripts/setup.sh --renode TARBALL",
        )  # fmt: skip
    return RenodeTest([str(launcher)], env, True, f"{launcher} with its Python packages")


def parse_version(text: str) -> tuple[int, ...]:
    """`Renode, version 1.16.1.12345 (...)` -> (1, 16, 1); (0,) when no version is in the text."""
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(x) for x in m.groups()) if m else (0,)


@dataclass(frozen=True)
class RenodeInfo:
    binary: str
    version: tuple[int, ...]
    text: str  # the first line of `renode --version`

    @property
    def version_text(self) -> str:
        return ".".join(str(v) for v in self.version) if self.version != (0,) else "unknown"


def renode_info(binary: str | None = None) -> RenodeInfo:
    """Find Renode and its version; ToolMissingError with the install hint when it is not there."""
    name = binary or renode_binary()
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"{name} not found; {INSTALL_HINT}")
    return _version_of(path)


@cache
def _version_of(path: str) -> RenodeInfo:
    with tempfile.TemporaryDirectory(prefix="tinyodl-rnv-") as tmp:  # Renode may clean $TMPDIR at start-up
        try:
            proc = subprocess.run(
                [path, "--version"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
                env=_private_env(Path(tmp)),
            )
        except OSError as exc:
            raise ToolMissingError(f"cannot run {path} ({exc.strerror}); {INSTALL_HINT}") from None
        except subprocess.SubprocessError:  # no version to show; that does not stop a run
            return RenodeInfo(binary=path, version=(0,), text="")
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    text = lines[0] if lines else ""
    return RenodeInfo(binary=path, version=parse_version(text), text=text)


def _private_env(tmpdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TMPDIR"] = str(tmpdir)
    return env


# Renode turns executed instructions into virtual time in whole nanoseconds: it converts only multiples
# of MIPS / gcd(MIPS, 1000) instructions and carries the rest, so at the boards' own clocks (80 and 480
# MIPS) time, and a DWT that follows it, moves in steps of 2 and 12 instructions. At 1000 MIPS one
# instruction is one nanosecond (as under QEMU's -icount shift=0) and the platforms' DWT at 1 GHz counts
# every instruction. docs/measurement.md has the measurements.
MIPS = 1000
DWT_HZ = MIPS * 1_000_000


def platform_path(board: Board) -> Path:
    if board.renode is None:
        raise TinyodlError(f"board {board.name} has no Renode platform (simulators.renode in {board.path})")
    path = data_root() / board.renode.platform
    if not path.is_file():
        raise TinyodlError(f"board {board.name}: Renode platform {board.renode.platform} not found at {path}")
    return path


def counter_model(board: Board) -> CounterModel:
    del board  # the same on every Renode platform of tinyodl's
    return CounterModel(
        source="dwt",
        instructions_per_tick=1.0,
        description=(
            f"DWT->CYCCNT at {DWT_HZ // 1_000_000} MHz with PerformanceInMips {MIPS}: one tick per executed "
            "instruction, exact and repeatable"
        ),
        check_tolerance_ticks=0,
    )


# --- the script ------------------------------------------------------------------------------------------


def renode_path(path: str | Path) -> str:
    """A path for the monitor's @path syntax: spaces are escaped with a backslash."""
    text = str(path)
    if any(c in text for c in '\n\r\t"`'):
        raise TinyodlError(f"Renode cannot take this path in a script: {text!r}")
    return text.replace(" ", "\\ ")


def _jinja() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(data_dir("templates"))),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.globals["hex"] = lambda v: f"0x{v:08X}"
    env.filters["renode_path"] = renode_path
    return env


def render_script(board: Board, elf: Path, port: int) -> str:
    """The .resc text for one run of `elf` on `board`, its console on 127.0.0.1:`port`."""
    platform = platform_path(board)  # a clear error when the board has none
    assert board.renode is not None
    context = {
        "banner": f"generated by tinyodl {__version__} for {board.name} (board image) - do not edit",
        "board": board,
        "platform_name": board.renode.platform,
        "platform_path": platform,
        "elf": Path(elf).resolve(),
        "console": board.renode.console,
        "mips": MIPS,
        "vector_table": board.target.memory.flash.origin,
        "port": port,
        "terminal": TERMINAL,
        "halt_symbol": HALT_SYMBOL,
    }
    return _jinja().get_template("renode/run.resc.j2").render(context)


def write_script(board: Board, elf: Path, port: int, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{board.name}.resc"
    path.write_text(render_script(board, elf, port))
    return path


def build_board_image(board: Board, app: str, spec: AppSpec | None = None) -> Path:
    """Build the board image of `app` (a registered application, or `spec` for a generated one) where
    `tinyodl run --sim renode` builds it; return the ELF."""
    from ..apps import APPS
    from ..toolchain.project import build_project, project_dir, write_project

    if spec is None and app not in APPS:
        raise TinyodlError(f"unknown application {app!r}; known: {', '.join(sorted(APPS))}")
    platform_path(board)
    assert board.renode is not None
    machine = board.renode.platform  # as in the placement: the same project directory, the same ELF
    directory = project_dir(board, board.target, app, machine)
    project = write_project(board, board.target, spec or APPS[app], directory, machine=machine)
    return build_project(project)


# --- the monitor's answers -------------------------------------------------------------------------------


def monitor_answer(lines: Collection[str], command: str) -> str | None:
    """The monitor's answer to `command` among the output lines that followed it.

    Skips log lines (`HH:MM:SS.ffff [LEVEL] ...`), prompts (`(machine) `), terminal escapes and the echo
    of the command itself; returns the first remaining text, or None when there is none yet.
    """
    for raw in lines:
        text = ANSI.sub("", raw).strip()
        while True:
            stripped = PROMPT.sub("", text, count=1).strip()
            if stripped == text:
                break
            text = stripped
        if not text or LOG_LINE.match(text) or text == command.strip():
            continue
        return text
    return None


def parse_int(text: str | None) -> int | None:
    """`0x1E240`, `123456` or `0x1E240 (123456)` -> 123456; None for anything else."""
    if text is None:
        return None
    m = NUMBER.match(text.strip())
    if m is None:
        return None
    if m.group("hex") is not None:
        return int(m.group("hex"), 16)
    return int(m.group("dec"))


def parse_bool(text: str | None) -> bool | None:
    if text is None:
        return None
    word = text.strip().lower()
    return True if word == "true" else False if word == "false" else None


# --- controlling Renode ----------------------------------------------------------------------------------


class Controller(Protocol):
    """A running Renode: a subprocess (`renode`) or Renode inside this process (pyrenode3)."""

    name: str

    def exit_code(self) -> int | None: ...

    def startup_error(self) -> str | None: ...

    def query(self, command: str, timeout_s: float) -> str | None: ...

    def output_tail(self, lines: int) -> list[str]: ...

    def kill(self) -> None: ...

    def close(self, quit_timeout_s: float = 10.0) -> None: ...


class RenodeProcess:
    """`renode` as a subprocess: its output collected by reader threads, monitor commands on stdin."""

    name = "Renode"

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, tail_lines: int = 2000) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(cwd),
            start_new_session=True,  # its own process group: the watchdog ends the launcher and its runtime
        )
        self._lock = threading.Lock()
        self._lines: deque[str] = deque(maxlen=tail_lines)
        self._count = 0  # lines received so far, including those that fell out of the tail
        self._drained = False
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.proc.stdout, self.proc.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode(errors="replace").rstrip("\r\n")
            for part in text.split("\r"):
                with self._lock:
                    self._lines.append(part)
                    self._count += 1

    def _since(self, mark: int) -> list[str]:
        with self._lock:
            first = self._count - len(self._lines)
            return list(self._lines)[max(0, mark - first) :]

    def mark(self) -> int:
        with self._lock:
            return self._count

    def exit_code(self) -> int | None:
        code = self.proc.poll()
        if code is not None and not self._drained:
            self._drained = True
            for reader in self._readers:  # the last lines it printed belong in the error message
                reader.join(timeout=1.0)
        return code

    def startup_error(self) -> str | None:
        for line in self._since(0):
            if any(marker in line for marker in STARTUP_ERRORS):
                return line.strip()
        return None

    def send_command(self, command: str) -> bool:
        if self.proc.stdin is None or self.proc.poll() is not None:
            return False
        try:
            self.proc.stdin.write(command.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def query(self, command: str, timeout_s: float) -> str | None:
        mark = self.mark()
        if not self.send_command(command):
            return None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            answer = monitor_answer(self._since(mark), command)
            if answer is not None:
                return answer
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def output_tail(self, lines: int) -> list[str]:
        with self._lock:
            return list(self._lines)[-lines:]

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # the group this process leads (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)

    def close(self, quit_timeout_s: float = 10.0) -> None:
        """Ask the monitor to quit, then terminate and kill the process group if it lingers."""
        if self.proc.poll() is None and self.send_command("quit"):
            try:
                self.proc.wait(timeout=quit_timeout_s)
            except subprocess.TimeoutExpired:
                pass
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            self._signal(sig)
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                pass
        self._signal(signal.SIGKILL)  # children left behind by a launcher that has exited
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        for reader in self._readers:
            reader.join(timeout=2.0)


class PyRenode3Controller:
    """Renode inside this process through pyrenode3: the same script, the monitor through its API."""

    name = "pyrenode3"
    _tmpdir: str | None = None

    def __init__(self, script: Path) -> None:
        mod = _import_pyrenode3()
        self._output: deque[str] = deque(maxlen=2000)
        self._error: str | None = None
        self._closed = False
        self._monitor = mod.Monitor()
        self._emulation = mod.Emulation()
        out, err = self._monitor.execute_script(str(script))
        self._output.extend(str(out or "").splitlines())
        if err:
            self._error = str(err).strip().splitlines()[0] if str(err).strip() else "script failed"
            self._output.extend(str(err).splitlines())

    def exit_code(self) -> int | None:
        return 1 if self._closed else None

    def startup_error(self) -> str | None:
        return self._error

    def query(self, command: str, timeout_s: float) -> str | None:
        del timeout_s  # the call returns when the monitor has answered
        if self._closed:
            return None
        out, err = self._monitor.execute(command)
        self._output.extend(str(out or "").splitlines())
        if err:
            self._output.extend(str(err).splitlines())
            return None
        return monitor_answer(str(out or "").splitlines(), command)

    def output_tail(self, lines: int) -> list[str]:
        return list(self._output)[-lines:]

    def kill(self) -> None:
        self.close()

    def close(self, quit_timeout_s: float = 10.0) -> None:
        del quit_timeout_s  # clearing the emulation is immediate
        if not self._closed:
            self._closed = True
            try:
                self._emulation.clear()
            except Exception:  # noqa: BLE001 - whatever Renode raises while tearing down
                pass


def _import_pyrenode3() -> Any:
    """Import pyrenode3's wrappers, with Renode's temporary files in a private TMPDIR."""
    if PyRenode3Controller._tmpdir is None:
        PyRenode3Controller._tmpdir = tempfile.mkdtemp(prefix="tinyodl-pyrenode3-")
        os.environ["TMPDIR"] = PyRenode3Controller._tmpdir  # Renode cleans $TMPDIR/renode-* when it loads
    try:
        wrappers = importlib.import_module("pyrenode3.wrappers")
    except Exception as exc:  # noqa: BLE001 - ImportError, or pythonnet/Renode failing to load
        raise ToolMissingError(f"{PYRENODE3_HINT} ({type(exc).__name__}: {exc})") from None
    return wrappers


def pyrenode3_available(timeout_s: float = 120.0) -> tuple[bool, str]:
    """Whether pyrenode3 imports, and a one-line detail for `tinyodl doctor`.

    Importing pyrenode3 loads Renode, so the check runs in a child Python with a private TMPDIR.
    """
    try:
        spec = importlib.util.find_spec("pyrenode3")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return False, "not installed"
    with tempfile.TemporaryDirectory(prefix="tinyodl-rnv-") as tmp:
        try:
            proc = subprocess.run(
                [sys.executable, "-c", "import pyrenode3.wrappers"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=_private_env(Path(tmp)),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"import check failed ({type(exc).__name__})"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return False, f"installed, but does not import: {lines[-1] if lines else 'no message'}"
    return True, "imports"


# --- runner and session ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class RenodeRunner:
    """How to run one ELF on one board under Renode."""

    board: Board
    elf: Path
    timeout_s: float = 120.0
    binary: str = RENODE_BINARY
    startup_timeout_s: float = STARTUP_TIMEOUT_S
    in_process: bool = False  # pyrenode3 instead of the `renode` subprocess

    def command(self, script: Path) -> list[str]:
        return [self.binary, "--disable-xwt", "--console", "--plain", str(script)]

    @contextmanager
    def session(self, wrap: Callable[[Transport], Transport] | None = None) -> Iterator[RenodeSession]:
        """Start Renode and connect the link; `wrap` may interpose on the byte stream (fault injection)."""
        sess = RenodeSession.start(self, wrap)
        try:
            yield sess
        except BaseException:
            sess.stop(query=False)
            raise
        sess.stop(query=True)


@dataclass
class RenodeSession(LinkedSession):
    """A running Renode with the link connected. Enforces the wall-clock timeout with a watchdog."""

    label: ClassVar[str] = "Renode"
    runner: RenodeRunner
    controller: Controller
    link: Link
    transport: SerialTransport
    workdir: tempfile.TemporaryDirectory[str]
    script: Path
    timed_out: threading.Event = field(default_factory=threading.Event)
    result_extras: dict[str, Any] = field(default_factory=dict)
    executed_instructions: int | None = None
    _watchdog: threading.Timer | None = None
    _stopped: bool = False

    @classmethod
    def start(cls, runner: RenodeRunner, wrap: Callable[[Transport], Transport] | None = None) -> RenodeSession:
        last_error = ""
        for _attempt in range(3):  # a port taken between choosing and binding: choose another
            workdir = tempfile.TemporaryDirectory(prefix="tinyodl-rn-")
            root = Path(workdir.name)
            (root / "tmp").mkdir()
            port = _free_port()
            script = write_script(runner.board, runner.elf, port, root)
            controller: Controller | None = None
            try:
                controller = _launch(runner, script, root)
                transport = _connect(controller, port, min(runner.startup_timeout_s, runner.timeout_s))
            except RunError as exc:
                if controller is not None:
                    controller.kill()
                    controller.close()
                workdir.cleanup()
                last_error = str(exc)
                if any(marker in last_error for marker in PORT_ERRORS):
                    continue
                raise
            except BaseException:
                if controller is not None:
                    controller.kill()
                    controller.close()
                workdir.cleanup()
                raise
            link = Link(wrap(transport) if wrap else transport)
            sess = cls(
                runner=runner, controller=controller, link=link, transport=transport, workdir=workdir, script=script
            )
            sess._arm_watchdog()
            return sess
        raise RunError(last_error or "Renode did not start")

    def _arm_watchdog(self) -> None:
        def expire() -> None:
            self.timed_out.set()
            self.controller.kill()

        self._watchdog = threading.Timer(self.runner.timeout_s, expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _wait_exit(self, timeout_s: float = 2.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.controller.exit_code() is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _check(self) -> None:
        if self.timed_out.is_set():
            raise RunError(f"timeout: the run took longer than {self.runner.timeout_s:.0f} s", self.log())
        code = self.controller.exit_code()
        if code is not None:
            raise RunError(f"{self.controller.name} exited with code {code} before the run ended", self.log())

    def log(self) -> str:
        raw = bytes(self.link.raw_log)
        tail = raw[-512:]
        lines = [
            f"{len(raw)} bytes received from the console UART (framed link); last {len(tail)}:",
            tail.hex(" ") if tail else "(nothing)",
            f"link: {self.link.retransmissions} retransmissions, {self.link.duplicates} duplicates",
        ]
        out = self.controller.output_tail(40)
        if out:
            lines.append(f"{self.controller.name} output (last {len(out)} lines):")
            lines.extend(out)
        return "\n".join(lines)

    def query_executed_instructions(self, halt_wait_s: float = 3.0) -> int | None:
        """`cpu ExecutedInstructions` once the core has halted in tl_halt (or after `halt_wait_s`)."""
        deadline = time.monotonic() + halt_wait_s
        while time.monotonic() < deadline:
            if parse_bool(self.controller.query("cpu IsHalted", 2.0)):
                break
            if self.controller.exit_code() is not None:
                return None
            time.sleep(0.05)
        return parse_int(self.controller.query("cpu ExecutedInstructions", 5.0))

    def stop(self, query: bool = True) -> None:
        """Stop Renode; after a completed run, first read the executed-instruction total."""
        if self._stopped:
            return
        self._stopped = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        try:
            if query and not self.timed_out.is_set() and self.controller.exit_code() is None:
                self.executed_instructions = self.query_executed_instructions()
                if self.executed_instructions is not None:
                    self.result_extras["executed_instructions_total"] = self.executed_instructions
        finally:
            self.controller.close(quit_timeout_s=10.0 if query else 3.0)
            try:
                self.transport.close()
            except OSError:
                pass
            self.workdir.cleanup()


def _launch(runner: RenodeRunner, script: Path, root: Path) -> Controller:
    if runner.in_process:
        controller = PyRenode3Controller(script)
        error = controller.startup_error()
        if error:
            tail = "\n".join(controller.output_tail(40))
            controller.close()
            raise RunError(f"pyrenode3 could not run the Renode script: {error}", tail)
        return controller
    try:
        return RenodeProcess(runner.command(script), _private_env(root / "tmp"), cwd=root)
    except OSError as exc:
        raise ToolMissingError(f"cannot start {runner.binary} ({exc.strerror}); {INSTALL_HINT}") from None


def _connect(controller: Controller, port: int, timeout_s: float) -> SerialTransport:
    """Connect to the console socket while Renode starts; fail early when the script fails or Renode exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        code = controller.exit_code()
        if code is not None:
            raise RunError(
                f"{controller.name} exited with code {code} while starting",
                "\n".join(controller.output_tail(40)),
            )
        error = controller.startup_error()
        if error:
            tail = "\n".join(controller.output_tail(40))
            raise RunError(f"{controller.name} could not run the script: {error}", tail)
        try:
            return SerialTransport(f"socket://127.0.0.1:{port}")
        except Exception:  # noqa: BLE001 - pyserial raises SerialException/OSError until the socket listens
            pass
        if time.monotonic() >= deadline:
            raise RunError(
                f"{controller.name} did not open the console socket within {timeout_s:.0f} s",
                "\n".join(controller.output_tail(40)),
            )
        time.sleep(0.1)


# --- the simulator backends ------------------------------------------------------------------------------


class RenodeSimulator:
    """The Renode backend: the board's own image on the board's Renode platform."""

    name = "renode"
    in_process = False

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or renode_binary()
        self._boards: dict[str, Board] = {}

    def _version(self) -> str:
        return renode_info(self.binary).version_text

    def place(self, board: Board, machine: str | None = None) -> Placement:
        path = platform_path(board)
        assert board.renode is not None
        if machine is not None and machine not in (board.renode.platform, path.name, path.stem):
            raise TinyodlError(
                f"on Renode, board {board.name} runs on its platform {board.renode.platform}; "
                f"--machine {machine!r} is not it"
            )
        counter = counter_model(board)
        version = self._version()
        self._boards[board.renode.platform] = board
        return Placement(
            simulator=self.name,
            simulator_version=version,
            machine=board.renode.platform,
            image="board",
            target=board.target,
            counter=counter,
            note=f"the {board.name} image itself runs on Renode with the platform {board.renode.platform}",
        )

    def runner(self, placement: Placement, elf: Path, timeout_s: float) -> RenodeRunner:
        board = self._boards.get(placement.machine)
        if board is None:
            raise TinyodlError(f"no board was placed on {placement.machine} by this Renode backend")
        return RenodeRunner(board=board, elf=elf, timeout_s=timeout_s, binary=self.binary, in_process=self.in_process)

    def session(
        self, placement: Placement, elf: Path, timeout_s: float, wrap: Wrap | None = None
    ) -> AbstractContextManager[RenodeSession]:
        return self.runner(placement, elf, timeout_s).session(wrap)


class PyRenode3Simulator(RenodeSimulator):
    """The same runs through pyrenode3 (Renode inside this Python process), when pyrenode3 imports."""

    name = "pyrenode3"
    in_process = True

    def _version(self) -> str:
        _import_pyrenode3()
        try:
            return renode_info(self.binary).version_text
        except ToolMissingError:
            return "unknown (pyrenode3)"
