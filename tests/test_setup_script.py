"""scripts/setup.sh, function by function, with apt-get, dpkg-query and id stubbed on PATH.

The fresh-machine path matters most: the backports source must be written, apt's lists updated after it,
and QEMU installed from it, in one run (the README's first command must give QEMU's STM32L4 machine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"
TOOLS = ("awk", "grep", "cat", "dirname", "basename", "sha256sum", "cut", "rm", "mkdir", "mv", "tar", "xz", "find",
         "sort", "head", "tr", "realpath", "sed", "ls", "touch", "env", "readlink", "chmod", "bash")  # fmt: skip

# apt-get: logs each call with the backports sources present at that moment; `install` of qemu-system-arm
# puts a QEMU on PATH whose machine list depends on the suite it came from.
APT_GET = """#!/bin/bash
echo "apt-get $* | sources: $(ls "$SOURCES" | tr '\\n' ' ')" >> "$LOG"
if [ "$1" = install ]; then
    for a in "$@"; do
        if [ "$a" = qemu-system-arm ]; then
            machine=mps2-an386
            case " $* " in *" -t "*backports*) machine=b-l475e-iot01a ;; esac
            printf '#!/bin/bash\\necho "%s    machine"\\n' "$machine" > "$BIN/qemu-system-arm"
            chmod +x "$BIN/qemu-system-arm"
        fi
    done
