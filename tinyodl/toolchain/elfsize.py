"""Flash and static RAM per memory region, from an ELF's section headers and load addresses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from ..boards import Target


@dataclass(frozen=True)
class SizeReport:
    flash_bytes: int  # everything programmed into flash: code, constants, vectors, .data's initial image
    flash_capacity: int
    ram_bytes: dict[str, int]  # static RAM per region (data, bss, stack), by region name
    ram_capacity: dict[str, int]
    stack_bytes: int

    @property
    def static_ram_bytes(self) -> int:
        return sum(self.ram_bytes.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "flash_bytes": self.flash_bytes,
            "flash_capacity_bytes": self.flash_capacity,
            "static_ram_bytes": self.static_ram_bytes,
            "ram_regions": {
                name: {"used_bytes": used, "capacity_bytes": self.ram_capacity[name]}
                for name, used in self.ram_bytes.items()
            },
            "stack_reserved_bytes": self.stack_bytes,
        }


def size_report(elf_path: Path, target: Target) -> SizeReport:
    flash = target.memory.flash
    ram_used = {r.name: 0 for r in target.memory.ram}
    flash_bytes = 0
    stack_bytes = 0
    with elf_path.open("rb") as fh:
        elf = ELFFile(fh)
        segments = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        for section in elf.iter_sections():
            if not section["sh_flags"] & SH_FLAGS.SHF_ALLOC or section["sh_size"] == 0:
                continue
            addr, size = section["sh_addr"], section["sh_size"]
            if section.name == ".stack":
                stack_bytes = size
            for region in target.memory.ram:
                if region.contains(addr):
                    ram_used[region.name] += size
            if section["sh_type"] == "SHT_NOBITS":
                continue
            load = _load_address(segments, addr)
            if flash.contains(load):
                flash_bytes += size
    return SizeReport(
        flash_bytes=flash_bytes,
        flash_capacity=flash.length,
        ram_bytes=ram_used,
        ram_capacity={r.name: r.length for r in target.memory.ram},
        stack_bytes=stack_bytes,
    )


def _load_address(segments: list, vaddr: int) -> int:
    for seg in segments:
        if seg["p_vaddr"] <= vaddr < seg["p_vaddr"] + max(seg["p_memsz"], 1):
            return int(seg["p_paddr"] + (vaddr - seg["p_vaddr"]))
    return vaddr
