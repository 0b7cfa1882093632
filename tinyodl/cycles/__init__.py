"""A per-core cycle model: executed instructions by class -> estimated cycles (docs/cycles.md).

decode: Thumb-2 instructions of the ELF from objdump, in timing classes; timing: the Cortex-M4 and
Cortex-M7 tables; trace: per-block execution counts from QEMU's execution log; model: the arithmetic;
collect: one model inference measured this way, per layer.
"""