fi
"""


@pytest.fixture
def machine(tmp_path: Path) -> dict[str, Path]:
    """A fake Debian bookworm: stub bin/, apt sources, os-release and a log of apt calls."""
    bindir, sources = tmp_path / "bin", tmp_path / "sources.list.d"
    bindir.mkdir()
    sources.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bindir / tool).symlink_to(found)
    (bindir / "apt-get").write_text(APT_GET)
    (bindir / "id").write_text("#!/bin/bash\necho 0\n")  # as root
    (bindir / "dpkg-query").write_text("#!/bin/bash\nexit 1\n")  # nothing installed
    for stub in ("apt-get", "id", "dpkg-query"):
        (bindir / stub).chmod(0o755)
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    (tmp_path / "os-release").write_text('NAME="Debian GNU/Linux"\nVERSION_CODENAME=bookworm\n')
    return {"root": tmp_path, "bin": bindir, "sources": sources, "log": tmp_path / "apt.log"}


def _source_and_call(m: dict[str, Path], calls: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(m["bin"]),
        "TINYODL_SETUP_SOURCED": "1",
        "TINYODL_APT_SOURCES_DIR": str(m["sources"]),
        "TINYODL_APT_SOURCES_LIST": str(m["root"] / "sources.list"),
        "TINYODL_OS_RELEASE": str(m["root"] / "os-release"),
        "TINYODL_RENODE_DIR": str(m["root"] / "tools" / "renode"),
        "SOURCES": str(m["sources"]),
        "BIN": str(m["bin"]),
        "LOG": str(m["log"]),
    }
    script = f". {SETUP}\n{calls}\n"
    return subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)


def _log(m: dict[str, Path]) -> list[str]:
    return m["log"].read_text().splitlines() if m["log"].exists() else []


def test_fresh_machine_gets_backports_qemu_in_one_run(machine: dict[str, Path]) -> None:
    # the toolchain is installed first (apt lists updated then), QEMU after it: the lists must be updated
    # again once the backports source exists, or apt does not know the suite
    proc = _source_and_call(machine, "apt_install gcc-arm-none-eabi && setup_qemu && qemu_has_l4 && echo L4")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "L4"
    log = _log(machine)
    assert [line.split(" |")[0] for line in log] == [
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends gcc-arm-none-eabi",
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-arm",
    ]
    assert "tinyodl-backports.sources" not in log[0] and "tinyodl-backports.sources" in log[2]
    written = (machine["sources"] / "tinyodl-backports.sources").read_text()
    assert "URIs: http://mirror.invalid/debian\n" in written and "Suites: bookworm-backports\n" in written


def test_legacy_sources_list(machine: dict[str, Path]) -> None:
    (machine["sources"] / "debian.sources").unlink()
    (machine["root"] / "sources.list").write_text(
        "deb http://mirror.invalid/debian-security bookworm-security main\n"
        "deb http://mirror.invalid/debian bookworm main\n"
    )
    proc = _source_and_call(machine, "setup_qemu && qemu_has_l4 && echo L4")
    assert proc.returncode == 0 and proc.stdout.strip() == "L4", proc.stderr
    assert "URIs: http://mirror.invalid/debian\n" in (machine["sources"] / "tinyodl-backports.sources").read_text()


def test_no_debian_entry_falls_back_to_the_release_qemu(machine: dict[str, Path]) -> None:
    (machine["sources"] / "debian.sources").unlink()
    proc = _source_and_call(machine, "setup_qemu; qemu_has_l4 || echo twin")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "twin" and "runs as its mps2-an386 twin build" in proc.stderr
    assert [line.split(" |")[0] for line in _log(machine)] == [
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends qemu-system-arm",
    ]


def test_qemu_with_l4_already_there_installs_nothing(machine: dict[str, Path]) -> None:
    qemu = machine["bin"] / "qemu-system-arm"
    qemu.write_text('#!/bin/bash\necho "b-l475e-iot01a    B-L475E-IOT01A Discovery Kit"\n')
    qemu.chmod(0o755)
    proc = _source_and_call(machine, "setup_qemu")
    assert proc.returncode == 0 and _log(machine) == []
    assert not (machine["sources"] / "tinyodl-backports.sources").exists()


def _fake_renode_tarball(path: Path, tmp: Path) -> Path:
    top = tmp / "renode-9.9.9-build"
    (top / "tests").mkdir(parents=True)
    launcher = top / "renode"
    launcher.write_text("#!/bin/bash\necho 'Renode v9.9.9.1'\n")
    launcher.chmod(0o755)
    (top / "DEBIAN-RUNTIME-PACKAGES.txt").write_text("mono-runtime\nlibmono-corlib4.5-dll\n")
    with tarfile.open(path, "w:xz") as tar:
        tar.add(top, arcname=top.name)
    return path


def test_renode_from_a_tarball(machine: dict[str, Path], tmp_path: Path) -> None:
    tarball = _fake_renode_tarball(tmp_path / "renode.tar.xz", tmp_path / "src")
    proc = _source_and_call(machine, f"setup_renode {tarball}")
    assert proc.returncode == 0, proc.stderr
    installed = machine["root"] / "tools" / "renode"
    assert os.access(installed / "renode", os.X_OK)
    assert "setup: Renode: Renode v9.9.9.1" in proc.stderr
    log = [line.split(" |")[0] for line in _log(machine)]
    assert log[-1] == "apt-get install -y -q --no-install-recommends mono-runtime libmono-corlib4.5-dll"
    # the same tarball again: nothing unpacked, the runtime checked again
    (installed / "marker").write_text("kept")
    proc = _source_and_call(machine, f"setup_renode {tarball}")
    assert proc.returncode == 0 and (installed / "marker").exists() and "unpacking" not in proc.stderr


def test_renode_tarball_without_a_launcher(machine: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README").write_text("nothing here")
    with tarfile.open(tmp_path / "bad.tar.xz", "w:xz") as tar:
        tar.add(empty, arcname="empty")
    proc = _source_and_call(machine, f"setup_renode {tmp_path / 'bad.tar.xz'}")
    assert proc.returncode == 2 and "holds no executable 'renode' launcher" in proc.stderr


def test_missing_renode_tarball_stops_before_installing(machine: dict[str, Path]) -> None:
    env = {**os.environ, "PATH": str(machine["bin"]), "LOG": str(machine["log"]), "SOURCES": str(machine["sources"])}
    proc = subprocess.run([str(SETUP), "--renode", "/nonexistent/renode.tar.xz"], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == "setup: --renode: no such file: /nonexistent/renode.tar.xz"
    assert _log(machine) == []
