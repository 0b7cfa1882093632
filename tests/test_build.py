"""Firmware projects: generated files follow the board file, every target builds with -Werror, sizes add up."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import needs_arm_gcc
from elftools.elf.elffile import ELFFile

from tinyodl.apps import APPS
from tinyodl.boards import Target, load_board
from tinyodl.toolchain import size_report, write_project
from tinyodl.toolchain.project import build_project

TARGETS = [
    ("nucleo-l476rg", None),  # the board image (also what QEMU's b-l475e-iot01a and real boards run)
    ("nucleo-l476rg", "mps2-an386"),
    ("nucleo-h743zi", None),
    ("nucleo-h743zi", "mps2-an500"),
]


def _target(board_name: str, machine: str | None) -> Target:
    board = load_board(board_name)
    if machine is None:
        return board.target
    entry = next(e for e in board.qemu if e.machine == machine)
    assert entry.twin is not None
    return entry.twin


@pytest.mark.parametrize(("board_name", "machine"), TARGETS)
def test_generated_files_follow_the_board(tmp_path: Path, board_name: str, machine: str | None) -> None:
    board = load_board(board_name)
    target = _target(board_name, machine)
    write_project(board, target, APPS["selftest"], tmp_path, machine)
    ld = (tmp_path / "link.ld").read_text()
    for region in (target.memory.flash, *target.memory.ram):
        assert re.search(
            rf"\b{region.name} \(\w+\) : ORIGIN = 0x{region.origin:08X}, LENGTH = 0x{region.length:08X}", ld
        ), region
    if machine is None and board_name == "nucleo-l476rg":
        assert "0x20018000" not in ld  # SRAM2 is never linked through its SRAM1-adjacent alias
    header = (tmp_path / "gen" / "tl_board.h").read_text()
    assert f"#define TL_CONSOLE_BASE 0x{target.console.base:08X}u" in header
    assert f"#define TL_CONSOLE_IRQ {target.console.irq}u" in header
    vectors = (tmp_path / "gen" / "tl_board.c").read_text()
    assert f"tl_vector_table[{16 + target.irq_count}]" in vectors
    assert f"tl_console_irq_handler, /* IRQ {target.console.irq} */" in vectors
    assert vectors.count("/* IRQ ") == target.irq_count
    make = (tmp_path / "Makefile").read_text()
    assert " ".join(board.cflags) in make and "-Werror" in make
    assert ("halt_semihosting.c" in make) == (machine is not None)  # semihosting only in twin builds


@needs_arm_gcc
@pytest.mark.parametrize(("board_name", "machine"), TARGETS)
def test_builds_and_sizes(tmp_path: Path, board_name: str, machine: str | None) -> None:
    board = load_board(board_name)
    target = _target(board_name, machine)
    project = write_project(board, target, APPS["selftest"], tmp_path, machine)
    elf = build_project(project)
    report = size_report(elf, target)
    with elf.open("rb") as fh:
        e = ELFFile(fh)
        vt = e.get_section_by_name(".isr_vector")
        assert vt["sh_addr"] == target.memory.flash.origin
        assert vt["sh_size"] == 4 * (16 + target.irq_count)
        stack = e.get_section_by_name(".stack")
        assert stack["sh_addr"] == target.memory.main.origin  # the stack sits at the bottom of main RAM
        text = e.get_section_by_name(".text")["sh_size"]
        data = e.get_section_by_name(".data")["sh_size"]
        bss = e.get_section_by_name(".bss")["sh_size"]
    assert report.flash_bytes >= vt["sh_size"] + text + data
    assert report.flash_bytes < 16 * 1024
    assert report.stack_bytes == board.stack_bytes
    assert report.ram_bytes[target.memory.main_ram] == board.stack_bytes + data + bss
    # the standalone project rebuilds with make alone, no Python involved
    subprocess.run(["make", "-C", str(tmp_path), "-s", "clean", "all"], check=True, capture_output=True)
    assert (tmp_path / "firmware.bin").stat().st_size > 0


@needs_arm_gcc
def test_compiler_errors_reach_the_user(tmp_path: Path) -> None:
    from tinyodl.errors import BuildError

    board = load_board("nucleo-l476rg")
    project = write_project(board, board.target, APPS["selftest"], tmp_path)
    (tmp_path / "app" / "main.c").write_text("int main(void) { return undefined_name; }\n")
    with pytest.raises(BuildError, match="undefined_name"):
        build_project(project)
