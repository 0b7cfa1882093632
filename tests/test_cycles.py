"""The per-core cycle model (tinyodl/cycles): its arithmetic on hand-counted instruction sequences for the
Cortex-M4 and the Cortex-M7, the Thumb-2 decoder on objdump lines of real instructions, the reading of
QEMU's execution log, and one model run whose block counts equal the instructions the firmware measured."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_arm_gcc, needs_qemu, needs_tf

from tinyodl.cycles import decode as d
from tinyodl.cycles.decode import classify, parse_objdump
from tinyodl.cycles.model import BlockRun, block_cycles, can_pair, estimate, pairs_cycles
from tinyodl.cycles.timing import CORTEX_M4, CORTEX_M7
from tinyodl.cycles.trace import Functions, LogReader


def seq(*lines: str) -> tuple[d.Insn, ...]:
    """Instructions from 'mnemonic operands' lines, 4 bytes apart."""
    out = []
    for i, line in enumerate(lines):
        mnemonic, _, operands = line.partition(" ")
        out.append(classify(0x1000 + 4 * i, 4, mnemonic, operands))
    return tuple(out)


# A dot-product loop body: two loads, a dual 16-bit MAC, the counter, the loop branch.
LOOP = seq("ldr.w r4, [r0], #4", "ldr.w r5, [r1], #4", "smlad r6, r4, r5, r6", "subs r2, #1", "bne.n 1000")


# ---- Cortex-M4: TRM Table 3-1 -------------------------------------------------------------------------------


def test_m4_ldr_smlad_loop() -> None:
    # LDR 2, the second LDR pipelined 1, SMLAD 1, SUBS 1, BNE 1 (+ P = 2 when taken)
    assert block_cycles(CORTEX_M4, LOOP) == 6
    ten = estimate(CORTEX_M4, [BlockRun(LOOP, executions=10, taken=9, flips=2)])
    assert ten.cycles == 10 * 6 + 9 * 2
    assert ten.instructions == 50 and ten.by_class == {"load": 20, "mul": 10, "alu": 10, "branch": 10}
    assert ten.taken_branches == 9 and ten.mispredicted_branches == 0  # the M4 predicts nothing


def test_m4_load_pipelining_stops_at_an_address_dependency() -> None:
    assert block_cycles(CORTEX_M4, seq("ldr r4, [r0]", "ldr r5, [r4]")) == 4  # r4 forms the address: 2 + 2
    assert block_cycles(CORTEX_M4, seq("ldr r4, [r0]", "ldr r5, [r1]", "ldr r6, [r2]")) == 4  # N + 1
    assert block_cycles(CORTEX_M4, seq("ldr r4, [r0]", "str r4, [r1]")) == 3  # a store after a load pipelines
    assert block_cycles(CORTEX_M4, seq("str r4, [r0, r2]", "ldr r5, [r1]")) == 4  # nothing pipelines after STR
    assert block_cycles(CORTEX_M4, seq("str r4, [r0, #8]", "ldr r5, [r1]")) == 3  # STR with #imm: 1 cycle
    assert block_cycles(CORTEX_M4, seq("add r0, r1", "ldr r5, [r1]")) == 3
    assert block_cycles(CORTEX_M4, seq("add r1, r1, #4", "ldr r5, [r1]")) == 4  # the address waits for the ADD
    assert block_cycles(CORTEX_M4, seq("add r1, r1, #4", "str r5, [r1, #4]")) == 3


def test_m4_multiple_double_divide() -> None:
    assert block_cycles(CORTEX_M4, seq("ldmia r0!, {r1, r2, r3, r4}")) == 5  # 1 + N
    assert block_cycles(CORTEX_M4, seq("push {r4, r5, r6, lr}")) == 5
    assert block_cycles(CORTEX_M4, seq("ldrd r2, r3, [r0, #8]")) == 3
    assert block_cycles(CORTEX_M4, seq("sdiv r0, r1, r2")) == 7
    assert block_cycles(CORTEX_M4, seq("vfma.f32 s0, s1, s2", "vadd.f32 s3, s4, s5")) == 4


def test_m4_taken_branch_and_return() -> None:
    ret = seq("pop {r4, pc}")
    assert ret[0].cls == d.BRANCH
    run = estimate(CORTEX_M4, [BlockRun(ret, executions=3, taken=3)])
    assert run.cycles == 3 * (1 + 2 + 2)  # 1 + N + P
    call = seq("movs r0, #1", "bl 2000")
    assert estimate(CORTEX_M4, [BlockRun(call, executions=1, taken=1)]).cycles == 1 + 1 + 2
    # a block that does not end in a branch pays no penalty even if the next block starts elsewhere (interrupt)
    assert estimate(CORTEX_M4, [BlockRun(seq("movs r0, #1"), executions=1, taken=1)]).cycles == 1


# ---- Cortex-M7: dual issue, latencies, prediction --------------------------------------------------------------


def test_m7_dual_issue_pair_and_dependency() -> None:
    pair = seq("add r1, r2, r3", "add r4, r5, r6")
    assert can_pair(*pair) and block_cycles(CORTEX_M7, pair) == 1
    dep = seq("add r1, r2, r3", "add r4, r1, r6")
    assert not can_pair(*dep) and block_cycles(CORTEX_M7, dep) == 2
    assert block_cycles(CORTEX_M7, seq("ldr r1, [r0]", "add r2, r1, #1")) == 3  # load-use: 2 cycles of latency
    assert block_cycles(CORTEX_M7, seq("ldr r1, [r0]", "ldr r2, [r3]")) == 2  # one load/store per cycle
    assert block_cycles(CORTEX_M7, seq("ldr r1, [r0]", "add r2, r3, #1")) == 1  # load + ALU
    assert block_cycles(CORTEX_M7, seq("smlad r6, r4, r5, r6", "ldr r4, [r0]")) == 1  # MAC first, load second
    assert block_cycles(CORTEX_M7, seq("ldr r7, [r0]", "smlad r6, r4, r5, r6")) == 2  # a MAC never issues second


def test_m7_mac_chain_forwards_the_accumulator() -> None:
    chain = seq("smlad r6, r4, r5, r6", "smlad r6, r7, r8, r6", "smlad r6, r9, r10, r6")
    assert block_cycles(CORTEX_M7, chain) == 3
    use = seq("smlad r6, r4, r5, r6", "add r0, r6, #1")  # the result as an ordinary operand: 2 cycles
    assert block_cycles(CORTEX_M7, use) == 3


def test_m7_ldr_smlad_loop() -> None:
    # c0 LDR r4 | c1 LDR r5 | c2 stall (r4 ready at 2, r5 at 3) | c3 SMLAD + SUBS | c4 BNE -> 5 cycles
    cycles, groups = pairs_cycles(CORTEX_M7, LOOP)
    assert cycles == 5
    assert [tuple(i.base for i in g) for g in groups] == [("ldr",), ("ldr",), ("smlad", "sub"), ("b",)]
    ten = estimate(CORTEX_M7, [BlockRun(LOOP, executions=10, taken=9, flips=2)])
    assert ten.cycles == 10 * 5 + 9 * 1 + 2 * 7  # predicted taken: +1; the two direction changes: +7 each
    assert ten.mispredicted_branches == 2


def test_m7_multiple_moves_two_registers_per_cycle() -> None:
    assert block_cycles(CORTEX_M7, seq("ldmia r0!, {r1, r2, r3, r4}")) == 3


# ---- the decoder ----------------------------------------------------------------------------------------------

OBJDUMP = """
Disassembly of section .text:

