"""Thumb-2 instructions of an ELF, from `arm-none-eabi-objdump -d` text, sorted into timing classes.

Every instruction becomes an `Insn`: address, size, mnemonic, its class (the key of the timing tables in
tinyodl/cycles/timing.py), the registers it writes and reads (for load pipelining on the Cortex-M4 and
the pairing and load-use rules of the Cortex-M7), whether it is a branch, conditional, and how many
registers a load/store-multiple moves. A mnemonic in no list falls into `alu` (one cycle, pairable) with
`known` False, and the estimate counts how many executed instructions were classed by that default
(`unclassified_instructions`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import TinyodlError, ToolMissingError

OBJDUMP = "arm-none-eabi-objdump"
CONDS = frozenset("eq ne cs hs cc lo mi pl vs vc hi ls ge lt gt le al".split())

# Class names, the keys of every timing table.
ALU = "alu"  # data processing, moves, shifts, compares, extends, bit fields, saturation, IT, NOP
SIMD = "simd"  # DSP-extension SIMD arithmetic without a multiply (SADD16, SSUB8, SEL, SXTB16, USAD8, ...)
MUL = "mul"  # every multiply and multiply-accumulate, 32 and 64-bit results, dual 16-bit (SMLAD)
DIV = "div"  # SDIV, UDIV
LOAD = "load"  # LDR, LDRB, LDRH, LDRSB, LDRSH, LDREX (one register)
STORE = "store"  # STR, STRB, STRH, STREX
LOAD_DOUBLE = "load_double"  # LDRD
STORE_DOUBLE = "store_double"  # STRD
LOAD_MULTIPLE = "load_multiple"  # LDM, POP (without PC)
STORE_MULTIPLE = "store_multiple"  # STM, PUSH
BRANCH = "branch"  # B, Bcc, BL, BLX, BX, CBZ, CBNZ, POP {.., pc}, LDR pc, TBB, TBH
FP = "fp"  # single-cycle-issue FPU operations: VADD, VSUB, VMUL, VCVT, VCMP, VMOV, VABS, VNEG, VMRS, ...
FP_MAC = "fp_mac"  # VMLA, VMLS, VFMA, VFMS, VNMLA, VNMLS, VFNMA, VFNMS
FP_DIV = "fp_div"  # VDIV, VSQRT
FP_LOAD = "fp_load"  # VLDR
FP_STORE = "fp_store"  # VSTR
FP_LOAD_MULTIPLE = "fp_load_multiple"  # VLDM, VPOP
FP_STORE_MULTIPLE = "fp_store_multiple"  # VSTM, VPUSH
SYSTEM = "system"  # barriers, WFI/WFE, SVC, BKPT, CPS, MRS, MSR
CLASSES = (ALU, SIMD, MUL, DIV, LOAD, STORE, LOAD_DOUBLE, STORE_DOUBLE, LOAD_MULTIPLE, STORE_MULTIPLE, BRANCH,
           FP, FP_MAC, FP_DIV, FP_LOAD, FP_STORE, FP_LOAD_MULTIPLE, FP_STORE_MULTIPLE, SYSTEM)  # fmt: skip
MEMORY = frozenset({LOAD, STORE, LOAD_DOUBLE, STORE_DOUBLE, LOAD_MULTIPLE, STORE_MULTIPLE,
                    FP_LOAD, FP_STORE, FP_LOAD_MULTIPLE, FP_STORE_MULTIPLE})  # fmt: skip
FP_CLASSES = frozenset({FP, FP_MAC, FP_DIV, FP_LOAD, FP_STORE, FP_LOAD_MULTIPLE, FP_STORE_MULTIPLE})

_LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrexb", "ldrexh", "ldrt", "ldrbt", "ldrht",
          "ldrsbt", "ldrsht", "ldaex", "lda", "ldab", "ldah"}  # fmt: skip
_STORES = {"str", "strb", "strh", "strex", "strexb", "strexh", "strt", "strbt", "strht", "stl", "stlb", "stlh"}
_MULS = {"mul", "mla", "mls", "smull", "umull", "smlal", "umlal", "umaal", "smmul", "smmulr", "smmla", "smmlar",
         "smmls", "smmlsr", "smlad", "smladx", "smlsd", "smlsdx", "smuad", "smuadx", "smusd", "smusdx",
         "smlald", "smlaldx", "smlsld", "smlsldx", "smulbb", "smulbt", "smultb", "smultt", "smulwb", "smulwt",
         "smlabb", "smlabt", "smlatb", "smlatt", "smlawb", "smlawt", "smlalbb", "smlalbt", "smlaltb",
         "smlaltt"}  # fmt: skip
_LONG_MULS = {"smull", "umull", "smlal", "umlal", "umaal", "smlald", "smlaldx", "smlsld", "smlsldx", "smlalbb",
              "smlalbt", "smlaltb", "smlaltt"}  # fmt: skip
_ACCUMULATE = {"mla", "mls", "smmla", "smmlar", "smmls", "smmlsr", "smlad", "smladx", "smlsd", "smlsdx",
               "smlabb", "smlabt", "smlatb", "smlatt", "smlawb", "smlawt"}  # fmt: skip
_SIMD_PREFIXES = ("sadd", "ssub", "sasx", "ssax", "uadd", "usub", "uasx", "usax", "qadd8", "qadd16", "qsub8",
                  "qsub16", "qasx", "qsax", "shadd", "shsub", "uhadd", "uhsub", "uqadd", "uqsub", "sxtb16",
                  "uxtb16", "sxtab16", "uxtab16", "usad8", "usada8", "ssat16", "usat16", "pkhbt", "pkhtb",
                  "sel", "shasx", "shsax", "uhasx", "uhsax")  # fmt: skip
_ALU = {"mov", "mvn", "movw", "movt", "add", "addw", "adc", "sub", "subw", "sbc", "rsb", "adr", "and", "orr",
        "orn", "eor", "bic", "lsl", "lsr", "asr", "ror", "rrx", "cmp", "cmn", "tst", "teq", "neg", "sxtb", "sxth",
        "uxtb", "uxth", "sxtab", "sxtah", "uxtab", "uxtah", "bfi", "bfc", "ubfx", "sbfx", "ssat", "usat", "clz",
        "rbit", "rev", "rev16", "revsh", "qadd", "qsub", "qdadd", "qdsub", "nop", "pld", "pli", "yield",
        "sev", "cpy"}  # fmt: skip
_SYSTEM = {"dsb", "dmb", "isb", "wfi", "wfe", "svc", "bkpt", "cpsid", "cpsie", "mrs", "msr", "udf", "clrex"}
_NO_DEST = {"cmp", "cmn", "tst", "teq", "nop", "pld", "pli", "yield", "sev"}
_FP_MAC = {"vmla", "vmls", "vfma", "vfms", "vnmla", "vnmls", "vfnma", "vfnms"}
_FP_DIV = {"vdiv", "vsqrt"}
_OTHER_KNOWN = {"ldrd", "strd", "bl", "blx", "bx", "b", "tbb", "tbh", "cbz", "cbnz", "sdiv", "udiv"}
_REG = re.compile(r"\b(r1[0-5]|r[0-9]|sl|fp|ip|sp|lr|pc|s[0-9]{1,2}|d[0-9]{1,2})\b")
_RANGE = re.compile(r"\b([rsd])(\d{1,2})-\1?(\d{1,2})\b")
_ALIASES = {"sl": "r10", "fp": "r11", "ip": "r12", "sp": "r13", "lr": "r14", "pc": "r15"}


@dataclass(frozen=True)
class Insn:
    address: int
    size: int  # bytes: 2 or 4
    mnemonic: str  # as objdump prints it, without the .w/.n width suffix
    base: str  # the mnemonic without condition, flag-setting suffix and FP data type
    cls: str
    dests: tuple[str, ...]  # registers written (r0..r15, s0.., d0..; aliases resolved)
    srcs: tuple[str, ...]  # registers read
    conditional: bool = False  # a conditional branch (Bcc, CBZ, CBNZ), or an instruction in an IT block
    transfers: int = 0  # registers a load/store-multiple moves (an FP double register counts 2)
    known: bool = True  # False: the mnemonic is in no list and was classed `alu` by default
    accumulates: bool = False  # a multiply-accumulate (its accumulator is also a source)
    address_regs: tuple[str, ...] = ()  # a load/store's address registers
    writeback: tuple[str, ...] = ()  # a base register a load/store updates (ready after one cycle)

    @property
    def end(self) -> int:
        return self.address + self.size

    @property
    def writes_pc(self) -> bool:
        return "r15" in self.dests


def _regs(text: str) -> list[str]:
    text = _RANGE.sub(lambda m: ", ".join(f"{m[1]}{i}" for i in range(int(m[2]), int(m[3]) + 1)), text)
    return [_ALIASES.get(r, r) for r in _REG.findall(text)]


def split_mnemonic(mnemonic: str) -> tuple[str, bool]:
    """(base mnemonic, has a condition code): 'addeq.w' -> ('add', True), 'bls' -> ('b', True),
    'subs' -> ('sub', False), 'vmla.f32' -> ('vmla', False)."""
    m = mnemonic.lower().split(".")[0]
    if m.startswith("v"):
        return (m[:-2], True) if m[-2:] in CONDS and _known(m[:-2]) and not _known(m) else (m, False)
    if m in ("b", "bl", "blx", "bx", "cbz", "cbnz", "tbb", "tbh"):
        return m, False
    if m.startswith("b") and m[1:] in CONDS:
        return "b", True
    for cond_len in (0, 2):
        body = m[:-cond_len] if cond_len else m
        cond = cond_len > 0 and m[-2:] in CONDS
        if cond_len and not cond:
            continue
        if _known(body):
            return body, cond
        if body.endswith("s") and _known(body[:-1]):
            return body[:-1], cond
    return m, False


def _known(m: str) -> bool:
    return (m in _LOADS or m in _STORES or m in _MULS or m in _ALU or m in _SYSTEM or m in _FP_MAC or m in _FP_DIV
            or m.startswith(_SIMD_PREFIXES) or m in _OTHER_KNOWN
            or m.startswith(("ldm", "stm", "push", "pop", "vldm", "vstm", "vpush", "vpop", "vldr", "vstr", "it"))
            or m in ("vadd", "vsub", "vmul", "vnmul", "vneg", "vabs", "vcvt", "vcvtr", "vcvtb", "vcvtt", "vcmp",
                     "vcmpe", "vmov", "vmrs", "vmsr", "vsel", "vmaxnm", "vminnm", "vrinta", "vrintn", "vrintp",
                     "vrintm", "vrintr", "vrintz", "vrintx"))  # fmt: skip


def classify(address: int, size: int, mnemonic: str, operands: str, in_it: bool = False) -> Insn:
    """One instruction from its objdump mnemonic and operand text."""
    operands = operands.split("@")[0].split(";")[0].strip()
    base, cond = split_mnemonic(mnemonic)
    shown = mnemonic.lower().removesuffix(".w").removesuffix(".n")
    regs = _regs(operands)
    known = _known(base)
    conditional = cond or in_it or base in ("cbz", "cbnz")
    writeback = "!" in operands or bool(re.search(r"\],\s*#?-?\w", operands))
    inside = re.search(r"\[([^\]]*)\]", operands)
    address_regs = _regs(inside.group(1)) if inside else []
    dests: list[str] = []
    srcs: list[str] = []
    transfers = 0
    accumulates = False
    cls = ALU

    if base in _LOADS or base == "ldrd" or base in ("vldr",):
        n = 2 if base == "ldrd" else 1
        dests = regs[:n]
        srcs = address_regs
        if writeback and address_regs:
            dests.append(address_regs[0])
        cls = {"ldrd": LOAD_DOUBLE, "vldr": FP_LOAD}.get(base, LOAD)
        if "r15" in regs[:n]:
            cls = BRANCH
    elif base in _STORES or base in ("strd", "vstr"):
        srcs = regs
        if base.startswith("strex"):
            dests, srcs = regs[:1], regs[1:]
        if writeback and address_regs:
            dests.append(address_regs[0])
        cls = {"strd": STORE_DOUBLE, "vstr": FP_STORE}.get(base, STORE)
    elif base.startswith(("ldm", "pop", "vldm", "vpop")):
        listed = _regs(operands[operands.find("{") :]) if "{" in operands else regs[1:]
        base_reg = [] if base.startswith(("pop", "vpop")) else regs[:1]
        dests = listed + (base_reg if "!" in operands else [])
        srcs = base_reg or ["r13"]
        if base.startswith(("pop", "vpop")):
            dests.append("r13")
        fp = base.startswith("v")
        transfers = sum(2 if r.startswith("d") else 1 for r in listed)
        cls = FP_LOAD_MULTIPLE if fp else (BRANCH if "r15" in listed else LOAD_MULTIPLE)
    elif base.startswith(("stm", "push", "vstm", "vpush")):
        listed = _regs(operands[operands.find("{") :]) if "{" in operands else regs[1:]
        base_reg = [] if base.startswith(("push", "vpush")) else regs[:1]
        srcs = listed + (base_reg or ["r13"])
        dests = (base_reg if "!" in operands else []) + (["r13"] if base.startswith(("push", "vpush")) else [])
        transfers = sum(2 if r.startswith("d") else 1 for r in listed)
        cls = FP_STORE_MULTIPLE if base.startswith("v") else STORE_MULTIPLE
    elif base in ("b", "bl", "blx", "bx", "cbz", "cbnz", "tbb", "tbh"):
        srcs = regs
        dests = ["r15"] + (["r14"] if base in ("bl", "blx") else [])
        cls = BRANCH
    elif base in _MULS:
        n = 2 if base in _LONG_MULS else 1
        dests = regs[:n]
        srcs = regs[n:] + (regs[:n] if base in _LONG_MULS and base not in ("smull", "umull") else [])
        accumulates = base in _ACCUMULATE or (base in _LONG_MULS and base not in ("smull", "umull"))
        cls = MUL
    elif base in ("sdiv", "udiv"):
        dests, srcs, cls = regs[:1], regs[1:], DIV
    elif base.startswith(_SIMD_PREFIXES):
        dests, srcs, cls = regs[:1], regs[1:], SIMD
    elif base in _SYSTEM:
        dests = regs[:1] if base == "mrs" else []
        srcs = regs[1:] if base == "mrs" else regs
        cls = SYSTEM
    elif base.startswith("v"):
        cls = FP_MAC if base in _FP_MAC else (FP_DIV if base in _FP_DIV else FP)
        if base in ("vcmp", "vcmpe", "vmsr"):
            srcs = regs
        elif base == "vmov" and len(regs) == 4:  # two core registers <-> two FP registers (or one double)
            dests, srcs = regs[:2], regs[2:]
        elif base == "vmov" and len(regs) == 3:
            dests, srcs = (regs[:2], regs[2:]) if regs[0].startswith("r") else (regs[:1], regs[1:])
        else:
            dests, srcs = regs[:1], regs[1:] + (regs[:1] if cls == FP_MAC else [])
        accumulates = cls == FP_MAC
    elif base.startswith("it"):
        cls = ALU
    else:
        if base in _NO_DEST:
            srcs = regs
        else:
            dests, srcs = regs[:1], regs[1:]
            if base in ("movt", "bfi", "bfc"):  # these keep part of the destination
                srcs = srcs + regs[:1]
        if "r15" in dests:
            cls = BRANCH
    return Insn(
        address=address,
        size=size,
        mnemonic=shown,
        base=base,
        cls=cls,
        dests=tuple(dict.fromkeys(dests)),
        srcs=tuple(dict.fromkeys(srcs)),
        conditional=conditional,
        transfers=transfers,
        known=known,
        accumulates=accumulates,
        address_regs=tuple(address_regs) if cls in MEMORY or base in _LOADS else (),
        writeback=tuple(address_regs[:1]) if writeback and address_regs else (),
    )


_LINE = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f]{4}(?: [0-9a-f]{4})?)\s*\t(\S+)(?:\t(.*))?$")


def parse_objdump(text: str) -> dict[int, Insn]:
    """Instructions by address from `objdump -d` text (with raw bytes, the default). IT blocks mark the
    instructions they cover as conditional."""
    out: dict[int, Insn] = {}
    it_left = 0
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue
        address = int(m[1], 16)
        size = 2 * len(m[2].split())
        mnemonic = m[3]
        if mnemonic.startswith("."):  # literal pool words, shown as .word/.short
            continue
        insn = classify(address, size, mnemonic, m[4] or "", in_it=it_left > 0)
        it_left = max(0, it_left - 1)
        if insn.base.startswith("it") and insn.cls == ALU and re.fullmatch(r"it[te]{0,3}", insn.base):
            it_left = len(insn.base) - 1
        out[address] = insn
    return out


@lru_cache(maxsize=16)
def _decode_cached(path: str, mtime_ns: int) -> dict[int, Insn]:
    tool = shutil.which(OBJDUMP)
    if tool is None:
        raise ToolMissingError(f"{OBJDUMP} not found; install it with: apt-get install --no-install-recommends "
                               "binutils-arm-none-eabi")  # fmt: skip
    proc = subprocess.run([tool, "-d", path], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise TinyodlError(f"{OBJDUMP} could not read {path}: {proc.stderr.strip()}")
    return parse_objdump(proc.stdout)


def decode_elf(elf: Path) -> dict[int, Insn]:
    """Every instruction of the ELF's code, by address."""
    return _decode_cached(str(elf), elf.stat().st_mtime_ns)
