"""`tinyodl flash` and `tinyodl bootloader-emulator`: the commands around tinyodl.link.an3155 and bootemu."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import serial
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .boards import Board, load_board
from .errors import TinyodlError
from .link import an3155, bootemu

err_console = Console(stderr=True, highlight=False)


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r} (decimal or 0x...)") from None


def add_flash_parser(sub: Any) -> None:
    f = sub.add_parser("flash", help="flash a board over its serial bootloader (STM32 AN3155): erase, write, verify")
    f.add_argument("firmware", help="the image: an .elf (its loadable segments) or a raw .bin")
    f.add_argument("--board", required=True, help="board name: its chip ID is checked before anything is erased")
    f.add_argument("--port", required=True, help="serial port or pyserial URL (/dev/ttyACM0, a pty path)")
    f.add_argument("--baud", type=int, default=115200, metavar="RATE", help="baud rate (default 115200)")
    f.add_argument("--parity", choices=("even", "none"), default="even",
                   help="even on real boards (AN3155: 8E1); none for a pty (the emulator)")  # fmt: skip
    f.add_argument("--address", type=_int, metavar="ADDR", help=".bin: where it goes (default: the start of flash)")
    f.add_argument("--no-verify", action="store_true", help="skip the read-back")
    f.add_argument("--go", action="store_true", help="start the image when done (Go to its vector table)")
    f.add_argument("--reset", choices=("none", "dtr", "rts"), default="none",
                   help="a USB-UART adapter wired to the board: this line drives NRST, the other BOOT0 "
                   "(default none: set BOOT0 and press reset by hand)")  # fmt: skip
    f.add_argument(
        "--wait", type=float, default=30.0, metavar="S", help="seconds to wait for the bootloader (default 30)"
    )
    f.add_argument("--retries", type=int, default=3, metavar="N", help="attempts after a NACKed block (default 3)")
    f.add_argument("--json", action="store_true", help="print the report as JSON (progress bars off)")
    f.set_defaults(func=cmd_flash)


def add_emulator_parser(sub: Any) -> None:
    e = sub.add_parser(
        "bootloader-emulator",
        help="an STM32 serial bootloader on a pseudo-terminal: try `tinyodl flash` without a board",
    )
    e.add_argument(
        "--chip", type=_int, default=0x415, metavar="ID", help="bootloader chip ID: 0x415 (L476) or 0x450 (H743)"
    )
    e.add_argument("--image-in", metavar="FILE", help="start from this flash content (raw, from the start of flash)")
    e.add_argument("--image-out", metavar="FILE", help="write the flash content here after each Go and on exit")
    e.add_argument("--nack-at", type=_int, metavar="ADDR", help="fault: NACK the writes that cover this address")
    e.add_argument("--nack-times", type=int, default=0, metavar="N", help="how many NACKs (default 0: every time)")
    e.add_argument("--drop-at", type=_int, metavar="ADDR", help="fault: lose this address's data byte of a write, once")
    e.add_argument("--corrupt-at", type=_int, metavar="ADDR", help="fault: flip a bit of this address in read answers")
    e.add_argument(
        "--corrupt-times", type=int, default=0, metavar="N", help="how many corrupt reads (default 0: every time)"
    )
    e.add_argument("--line-baud", type=int, metavar="RATE",
                   help="answer at the pace of a serial line at RATE (8N1); default: as fast as the pty")  # fmt: skip
    e.add_argument("--json", action="store_true", help="print the pty and chip as JSON (one line)")
    e.set_defaults(func=cmd_emulator)


# --- flash ---------------------------------------------------------------------------------------------


def _open_port(url: str, baud: int, parity: str) -> Any:
    try:
        return serial.serial_for_url(url, baudrate=baud, parity=serial.PARITY_EVEN if parity == "even" else "N",
                                     bytesize=8, stopbits=1, timeout=1.0)  # fmt: skip
    except (serial.SerialException, ValueError, OSError, termios.error) as exc:
        raise an3155.FlashError(f"cannot open {url}: {exc}") from None


def _reset_into_bootloader(port: Any, line: str) -> None:
    """`line` (DTR or RTS) drives NRST low while asserted; the other line drives BOOT0 (released: high)."""
    try:
        if line == "dtr":
            port.rts = False  # BOOT0 high
            port.dtr = True  # NRST low
            time.sleep(0.1)
            port.dtr = False
        else:
            port.dtr = False
            port.rts = True
            time.sleep(0.1)
            port.rts = False
    except OSError as exc:
        raise an3155.FlashError(f"cannot drive the {line.upper()} line of this port ({exc.strerror})") from None
    time.sleep(0.1)


def _release_boot0(port: Any, line: str) -> None:
    """BOOT0 low again, so that the next reset runs the application."""
    try:
        if line == "dtr":
            port.rts = True
        else:
            port.dtr = True
    except OSError:
        pass


def cmd_flash(args: argparse.Namespace) -> int:
    board = load_board(args.board)
    geo = an3155.Geometry.of(board)
    image = an3155.load_image(Path(args.firmware), args.address, geo.origin)
    an3155.plan(image, geo)  # refuse an image that does not fit before touching the port
    if args.retries < 0:
        raise TinyodlError("--retries must be >= 0")
    port = _open_port(args.port, args.baud, args.parity)
    try:
        report = _session(port, board, image, args)
    except (OSError, termios.error, serial.SerialException) as exc:
        detail = exc.args[-1] if exc.args else exc
        pty = " (a pseudo-terminal takes --parity none)" if args.parity == "even" else ""
        raise an3155.FlashError(f"{args.port}: the serial port failed: {detail}{pty}") from None
    finally:
        port.close()
    line_s = report.line_seconds(args.baud, args.parity == "even")
    if args.json:
        print(json.dumps({**report.as_dict(), "port": args.port, "baud": args.baud, "parity": args.parity,
                          "line_seconds": round(line_s, 3)}, indent=2))  # fmt: skip
    else:
        units = f"{len(report.erased)} {report.erase_unit}(s) of {report.erase_unit_bytes:,} B"
        print(f"{board.name}: chip {report.chip_id:#05x}, bootloader v{report.bootloader_version >> 4}."
              f"{report.bootloader_version & 0xF}; erased {units}; wrote {report.bytes_written:,} B in "
              f"{report.blocks} blocks at {report.start:#010x}-{report.end - 1:#010x}"
              + ("; verified" if report.verified else "; not verified")
              + (f"; started at {report.go:#010x}" if report.go is not None else "")
              + (f"; {report.retries} retries" if report.retries else "")
              + f" ({report.seconds:.1f} s; {report.wire_bytes:,} characters on the line: {line_s:.1f} s at "
              f"{args.baud} 8{'E' if args.parity == 'even' else 'N'}1)")  # fmt: skip
    return 0


def _session(port: Any, board: Board, image: an3155.Image, args: argparse.Namespace) -> an3155.FlashReport:
    if args.reset != "none":
        _reset_into_bootloader(port, args.reset)
    bl = an3155.Bootloader(port)

    def hint() -> None:
        if args.reset == "none":
            err_console.print(f"waiting for the bootloader on {args.port}: set BOOT0 high (NUCLEO: a jumper "
                              "from BOOT0 to VDD) and press reset")  # fmt: skip
        else:
            err_console.print(f"waiting for the bootloader on {args.port} (reset through {args.reset.upper()})")

    an3155.connect(bl, args.wait, hint)
    report = _flash_with_progress(bl, board, image, args)
    if args.reset != "none":
        _release_boot0(port, args.reset)
    return report


def _flash_with_progress(
    bl: an3155.Bootloader, board: Board, image: an3155.Image, args: argparse.Namespace
) -> an3155.FlashReport:
    columns = (
        TextColumn("{task.description:<7}"),
        BarColumn(),
        TextColumn("{task.completed:>9,.0f} / {task.total:,.0f} {task.fields[unit]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False, disable=args.json) as progress:
        tasks: dict[str, TaskID] = {}

        def step(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                unit = f"{board.flash_geometry['kind']}" if phase == "erase" else "B"
                tasks[phase] = progress.add_task(phase, total=total, unit=unit)
            progress.update(tasks[phase], completed=done)

        return an3155.flash_image(bl, board, image, verify=not args.no_verify, go=args.go, retries=args.retries,
                                  step=step)  # fmt: skip


# --- emulator ------------------------------------------------------------------------------------------


def cmd_emulator(args: argparse.Namespace) -> int:
    board = bootemu.board_for_chip(args.chip)
    profile = bootemu.profile_from_board(board)
    start = None
    if args.image_in:
        try:
            start = Path(args.image_in).read_bytes()
        except OSError as exc:
            raise TinyodlError(f"{args.image_in}: cannot read: {exc.strerror}") from None
        if len(start) > profile.flash_bytes:
            raise TinyodlError(f"{args.image_in}: {len(start):,} B, more than the {profile.flash_bytes:,} B of flash")
    faults = bootemu.Faults(
        nack_write_at=args.nack_at,
        nack_write_times=args.nack_times,
        drop_write_byte_at=args.drop_at,
        corrupt_read_at=args.corrupt_at,
        corrupt_read_times=args.corrupt_times,
    )
    device = bootemu.BootloaderDevice(profile, faults, start)
    out = Path(args.image_out) if args.image_out else None
    if args.line_baud is not None and args.line_baud < 300:
        raise TinyodlError(f"--line-baud {args.line_baud}: at least 300")
    emu = bootemu.PtyBootloader(device, args.line_baud)

    def save(_address: int = 0) -> None:
        if out is not None:
            out.write_bytes(bytes(device.flash))

    device.on_go = save
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    info = {"pty": emu.path, "chip_id": f"{profile.chip_id:#05x}", "mcu": profile.name, "board": board.name}
    if args.json:
        print(json.dumps(info), flush=True)
    else:
        print(emu.path, flush=True)
        err_console.print(f"{profile.name} bootloader (chip {profile.chip_id:#05x}, protocol v3.1) on {emu.path}; "
                          f"flash it with: tinyodl flash FIRMWARE --board {board.name} --port {emu.path} "
                          "--parity none   (Ctrl-C stops)", soft_wrap=True)  # fmt: skip
    shown = 0
    with emu:
        try:
            while not stop.wait(0.2):
                shown = _show_log(device, shown, args.json)
        except KeyboardInterrupt:
            pass
        _show_log(device, shown, args.json)
    save()
    return 0


def _show_log(device: bootemu.BootloaderDevice, shown: int, quiet: bool) -> int:
    lines = device.log[shown:]
    if not quiet:
        for line in lines:
            err_console.print(f"  {line}")
    sys.stderr.flush()
    return shown + len(lines)
