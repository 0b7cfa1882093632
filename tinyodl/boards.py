"""Board files: one schema-validated YAML per board (boards/*.yaml).

A board file holds the facts of one board (core, flags, clock, memory, console UART, flash geometry,
bootloader chip ID) and how each simulator runs it: the board image itself, or a twin build (same core
and flags, another machine's memory map and UART) where no simulator models the MCU.

`load_board(name)` gives a `Board`; `Board.target(sim_entry)` resolves the memory map, console and timer
the firmware is built for (a `Target`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import BoardError
from .resources import data_dir

_U32 = {"type": "integer", "minimum": 0, "maximum": 0xFFFFFFFF}
_REGION = {
    "type": "object",
    "required": ["origin", "length"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
        "origin": _U32,
        "length": {"type": "integer", "minimum": 1, "maximum": 0xFFFFFFFF},
    },
}
_MEMORY = {
    "type": "object",
    "required": ["flash", "ram", "main_ram"],
    "additionalProperties": False,
    "properties": {
        "flash": _REGION,
        "ram": {
            "type": "array",
            "minItems": 1,
            "items": {**_REGION, "required": ["name", "origin", "length"]},
        },
        "main_ram": {"type": "string"},
    },
}
_BIT = {
    "type": "object",
    "required": ["register", "bit"],
    "additionalProperties": False,
    "properties": {"register": _U32, "bit": {"type": "integer", "minimum": 0, "maximum": 31}},
}
_CONSOLE = {
    "type": "object",
    "required": ["driver", "base", "irq", "baud"],
    "additionalProperties": False,
    "properties": {
        "driver": {"enum": ["stm32-usart", "cmsdk-uart"]},
        "instance": {"type": "string"},
        "base": _U32,
        "irq": {"type": "integer", "minimum": 0, "maximum": 495},
        "baud": {"type": "integer", "minimum": 1200},
        "clock_enable": _BIT,
        "irq_unmask": _BIT,
        "gpio": {
            "type": "object",
            "required": ["clock_enable", "port_base", "pins", "alternate_function"],
            "additionalProperties": False,
            "properties": {
                "clock_enable": _BIT,
                "port_base": _U32,
                "pins": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 15}},
                "alternate_function": {"type": "integer", "minimum": 0, "maximum": 15},
            },
        },
    },
}
_TIMER = {"enum": ["dwt", "systick"]}
_QEMU = {
    "type": "object",
    "required": ["machine", "image", "serial_index", "systick_hz"],
    "additionalProperties": False,
    "properties": {
        "machine": {"type": "string"},
        "min_version": {"type": "string", "pattern": r"^\d+(\.\d+)*$"},
        "image": {"enum": ["board", "twin"]},
        "serial_index": {"type": "integer", "minimum": 0, "maximum": 3},
        "systick_hz": {"type": "integer", "minimum": 1},
        "twin": {
            "type": "object",
            "required": ["memory", "console", "irq_count", "reset_clock_hz", "timer"],
            "additionalProperties": False,
            "properties": {
                "memory": _MEMORY,
                "console": _CONSOLE,
                "irq_count": {"type": "integer", "minimum": 1, "maximum": 496},
                "reset_clock_hz": {"type": "integer", "minimum": 1},
                "timer": _TIMER,
            },
        },
    },
    "if": {"properties": {"image": {"const": "twin"}}},
    "then": {"required": ["twin"]},
    "else": {"not": {"required": ["twin"]}},
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "name",
        "mcu",
        "core",
        "clock_hz",
        "reset_clock_hz",
        "irq_count",
        "memory",
        "stack_bytes",
        "flash_geometry",
        "console",
        "timer",
        "bootloader",
        "simulators",
    ],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "mcu": {"type": "string"},
        "vendor_board": {"type": "string"},
        "core": {
            "type": "object",
            "required": ["cpu", "arch", "fpu", "dsp", "cflags"],
            "additionalProperties": False,
            "properties": {
                "cpu": {"enum": ["cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33"]},
                "arch": {"type": "string"},
                "fpu": {"anyOf": [{"enum": ["fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16"]}, {"type": "null"}]},
                "dsp": {"type": "boolean"},
                "cflags": {"type": "array", "items": {"type": "string", "pattern": "^-m"}, "minItems": 1},
            },
        },
        "clock_hz": {"type": "integer", "minimum": 1},
        "reset_clock_hz": {"type": "integer", "minimum": 1},
        "irq_count": {"type": "integer", "minimum": 1, "maximum": 496},
        "memory": _MEMORY,
        "stack_bytes": {"type": "integer", "minimum": 256},
        "flash_geometry": {
            "type": "object",
            "required": ["kind", "count", "program_unit_bytes"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["pages", "sectors"]},
                "page_bytes": {"type": "integer", "minimum": 1},
                "sector_bytes": {"type": "integer", "minimum": 1},
                "count": {"type": "integer", "minimum": 1},
                "program_unit_bytes": {"type": "integer", "minimum": 1},
                "banks": {"enum": [1, 2]},  # bank erase (AN3155 Extended Erase 0xFFFE/0xFFFD) splits count evenly
            },
        },
        "console": _CONSOLE,
        "timer": _TIMER,
        "bootloader": {
            "type": "object",
            "required": ["chip_id"],
            "additionalProperties": False,
            "properties": {"chip_id": {"type": "integer", "minimum": 0, "maximum": 0xFFF}},
        },
        "simulators": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "qemu": {"type": "array", "items": _QEMU, "minItems": 1},
                "renode": {
                    "type": "object",
                    "required": ["platform", "console"],
                    "additionalProperties": False,
                    "properties": {
                        "platform": {"type": "string", "pattern": r"^[A-Za-z0-9_./-]+\.repl$"},
                        "console": {"type": "string", "pattern": "^[a-z][A-Za-z0-9_]*$"},
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class MemoryRegion:
    name: str
    origin: int
    length: int

    @property
    def end(self) -> int:
        return self.origin + self.length

    def contains(self, address: int) -> bool:
        return self.origin <= address < self.end


@dataclass(frozen=True)
class RegisterBit:
    register: int
    bit: int


@dataclass(frozen=True)
class ConsoleGpio:
    clock_enable: RegisterBit
    port_base: int
    pins: tuple[int, ...]
    alternate_function: int


@dataclass(frozen=True)
class Console:
    driver: str
    instance: str
    base: int
    irq: int
    baud: int
    clock_enable: RegisterBit | None = None
    irq_unmask: RegisterBit | None = None  # an interrupt mask between the UART and the NVIC (EXTI)
    gpio: ConsoleGpio | None = None


@dataclass(frozen=True)
class Memory:
    flash: MemoryRegion
    ram: tuple[MemoryRegion, ...]
    main_ram: str

    def __post_init__(self) -> None:
        names = [r.name for r in self.ram]
        if self.main_ram not in names:
            raise ValueError(f"main_ram {self.main_ram!r} is not one of the RAM regions {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"RAM region names repeat: {names}")
        regions = sorted((self.flash, *self.ram), key=lambda r: r.origin)
        for a, b in zip(regions, regions[1:], strict=False):
            if a.end > b.origin:
                raise ValueError(f"memory regions {a.name} and {b.name} overlap")

    def region(self, name: str) -> MemoryRegion:
        for r in self.ram:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def main(self) -> MemoryRegion:
        return self.region(self.main_ram)


@dataclass(frozen=True)
class QemuEntry:
    """How QEMU runs a board: machine, and whether the image is the board's own or a twin build."""

    machine: str
    image: str  # "board" or "twin"
    serial_index: int
    systick_hz: int
    min_version: tuple[int, ...] = (0,)
    twin: Target | None = None  # the twin's build target, when image == "twin"


