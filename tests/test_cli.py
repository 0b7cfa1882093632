"""The command line: results as JSON, bad input and missing tools as one line with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_arm_gcc, needs_qemu

ROOT = Path(__file__).resolve().parents[1]


def tinyodl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinyodl.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tinyodl: error: ")
    return lines[0]


def test_boards_json() -> None:
    proc = tinyodl("boards", "--json")
    assert proc.returncode == 0
    boards = {b["name"]: b for b in json.loads(proc.stdout)}
    assert boards["nucleo-l476rg"]["bootloader_chip_id"] == "0x415"
    assert boards["nucleo-h743zi"]["qemu"] == [{"machine": "mps2-an500", "image": "twin"}]


def test_unknown_board() -> None:
    line = _one_line_error(tinyodl("run", "--board", "nucleo-f999", "--app", "selftest"))
    assert "unknown board 'nucleo-f999'" in line


def test_unknown_app_and_sim() -> None:
    assert "unknown application 'nope'" in _one_line_error(tinyodl("run", "--board", "nucleo-l476rg", "--app", "nope"))
    line = _one_line_error(tinyodl("run", "--board", "nucleo-l476rg", "--app", "selftest", "--sim", "gem5"))
    assert "unknown simulator 'gem5'" in line


def test_wrong_machine() -> None:
    line = _one_line_error(tinyodl("run", "--board", "nucleo-h743zi", "--app", "selftest", "--machine", "virt"))
    assert "does not run on QEMU machine 'virt'" in line


def _path_without(tool: str, tmp_path: Path) -> dict[str, str]:
    """A PATH with links to every tool of the current PATH except `tool`."""
    shadow = tmp_path / "bin"
    shadow.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        d = Path(directory)
        if not d.is_dir():
            continue
        for entry in d.iterdir():
            target = shadow / entry.name
            if entry.name != tool and not target.exists():
                target.symlink_to(entry)
    return {**os.environ, "PATH": str(shadow)}


@needs_qemu
def test_missing_compiler(tmp_path: Path) -> None:
    env = _path_without("arm-none-eabi-gcc", tmp_path)
    line = _one_line_error(tinyodl("run", "--board", "nucleo-l476rg", "--app", "selftest", env=env))
    assert "arm-none-eabi-gcc not found; install it with: apt-get install --no-install-recommends" in line


def test_missing_qemu(tmp_path: Path) -> None:
    env = _path_without("qemu-system-arm", tmp_path)
    line = _one_line_error(tinyodl("run", "--board", "nucleo-l476rg", "--app", "selftest", env=env))
    assert "qemu-system-arm not found; install it with: apt-get install --no-install-recommends qemu-system-arm" in line


def test_broken_board_file_through_cli(tmp_path: Path) -> None:
    path = tmp_path / "nucleo-l476rg.yaml"
    path.write_text(
        (ROOT / "boards" / "nucleo-l476rg.yaml").read_text().replace("clock_hz: 80000000", "clock_hz: fast")
    )
    line = _one_line_error(tinyodl("run", "--board", str(path), "--app", "selftest"))
    assert f"{path}: field clock_hz: 'fast' is not of type 'integer'" in line


@needs_arm_gcc
@needs_qemu
@pytest.mark.sim
def test_run_json_contract() -> None:
    proc = tinyodl("run", "--board", "nucleo-h743zi", "--app", "selftest", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for key in (
        "board", "simulator", "machine", "image", "instructions", "instructions_granularity", "flash_bytes",
        "static_ram_bytes", "stack_peak_bytes", "outputs_match", "steps", "cycles_estimated", "latency_ms_estimated",
    ):  # fmt: skip
        assert key in result, key
    assert result["outputs_match"] is True
    assert result["image"] == "twin" and "twin build" in result["note"]


def test_doctor_json() -> None:
    proc = tinyodl("doctor", "--json")
    report = json.loads(proc.stdout)
    names = {c["name"] for c in report["checks"]}
    assert {"arm-none-eabi-gcc", "qemu-system-arm", "renode"} <= names
    assert proc.returncode == (0 if report["ok"] else 2)


def test_generate_refuses_a_file_as_output(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    line = _one_line_error(tinyodl("generate", "m.tflite", "--board", "nucleo-l476rg", "-o", str(target)))
    assert f"-o {target}: that is a file, not a folder" in line
    inside = _one_line_error(tinyodl("generate", "m.tflite", "--board", "nucleo-l476rg", "-o", str(target / "x")))
    assert f"{target} is a file, not a folder" in inside
    assert target.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_generate_refuses_a_folder_of_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "firmware"
    folder.mkdir()
    (folder / "main.c").write_text("int main(void) { return 0; }\n")
    for extra in ([], ["--library"]):
        line = _one_line_error(tinyodl("generate", "m.tflite", "--board", "nucleo-l476rg", "-o", str(folder), *extra))
        assert f"-o {folder}: the folder holds files tinyodl did not write" in line
    assert sorted(p.name for p in folder.iterdir()) == ["main.c"]


def test_generate_may_overwrite_its_own_output(tmp_path: Path) -> None:
    """A folder with the stamp, or a project Makefile with tinyodl's banner, passes the check: the next
    complaint is about the (missing) model."""
    stamped = tmp_path / "stamped"
    stamped.mkdir()
    (stamped / ".tinyodl").write_text("# tinyodl library\n")
    (stamped / "har.c").write_text("/* generated */\n")
    older = tmp_path / "older"
    older.mkdir()
    (older / "Makefile").write_text("# generated by tinyodl 0.1.0 for nucleo-l476rg (board image) - do not edit\n")
    for folder in (stamped, older, tmp_path / "new", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        line = _one_line_error(tinyodl("generate", "nope.tflite", "--board", "nucleo-l476rg", "-o", str(folder)))
        assert "nope.tflite" in line and "-o" not in line
