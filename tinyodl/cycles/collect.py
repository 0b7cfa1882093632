"""Estimated cycles of a model run (one inference, per layer and whole) and of a learner step (TinyRCE's
extraction, prediction and learning; the replay learner's SGD steps), under QEMU with its execution log.

The model's firmware runs once more, on the first input window, with QEMU's in_asm/exec log read through a
pipe (tinyodl/cycles/trace.py). Each layer's measured window gives per-block execution counts; the ELF's
decode (tinyodl/cycles/decode.py) gives each block's instructions; the core's timings
(tinyodl/cycles/timing.py) and the model (tinyodl/cycles/model.py) turn them into estimated cycles.

A learner run traces a few learning steps (after importing the learner's state, so the pool is that of a
real run) and estimates the last one; the replay learner traces one training on given latents.

Self-check: the instructions the blocks hold must equal, per layer (per measured part), the exact count the
firmware measured in the same run, to within the counter's granularity (one SysTick tick) plus the
instructions of the two measurement calls the window leaves out (`OVERHEAD`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..apps.learn import LearnDriver, StepReply
from ..apps.model import ModelDriver
from ..apps.protocol import close_session, open_session
from ..apps.replay import ReplayDriver, TrainReply
from ..boards import Board
from ..errors import RunError, TinyodlError
from ..learn.replay import ReplayParams
from ..learn.tinyrce import RceParams, Status
from ..sim.base import Placement
from ..sim.qemu import QemuRunner
from . import decode, trace
from .model import BlockRun, Estimate, estimate, instructions_of
from .timing import CORES, CoreTiming

_T = TypeVar("_T")

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


@dataclass(frozen=True)
class StepCycles(ModelCycles):
    """Estimated cycles of the measured parts of one learner step (`layers` holds one estimate per part)."""

    names: tuple[str, ...] = ()
    steps: int = 1  # SGD steps inside the measured window (the replay learner's training), else 1
    traced_steps: int = 1  # learner steps run under the log; the last one is estimated

    def parts(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"estimated_cycles": round(e.cycles), "estimated_cpi": round(e.cpi, 3),
                   "counted_instructions": e.instructions, "measured_instructions": m}
            for name, e, m in zip(self.names, self.layers, self.measured, strict=True)
        }  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["method"] = STEP_METHOD
        out["block_count_check"]["what"] = (
            "per measured part: exact instructions measured by the firmware minus the instructions of the counted "
            "blocks"
        )
        out["parts"] = self.parts()
        out["steps_in_window"] = self.steps
        out["traced_steps"] = self.traced_steps
        return out


def step_cycles(parts: dict[str, float], cycle_model: dict[str, Any] | None) -> float | None:
    """Estimated cycles of a learner step made of measured parts (name -> mean exact instructions): each part's
    instructions times its estimated CPI in the traced step (`cycle_model`: StepCycles.as_dict() of a learner
    run; the replay learner's one part is its training window). None without a cycle model for every part."""
    if cycle_model is None:
        return None
    traced = cycle_model.get("parts", {})
    total = 0.0
    for name, instructions in parts.items():
        part = traced.get(name)
        if part is None or not part["counted_instructions"]:
            if instructions == 0:
                continue
            return None
        total += instructions * part["estimated_cycles"] / part["counted_instructions"]
    return total


STEP_METHOD = (
    "per-block execution counts from QEMU's exec log (-d in_asm,exec,nochain) of the learner's measured windows "
    "in its last traced step, weighted by the per-core timing of each block's instructions decoded from the ELF "
    "(objdump)"
)


def _traced_run(
    placement: Placement, elf: Path, timeout_s: float, app: str, body: Callable[[Any], _T]
) -> tuple[_T, trace.LogReader, int]:
    """Run `body(session)` in a session of `app` on QEMU with the execution log read alongside: its result,
    the log's reader (every measured window) and the link's retransmissions."""
    if placement.simulator != "qemu":
        raise TinyodlError(f"--cycles counts executed blocks with QEMU; the run uses {placement.simulator}")
    with trace.collector(elf) as col:
        runner = QemuRunner(
            machine=placement.machine,
            elf=elf,
            serial_index=placement.serial_index,
            timeout_s=timeout_s,
            extra_args=col.args(),
        )
        with runner.session() as sess:
            open_session(sess, app)
            result = body(sess)
            close_session(sess)
            retransmissions = sess.link.retransmissions
        reader = col.join()
    return result, reader, retransmissions


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
    timing = core_timing(board.cpu)
    code = decode.decode_elf(elf)

    def body(sess: Any) -> tuple[int, ...]:
        drv = ModelDriver(sess)
        drv.info()
        drv.set_input(x.tobytes())
        return tuple(drv.invoke(layers))

    ticks, reader, retransmissions = _traced_run(placement, elf, timeout_s, "model", body)
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


LEARNER_PARTS = ("extract", "predict", "learn")


def measure_learner_step(
    board: Board,
    placement: Placement,
    elf: Path,
    params: RceParams,
    int8: bool,
    steps: Sequence[tuple[bytes, int]],
    timeout_s: float,
    state: bytes | None = None,
) -> StepCycles:
    """Run learning steps of the learner firmware `elf` (firmware/apps/learn) on (input window, label) pairs
    under QEMU with the execution log, after importing the learner `state` when given, and estimate the
    cycles of the last step's extraction, prediction and learning on the board's core."""
    if not steps:
        raise TinyodlError("the learner's cycle estimate needs at least one step")
    timing = core_timing(board.cpu)
    code = decode.decode_elf(elf)

    def body(sess: Any) -> tuple[list[StepReply], int]:
        drv = LearnDriver(sess)
        info = drv.info()
        drv.init(params, int8)
        if state is not None and drv.import_state(state) != 0:
            raise RunError("the learner refused the state it exported", sess.log())
        replies = []
        for window, label in steps:
            drv.window(window)
            replies.append(drv.step(label, True, int8=int8))
        return replies, info.head_classes

    (replies, head_classes), reader, retransmissions = _traced_run(placement, elf, timeout_s, "learn", body)

    def windows_of(r: StepReply) -> int:  # extract, predict, learn, and the head when the learner did not know
        return 3 + (r.status == Status.UNKNOWN and head_classes > 0)

    expected = sum(windows_of(r) for r in replies)
    if len(reader.windows) != expected:
        raise RunError(f"QEMU's execution log shows {len(reader.windows)} measured windows for {len(replies)} "
                       f"learner steps ({expected} measured by the firmware)")  # fmt: skip
    last = replies[-1]
    chosen = reader.windows[-windows_of(last) :][: len(LEARNER_PARTS)]
    per_tick = placement.counter.instructions_per_tick
    return StepCycles(
        timing=timing,
        layers=[estimate(timing, window_runs(w, reader, code)) for w in chosen],
        measured=[round(t * per_tick) for t in last.ticks[: len(LEARNER_PARTS)]],
        granularity=per_tick,
        clock_hz=board.clock_hz,
        link_retransmissions=retransmissions,
        names=LEARNER_PARTS,
        traced_steps=len(replies),
    )


def measure_replay_training(
    board: Board,
    placement: Placement,
    elf: Path,
    params: ReplayParams,
    head: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None],
    latents: np.ndarray,
    labels: Sequence[int],
    timeout_s: float,
) -> StepCycles:
    """Train the replay learner firmware `elf` (firmware/apps/replay) once on given latents under QEMU with
    the execution log and estimate the cycles of its measured training window (all its SGD steps) on the
    board's core; `steps` says how many SGD steps the window holds."""
    timing = core_timing(board.cpu)
    code = decode.decode_elf(elf)

    def body(sess: Any) -> TrainReply:
        drv = ReplayDriver(sess)
        drv.info()
        drv.params(params)
        drv.load_head(head[0], head[1], head[2], head[3])
        for latent, label in zip(latents, labels, strict=True):
            drv.add(int(label), latent)
        reply = drv.train()
        if reply.status != 0:
            raise RunError(f"training on the device stopped with status {reply.status}", sess.log())
        return reply

    reply, reader, retransmissions = _traced_run(placement, elf, timeout_s, "replay", body)
    if len(reader.windows) != 2:  # the training and the buffer update
        raise RunError(f"QEMU's execution log shows {len(reader.windows)} measured windows for one training "
                       "(2 measured by the firmware)")  # fmt: skip
    per_tick = placement.counter.instructions_per_tick
    return StepCycles(
        timing=timing,
        layers=[estimate(timing, window_runs(reader.windows[0], reader, code))],
        measured=[round(reply.train_ticks * per_tick)],
        granularity=per_tick,
        clock_hz=board.clock_hz,
        link_retransmissions=retransmissions,
        names=("training",),
        steps=max(reply.steps, 1),
    )