@dataclass(frozen=True)
class RenodeEntry:
    """How Renode runs a board: its platform description (relative to the data root) and console UART."""

    platform: str  # e.g. renode/stm32l476.repl
    console: str  # the console UART's peripheral name in that platform, e.g. usart2


@dataclass(frozen=True)
class Target:
    """What one firmware image is built for: the memory map, console, timer and IRQ count."""

    memory: Memory
    console: Console
    irq_count: int
    reset_clock_hz: int
    timer: str
    twin_of: str | None = None  # board name when this is a twin build for a simulator machine


@dataclass(frozen=True)
class Board:
    name: str
    mcu: str
    cpu: str
    fpu: str | None
    dsp: bool
    cflags: tuple[str, ...]
    clock_hz: int
    stack_bytes: int
    chip_id: int
    flash_geometry: dict[str, int | str]
    target: Target  # the real board's own image
    qemu: tuple[QemuEntry, ...]
    renode: RenodeEntry | None
    path: Path

    @property
    def flash_program_unit(self) -> int:
        return int(self.flash_geometry["program_unit_bytes"])

    @property
    def renode_platform(self) -> str | None:
        return None if self.renode is None else self.renode.platform


def boards_dir() -> Path:
    return data_dir("boards")


def board_names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.yaml"))


