"""From counter ticks to instructions, estimated cycles and latency (docs/measurement.md).

On QEMU with `-icount shift=0`, one instruction is one nanosecond of virtual time, so a SysTick tick at
`systick_hz` is exactly 1e9 / systick_hz instructions. On Renode, at PerformanceInMips 1000 with the
platforms' DWT at 1 GHz, CYCCNT counts executed instructions exactly. On silicon the DWT counts cycles.

Cycles on a simulator are an ESTIMATE: instructions x CPI. The model is deliberately simple and labelled:
CPI 1.0 on both cores. For the Cortex-M4 this is optimistic (loads take 2 cycles unless pipelined, taken
branches 2-4, flash wait states at 80 MHz are mostly but not entirely hidden by ST's ART accelerator);
for the dual-issue Cortex-M7 it is pessimistic on straight-line arithmetic. Replace it with measured
DWT figures from a real board where they exist.
"""

from __future__ import annotations

CPI_MODEL = {"cortex-m4": 1.0, "cortex-m7": 1.0}
CPI_SOURCE = "CPI 1.0 per instruction (see docs/measurement.md); an estimate, not a measurement"


def estimate_cycles(cpu: str, instructions: float) -> float:
    return instructions * CPI_MODEL.get(cpu, 1.0)


def latency_ms(cycles: float, clock_hz: int) -> float:
    return cycles / clock_hz * 1e3