08000226 <loop>:
 80017b8:\tfb28 000b \tsmlad\tr0, r8, fp, r0
 80001f8:\tf852 1b04 \tldr.w\tr1, [r2], #4
 8000518:\te8bd 8ff8 \tldmia.w\tsp!, {r3, r4, r5, r6, r7, r8, r9, sl, fp, pc}
 8000566:\te8bd 4008 \tldmia.w\tsp!, {r3, lr}
 800023e:\td1f2      \tbne.n\t8000226 <Reset_Handler+0x66>
 800021a:\tb18c      \tcbz\tr4, 8000240 <Reset_Handler+0x80>
 80002d4:\te9d0 1306 \tldrd\tr1, r3, [r0, #24]
 8001712:\tfa2f f581 \tsxtb16\tr5, r1
 80001c4:\tb538      \tpush\t{r3, r4, r5, lr}
 8001280:\teea8 0a0c \tvfma.f32\ts0, s16, s24
 8000fec:\ted90 7a0f \tvldr\ts14, [r0, #60]\t@ 0x3c
 8001274:\tec92 0a04 \tvldmia\tr2, {s0-s3}
 800103c:\ted2d 8b10 \tvpush\t{d8-d15}
 8001c68:\tee87 7aa6 \tvdiv.f32\ts14, s15, s13
 8000964:\tbf3b      \tittet\tcc
 8000966:\t2301      \tmovcc\tr3, #1
 8000968:\t3b01      \tsubcc\tr3, #1
 800096a:\t2300      \tmovcs\tr3, #0
 800096c:\tf8c0 3000 \tstrcc.w\tr3, [r0]
 800096e:\t4770      \tbx\tlr
 8000970:\tfb92 f0f3 \tsdiv\tr0, r2, r3
 8000974:\t0000      \t.word\t0x00000000
"""


def test_decoder_on_objdump_lines() -> None:
    code = parse_objdump(OBJDUMP)
    assert 0x8000974 not in code  # literal pool data is not an instruction
    smlad = code[0x80017B8]
    assert (smlad.cls, smlad.size, smlad.dests, smlad.srcs, smlad.accumulates) == (
        d.MUL, 4, ("r0",), ("r8", "r11", "r0"), True)  # fmt: skip
    ldr = code[0x80001F8]
    assert (ldr.cls, ldr.dests, ldr.address_regs, ldr.writeback) == (d.LOAD, ("r1", "r2"), ("r2",), ("r2",))
    pop = code[0x8000518]
    assert pop.cls == d.BRANCH and pop.transfers == 10 and pop.writes_pc
    assert code[0x8000566].cls == d.LOAD_MULTIPLE and code[0x8000566].transfers == 2
    bne = code[0x800023E]
    assert (bne.cls, bne.base, bne.conditional, bne.size) == (d.BRANCH, "b", True, 2)
    assert code[0x800021A].cls == d.BRANCH and code[0x800021A].conditional
    assert code[0x80002D4].cls == d.LOAD_DOUBLE and code[0x80002D4].dests == ("r1", "r3")
    assert code[0x8001712].cls == d.SIMD
    assert code[0x80001C4].cls == d.STORE_MULTIPLE and code[0x80001C4].transfers == 4
    assert code[0x8001280].cls == d.FP_MAC and code[0x8001280].srcs == ("s16", "s24", "s0")
    assert code[0x8000FEC].cls == d.FP_LOAD and code[0x8000FEC].dests == ("s14",)
    assert code[0x8001274].cls == d.FP_LOAD_MULTIPLE and code[0x8001274].transfers == 4
    assert code[0x800103C].cls == d.FP_STORE_MULTIPLE and code[0x800103C].transfers == 16
    assert code[0x8001C68].cls == d.FP_DIV
    assert code[0x8000970].cls == d.DIV and code[0x8000970].known
    # ITTET covers exactly the next four instructions
    assert [code[a].conditional for a in (0x8000966, 0x8000968, 0x800096A, 0x800096C)] == [True] * 4
    assert code[0x8000968].base == "sub" and code[0x800096C].cls == d.STORE
    assert code[0x800096E].cls == d.BRANCH and not code[0x800096E].conditional
    assert all(i.known for i in code.values())


def test_mnemonic_split() -> None:
    assert d.split_mnemonic("bls") == ("b", True)
    assert d.split_mnemonic("blt.n") == ("b", True)
    assert d.split_mnemonic("bl") == ("bl", False)
    assert d.split_mnemonic("smlals") == ("smlal", False)
    assert d.split_mnemonic("ldrhi") == ("ldr", True)
    assert d.split_mnemonic("ldrh") == ("ldrh", False)
    assert d.split_mnemonic("addseq.w") == ("add", True)
    assert d.split_mnemonic("vmovgt.f32") == ("vmov", True)
    assert d.split_mnemonic("teq") == ("teq", False)


# ---- the execution log ----------------------------------------------------------------------------------------

LOG = """----------------
IN: caller
0x00000100:  f7ff fffe  bl       #0x200

Trace 0: 0x7f0000000100 [00000000/0000000000000100/00000110/ff000000] caller
----------------
IN: tl_measure_begin
0x00000200:  4770       bx       lr

Trace 0: 0x7f0000000200 [00000000/0000000000000200/00000110/ff000000] tl_measure_begin
----------------
IN: caller
0x00000104:  2004       movs     r0, #4
0x00000106:  3801       subs     r0, #1
0x00000108:  d1fd       bne      #0x106

Trace 0: 0x7f0000000300 [00000000/0000000000000104/00000110/ff000000] caller
----------------
IN: caller
0x00000106:  3801       subs     r0, #1
0x00000108:  d1fd       bne      #0x106

Trace 0: 0x7f0000000400 [00000000/0000000000000106/00000110/ff000000] caller
Trace 0: 0x7f0000000400 [00000000/0000000000000106/00000110/ff000000] caller
Stopped execution of TB chain before 0x7f0000000400 [0000000000000106] caller
Trace 0: 0x7f0000000400 [00000000/0000000000000106/00000110/ff000000] caller
Trace 0: 0x7f0000000400 [00000000/0000000000000106/00000110/ff000000] caller
----------------
IN: caller
0x0000010a:  6808       ldr      r0, [r1]
0x0000010c:  6808       ldr      r0, [r1]
0x0000010e:  f7ff fffe  bl       #0x300

Trace 0: 0x7f0000000500 [00000000/000000000000010a/00000110/ff000000] caller
cpu_io_recompile: rewound execution of TB to 000000000000010c
----------------
IN: caller
0x0000010c:  6808       ldr      r0, [r1]

Trace 0: 0x7f0000000600 [00000000/000000000000010c/00000110/ff033201] caller
----------------
IN: caller
0x0000010e:  f7ff fffe  bl       #0x300

Trace 0: 0x7f0000000700 [00000000/000000000000010e/00000110/ff000000] caller
----------------
IN: tl_measure_end
0x00000300:  4770       bx       lr

Trace 0: 0x7f0000000800 [00000000/0000000000000300/00000110/ff000000] tl_measure_end
"""


def test_log_reader_counts_blocks_in_the_window() -> None:
    functions = Functions(starts=(0x100, 0x200, 0x300), ends=(0x120, 0x202, 0x302),
                          names=("caller", "tl_measure_begin", "tl_measure_end"),
                          by_name={"caller": 0x100, "tl_measure_begin": 0x200, "tl_measure_end": 0x300})  # fmt: skip
    reader = LogReader(functions)
    reader.feed(LOG.splitlines(keepends=True))
    reader.finish()
    (window,) = reader.windows
    assert window.caller == "caller"
    blocks = {k: (c.executions, c.taken, c.flips) for k, c in window.blocks.items()}
    # movs + subs + bne (taken), subs + bne three times (taken, taken, not taken; one stopped before it ran),
    # the ldr block rewound after its first instruction, the lone ldr, the bl block (taken)
    assert blocks == {
        (0x104, 3): (1, 1, 1),
        (0x106, 2): (3, 2, 2),
        (0x10A, 1): (1, 0, 0),
        (0x10C, 1): (1, 0, 0),
        (0x10E, 1): (1, 1, 1),
    }
    assert window.instructions() == 3 + 6 + 1 + 1 + 1


# ---- on the simulator -----------------------------------------------------------------------------------------


@needs_arm_gcc
@needs_qemu
@needs_tf
@pytest.mark.sim
@pytest.mark.slow
def test_model_run_with_estimated_cycles(har_tflite: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The HAR int8 extractor on the H7 (mps2-an500 twin, 40 instructions per tick): every layer's counted
    blocks hold the instructions the firmware measured, and the estimate is present and labelled, in the JSON
    and in the terminal table."""
    from rich.console import Console

    from tinyodl import cli

    args = [sys.executable, "-m", "tinyodl.cli", "run", str(har_tflite["int8"]), "--board", "nucleo-h743zi",
            "--limit", "1", "--cycles", "--json"]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    cm = r["cycle_model"]
    assert cm["estimated"] is True and cm["core"] == "cortex-m7" and cm["assumptions"]
    check = cm["block_count_check"]
    assert check["ok"] and len(check["differences"]) == len(r["layers"]), check
    assert all(abs(v) <= check["tolerance"] for v in check["differences"])
    assert cm["counted_instructions"] == r["instructions"] - sum(check["differences"])
    layers_sum = sum(layer["estimated_cycles"] for layer in r["layers"])
    assert abs(r["estimated_cycles"] - layers_sum) <= len(r["layers"])
    assert r["estimated_latency_ms"] == pytest.approx(r["estimated_cycles"] / 480e6 * 1e3, rel=1e-3)
    assert 0.4 < r["estimated_cpi"] < 2.0
    assert cm["unclassified_instructions"] == 0 and cm["undecoded_instructions"] == 0
    assert r["cycles_estimated"] == r["instructions"]  # the CPI 1.0 figure stays, under its own name

    out = Console(file=io.StringIO(), width=240)
    monkeypatch.setattr(cli, "out_console", out)
    cli._print_model_table([r])
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "est. cycles" in text and "est. CPI" in text and f"{r['estimated_cycles']:,}" in text
    assert "block counts agree" in text


def test_bench_models_cycles_table() -> None:
    """`bench --models` prints est. cycles of ours and CMSIS-NN per board with the ratio and est. CPI."""
    from rich.console import Console

    from tinyodl.bench.report import cycles_table

    run = {"instructions": 1_000}
    result = {"results": [{
        "name": "m", "board": "nucleo-l476rg", "core": "cortex-m4", "clock_hz": 80_000_000,
        "optimised": run, "cmsis_nn": {"instructions": 2_000},
        "estimated_cycles": {"optimised": 1_300, "cmsis_nn": 2_400},
        "estimated_latency_ms": {"optimised": 0.01625, "cmsis_nn": 0.03},
        "estimated_cycles_ratio": 0.542,
    }]}  # fmt: skip
    out = Console(file=io.StringIO(), width=200)
    out.print(cycles_table(result, "nucleo-l476rg"))
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "est. cycles" in text and "1,300 / 2,400" in text and "0.54" in text and "1.30 / 1.20" in text
    assert "est. ms @ 80 MHz" in text and "0.02 / 0.03" in text


def test_link_code_is_left_out_of_the_log() -> None:
    from tinyodl.cycles.trace import log_ranges

    functions = Functions(starts=(0x100, 0x200, 0x300, 0x400), ends=(0x180, 0x280, 0x340, 0x480),
                          names=("kernel", "tl_link_step", "tl_console_irq_handler", "tl_measure_end"),
                          by_name={})  # fmt: skip
    assert log_ranges(functions) == "0x0..0x1ff,0x280..0x2ff,0x340..0xffffffff"


def test_bench_models_compares_estimated_cycles() -> None:
    """Whole network and per layer; a fused layer of ours is compared with the sum of CMSIS-NN's two."""
    from tinyodl.bench.models import TOTAL_KEYS, _compare

    base = {k: 1 for k in TOTAL_KEYS} | {"board": "nucleo-l476rg", "core": "cortex-m4", "clock_hz": 80_000_000,
                                        "machine": "m", "macc": 10, "features": {}, "outputs_sha256": "x"}  # fmt: skip
    ours = base | {"instructions": 100, "estimated_cycles": 130, "estimated_latency_ms": 0.0016, "layers": [
        {"name": "conv+pool", "kind": "CONV_POOL", "macc": 10, "kernel": "k", "kernel_note": "", "instructions": 100,
         "instructions_per_mac": 10.0, "estimated_cycles": 130}]}  # fmt: skip
    peer = base | {"instructions": 200, "estimated_cycles": 240, "estimated_latency_ms": 0.003, "layers": [
        {"name": "conv", "kind": "CONV_2D", "kernel": "c", "kernel_note": "", "instructions": 150,
         "estimated_cycles": 180},
        {"name": "pool", "kind": "MAX_POOL_2D", "kernel": "p", "kernel_note": "", "instructions": 50,
         "estimated_cycles": 60}]}  # fmt: skip
    r = _compare(Path("m.tflite"), {"optimised": ours, "cmsis-nn": peer}, "not measured")
    assert r["estimated_cycles"] == {"optimised": 130, "cmsis_nn": 240} and r["estimated_cycles_ratio"] == 0.542
    assert r["estimated_latency_ms"] == {"optimised": 0.0016, "cmsis_nn": 0.003}
    (layer,) = r["layers"]
    assert layer["estimated_cycles"] == {"optimised": 130, "cmsis_nn": 240} and layer["estimated_cycles_ratio"] == 0.542


@needs_arm_gcc
@needs_qemu
@needs_tf
@pytest.mark.sim
@pytest.mark.slow
def test_learner_step_with_estimated_cycles(har_tflite: dict[str, Path]) -> None:
    """TinyRCE on the HAR int8 extractor on the L4 (250 instructions per tick): the traced learning step's
    extraction, prediction and learning each hold the instructions the firmware measured, the estimate is
    labelled, and the report's learner rows take their cycles from it."""
    from tinyodl.learn.run import LearnOptions, run_learn
    from tinyodl.report.collect import STEP_LABEL, _timing, step_cycles
    from tinyodl.runner import RunOptions

    r = run_learn(har_tflite["int8"], "nucleo-l476rg", LearnOptions(run=RunOptions(sim="qemu"), limit=1, cycles=True))
    cm = r["cycle_model"]
    assert cm["estimated"] is True and cm["core"] == "cortex-m4" and cm["assumptions"] and "learner" in cm["method"]
    assert cm["traced_steps"] == 1 and list(cm["parts"]) == ["extract", "predict", "learn"]  # one window per user
    check = cm["block_count_check"]
    assert check["ok"] and len(check["differences"]) == 3, check
    for (name, part), diff in zip(cm["parts"].items(), check["differences"], strict=True):
        assert part["measured_instructions"] - part["counted_instructions"] == diff, name
        assert abs(diff) <= check["tolerance"] == 250 + 64
    extract = cm["parts"]["extract"]
    assert extract["counted_instructions"] > 1_000_000 and 1.0 < extract["estimated_cpi"] < 2.0
    assert cm["parts"]["predict"]["counted_instructions"] > 0
    assert cm["unclassified_instructions"] == 0 and cm["undecoded_instructions"] == 0
    assert cm["estimated_latency_ms"] == pytest.approx(cm["estimated_cycles"] / 80e3, rel=1e-3)

    s = r["instructions_per_step"]
    parts = {n: s[n] for n in ("extract", "predict", "learn")}
    cycles = step_cycles(parts, cm)
    assert cycles is not None
    cpi = {n: p["estimated_cycles"] / p["counted_instructions"] for n, p in cm["parts"].items()}
    assert cycles == pytest.approx(sum(parts[n] * cpi[n] for n in parts))
    assert r["learning_step_estimated_cycles"] == round(cycles)  # what `tinyodl learn --cycles` prints
    assert r["learning_step_estimated_latency_ms"] == pytest.approx(cycles / 80e3, rel=1e-3)
    assert step_cycles(parts, None) is None  # no traced step: the row falls back to CPI 1.0
    timing = _timing(sum(parts.values()), 80_000_000, cycles=cycles)
    assert timing["estimate"] == STEP_LABEL and "cycle model" in STEP_LABEL
    assert timing["latency_ms"] == pytest.approx(cycles / 80e3, rel=1e-3) and timing["cycles"] > sum(parts.values())


@pytest.mark.parametrize("extra", [["--learner", "replay"], ["--sim", "renode"]])
def test_learn_cycles_refused_without_a_traced_step(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`tinyodl learn --cycles` estimates the TinyRCE step on QEMU; elsewhere one line, exit 2, nothing built."""
    from tinyodl.cli import main

    code = main(["learn", "model.tflite", "--board", "nucleo-l476rg", "--cycles", *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--cycles" in err, err
