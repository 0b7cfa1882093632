"""The cycle model: executed blocks x the per-core cost of their instructions -> estimated cycles.

cycles = sum over executed blocks of (the block's static cost + taken x branch penalty
         + mispredicted x mispredict penalty)

- Static cost, Cortex-M4: the class cost of every instruction (tinyodl/cycles/timing.py), a load or store
  that follows a single load whose result does not form its address costing 1 (TRM 3.3.2: N pipelined
  loads/stores take N + 1), a store with an immediate offset 1 (the write buffer), one cycle more for a
  load or store whose address the instruction just before computed, load/store-multiple 1 + N.
- Static cost, Cortex-M7: in-order issue of up to two instructions per cycle over the block's instruction
  sequence (`pairs`), with a register scoreboard for the load/multiply/FPU latencies. Every block starts
  with all registers ready (no stall carried across blocks).
- Taken: from the block sequence the simulator executed (tinyodl/cycles/trace.py). Only blocks that end in
  a branch pay it. Mispredicted (Cortex-M7): conditional branches whose direction differed from their
  previous execution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import decode as d
from .decode import Insn
from .timing import CoreTiming

PIPELINED_AFTER = frozenset({d.LOAD, d.FP_LOAD})  # a single load the next load/store can pipeline behind
PIPELINABLE = frozenset({d.LOAD, d.STORE, d.FP_LOAD, d.FP_STORE})
MULTIPLE = frozenset({d.LOAD_MULTIPLE, d.STORE_MULTIPLE, d.FP_LOAD_MULTIPLE, d.FP_STORE_MULTIPLE})
LOADS = frozenset({d.LOAD, d.LOAD_DOUBLE, d.LOAD_MULTIPLE, d.FP_LOAD, d.FP_LOAD_MULTIPLE})
FPU = frozenset({d.FP, d.FP_MAC, d.FP_DIV})
DSP_FIRST_ONLY = frozenset({d.MUL, d.SIMD})
DATA_PROCESSING = frozenset({d.ALU, d.SIMD, d.MUL, d.DIV})


def occupancy(t: CoreTiming, insn: Insn) -> float:
    """Cycles an instruction holds the issue stage, before any pipelining or pairing."""
    base = t.cycles[insn.cls]
    if insn.transfers:
        base += math.ceil(insn.transfers / t.multiple_per_cycle)
    return base


def block_cycles(t: CoreTiming, insns: Sequence[Insn]) -> float:
    """The static cost of one execution of a block (its final branch counted as not taken)."""
    return pairs_cycles(t, insns)[0] if t.dual_issue else _single_issue(t, insns)


def _single_issue(t: CoreTiming, insns: Sequence[Insn]) -> float:
    total = 0.0
    prev: Insn | None = None
    for insn in insns:
        cost = occupancy(t, insn)
        if t.buffered_store_cycles and insn.cls == d.STORE and len(insn.address_regs) <= 1:
            cost = t.buffered_store_cycles  # STR Rx, [Ry, #imm]: the write buffer takes it
        elif (insn.cls in PIPELINABLE and prev is not None and prev.cls in PIPELINED_AFTER
                and not set(prev.dests) & set(insn.address_regs)):  # fmt: skip
            cost = 1
        if (t.address_stall and insn.address_regs and prev is not None and prev.cls in DATA_PROCESSING
                and set(prev.dests) & set(insn.address_regs)):  # fmt: skip
            cost += t.address_stall  # the address needs the result of the instruction just before
        total += cost
        prev = insn
    return total


def _latency(t: CoreTiming, insn: Insn) -> int:
    if insn.cls in LOADS:
        return t.load_latency
    if insn.cls == d.MUL:
        return t.mul_latency
    if insn.cls in FPU:
        return max(t.fp_latency, int(occupancy(t, insn)))
    return max(1, int(occupancy(t, insn)))


def _accumulators(insn: Insn) -> tuple[str, ...]:
    if not insn.accumulates:
        return ()
    if insn.cls == d.FP_MAC or len(insn.dests) == 2:
        return insn.dests
    return insn.srcs[-1:]


def can_pair(first: Insn, second: Insn) -> bool:
    """Whether `second` may issue in the same cycle as `first` on the Cortex-M7 (timing.py's assumptions)."""
    if first.cls == d.BRANCH or first.writes_pc or second.cls in DSP_FIRST_ONLY:
        return False
    if first.cls in d.MEMORY and second.cls in d.MEMORY:
        return False
    if first.cls == d.MUL and second.cls == d.MUL:
        return False
    if first.cls in FPU and second.cls in FPU:
        return False
    written = set(first.dests)
    return not (written & set(second.srcs) or written & set(second.dests))


def pairs_cycles(t: CoreTiming, insns: Sequence[Insn]) -> tuple[float, list[tuple[Insn, ...]]]:
    """Dual-issue schedule of a block: (cycles until the last issue group has issued, the issue groups)."""
    ready: dict[str, float] = {}  # register -> first cycle a dependent instruction may issue
    acc_ready: dict[str, float] = {}  # accumulator forwarding between MACs
    groups: list[tuple[Insn, ...]] = []
    cycle = -1.0
    free = 0.0  # first cycle the issue stage is free
    open_group: list[Insn] = []
    for insn in insns:
        accs = set(_accumulators(insn))
        need = max((acc_ready.get(r, ready.get(r, 0.0)) if r in accs else ready.get(r, 0.0) for r in insn.srcs),
                   default=0.0)  # fmt: skip
        occ = occupancy(t, insn)
        if (len(open_group) == 1 and occ == 1 and occupancy(t, open_group[0]) == 1 and need <= cycle
                and can_pair(open_group[0], insn)):  # fmt: skip
            open_group.append(insn)
        else:
            if open_group:
                groups.append(tuple(open_group))
            cycle = max(free, need)
            free = cycle + occ
            open_group = [insn]
        lat = _latency(t, insn)
        for r in insn.dests:
            ready[r] = cycle + (1 if r in insn.writeback else lat)
            acc_ready.pop(r, None)
        if insn.cls == d.MUL and insn.accumulates:
            for r in insn.dests:
                acc_ready[r] = cycle + 1
    if open_group:
        groups.append(tuple(open_group))
    return free, groups


@dataclass
class Estimate:
    """Estimated cycles of a set of executed blocks on one core, with what they consist of."""

    core: str
    instructions: int = 0
    cycles: float = 0.0
    by_class: dict[str, int] = field(default_factory=dict)  # executed instructions per class
    taken_branches: int = 0
    mispredicted_branches: int = 0
    branch_cycles: float = 0.0
    unclassified: int = 0  # executed instructions whose mnemonic no table lists (counted as ALU)
    undecoded: int = 0  # executed instructions at addresses objdump did not list (counted as ALU)

    @property
    def cpi(self) -> float:
        return self.cycles / self.instructions if self.instructions else 0.0

    def add(self, other: Estimate) -> None:
        self.instructions += other.instructions
        self.cycles += other.cycles
        for k, v in other.by_class.items():
            self.by_class[k] = self.by_class.get(k, 0) + v
        self.taken_branches += other.taken_branches
        self.mispredicted_branches += other.mispredicted_branches
        self.branch_cycles += other.branch_cycles
        self.unclassified += other.unclassified
        self.undecoded += other.undecoded

    def as_dict(self) -> dict[str, Any]:
        return {
            "core": self.core,
            "instructions": self.instructions,
            "estimated_cycles": round(self.cycles),
            "estimated_cpi": round(self.cpi, 3),
            "instructions_by_class": dict(sorted(self.by_class.items(), key=lambda kv: -kv[1])),
            "taken_branches": self.taken_branches,
            "mispredicted_branches": self.mispredicted_branches,
            "branch_penalty_cycles": round(self.branch_cycles),
            "unclassified_instructions": self.unclassified,
            "undecoded_instructions": self.undecoded,
        }


@dataclass(frozen=True)
class BlockRun:
    """A block's instructions and how it ran: executions, taken, direction changes (trace.BlockCount)."""

    insns: tuple[Insn, ...]
    executions: int
    taken: int = 0
    flips: int = 0


def instructions_of(addresses: Sequence[int], code: Mapping[int, Insn]) -> tuple[tuple[Insn, ...], int]:
    """The decoded instructions at `addresses`; one objdump did not list counts as a 2-byte ALU instruction.
    Returns (instructions, how many were not listed)."""
    out = []
    missing = 0
    for a in addresses:
        insn = code.get(a)
        if insn is None:
            missing += 1
            insn = Insn(a, 2, "?", "?", d.ALU, (), (), known=False)
        out.append(insn)
    return tuple(out), missing


def estimate(t: CoreTiming, runs: Sequence[BlockRun]) -> Estimate:
    est = Estimate(core=t.core)
    for run in runs:
        if run.executions <= 0 or not run.insns:
            continue
        static = block_cycles(t, run.insns)
        last = run.insns[-1]
        ends_in_branch = last.cls == d.BRANCH or last.writes_pc
        taken = run.taken if ends_in_branch else 0
        mispredicted = run.flips if ends_in_branch and last.conditional and t.mispredict_penalty else 0
        branch = taken * t.branch_taken_penalty + mispredicted * t.mispredict_penalty
        est.cycles += run.executions * static + branch
        est.branch_cycles += branch
        est.taken_branches += taken
        est.mispredicted_branches += mispredicted
        est.instructions += run.executions * len(run.insns)
        for insn in run.insns:
            est.by_class[insn.cls] = est.by_class.get(insn.cls, 0) + run.executions
            if not insn.known:
                est.unclassified += run.executions
            if insn.mnemonic == "?":
                est.undecoded += run.executions
    return est
