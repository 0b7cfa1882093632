"""Estimated cycles of a model run: one inference under QEMU with its execution log, per layer and whole.

The model's firmware runs once more, on the first input window, with QEMU's in_asm/exec log read through a
pipe (tinyodl/cycles/trace.py). Each layer's measured window gives per-block execution counts; the ELF's
decode (tinyodl/cycles/decode.py) gives each block's instructions; the core's timings
(tinyodl/cycles/timing.py) and the model (tinyodl/cycles/model.py) turn them into estimated cycles.

Self-check: the instructions the blocks hold must equal, per layer, the exact count the firmware measured
in the same run, to within the counter's granularity (one SysTick tick) plus the instructions of the two
measurement calls the window leaves out (`OVERHEAD`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..apps.model import ModelDriver
from ..apps.protocol import close_session, open_session
from ..boards import Board
from ..errors import RunError, TinyodlError
from ..sim.base import Placement
from ..sim.qemu import QemuRunner
from . import decode, trace
from .model import BlockRun, Estimate, estimate, instructions_of
from .timing import CORES, CoreTiming

# Instructions of tl_measure_begin after SysTick restarts and of tl_measure_end before it reads the counter:
# measured by the firmware, outside the window of blocks (a few dozen on both cores).
OVERHEAD = 64
METHOD = (
    "per-block execution counts from QEMU's exec log (-d in_asm,exec,nochain, one inference, first input), "
    "weighted by the per-core timing of each block's instructions decoded from the ELF (objdump)"
)


def core_timing(cpu: str) -> CoreTiming:
    if cpu not in CORES:
        raise TinyodlError(f"no cycle model for core {cpu!r}; modelled: {', '.join(CORES)}")
    return CORES[cpu]


def window_runs(window: trace.Window, reader: trace.LogReader, code: dict[int, decode.Insn]) -> list[BlockRun]:
    runs = []
    for key, count in window.blocks.items():
        insns, _ = instructions_of(reader.addresses(key), code)
        runs.append(BlockRun(insns, count.executions, count.taken, count.flips))
    return runs


@dataclass(frozen=True)
class ModelCycles:
    timing: CoreTiming
    layers: list[Estimate]
    measured: list[int]  # the firmware's exact per-layer instructions in the same run
    granularity: float
    clock_hz: int
    link_retransmissions: int = 0

    @property
    def total(self) -> Estimate:
        est = Estimate(core=self.timing.core)
        for layer in self.layers:
            est.add(layer)
        return est

    def check(self) -> dict[str, Any]:
        diffs = [m - e.instructions for m, e in zip(self.measured, self.layers, strict=True)]
        worst = max((abs(v) for v in diffs), default=0)
        tolerance = self.granularity + OVERHEAD
        return {
            "what": "per layer: exact instructions measured by the firmware minus the instructions of the "
            "counted blocks",
            "differences": diffs,
            "tolerance": tolerance,
            "ok": worst <= tolerance,
        }

    def as_dict(self) -> dict[str, Any]:
        total = self.total
        t = self.timing
        return {
            "estimated": True,
            "core": t.core,
            "method": METHOD,
            "timings": t.source,
            "assumptions": list(t.assumptions),
            "estimated_cycles": round(total.cycles),
            "estimated_latency_ms": round(total.cycles / self.clock_hz * 1e3, 4),
            "estimated_cpi": round(total.cpi, 3),
            "counted_instructions": total.instructions,
            "block_count_check": self.check(),
            "link_retransmissions": self.link_retransmissions,
            **{
                k: v
                for k, v in total.as_dict().items()
                if k not in ("core", "instructions", "estimated_cycles", "estimated_cpi")
            },  # fmt: skip
        }


def measure_model(
    board: Board,
    placement: Placement,
    elf: Path,
    layers: int,
    x: np.ndarray,
    timeout_s: float,
) -> ModelCycles:
    """Run one inference of the model firmware `elf` under QEMU with the execution log and estimate its
    cycles per layer on the board's core."""
    if placement.simulator != "qemu":
        raise TinyodlError(f"--cycles counts executed blocks with QEMU; the run uses {placement.simulator}")
    timing = core_timing(board.cpu)
    code = decode.decode_elf(elf)
    with trace.collector(elf) as col:
        runner = QemuRunner(
            machine=placement.machine,
            elf=elf,
            serial_index=placement.serial_index,
            timeout_s=timeout_s,
            extra_args=col.args(),
        )
        with runner.session() as sess:
            open_session(sess, "model")
            drv = ModelDriver(sess)
            drv.info()
            drv.set_input(x.tobytes())
            ticks = drv.invoke(layers)
            close_session(sess)
            retransmissions = sess.link.retransmissions
        reader = col.join()
    windows = reader.windows
    if len(windows) < layers:
        raise RunError(f"QEMU's execution log shows {len(windows)} measured windows for {layers} layers")
    per_tick = placement.counter.instructions_per_tick
    chosen: Sequence[trace.Window] = windows[-layers:]  # the inference whose counts the firmware returned
    estimates = [estimate(timing, window_runs(w, reader, code)) for w in chosen]
    return ModelCycles(
        timing=timing,
        layers=estimates,
        measured=[round(t * per_tick) for t in ticks],
        granularity=per_tick,
        clock_hz=board.clock_hz,
        link_retransmissions=retransmissions,
    )
