"""`tinyodl generate --library`: the model as a library for the user's own firmware.

The folder holds the model (`<prefix>.c/.h`, emitted without the tinyodl runtime), the kernel sources its
layers call (found by reading the kernel files: which file defines each function, what that file calls and
includes), and a README on adding it to an STM32CubeIDE or Makefile project. Nothing of tinyodl's runtime,
link, session, timer or board code is in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .. import __version__
from ..boards import Board
from ..codegen.lower import LoweredModel
from ..errors import TinyodlError
from ..resources import data_dir
from .outdir import previous_files, write_stamp

# A function definition starts at column 0 (return type, name, parameters) and its body follows; a kernel
# file that instantiates a shared implementation names the function in a macro (`#define X_DECL type name(`).
_DEFINITION = re.compile(r"^[A-Za-z_][\w \t*]*?\b(tl_\w+)\s*\([^;{}()]*\)\s*\{", re.MULTILINE)
_MACRO_DEFINITION = re.compile(
    r"^[ \t]*#[ \t]*define[ \t]+\w+[ \t]+(?:const[ \t]+)?\w+[ \t*]+(tl_\w+)[ \t]*\(", re.MULTILINE
)
_PROTOTYPE = re.compile(r"^[A-Za-z_][\w \t*]*?\btl_\w+\s*\([^;{}()]*\)\s*;", re.MULTILINE)
_NAME = re.compile(r"\b(tl_\w+)\b")
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
KERNEL_DIR = "kernels"
# -ffp-contract=off keeps float32 results as the host reference rounds them (the fused multiply-adds of the
# float32 variants are written out in them); -O2 (any -O) lets the int8 and float32 variants use their
# inline assembly instead of the portable C twins.
LIBRARY_CFLAGS = ("-std=c99", "-O2", "-ffp-contract=off")


@dataclass(frozen=True)
class Library:
    directory: Path
    model_files: tuple[str, ...]
    kernel_sources: tuple[str, ...]
    kernel_headers: tuple[str, ...]


def _code(path: Path) -> str:
    """The file without comments and prototypes: what is left names only functions it defines or uses."""
    return _PROTOTYPE.sub(" ", _COMMENT.sub(" ", path.read_text()))


def _local_headers(path: Path, kdir: Path) -> list[Path]:
    """The kernel-directory headers `path` includes, transitively, except tl_kernels.h (the declarations)."""
    found: list[Path] = []
    pending = [path]
    while pending:
        for name in _INCLUDE.findall(_code(pending.pop())):
            header = kdir / name
            if name != "tl_kernels.h" and header.is_file() and header not in found:
                found.append(header)
                pending.append(header)
    return found


def kernel_files(functions: list[str], model_code: str = "") -> tuple[list[Path], list[Path]]:
    """(sources, headers) of the kernel library that `functions` (and their `_check`s) and the kernel functions
    `model_code` names (e.g. as function pointers in params) need: the files that define them, the files
    defining what those use, and every header they include, transitively."""
    kdir = data_dir("firmware") / "kernels"
    search = [kdir, data_dir("firmware") / "include"]
    defined: dict[str, Path] = {}
    for src in sorted(kdir.glob("*.c")):
        code = _COMMENT.sub(" ", src.read_text())
        for name in [*_DEFINITION.findall(code), *_MACRO_DEFINITION.findall(code)]:
            defined.setdefault(name, src)
    sources: list[Path] = []
    todo = [f for fn in functions for f in (fn, f"{fn}_check")]
    todo += [name for name in _NAME.findall(_COMMENT.sub(" ", model_code)) if name in defined]
    while todo:
        fn = todo.pop(0)
        owner = defined.get(fn)
        if owner is None:
            raise TinyodlError(f"no kernel source defines {fn} (firmware/kernels)")
        if owner in sources:
            continue
        sources.append(owner)
        for code in [_code(owner), *(_code(h) for h in _local_headers(owner, kdir))]:
            todo += [name for name in _NAME.findall(code) if name in defined and defined[name] != owner]
    headers: list[Path] = []
    # the model's own .c and .h include tl_kernels.h
    pending = [(kdir / "tl_kernels.h", "tl_kernels.h")]
    pending += [(src, name) for src in sources for name in _INCLUDE.findall(_code(src))]
    while pending:
        origin, name = pending.pop(0)
        found = next((d / name for d in search if (d / name).is_file()), None)
        if found is None:
            raise TinyodlError(f"{origin.name} includes {name}, which is not in firmware/kernels or firmware/include")
        if found in headers:
            continue
        headers.append(found)
        pending += [(found, inc) for inc in _INCLUDE.findall(_code(found))]
    return sorted(sources, key=lambda p: p.name), sorted(headers, key=lambda p: p.name)


def _readme(board: Board, m: LoweredModel, sources: list[str], headers: list[str], folder: str) -> str:
    env = Environment(
        loader=FileSystemLoader(str(data_dir("templates"))),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    t_in, t_out = m.graph.tensors[m.input], m.graph.tensors[m.output]
    return env.get_template("library_README.md.j2").render(
        version=__version__,
        board=board,
        m=m,
        p=m.prefix,
        P=m.prefix.upper(),
        folder=folder,
        kernel_dir=KERNEL_DIR,
        sources=sources,
        headers=headers,
        cflags=[*board.cflags, *LIBRARY_CFLAGS],
        arena_bytes=max(m.plan.arena_bytes, 8),
        in_shape="x".join(map(str, t_in.shape)),
        out_shape="x".join(map(str, t_out.shape)),
        in_elems=t_in.size,
        out_elems=t_out.size,
        int8=m.elem == "int8_t",
        dsp=any(h == "tl_dsp.h" for h in headers),
        fpu=any(h == "tl_fpu.h" for h in headers),
    )


def write_library(board: Board, m: LoweredModel, files: dict[str, str], directory: Path) -> Library:
    """Write the library folder; files an earlier library output wrote and this one does not are removed."""
    model_c = files[f"{m.prefix}.c"]
    sources, headers = kernel_files(sorted({layer.function for layer in m.layers}), model_c)
    written: dict[str, bytes] = {name: text.encode() for name, text in files.items()}
    for path in [*sources, *headers]:
        written[f"{KERNEL_DIR}/{path.name}"] = path.read_bytes()
    src_names, hdr_names = [p.name for p in sources], [p.name for p in headers]
    written["README.md"] = _readme(board, m, src_names, hdr_names, directory.name).encode()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in previous_files(directory):
            path = directory / stale
            if stale not in written and ".." not in Path(stale).parts and path.is_file():
                path.unlink()
        for name, data in written.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        write_stamp(directory, "library", sorted(written))
    except OSError as exc:
        raise TinyodlError(f"cannot write {directory}: {exc.strerror or exc}") from None
    return Library(
        directory=directory,
        model_files=tuple(files),
        kernel_sources=tuple(src_names),
        kernel_headers=tuple(hdr_names),
    )
