"""Run a firmware application on a simulated board and fill the result contract (SPEC section 6).

build -> ELF size report -> simulator session -> application driver -> stats -> result dict.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .apps import APPS, selftest
from .apps.protocol import close_session, open_session
from .boards import Board, load_board
from .errors import RunError, TinyodlError
from .link import Transport
from .measure import CPI_SOURCE, estimate_cycles, latency_ms
from .sim import qemu
from .sim.base import Placement, Simulator
from .toolchain.elfsize import SizeReport, size_report
from .toolchain.project import AppSpec, build_project, project_dir, write_project

Progress = Callable[[str], None]


def simulators() -> dict[str, Callable[[], Simulator]]:
    """Simulator backends by name; each is constructed (and checks its tools) only when chosen."""

    def renode() -> Simulator:
        from .sim.renode import RenodeSimulator

        return RenodeSimulator()

    def pyrenode3() -> Simulator:
        from .sim.renode import PyRenode3Simulator

        return PyRenode3Simulator()

    return {"qemu": qemu.QemuSimulator, "renode": renode, "pyrenode3": pyrenode3}


@dataclass(frozen=True)
class RunOptions:
    sim: str = "qemu"
    machine: str | None = None  # a QEMU machine named in the board file; default: the first one available
    timeout_s: float = 120.0
    build_dir: Path | None = None
    seed: int = 2024


@dataclass(frozen=True)
class Prepared:
    """A built firmware image and where it runs."""

    board: Board
    placement: Placement
    simulator: Simulator
    elf: Path
    sizes: SizeReport
    build_seconds: float


def quiet(_: str) -> None:
    pass


def prepare(
    board_name: str, app: str, opts: RunOptions, progress: Progress = quiet, spec: AppSpec | None = None
) -> Prepared:
    """Build `app` (a registered application, or `spec` for generated ones) for the board on the simulator."""
    if spec is None and app not in APPS:
        raise TinyodlError(f"unknown application {app!r}; known: {', '.join(sorted(APPS))}")
    backends = simulators()
    if opts.sim not in backends:
        raise TinyodlError(f"unknown simulator {opts.sim!r}; available: {', '.join(backends)}")
    board = load_board(board_name)
    sim = backends[opts.sim]()
    placement = sim.place(board, opts.machine)
    target = placement.target
    directory = opts.build_dir or project_dir(board, target, app, placement.machine)
    t0 = time.monotonic()
    progress(f"{board.name}: building {app} ({placement.image} image for {placement.machine})")
    project = write_project(board, target, spec or APPS[app], directory, machine=placement.machine)
    elf = build_project(project)
    return Prepared(board, placement, sim, elf, size_report(elf, target), time.monotonic() - t0)


def execute(
    prep: Prepared,
    app: str,
    opts: RunOptions,
    progress: Progress = quiet,
    wrap: Callable[[Transport], Transport] | None = None,
) -> dict[str, Any]:
    board, place = prep.board, prep.placement
    progress(f"{board.name}: running on {place.simulator} {place.simulator_version} {place.machine}")
    t1 = time.monotonic()
    with prep.simulator.session(place, prep.elf, opts.timeout_s, wrap) as sess:
        hello = open_session(sess, app)
        steps = selftest.run(sess, dsp=board.dsp, vectors=selftest.make_vectors(opts.seed))
        stats = close_session(sess)
        link = {
            "retransmissions": sess.link.retransmissions,
            "duplicates": sess.link.duplicates,
            "frames_dropped": sess.link.frames_dropped,
            "rx_overflows": stats.rx_overflows,
        }
    run_s = time.monotonic() - t1
    extras = dict(getattr(sess, "result_extras", None) or {})  # figures only some backends know

    if hello.timer_source != place.counter.source:
        raise RunError(
            f"the firmware measured with {hello.timer_source!r}, but on {place.simulator} {place.machine} "
            f"the exact counter is {place.counter.source!r}"
        )
    per_tick = place.counter.instructions_per_tick
    step_dicts = [s.as_dict(per_tick) for s in steps]
    instructions = sum(round(s.ticks * per_tick) for s in steps if not s.name.startswith("spin"))
    cycles = estimate_cycles(board.cpu, instructions)
    check = selftest.counter_check(steps, per_tick, place.counter.check_tolerance_ticks)
    outputs_match = all(s.match for s in steps) and bool(check["ok"])
    result: dict[str, Any] = {
        "tinyodl_version": __version__,
        "app": app,
        "board": board.name,
        "mcu": board.mcu,
        "core": board.cpu,
        "clock_hz": board.clock_hz,
        "simulator": place.simulator,
        "simulator_version": place.simulator_version,
        "machine": place.machine,
        "image": place.image,
        "note": place.note,
        "timer_source": hello.timer_source,
        "counter": place.counter.description,
        "instructions": instructions,
        "instructions_granularity": per_tick,
        "instructions_exact": True,
        "instructions_scope": "sum of the measured kernel steps (reps included); link I/O excluded",
        "cycles_estimated": round(cycles),
        "latency_ms_estimated": round(latency_ms(cycles, board.clock_hz), 4),
        "estimate_model": CPI_SOURCE,
        "flash_bytes": prep.sizes.flash_bytes,
        "static_ram_bytes": prep.sizes.static_ram_bytes,
        "ram_regions": prep.sizes.as_dict()["ram_regions"],
        "stack_reserved_bytes": prep.sizes.stack_bytes,
        "stack_peak_bytes": stats.stack_peak_bytes,
        "outputs_match": outputs_match,
        "counter_check": check,
        "steps": step_dicts,
        "link": link,
        "elf": str(prep.elf),
        "build_seconds": round(prep.build_seconds, 2),
        "run_seconds": round(run_s, 2),
    }
    for key, value in extras.items():
        result.setdefault(key, value)
    return result


def run_app(board_name: str, app: str, options: RunOptions | None = None, progress: Progress = quiet) -> dict[str, Any]:
    opts = options or RunOptions()
    return execute(prepare(board_name, app, opts, progress), app, opts, progress)
