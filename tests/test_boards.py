"""Board files: the shipped boards load with the facts of SPEC section 4; broken files give one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tinyodl.boards import board_names, load_board
from tinyodl.errors import BoardError

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_boards() -> None:
    assert board_names() == ["nucleo-h743zi", "nucleo-l476rg"]


def test_l476_facts() -> None:
    b = load_board("nucleo-l476rg")
    assert (b.mcu, b.cpu, b.fpu, b.dsp, b.clock_hz, b.chip_id) == (
        "STM32L476RG", "cortex-m4", "fpv4-sp-d16", True, 80_000_000, 0x415
    )  # fmt: skip
    assert b.cflags == ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
    mem = b.target.memory
    assert (mem.flash.origin, mem.flash.length) == (0x08000000, 1024 * 1024)
    assert [(r.name, r.origin, r.length) for r in mem.ram] == [
        ("SRAM1", 0x20000000, 96 * 1024),
        ("SRAM2", 0x10000000, 32 * 1024),  # linked at its own address, never through 0x20018000
    ]
    assert (b.target.console.base, b.target.console.irq) == (0x40004400, 38)
    assert b.flash_geometry == {"kind": "pages", "page_bytes": 2048, "count": 512, "program_unit_bytes": 8, "banks": 2}
    assert [(q.machine, q.image) for q in b.qemu] == [("b-l475e-iot01a", "board"), ("mps2-an386", "twin")]
    assert b.renode is not None and (b.renode.platform, b.renode.console) == ("renode/stm32l476.repl", "usart2")
    assert b.renode_platform == "renode/stm32l476.repl"


def test_h743_facts() -> None:
    b = load_board("nucleo-h743zi")
    assert (b.mcu, b.cpu, b.fpu, b.clock_hz, b.chip_id) == (
        "STM32H743ZI",
        "cortex-m7",
        "fpv5-d16",
        480_000_000,
        0x450,
    )
    assert b.cflags == ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard")
    regions = {r.name: (r.origin, r.length) for r in b.target.memory.ram}
    assert regions["DTCM"] == (0x20000000, 128 * 1024)
    assert regions["AXI_SRAM"] == (0x24000000, 512 * 1024)
    assert regions["SRAM4"] == (0x38000000, 64 * 1024)
    assert b.target.memory.flash.length == 2 * 1024 * 1024
    assert b.target.console.base == 0x40004800
    assert b.flash_program_unit == 32
    (entry,) = b.qemu
    assert (entry.machine, entry.image) == ("mps2-an500", "twin")
    assert entry.twin is not None and entry.twin.memory.main.origin == 0x20000000
    assert b.renode is not None and (b.renode.platform, b.renode.console) == ("renode/nucleo-h743zi.repl", "usart3")


def test_unknown_board() -> None:
    with pytest.raises(BoardError, match=r"unknown board 'nucleo-x'; known boards: nucleo-h743zi, nucleo-l476rg"):
        load_board("nucleo-x")


def _broken(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load((ROOT / "boards" / "nucleo-l476rg.yaml").read_text())
    edit(raw)
    path = tmp_path / f"{raw.get('name', 'nucleo-l476rg')}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda r: r["core"].__setitem__("cpu", "cortex-m9"), "core.cpu"),
        (lambda r: r.pop("clock_hz"), "(top level)"),
        (lambda r: r["memory"]["ram"][0].__setitem__("origin", "0x20000000"), "memory.ram.0.origin"),
        (lambda r: r["console"].__setitem__("driver", "pl011"), "console.driver"),
        (lambda r: r["simulators"]["qemu"][1].pop("twin"), "simulators.qemu.1"),
        (lambda r: r["bootloader"].__setitem__("chip_id", -1), "bootloader.chip_id"),
        (lambda r: r["core"].__setitem__("extra", 1), "core"),
        (lambda r: r["simulators"]["renode"].pop("console"), "simulators.renode"),
        (lambda r: r["simulators"]["renode"].__setitem__("console", "sysbus.usart2"), "simulators.renode.console"),
    ],
)
def test_schema_errors_name_file_and_field(tmp_path: Path, edit, field: str) -> None:  # type: ignore[no-untyped-def]
    path = _broken(tmp_path, edit)
    with pytest.raises(BoardError) as info:
        load_board(path)
    message = str(info.value)
    assert message.startswith(f"{path}: field {field}:"), message
    assert "\n" not in message


def test_semantic_errors(tmp_path: Path) -> None:
    path = _broken(tmp_path, lambda r: r["memory"]["ram"][1].__setitem__("origin", 0x20010000))
    with pytest.raises(BoardError, match="overlap"):
        load_board(path)
    path = _broken(tmp_path, lambda r: r["memory"].__setitem__("main_ram", "SRAM9"))
    with pytest.raises(BoardError, match="main_ram 'SRAM9'"):
        load_board(path)
    path = _broken(tmp_path, lambda r: r["console"].__setitem__("irq", 90))
    with pytest.raises(BoardError, match="console.irq"):
        load_board(path)


def test_name_must_match_file(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "boards" / "nucleo-l476rg.yaml").read_text())
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BoardError, match="does not match the file name"):
        load_board(path)


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(BoardError, match=r"bad.yaml: not valid YAML \(line"):
        load_board(path)