def load_board(name_or_path: str | Path) -> Board:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = boards_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(board_names())
            raise BoardError(f"unknown board {str(name_or_path)!r}; known boards: {known}")
    return parse_board_file(path)


def _field_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def parse_board_file(path: Path) -> Board:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BoardError(f"{path}: cannot read board file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BoardError(f"{path}: not valid YAML{where}") from None
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(list(e.absolute_path)), str(e.message)))
    if errors:
        err = jsonschema.exceptions.best_match(errors) or errors[0]
        raise BoardError(f"{path}: field {_field_path(err)}: {err.message}")
    if raw["name"] != path.stem:
        raise BoardError(f"{path}: field name: {raw['name']!r} does not match the file name {path.stem!r}")
    try:
        return _build(raw, path)
    except ValueError as exc:
        raise BoardError(f"{path}: {exc}") from None


def _memory(raw: dict[str, Any]) -> Memory:
    flash = MemoryRegion("FLASH", raw["flash"]["origin"], raw["flash"]["length"])
    ram = tuple(MemoryRegion(r["name"], r["origin"], r["length"]) for r in raw["ram"])
    return Memory(flash=flash, ram=ram, main_ram=raw["main_ram"])


def _bit(raw: dict[str, Any] | None) -> RegisterBit | None:
    return None if raw is None else RegisterBit(raw["register"], raw["bit"])


def _console(raw: dict[str, Any]) -> Console:
    gpio = raw.get("gpio")
    gpio_obj = None
    if gpio is not None:
        ce = _bit(gpio["clock_enable"])
        assert ce is not None
        gpio_obj = ConsoleGpio(ce, gpio["port_base"], tuple(gpio["pins"]), gpio["alternate_function"])
    if raw["driver"] == "stm32-usart" and raw.get("clock_enable") is None:
        raise ValueError("field console.clock_enable: required for the stm32-usart driver")
    return Console(
        driver=raw["driver"],
        instance=raw.get("instance", "console"),
        base=raw["base"],
        irq=raw["irq"],
        baud=raw["baud"],
        clock_enable=_bit(raw.get("clock_enable")),
        irq_unmask=_bit(raw.get("irq_unmask")),
        gpio=gpio_obj,
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _build(raw: dict[str, Any], path: Path) -> Board:
    target = Target(
        memory=_memory(raw["memory"]),
        console=_console(raw["console"]),
        irq_count=raw["irq_count"],
        reset_clock_hz=raw["reset_clock_hz"],
        timer=raw["timer"],
    )
    if target.console.irq >= target.irq_count:
        raise ValueError(f"field console.irq: {target.console.irq} >= irq_count {target.irq_count}")
    entries = []
    for i, q in enumerate(raw["simulators"].get("qemu", [])):
        twin = None
        if q["image"] == "twin":
            t = q["twin"]
            try:
                twin = Target(
                    memory=_memory(t["memory"]),
                    console=_console(t["console"]),
                    irq_count=t["irq_count"],
                    reset_clock_hz=t["reset_clock_hz"],
                    timer=t["timer"],
                    twin_of=raw["name"],
                )
            except ValueError as exc:
                raise ValueError(f"field simulators.qemu.{i}.twin: {exc}") from None
        entries.append(
            QemuEntry(
                machine=q["machine"],
                image=q["image"],
                serial_index=q["serial_index"],
                systick_hz=q["systick_hz"],
                min_version=_version(q.get("min_version", "0")),
                twin=twin,
            )
        )
    renode = raw["simulators"].get("renode")
    return Board(
        name=raw["name"],
        mcu=raw["mcu"],
        cpu=raw["core"]["cpu"],
        fpu=raw["core"]["fpu"],
        dsp=raw["core"]["dsp"],
        cflags=tuple(raw["core"]["cflags"]),
        clock_hz=raw["clock_hz"],
        stack_bytes=raw["stack_bytes"],
        chip_id=raw["bootloader"]["chip_id"],
        flash_geometry=dict(raw["flash_geometry"]),
        target=target,
        qemu=tuple(entries),
        renode=None if renode is None else RenodeEntry(platform=renode["platform"], console=renode["console"]),
        path=path,
    )
