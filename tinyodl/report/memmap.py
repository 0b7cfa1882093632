"""The memory map of a built firmware image: which flash and RAM regions its sections occupy, from the ELF's
section headers and load addresses, and its largest symbols (pyelftools)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ..boards import Board, Target, load_board

TOP_SYMBOLS = 12


def target_for(board: Board, machine: str | None, image: str | None) -> Target:
    """The build target a run used: the board's own, or the twin build of its QEMU machine."""
    if image == "twin":
        for entry in board.qemu:
            if entry.machine == machine and entry.twin is not None:
                return entry.twin
    return board.target


def memory_map(elf_path: Path, board_name: str, machine: str | None, image: str | None) -> dict[str, Any]:
    target = target_for(load_board(board_name), machine, image)
    regions = [target.memory.flash, *target.memory.ram]
    used: dict[str, list[dict[str, Any]]] = {r.name: [] for r in regions}
    sections = []
    with Path(elf_path).open("rb") as fh:
        elf = ELFFile(fh)
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        names = {i: s.name for i, s in enumerate(elf.iter_sections())}
        for section in elf.iter_sections():
            if not section["sh_flags"] & SH_FLAGS.SHF_ALLOC or section["sh_size"] == 0:
                continue
            addr, size = int(section["sh_addr"]), int(section["sh_size"])
            nobits = section["sh_type"] == "SHT_NOBITS"
            load = _load_address(loads, addr)
            entry = {"name": section.name, "address": addr, "load_address": load, "bytes": size,
                     "kind": "bss" if nobits else ("code/const" if load == addr else "data")}  # fmt: skip
            sections.append(entry)
            for region in regions:
                if region.contains(addr):
                    used[region.name].append({"section": section.name, "address": addr, "bytes": size})
                if not nobits and load != addr and region.contains(load):  # .data's initial image in flash
                    used[region.name].append({"section": f"{section.name} (initial values)", "address": load,
                                              "bytes": size})  # fmt: skip
        symbols: list[dict[str, Any]] = []
        symtab = elf.get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            for sym in symtab.iter_symbols():
                size = int(sym["st_size"])
                if size and sym["st_info"]["type"] in ("STT_OBJECT", "STT_FUNC"):
                    shndx = sym["st_shndx"]
                    where = names.get(shndx, str(shndx)) if isinstance(shndx, int) else str(shndx)
                    kind = "code" if sym["st_info"]["type"] == "STT_FUNC" else "data"
                    symbols.append({"name": sym.name, "bytes": size, "address": int(sym["st_value"]) & ~1,
                                    "type": kind, "section": where})  # fmt: skip
    symbols.sort(key=lambda s: (-int(s["bytes"]), str(s["name"])))
    stack = next((s["bytes"] for s in sections if s["name"] == ".stack"), 0)
    return {
        "regions": [
            {
                "name": r.name,
                "origin": r.origin,
                "length": r.length,
                "used_bytes": sum(p["bytes"] for p in used[r.name]),
                "parts": sorted(used[r.name], key=lambda p: p["address"]),
            }
            for r in regions
        ],  # fmt: skip
        "sections": sections,
        "stack_reserved_bytes": stack,
        "largest_symbols": symbols[:TOP_SYMBOLS],
    }


def _load_address(segments: list[Any], vaddr: int) -> int:
    for seg in segments:
        if seg["p_vaddr"] <= vaddr < seg["p_vaddr"] + max(seg["p_memsz"], 1):
            return int(seg["p_paddr"] + (vaddr - seg["p_vaddr"]))
    return vaddr
