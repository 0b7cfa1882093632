"""Per-core instruction timings: the data the cycle model (tinyodl/cycles/model.py) applies.

Cortex-M4: ARM's Cortex-M4 Technical Reference Manual (ARM 100166_0001_00), section 3.3.1 "Table of
processor instructions" (Table 3-1, cycle counts at zero wait states) and 3.3.2 "Load/store timings"
(neighbouring single loads and stores pipeline: N of them take N + 1 cycles; a store with an immediate
offset takes one cycle, the write buffer taking its data; a load or store whose address depends on the
data-processing instruction just before it stalls one cycle, having no forwarding path), and the FPU chapter's
instruction table (7.2.3, VFP timings). P, the pipeline refill after a taken branch, is 1 to 3 in the
TRM; the model takes 2. SDIV/UDIV take 2 to 12 (early termination on the operands' magnitude); the model
takes 7.

Cortex-M7: ARM publishes no instruction timing table for this core (its TRM, ARM DDI 0489, describes the
six-stage in-order dual-issue pipeline, the branch predictor and the L1 caches, not per-instruction cycles).
The figures below are therefore assumptions, stated with what they rest on: two instructions issue per
cycle from the in-order sequence; one load/store, one multiply (the MAC pipeline), one FPU operation and
one branch per cycle; DSP (SIMD and MAC) instructions only as the first of a pair; loads return to a
dependent instruction after 2 cycles, multiplies after 2, FPU arithmetic after 3; accumulator chains of
MACs forward (no stall); LDM/STM move two registers per cycle over the 64-bit interface; taken branches
the predictor got right cost one fetch bubble, mispredicted ones the pipeline refill (taken as 7).
They are the weakest part of the model, and docs/cycles.md says so.

Memory (both cores): every access hits zero-wait-state memory. On the NUCLEO-L476RG (80 MHz, 4 flash wait
states) this assumes ST's ART accelerator serves instruction fetches from its 1 KiB instruction cache
and prefetch buffer (hot kernel loops fit) and data reads of constants from its data cache; weight
streams larger than that cache pay wait states the model does not count. On the NUCLEO-H743ZI
(480 MHz, code in AXI flash) it assumes the 16 KiB L1 instruction and data caches hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import decode as d


@dataclass(frozen=True)
class CoreTiming:
    core: str  # "cortex-m4", "cortex-m7"
    source: str
    cycles: dict[str, float]  # issue cost of one instruction of each class (multiples: per register moved)
    branch_taken_penalty: float  # cycles a taken branch adds to its class cost (P, or the predicted bubble)
    mispredict_penalty: float = 0.0  # dual-issue core: extra cycles of a mispredicted branch
    dual_issue: bool = False
    load_latency: int = 1  # cycles from a load's issue until a dependent instruction may issue
    mul_latency: int = 1
    fp_latency: int = 1
    multiple_per_cycle: int = 1  # registers an LDM/STM moves per cycle
    buffered_store_cycles: float = 0  # single-issue core: a store with an immediate offset (0: the class cost)
    address_stall: int = 0  # single-issue core: a load/store whose address the instruction before computed
    assumptions: tuple[str, ...] = field(default_factory=tuple)


CORTEX_M4 = CoreTiming(
    core="cortex-m4",
    source="ARM Cortex-M4 TRM (100166_0001_00) Table 3-1 and section 3.3.2; FPU instruction table (7.2.3)",
    cycles={
        d.ALU: 1,
        d.SIMD: 1,
        d.MUL: 1,  # MUL, MLA, MLS, SMULL, UMULL, SMLAL, UMLAL, SMLAD, ...: all 1 on the M4
        d.DIV: 7,  # 2 to 12
        d.LOAD: 2,  # 1 when pipelined after a single load (N loads: N + 1)
        d.STORE: 2,  # likewise
        d.LOAD_DOUBLE: 3,  # 1 + N, N = 2
        d.STORE_DOUBLE: 3,
        d.LOAD_MULTIPLE: 1,  # 1 + N: 1 here, plus 1 per register
        d.STORE_MULTIPLE: 1,
        d.BRANCH: 1,  # plus P when taken
        d.FP: 1,
        d.FP_MAC: 3,  # VMLA/VFMA 3
        d.FP_DIV: 14,  # VDIV.F32, VSQRT.F32
        d.FP_LOAD: 2,
        d.FP_STORE: 2,
        d.FP_LOAD_MULTIPLE: 1,  # 1 + N single registers
        d.FP_STORE_MULTIPLE: 1,
        d.SYSTEM: 2,  # barriers and the like: 1 + B; rare outside start-up
    },
    branch_taken_penalty=2,  # P, 1 to 3 in the TRM
    buffered_store_cycles=1,  # 3.3.2: STR Rx, [Ry, #imm] is always one cycle
    address_stall=1,  # 3.3.2: no forwarding path from a data-processing result to an address
    assumptions=(
        "P (pipeline refill after a taken branch) = 2 cycles (the TRM gives 1 to 3)",
        "SDIV/UDIV = 7 cycles (the TRM gives 2 to 12)",
        "no flash wait states: the ART accelerator's caches and prefetch serve every fetch and constant read",
        "a load or store pipelines (1 cycle) after a single load whose result does not form its address; a store "
        "with an immediate offset takes 1 cycle; an address computed by the instruction just before costs 1 more",
    ),
)

CORTEX_M7 = CoreTiming(
    core="cortex-m7",
    source=(
        "ARM Cortex-M7 TRM (DDI 0489) for the pipeline structure; per-instruction timings are not published "
        "by ARM: assumed values, see docs/cycles.md"
    ),
    cycles={
        d.ALU: 1,
        d.SIMD: 1,
        d.MUL: 1,
        d.DIV: 7,
        d.LOAD: 1,
        d.STORE: 1,
        d.LOAD_DOUBLE: 1,  # one 64-bit access
        d.STORE_DOUBLE: 1,
        d.LOAD_MULTIPLE: 1,  # plus ceil(N / 2)
        d.STORE_MULTIPLE: 1,
        d.BRANCH: 1,
        d.FP: 1,
        d.FP_MAC: 1,
        d.FP_DIV: 14,
        d.FP_LOAD: 1,
        d.FP_STORE: 1,
        d.FP_LOAD_MULTIPLE: 1,
        d.FP_STORE_MULTIPLE: 1,
        d.SYSTEM: 2,
    },
    branch_taken_penalty=1,
    mispredict_penalty=7,
    dual_issue=True,
    load_latency=2,
    mul_latency=2,
    fp_latency=3,
    multiple_per_cycle=2,
    assumptions=(
        "dual issue in program order: ALU with ALU, load/store, MAC, FPU or branch; one load/store, one "
        "multiply, one FPU operation and one branch per cycle; DSP (SIMD, MAC) only as the first of a pair; "
        "no pair when the second reads or writes a register the first writes",
        "latencies to a dependent instruction: load 2, multiply 2 (accumulator chains forward), FPU 3 cycles",
        "a taken branch the predictor got right costs 1 cycle more; a mispredicted one 7 more; the prediction "
        "is taken as the branch's previous direction (measured from the block sequence)",
        "LDM/STM/PUSH/POP move 2 registers per cycle; SDIV/UDIV 7 cycles; VDIV/VSQRT 14",
        "L1 instruction and data caches always hit (no AXI flash wait states)",
    ),
)

CORES = {t.core: t for t in (CORTEX_M4, CORTEX_M7)}
