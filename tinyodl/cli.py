"""The `tinyodl` command line.

Every user-facing failure is a TinyodlError: one line on stderr (plus the UART log for run failures),
exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.status import Status
from rich.table import Table

from . import __version__, cmsisnn
from .boards import Board, board_names, load_board
from .errors import TinyodlError, ToolMissingError

if TYPE_CHECKING:
    from .toolchain.project import AppSpec, Project

err_console = Console(stderr=True, highlight=False)
# Tables stay readable when piped (rich falls back to 80 columns without a terminal).
out_console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)


def _cmd_boards(args: argparse.Namespace) -> int:
    rows = [load_board(name) for name in board_names()]
    if args.json:
        print(json.dumps([_board_dict(b) for b in rows], indent=2))
        return 0
    table = Table(title="boards")
    for col in ("board", "MCU", "core", "clock", "flash", "RAM", "console", "QEMU"):
        table.add_column(col)
    for b in rows:
        ram = ", ".join(f"{r.name} {r.length // 1024} KiB" for r in b.target.memory.ram)
        qemu = ", ".join(f"{q.machine} ({q.image})" for q in b.qemu)
        table.add_row(
            b.name,
            b.mcu,
            b.cpu,
            f"{b.clock_hz // 1_000_000} MHz",
            f"{b.target.memory.flash.length // 1024} KiB",
            ram,
            f"{b.target.console.instance} @ 0x{b.target.console.base:08X}",
            qemu,
        )
    out_console.print(table)
    return 0


def _board_dict(b: Any) -> dict[str, Any]:
    return {
        "name": b.name,
        "mcu": b.mcu,
        "core": b.cpu,
        "fpu": b.fpu,
        "dsp": b.dsp,
        "clock_hz": b.clock_hz,
        "flash_bytes": b.target.memory.flash.length,
        "ram": {r.name: r.length for r in b.target.memory.ram},
        "bootloader_chip_id": f"0x{b.chip_id:03X}",
        "qemu": [{"machine": q.machine, "image": q.image} for q in b.qemu],
        "renode_platform": b.renode_platform,
    }


def _tool_version(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "present"


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .sim import qemu

    checks: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str, fix: str = "", required: bool = True) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail, "fix": "" if ok else fix, "required": required})

    gcc = _tool_version(["arm-none-eabi-gcc", "--version"])
    add(
        "arm-none-eabi-gcc",
        gcc is not None,
        gcc or "not found",
        "apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi",
    )
    make = _tool_version(["make", "--version"])
    add("make", make is not None, make or "not found", "apt-get install --no-install-recommends make")
    try:
        info = qemu.qemu_info()
        add("qemu-system-arm", True, f"QEMU {info.version_text}")
        for name in board_names():
            board = load_board(name)
            try:
                entry = qemu.select_entry(board, info)
                add(f"QEMU machine for {name}", True, f"{entry.machine} ({entry.image} image)")
                if entry is not board.qemu[0]:
                    add(
                        f"{name} board image on QEMU",
                        False,
                        f"falls back to the {entry.machine} twin",
                        qemu.APT_QEMU_BACKPORTS,
                        required=False,
                    )
            except ToolMissingError as exc:
                add(f"QEMU machine for {name}", False, str(exc), qemu.APT_QEMU_BACKPORTS)
    except ToolMissingError:
        add("qemu-system-arm", False, "not found", qemu.APT_QEMU)
    from .sim import renode as renode_sim

    try:
        rinfo = renode_sim.renode_info()
        add("renode", True, f"{rinfo.text or 'Renode ' + rinfo.version_text} ({rinfo.binary})", required=False)
        robot = renode_sim.renode_test()
        add("renode-test", robot.ready, robot.reason, "optional, for the Robot suites: see docs/renode.md",
            required=False)  # fmt: skip
    except ToolMissingError:
        add(
            "renode",
            False,
            "not found (optional: --sim renode, Renode tests are skipped)",
            renode_sim.INSTALL_HINT,
            required=False,
        )
    try:
        tree = cmsisnn.find()
        add("CMSIS-NN", tree is not None, tree.describe() if tree else "not found (optional: --kernels cmsis-nn, "
            "its tests are skipped)", cmsisnn.HINT, required=False)  # fmt: skip
    except cmsisnn.CmsisNNError as exc:
        add("CMSIS-NN", False, str(exc), cmsisnn.HINT, required=False)
    py_ok, py_detail = renode_sim.pyrenode3_available()
    add("pyrenode3", py_ok, py_detail, "optional, for --sim pyrenode3: see docs/renode.md", required=False)
    stm32flash = _tool_version(["stm32flash", "-h"])
    add(
        "stm32flash",
        stm32flash is not None,
        "present" if stm32flash else "not found (optional, tests)",
        "apt-get install --no-install-recommends stm32flash",
        required=False,
    )

    ok = all(c["ok"] for c in checks if c["required"])
    if args.json:
        print(json.dumps({"ok": ok, "checks": checks}, indent=2))
        return 0 if ok else 2
    table = Table(title=f"tinyodl {__version__} doctor")
    for col in ("check", "status", "detail", "fix"):
        table.add_column(col)
    for c in checks:
        status = "[green]ok[/]" if c["ok"] else ("[red]missing[/]" if c["required"] else "[yellow]optional[/]")
        table.add_row(c["name"], status, c["detail"], c["fix"])
    out_console.print(table)
    return 0 if ok else 2


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import RunOptions, run_app

    names = board_names() if args.board == "all" else [b.strip() for b in args.board.split(",") if b.strip()]
    for name in names:
        load_board(name)  # unknown boards fail before anything is built
    options = RunOptions(sim=args.sim, machine=args.machine, timeout_s=args.timeout)
    is_model = args.model is not None or args.elm is not None
    if not is_model and args.app is None:
        raise TinyodlError("give a MODEL to run, --elm ARCH, or --app selftest")
    if is_model and args.app is not None:
        raise TinyodlError("give either a model or --app, not both")
    if args.cycles and not is_model:
        raise TinyodlError("--cycles estimates a model's cycles per layer; give a model")
    if args.cycles and args.sim != "qemu":
        raise TinyodlError(f"--cycles counts executed blocks with QEMU's execution log; --sim {args.sim} has none")
    model_source = _model_source(args) if is_model else None
    results = []
    for name in names:

        def go(progress: Any, name: str = name) -> dict[str, Any]:
            if model_source is None:
                return run_app(name, args.app, options, progress=progress)
            from .modelrun import ModelOptions, run_model

            model, calibration, whole = model_source
            mopts = ModelOptions(
                run=options,
                features_at=args.features_at,
                whole=whole,
                limit=args.limit,
                calibration=calibration,
                prefix="elm" if args.elm else None,
                optimise=args.kernels != "reference",
                backend="cmsis-nn" if args.kernels == "cmsis-nn" else "tinyodl",
                cmsis_nn=Path(args.cmsis_nn) if args.cmsis_nn else None,
                flash=args.optimise,
                cycles=args.cycles,
            )
            return run_model(model, name, args.inputs, mopts, progress)

        if args.json:
            results.append(go(lambda _m: None))
        else:
            with err_console.status(f"{name}: starting") as status:

                def progress(message: str, status: Status = status) -> None:
                    status.update(message)

                results.append(go(progress))
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    elif is_model:
        _print_model_table(results)
    else:
        _print_run_table(results)
    return 0 if all(r.get("passed", r["outputs_match"]) for r in results) else 1


def _print_model_table(results: list[dict[str, Any]]) -> None:
    for r in results:
        table = Table(title=f"{r['model']} on {r['board']} ({r['simulator']} {r['machine']}, {r['image']} image)")
        est = "estimated_cycles" in r
        cols = ("layer", "op", "kernel", "MACC", "instructions", "instr/MAC") + (("est. cycles", "est. CPI") if est
                                                                                 else ())  # fmt: skip
        for col in cols:
            table.add_column(col, justify="left" if col in ("layer", "op", "kernel") else "right")
        for layer in r["layers"]:
            ipm = layer["instructions_per_mac"]
            extra = (f"{layer['estimated_cycles']:,}", f"{layer['estimated_cpi']:.2f}") if est else ()
            table.add_row(layer["name"], layer["kind"], layer["kernel"], f"{layer['macc']:,}",
                          f"{layer['instructions']:,}", "-" if ipm is None else f"{ipm:.2f}", *extra)  # fmt: skip
        extra = (f"{r['estimated_cycles']:,}", f"{r['estimated_cpi']:.2f}") if est else ()
        table.add_row("total", "", "", f"{r['macc']:,}", f"{r['instructions']:,}",
                      "-" if r["instructions_per_mac"] is None else f"{r['instructions_per_mac']:.2f}",
                      *extra)  # fmt: skip
        out_console.print(table)
        match = "yes" if r["outputs_match"] else f"NO, first difference: {r['first_mismatch']}"
        said = {True: "yes", False: "NO", None: "not checked"}
        lines = [
            f"outputs equal the numpy reference: {match}; tflite-micro: {said[r['matches_tflite_micro']]}; "
            f"LiteRT: {said[r['matches_litert']]} ({r['windows']} inputs)"
        ]
        lines += _oracle_lines(r)
        lines.append(
            f"flash {r['flash_bytes']:,} B, static RAM {r['static_ram_bytes']:,} B (arena {r['arena_bytes']:,} B), "
            f"stack peak {r['stack_peak_bytes']:,} B; estimated {r['latency_ms_estimated']} ms at "
            f"{r['clock_hz'] // 1_000_000} MHz ({r['estimate_model']})"
        )
        if est:
            cm = r["cycle_model"]
            check = cm["block_count_check"]
            lines.append(
                f"est. cycles ({cm['core']} model, docs/cycles.md): {r['estimated_cycles']:,}, est. "
                f"{r['estimated_latency_ms']} ms at {r['clock_hz'] // 1_000_000} MHz, est. CPI {r['estimated_cpi']}; "
                f"block counts {'agree' if check['ok'] else 'DISAGREE'} with the measured instructions "
                f"(within {check['tolerance']:g} per layer)"
            )
        if len(results) == 1:
            lines.append(r["verdict"])
        out_console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
    if len(results) > 1:  # the last line carries the verdict of every board
        failed = [r["board"] for r in results if not r["passed"]]
        for r in results:
            out_console.print(f"{r['board']}: {r['verdict']}", markup=False, highlight=False, soft_wrap=True)
        notes = sorted({r["verdict"].split("; ", 1)[1] for r in results if r["passed"] and "; " in r["verdict"]})
        last = f"verdict: FAIL on {', '.join(failed)}" if failed else f"verdict: pass on all {len(results)} boards"
        out_console.print(last + "".join(f"; {n}" for n in notes), markup=False, highlight=False, soft_wrap=True)


def _oracle_lines(r: dict[str, Any]) -> list[str]:
    """Where the device and the interpreters differ, and where the two interpreters differ from each other."""
    lines = []
    for key, name in (("tflite_micro", "tflite-micro"), ("litert", "LiteRT")):
        d = r[f"{key}_difference"]
        if d:
            lines.append(f"the device vs {name}: {_diff_text(d)}")
        elif r[f"matches_{key}"] is None:
            lines.append(f"{name} not checked: {r['oracle_notes'].get(key, 'unavailable')}")
    found = r["oracle_disagreement"]
    if found:
        first, at_output = found["first_layer"], found["output"]
        where = f"first at {first['layer']} ({first['kind']}, tensor {first['tensor']}): {_diff_text(first)}" if (
            first) else "at no layer both could read"  # fmt: skip
        lines.append(f"LiteRT and tflite-micro disagree, {where}")
        if at_output:
            lines.append(f"  at the output ({at_output['tensor']}): {_diff_text(at_output)}")
        lines.append(f"  why: {found['reason'] or 'not established'}")
    return lines


def _diff_text(d: dict[str, Any]) -> str:
    return (f"{d['elements_differing']:,} of {d['elements']:,} elements differ in {len(d['windows'])} inputs, "
            f"by up to {d['max_abs_difference']:g}")  # fmt: skip


def _cmd_generate(args: argparse.Namespace) -> int:
    from .apps.model import app_spec
    from .modelrun import ModelOptions, generate_files, import_model
    from .toolchain.outdir import check_output_dir

    if args.library and args.learner is not None:
        raise TinyodlError("--library writes the model alone; --learner needs a whole firmware project (drop one)")
    if args.kernels == "cmsis-nn" and (args.library or args.learner is not None):
        what = "--library" if args.library else "--learner"
        raise TinyodlError(f"--kernels cmsis-nn generates a firmware project of the model; {what} is not supported")
    out = Path(args.output)
    check_output_dir(out)
    board = load_board(args.board)
    model, calibration, whole = _model_source(args)
    if args.library:
        return _generate_library(args, board, model, calibration, whole, out)
    if args.learner is not None:
        from .learn.firmware import import_for_learning, learner_firmware

        inner = import_for_learning(model, calibration)
        prefix = args.prefix or ("elm" if args.elm else model.stem)
        fw = learner_firmware(inner, board.name, args.ram_budget, args.features_at, prefix, args.kernels == "optimised")
        project = _write_project(board, fw.spec, out)
        head = f", pretrained head of {fw.head_classes} classes" if fw.head_classes else ""
        print(
            f"wrote {project.directory}: extractor ({fw.feature_layer + 1} layers, arena "
            f"{fw.lowered.plan.arena_bytes:,} B){head}, TinyRCE with {fw.capacity} neurons of {fw.features} "
            f"{fw.dtype} features ({args.ram_budget:,} B budget), the learn application; build with: make -C {out}"
        )
        return 0
    mopts = ModelOptions(features_at=args.features_at, whole=whole, calibration=calibration)
    cmsis = cmsisnn.require(args.cmsis_nn) if args.kernels == "cmsis-nn" else None
    _, graph, _ = import_model(model, mopts)
    lowered, files = generate_files(
        graph,
        board.name,
        args.prefix or ("elm" if args.elm else model.stem),
        args.kernels != "reference",
        "cmsis-nn" if cmsis is not None else "tinyodl",
        args.optimise,
    )
    spec = app_spec(files, cmsis)
    if cmsis is not None:  # the project builds CMSIS-NN into its own cmsis-nn-build/ folder
        spec = dataclasses.replace(spec, cmsis_nn_build=Path("cmsis-nn-build"))
    project = _write_project(board, spec, out)
    print(
        f"wrote {project.directory}: {lowered.prefix}.c/.h ({len(lowered.layers)} layers, arena "
        f"{lowered.plan.arena_bytes:,} B) with the runtime, kernels and a Makefile; build with: make -C {out}"
    )
    return 0


def _write_project(board: Board, spec: AppSpec, out: Path) -> Project:
    """write_project into a checked -o folder, stamped as tinyodl's output."""
    from .toolchain.outdir import write_stamp
    from .toolchain.project import write_project

    try:
        project = write_project(board, board.target, spec, out)
        write_stamp(out, "project")
    except OSError as exc:
        raise TinyodlError(f"cannot write {out}: {exc.strerror or exc}") from None
    return project


def _generate_library(
    args: argparse.Namespace, board: Board, model: Path, calibration: Path | None, whole: bool, out: Path
) -> int:
    """`generate --library`: the model, the kernels it calls and a README, for the user's own firmware."""
    from .codegen.emit import emit
    from .codegen.lower import lower
    from .modelrun import ModelOptions, import_model
    from .toolchain.library import LIBRARY_CFLAGS, write_library

    _, graph, _ = import_model(model, ModelOptions(features_at=args.features_at, whole=whole, calibration=calibration))
    lowered = lower(graph, board, args.prefix or ("elm" if args.elm else model.stem), args.kernels == "optimised",
                    flash=args.optimise)  # fmt: skip
    lib = write_library(board, lowered, emit(lowered, board.name, library=True), out)
    print(
        f"wrote {lib.directory}: {lowered.prefix}.c/.h ({len(lowered.layers)} layers, arena "
        f"{lowered.plan.arena_bytes:,} B), {len(lib.kernel_sources)} kernel sources and "
        f"{len(lib.kernel_headers)} headers in kernels/, README.md; compile them into your firmware with "
        f"{' '.join([*board.cflags, *LIBRARY_CFLAGS])} -I{out} -I{out}/kernels"
    )
    return 0


def _cmd_renode_script(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .resources import data_dir
    from .sim import renode as renode_sim

    board = load_board(args.board)
    renode_sim.platform_path(board)  # a clear error for a board without a Renode platform
    out = Path(args.out) if args.out else None
    suites = data_dir("renode") / "tests"
    if args.model is not None or args.elm is not None:
        from .modelrun import ModelOptions, robot_files

        model, calibration, whole = _model_source(args)
        mopts = ModelOptions(features_at=args.features_at, whole=whole, calibration=calibration,
                             optimise=args.kernels == "optimised")  # fmt: skip
        files = robot_files(model, board.name, Path(args.inputs) if args.inputs else None, mopts, out)
        elf = files["elf"]
        robot = f"renode-test {suites / 'model.robot'} --variable VARIABLES:{files['variables']}"
    else:
        elf = renode_sim.build_board_image(board, args.app)
        robot = f"renode-test {suites / 'selftest.robot'} --variable BOARD:{board.name} --variable ELF:{elf}"
    script = renode_sim.write_script(board, elf, args.port, out or elf.parent)
    info = {
        "board": board.name,
        "elf": str(elf),
        "script": str(script),
        "platform": str(renode_sim.platform_path(board)),
        "port": args.port,
        "run": f"renode --disable-xwt --console {script}",
        "robot": robot,
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0


def _cmd_learn(args: argparse.Namespace) -> int:
    from .learn.run import LearnOptions, run_learn
    from .runner import RunOptions

    names = board_names() if args.board == "all" else [b.strip() for b in args.board.split(",") if b.strip()]
    for name in names:
        load_board(name)
    model, calibration, _ = _model_source(args)
    args.ram_budget_given = args.ram_budget is not None
    if args.learner == "replay":
        if args.cycles:
            raise TinyodlError("--cycles estimates the TinyRCE learner's step; for the replay learner's SGD step see "
                               "tinyodl report (docs/report.md)")  # fmt: skip
        return _learn_replay(args, names, model, calibration)
    if args.cycles and args.sim != "qemu":
        raise TinyodlError(f"--cycles counts executed blocks with QEMU's execution log; --sim {args.sim} has none")
    protocols = [p.strip() for p in args.protocol.split(",") if p.strip()]
    results = []
    for name in names:
        for protocol in protocols:
            opts = LearnOptions(
                run=RunOptions(sim=args.sim, machine=args.machine, timeout_s=args.timeout),
                data=args.data, protocol=protocol, ram_budget=args.ram_budget or 16 * 1024, distance=args.distance,
                r_max=args.r_max, r_min=args.r_min, aging=not args.no_aging, pruning=not args.no_pruning,
                age_limit=args.age_limit, features_at=args.features_at, calibration=calibration,
                normalize=args.normalize, limit=args.limit, seed=args.seed if args.elm is None else 0,
                optimise=args.kernels == "optimised", prefix="elm" if args.elm else None, cycles=args.cycles,
            )  # fmt: skip
            if args.json:
                results.append(run_learn(model, name, opts))
            else:
                with err_console.status(f"{name}: starting") as status:
                    results.append(run_learn(model, name, opts, status.update))
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        _print_learn_table(results)
    if args.plot:
        from .learn.plot import plot_curves

        plot_curves(results, Path(args.plot))
        err_console.print(f"wrote {args.plot}")
    ok = all(r["matches_reference"] and r["within_ram_cap"] and r["state_check_ok"] for r in results)
    return 0 if ok else 1


def _cmd_session(args: argparse.Namespace) -> int:
    from .learn.run import LearnOptions
    from .learn.session import SessionOptions, run_session
    from .runner import RunOptions, quiet

    if (args.port is None) == (args.sim is None):
        raise TinyodlError("give --port PORT (a board flashed with the learner firmware) or --sim qemu|renode")
    board = load_board(args.board)
    if args.model_option is not None:
        if args.model is not None and args.model != args.model_option:
            raise TinyodlError(f"two models given: {args.model} and --model {args.model_option}")
        args.model = args.model_option
    model, calibration, _ = _model_source(args)
    learn = LearnOptions(
        run=RunOptions(sim=args.sim or "qemu", machine=args.machine, timeout_s=args.timeout), data=args.data,
        ram_budget=args.ram_budget, distance=args.distance, r_max=args.r_max, r_min=args.r_min,
        aging=not args.no_aging, pruning=not args.no_pruning, age_limit=args.age_limit, features_at=args.features_at,
        calibration=calibration, normalize=args.normalize, seed=args.seed if args.elm is None else 0,
        optimise=args.kernels == "optimised", prefix="elm" if args.elm else None,
    )  # fmt: skip
    classes = tuple(c.strip() for c in args.classes.split(",")) if args.classes else ()
    opts = SessionOptions(learn=learn, port=args.port, baud=args.baud or board.target.console.baud,
                          interactive=args.interactive, ask=args.ask, state=Path(args.state) if args.state else None,
                          log=Path(args.log) if args.log else None, windows=args.windows, start=args.start,
                          user=args.user, classes=classes)  # fmt: skip

    def progress(message: str) -> None:
        err_console.print(f"[dim]{message}[/]")

    show = not args.json or args.interactive  # --json: the summary alone (and the prompt, when interactive)
    r = run_session(model, args.board, opts, progress if show else quiet, err_console if show else None,
                    err_console.input)  # fmt: skip
    if args.json:
        print(json.dumps(r, indent=2))
        return 0 if r["state_check_ok"] else 1
    acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
    instr = "" if r["step_instructions_mean"] is None else f"; {r['step_instructions_mean']:,.0f} instructions/step"
    out_console.print(
        f"{r['board']} ({r['target']}): windows {r['start']}..{r['position'] - 1} of {r['data']} ({r['stopped']}); "
        f"UNKNOWN {r['unknown']}, labels asked {r['labels_asked']}, given {r['labels_given']}; accuracy against "
        f"the data set's labels {acc}; {r['neurons']} of {r['capacity']} neurons, learner RAM "
        f"{r['learner_ram_bytes']:,} of {r['learner_ram_cap_bytes']:,} B{instr}"
    )
    if "state" in r:
        out_console.print(f"state saved to {r['state']} (resume with --state {r['state']})")
    return 0 if r["state_check_ok"] else 1


def _learn_replay(args: argparse.Namespace, names: list[str], model: Path, calibration: Path | None) -> int:
    from .learn.replay import ReplayParams
    from .learn.replay_run import ReplayRunOptions, run_personalise, run_replay
    from .runner import RunOptions

    protocol = "class-incremental" if args.protocol == "interleaved" else args.protocol  # interleaved: TinyRCE's
    if protocol not in ("class-incremental", "new-recording"):
        raise TinyodlError(f"the replay learner runs class-incremental or new-recording, not {args.protocol!r}")
    head_init = args.head_init or ("seed" if protocol == "class-incremental" else "trained")
    try:
        train = ReplayParams(lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, epochs=args.epochs,
                             batch=args.batch, tinyprop=args.tinyprop)  # fmt: skip
    except ValueError as exc:
        raise TinyodlError(str(exc)) from None
    results = []
    for name in names:
        opts = ReplayRunOptions(
            run=RunOptions(sim=args.sim, machine=args.machine, timeout_s=args.timeout), data=args.data,
            first_classes=args.first_classes, ram_budget=args.ram_budget if args.ram_budget_given else 48 * 1024,
            replay_at=args.features_at, current=args.current, train=train, calibration=calibration,
            normalize=args.normalize, optimise=args.kernels == "optimised", prefix="elm" if args.elm else None,
            head_init=head_init, protocol=protocol, hidden=args.hidden,
        )  # fmt: skip
        run = run_replay if protocol == "class-incremental" else run_personalise
        if args.json:
            results.append(run(model, name, opts))
        else:
            with err_console.status(f"{name}: starting") as status:
                results.append(run(model, name, opts, status.update))
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    elif protocol == "new-recording":
        for r in results:
            out_console.print(
                f"latent replay on {r['board']} ({r['simulator']} {r['machine']}), {r['data']}, new-recording, users "
                f"{', '.join(map(str, r['users']))}: {r['accuracy']:.1%} (host reference {r['host_accuracy']:.1%}, "
                f"no replay {r['no_replay_accuracy']:.1%}, the pretrained head alone {r['pretrained_accuracy']:.1%}); "
                f"device = host reference: {'yes' if r['matches_reference'] else 'NO'} ({r['disagreements']} "
                f"prediction disagreements, weights within {r['max_weight_difference']:.1e})"
            )
    else:
        for r in results:
            table = Table(title=f"latent replay on {r['board']} ({r['simulator']} {r['machine']}): {r['data']}, "
                          "class-incremental")  # fmt: skip
            for col in ("experience", "classes", "accuracy", "host", "no replay", "train instr", "per step", "est. ms"):
                table.add_column(col, justify="left" if col == "classes" else "right")
            for e, ms in zip(r["experiences"], r["time_per_experience_ms_estimated"], strict=True):
                instr = (f"{e['instructions_training']:,}", f"{e['instructions_per_step']:,.0f}", f"{ms:,.1f}")
                cells = (e["experience"], ",".join(map(str, e["classes"])), f"{e['accuracy']:.1%}",
                         f"{e['host_accuracy']:.1%}", f"{e['no_replay_accuracy']:.1%}", *instr)  # fmt: skip
                table.add_row(*map(str, cells))
            out_console.print(table)
            ram = r["ram"]
            out_console.print(
                f"joint training (upper bound) {r['joint_accuracy']:.1%}; replay / joint {r['replay_over_joint']:.2f}; "
                f"device = host reference: {'yes' if r['matches_reference'] else 'NO'} ({r['disagreements']} "
                f"prediction disagreements); RAM: head and training {ram['head_and_training_bytes']:,} B, current "
                f"experience {ram['current_store_bytes']:,} B, buffer {ram['buffer_bytes']:,} B "
                f"({ram['buffer_latents']} latents), frozen-stage arena {ram['frozen_stage_arena_bytes']:,} B"
            )
    if args.plot and protocol == "class-incremental":
        from .learn.plot import plot_experiences

        plot_experiences(results, Path(args.plot))
        err_console.print(f"wrote {args.plot}")
    ok = all(r["matches_reference"] and r["within_ram_cap"] for r in results)
    return 0 if ok else 1


def _cmd_nas(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .nas.run import NasOptions, run_nas

    if args.workers is not None and args.ray is not None:
        raise TinyodlError("give --workers N (a local Ray) or --ray ADDRESS (a cluster), not both")
    load_board(args.board)
    opts = NasOptions(data=args.data, board=args.board, ram_budget=args.ram_budget, flash_budget=args.flash_budget,
                      latency_ms=args.latency_ms, workers=args.workers, ray_address=args.ray, out=Path(args.output),
                      resume=args.resume, epochs=args.epochs, final_epochs=args.final_epochs, seed=args.seed,
                      max_k=args.max_k)  # fmt: skip
    if args.json:
        summary = run_nas(opts, lambda _m: None, lambda m: print(m, file=sys.stderr))
        print(json.dumps(summary, indent=2))
        return 0 if summary["feasible"] and summary["outputs_match"] else 1
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=None), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("architecture search", total=None)
        summary = run_nas(opts, lambda m: bar.update(task, description=m), err_console.print)
    _print_nas(summary)
    return 0 if summary["feasible"] and summary["outputs_match"] else 1


def _print_nas(s: dict[str, Any]) -> None:
    table = Table(title=f"architecture search: {s['data']} on {s['board']} ({s['backend']}, {s['workers']} worker(s))")
    for col in ("#", "k", "c", "val. acc.", "RAM B", "flash B", "instructions", "verdict"):
        table.add_column(col, justify="left" if col == "verdict" else "right")
    for n, r in enumerate(s["visited"], 1):
        mark = " <- found" if (r["k"], r["c"]) == (s["found"]["k"], s["found"]["c"]) else ""
        table.add_row(str(n), str(r["k"]), str(r["c"]), f"{r['score']:.3f}",
                      f"{r['ram_bytes']:,}" if r["ram_bytes"] is not None else "-",
                      f"{r['flash_bytes']:,}" if r["flash_bytes"] is not None else "-",
                      f"{r['instructions']:,}" if r["instructions"] is not None else "-",
                      ("feasible" if r["feasible"] else r["reason"]) + mark)  # fmt: skip
    out_console.print(table)
    fp, f = s["footprint"], s["found"]
    out_console.print(
        f"found (k={f['k']}, c={f['c']}), kernels {f['kernels']}: held-out accuracy {s['accuracy_held_out_int8']:.1%} "
        f"int8 ({s['accuracy_held_out_float']:.1%} float) on {s['test_windows']} windows after {s['final_epochs']} "
        f"epochs; RAM {fp['ram_bytes']:,} B (arena {fp['arena_bytes']:,} B, stack peak {fp['stack_peak_bytes']:,} B), "
        f"flash {fp['flash_bytes']:,} B, {fp['instructions']:,} instructions "
        f"(~{fp['latency_ms_estimated']} ms estimated); {'feasible' if s['feasible'] else s['reason']}"
    )
    out_console.print(f"stopped: {s['stop']}; {len(s['evaluated'])} candidates measured "
                      f"({s['speculative_unused']} ahead of need, {s['resumed']} from the history), "
                      f"search {s['search_seconds']} s")  # fmt: skip
    folder = Path(s["files"]["tflite"]).parent
    out_console.print(f"wrote {folder}/ (best.keras, best_int8.tflite, firmware/, measured.json, history.jsonl, "
                      f"search.png, summary.json); the same figures: {s['reproduce']}")  # fmt: skip


def _print_learn_table(results: list[dict[str, Any]]) -> None:
    for r in results:
        title = (f"TinyRCE on {r['board']} ({r['simulator']} {r['machine']}): {r['data']}, {r['protocol']}, "
                 f"users {', '.join(map(str, r['users']))}")  # fmt: skip
        table = Table(title=title)
        for col in ("method", "accuracy", "RAM B", "note"):
            table.add_column(col, justify="left" if col in ("method", "note") else "right")
        pool = r["ram"]["learner_pool_bytes"]
        used = f"{r['neurons']} of {r['learner']['capacity']} neurons; UNKNOWN {r['unknown_rate']:.1%}"
        table.add_row("TinyRCE (device)", f"{r['accuracy']:.1%}", f"{pool:,}", used)
        if "fallback_accuracy" in r:
            table.add_row("TinyRCE + pretrained fallback", f"{r['fallback_accuracy']:.1%}", f"{pool:,}",
                          "the pretrained head answers the UNKNOWNs")  # fmt: skip
        notes = {"trivial": "repeat the label learned last", "knn": "1-NN storing every window",
                 "rce": "plain RCE, no aging/pruning/cap", "backprop": "softmax trained offline, 5-fold",
                 "pretrained": "the trained network's own head, no personalisation"}  # fmt: skip
        for name, b in r["baselines"].items():
            ram = b.get("ram_bytes")
            table.add_row(name, f"{b['accuracy']:.1%}", "-" if ram is None else f"{ram:,}", notes.get(name, ""))
        out_console.print(table)
        s = r["instructions_per_step"]
        out_console.print(
            f"device = host reference: {'yes' if r['matches_reference'] else 'NO'} ({r['disagreements']} "
            f"disagreements in {r['steps']} steps); within the RAM cap: {'yes' if r['within_ram_cap'] else 'NO'} "
            f"({r['ram_peak_bytes']:,} of {r['ram_cap_bytes']:,} B); instructions per step: extract "
            f"{s['extract']:,.0f}, predict {s['predict']:,.0f}, learn {s['learn']:,.0f}; learning step "
            f"{_step_latency(r)} at {r['clock_hz'] // 1_000_000} MHz; "
            f"extractor arena {r['ram']['extractor_arena_bytes']:,} B + learner {pool:,} B"
        )


def _step_latency(r: dict[str, Any]) -> str:
    """A TinyRCE learning step's latency, labelled with the estimate it comes from."""
    if r.get("learning_step_estimated_latency_ms") is not None:
        return f"{r['learning_step_estimated_latency_ms']:.3f} ms (estimated, per-core cycle model)"
    return f"{r['learning_step_latency_ms_estimated']:.3f} ms (estimated at CPI 1.0; --cycles for the cycle model)"


def _print_run_table(results: list[dict[str, Any]]) -> None:
    summary = Table(title=f"tinyodl {results[0]['app']}: simulated boards")
    summary.add_column("")
    for r in results:
        summary.add_column(r["board"], justify="right")

    def row(label: str, fn: Any) -> None:
        summary.add_row(label, *[str(fn(r)) for r in results])

    row("core @ clock", lambda r: f"{r['core']} @ {r['clock_hz'] // 1_000_000} MHz")
    sim_names = {"qemu": "QEMU", "renode": "Renode", "pyrenode3": "Renode (pyrenode3)"}
    row(
        "simulator",
        lambda r: f"{sim_names.get(r['simulator'], r['simulator'])} {r['simulator_version']} {r['machine']}",
    )
    row("image", lambda r: r["image"])
    row("counter", lambda r: f"{r['timer_source']}, {r['instructions_granularity']:g} instr/tick")
    row("counter check (2x20000 instr)", lambda r: f"{r['counter_check']['measured_instructions']:,}")
    row("flash", lambda r: f"{r['flash_bytes']:,} B")
    row("static RAM", lambda r: f"{r['static_ram_bytes']:,} B")
    row("stack peak", lambda r: f"{r['stack_peak_bytes']:,} B of {r['stack_reserved_bytes']:,}")
    names = [s["name"] for s in results[0]["steps"] if s["name"].startswith("dot")]
    for name in names:

        def cell(r: dict[str, Any], name: str = name) -> str:
            step = next((s for s in r["steps"] if s["name"] == name), None)
            if step is None:
                return "-"
            mark = "ok" if step["match"] else "MISMATCH"
            per = step.get("instructions_per_element")
            return f"{per:.2f} instr/elem, {mark}" if per is not None else mark

        row(f"{name} (n={next(s['n'] for s in results[0]['steps'] if s['name'] == name)})", cell)
    row("outputs match", lambda r: "yes" if r["outputs_match"] else "NO")
    row("link retransmissions", lambda r: r["link"]["retransmissions"])
    out_console.print(summary)
    for r in results:
        if r["image"] == "twin":
            out_console.print(f"[dim]{r['board']}: {r['note']}[/]")


def _model_source(args: argparse.Namespace) -> tuple[Path, Path | None, bool]:
    """(model file, calibration, whole network) from MODEL or --elm."""
    calibration = Path(args.calibration) if getattr(args, "calibration", None) else None
    if getattr(args, "elm", None) is None:
        if args.model is None:
            raise TinyodlError("give a MODEL file or --elm ARCH")
        return Path(args.model), calibration, bool(getattr(args, "whole", False))
    if args.model is not None:
        raise TinyodlError("give either a MODEL file or --elm, not both")
    if not args.input_shape:
        raise TinyodlError("--elm needs --input-shape (e.g. 100,6 for 100 samples of 6 channels)")
    from .frontends.elm import default_calibration, elm_keras_file, parse_shape
    from .toolchain.project import default_build_root

    shape = parse_shape(args.input_shape)
    directory = default_build_root().parent / "elm"
    path = elm_keras_file(args.elm, shape, args.seed, directory)
    if args.dtype == "int8" and calibration is None:
        calibration = default_calibration(shape, args.seed, directory)
    if args.dtype == "f32":
        calibration = None
    return path, calibration, True  # an ELM extractor has no head: all of it is the extractor


def _add_elm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--elm", metavar="ARCH", help="a random-weight extractor instead of a model file, e.g. "
                   "conv1d:32:5,conv1d:32:5,maxpool:2,conv1d:64:5,gap")  # fmt: skip
    p.add_argument("--input-shape", help="--elm: input shape, e.g. 100,6 (length, channels)")
    p.add_argument("--seed", type=int, default=0, help="--elm: weight seed (default 0)")
    p.add_argument("--dtype", choices=("int8", "f32"), default="int8", help="--elm: int8 (default) or f32")


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .frontends import load_model
    from .ir import GraphError, Reshape
    from .passes import cut_at_features, fuse_conv_pool, plan_memory

    model, calibration, whole = _model_source(args)
    graph = load_model(model, calibration)
    try:
        features = fuse_conv_pool(graph if whole else cut_at_features(graph, args.features_at))
    except GraphError as exc:
        raise TinyodlError(f"{model}: {exc}") from None
    plan = plan_memory(features)  # the activations as generated (fused layers), without kernel working memory
    layers: list[dict[str, Any]] = []
    for op in features.ops:
        if isinstance(op, Reshape):
            continue  # aliases: no code, no memory
        out = features.tensors[op.outputs[0]]
        layers.append({
            "name": op.name,
            "kind": op.kind,
            "input": list(features.tensors[op.inputs[0]].shape),
            "output": list(out.shape),
            "dtype": out.dtype.value,
            "macc": op.macc(features.tensors),
            "params": sum(features.tensors[n].size for n in op.inputs if features.tensors[n].is_constant),
        })  # fmt: skip
    out_t = features.tensors[features.outputs[0]]
    info = {
        "model": str(model),
        "source": graph.source,
        "ops_in_model": [op.kind for op in graph.ops],
        "features": {"tensor": out_t.name, "shape": list(out_t.shape), "dtype": out_t.dtype.value},
        "macc": features.macc(),
        "params": sum(t.size for t in features.tensors.values() if t.is_constant),
        "weight_bytes": sum(t.nbytes for t in features.tensors.values() if t.is_constant),
        "arena_bytes": plan.arena_bytes,
        "activations_naive_bytes": plan.naive_bytes,
        "layers": layers,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    table = Table(title=f"{graph.name}: frozen feature extractor ({graph.source})")
    for col in ("layer", "op", "input", "output", "MACC", "params"):
        table.add_column(col, justify="right" if col in ("MACC", "params") else "left")
    for layer in layers:
        table.add_row(layer["name"], layer["kind"], str(tuple(layer["input"])), str(tuple(layer["output"])),
                      f"{layer['macc']:,}", f"{layer['params']:,}")  # fmt: skip
    out_console.print(table)
    out_console.print(
        f"features: {out_t.name} {tuple(out_t.shape)} {out_t.dtype.value}; MACC {info['macc']:,}; "
        f"weights {info['weight_bytes']:,} B; activation arena {plan.arena_bytes:,} B "
        f"(naive {plan.naive_bytes:,} B)"
    )
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import BenchOptions, run_bench
    from .bench.report import print_bench

    args.board_given = args.board is not None
    if args.models or args.kernels == "cmsis-nn":
        return _bench_models(args)
    args.board = args.board or "nucleo-l476rg,nucleo-h743zi"
    boards = board_names() if args.board == "all" else [b.strip() for b in args.board.split(",") if b.strip()]
    for name in boards:
        load_board(name)
    models = {d: Path(p) for d, p in (("int8", args.int8), ("f32", args.f32)) if p}
    opts = BenchOptions(boards=tuple(boards), dtypes=tuple(d.strip() for d in args.dtype.split(",") if d.strip()),
                        models=models, seed=args.seed, limit=args.limit, sim=args.sim)  # fmt: skip
    if args.json:
        result = run_bench(opts)
        print(json.dumps(result, indent=2))
    else:
        with err_console.status("benchmark: starting") as status:
            result = run_bench(opts, status.update)
        print_bench(result, out_console)
    return 0 if result["all_outputs_match"] else 1


def _bench_models(args: argparse.Namespace) -> int:
    """bench --models DIR (or --kernels cmsis-nn): tinyodl's optimised kernels beside CMSIS-NN, per model."""
    from .bench.models import ModelsBenchOptions, run_models_bench
    from .bench.report import print_models_bench

    board_arg = args.board if args.board_given else "nucleo-l476rg"
    boards = board_names() if board_arg == "all" else [b.strip() for b in board_arg.split(",") if b.strip()]
    for name in boards:
        load_board(name)
    files: tuple[Path, ...] = ()
    if not args.models:  # the HAR extractor: the given int8 model, else the one built with seeded weights
        from .bench import har_models
        from .toolchain.project import default_build_root

        given = Path(args.int8) if args.int8 else None
        files = (given or har_models(args.seed, ("int8",), default_build_root().parent / "bench")["int8"],)
    opts = ModelsBenchOptions(directory=Path(args.models) if args.models else None, files=files, boards=tuple(boards),
                              whole=args.whole or (not args.models and not args.int8), limit=args.limit,
                              sim=args.sim, cmsis_nn=Path(args.cmsis_nn) if args.cmsis_nn else None,
                              flash=args.optimise)  # fmt: skip
    if args.json:
        result = run_models_bench(opts)
        print(json.dumps(result, indent=2))
    else:
        with err_console.status("benchmark: starting") as status:
            result = run_models_bench(opts, status.update)
        print_models_bench(result, out_console, layers=args.layers)
    return 0 if result["all_passed"] else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import ReportOptions, run_report, write_outputs

    boards = board_names() if args.board == "all" else [b.strip() for b in args.board.split(",") if b.strip()]
    for name in boards:
        load_board(name)
    opts = ReportOptions(boards=tuple(boards), sim=args.sim, int8=Path(args.int8), f32=Path(args.f32),
                         quick=args.quick, use_cache=not args.no_cache,
                         cache_dir=Path(args.cache_dir) if args.cache_dir else None,
                         cmsis_nn=Path(args.cmsis_nn) if args.cmsis_nn else None)  # fmt: skip
    if args.json:
        result = run_report(opts)
    else:
        with err_console.status("report: starting") as status:
            result = run_report(opts, status.update)
    html, markdown = (Path(args.html) if args.html else None), (Path(args.markdown) if args.markdown else None)
    written = write_outputs(result, html, markdown)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from .report.render import print_report

        print_report(result, out_console)
    for path in written:
        err_console.print(f"wrote {path}")
    return 0 if result["all_match_reference"] else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinyodl", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--version", action="version", version=f"tinyodl {__version__}")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="name the log of every Keras conversion (TensorFlow's and the converter's output)")  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("boards", help="list the boards and how each runs on the simulators")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_cmd_boards)

    d = sub.add_parser("doctor", help="check the toolchain and simulators; print what is missing")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_cmd_doctor)

    i = sub.add_parser("inspect", help="import a model and show its frozen feature extractor")
    i.add_argument("model", nargs="?", help="a .tflite or Keras (.keras/.h5) model")
    i.add_argument("--calibration", help="Keras models: .npz of calibration inputs ('x') for an int8 conversion")
    i.add_argument("--features-at", help="tensor or op name to cut at (default: the classifier head's input)")
    i.add_argument("--json", action="store_true")
    _add_elm_options(i)
    i.set_defaults(func=_cmd_inspect)

    g = sub.add_parser("generate", help="generate a self-contained C project (model + runtime + Makefile), "
                       "or with --library the model and its kernels for your own firmware")  # fmt: skip
    g.add_argument("model", nargs="?", help="a .tflite or Keras (.keras/.h5) model")
    g.add_argument("--calibration", help="Keras models: .npz of calibration inputs ('x') for an int8 conversion")
    g.add_argument("--board", required=True)
    g.add_argument("-o", "--output", required=True,
                   help="folder to write: new, empty, or an earlier output of tinyodl generate")  # fmt: skip
    g.add_argument("--library", action="store_true",
                   help="only the model, the kernels it calls and a README, for your own firmware")  # fmt: skip
    g.add_argument("--features-at", help="tensor or op name to cut at (default: the classifier head's input)")
    g.add_argument("--whole", action="store_true", help="generate the whole network, head included")
    g.add_argument("--prefix", help="C prefix of the generated names (default: the model file name)")
    g.add_argument(
        "--optimise",
        choices=("speed", "size", "balanced"),
        default="balanced",
        help="flash for the int8 kernels' weights: speed (int16-expanded everywhere), size (int8 everywhere), "
        "balanced (default: int8, and int16 where it saves the most, within 5%% of the model's constants)",
    )
    g.add_argument("--kernels", choices=("optimised", "reference", "cmsis-nn"), default="optimised",
                   help="optimised variants where they apply (default), the reference kernels only, or ARM's "
                   "CMSIS-NN for the int8 layers it covers")  # fmt: skip
    g.add_argument(
        "--cmsis-nn",
        metavar="DIR",
        help="CMSIS-NN source tree for --kernels cmsis-nn (default: $TINYODL_CMSIS_NN, .tools/cmsis-nn)",
    )
    g.add_argument("--learner", choices=("tinyrce",), help="add the on-device learner and its application")
    g.add_argument("--ram-budget", type=int, default=16 * 1024, help="--learner: its RAM in bytes (default 16384)")
    _add_elm_options(g)
    g.set_defaults(func=_cmd_generate)

    r = sub.add_parser("run", help="build a model (or a firmware application) and run it on a simulated board")
    r.add_argument("model", nargs="?", help="a .tflite or Keras (.keras/.h5) model to generate, build and run")
    r.add_argument("--calibration", help="Keras models: .npz of calibration inputs ('x') for an int8 conversion")
    r.add_argument("--board", required=True, help="board name, comma-separated names, or 'all'")
    r.add_argument("--app", help="a firmware application instead of a model (selftest)")
    r.add_argument("--inputs", help=".npz with the input windows ('x'); default: seeded random inputs")
    r.add_argument("--features-at", help="tensor or op name to cut at (default: the classifier head's input)")
    r.add_argument("--whole", action="store_true", help="run the whole network, head included")
    r.add_argument("--limit", type=int, default=16, help="at most this many input windows (default 16)")
    r.add_argument("--sim", default="qemu", help="simulator: qemu (default), renode or pyrenode3")
    r.add_argument("--machine", help="force one of the board's QEMU machines (e.g. the mps2-an386 twin)")
    r.add_argument("--timeout", type=float, default=120.0, help="wall-clock limit per run in seconds")
    r.add_argument("--json", action="store_true", help="print the result contract as JSON")
    r.add_argument("--cycles", action="store_true",
                   help="estimate cycles per layer with the per-core model (one more QEMU run with its execution "
                   "log; docs/cycles.md)")  # fmt: skip
    r.add_argument(
        "--optimise",
        choices=("speed", "size", "balanced"),
        default="balanced",
        help="flash for the int8 kernels' weights: speed (int16-expanded everywhere), size (int8 everywhere), "
        "balanced (default: int8, and int16 where it saves the most, within 5%% of the model's constants)",
    )
    r.add_argument("--kernels", choices=("optimised", "reference", "cmsis-nn"), default="optimised",
                   help="optimised variants where they apply (default), the reference kernels only, or ARM's "
                   "CMSIS-NN for the int8 layers it covers")  # fmt: skip
    r.add_argument(
        "--cmsis-nn",
        metavar="DIR",
        help="CMSIS-NN source tree for --kernels cmsis-nn (default: $TINYODL_CMSIS_NN, .tools/cmsis-nn)",
    )
    _add_elm_options(r)
    r.set_defaults(func=_cmd_run)

    k = sub.add_parser("bench", help="benchmark the HAR extractor: reference and optimised kernels, both boards")
    k.add_argument("--board", help="boards (comma-separated or 'all'; default: both, for --models nucleo-l476rg)")
    k.add_argument("--dtype", default="int8,f32", help="int8, f32 or both (default)")
    k.add_argument("--int8", help="an int8 .tflite of the HAR architecture (e.g. examples/har/out/har_int8.tflite); "
                   "default: built with seeded random weights")  # fmt: skip
    k.add_argument("--f32", help="a float32 .tflite of the HAR architecture; default: built with random weights")
    k.add_argument("--seed", type=int, default=0, help="weight seed of the built model (default 0)")
    k.add_argument("--limit", type=int, default=1, help="inputs per run (default 1)")
    k.add_argument("--sim", default="qemu", choices=("qemu", "renode"), help="simulator: qemu (default) or renode")
    k.add_argument("--json", action="store_true", help="print every figure as JSON")
    k.add_argument("--models", metavar="DIR",
                   help="every .tflite of DIR, tinyodl's optimised kernels beside CMSIS-NN's (default board: "
                   "nucleo-l476rg)")  # fmt: skip
    k.add_argument("--kernels", choices=("reference", "cmsis-nn"), default="reference",
                   help="what the optimised kernels are measured against: the reference kernels (default) or "
                   "CMSIS-NN (the HAR extractor, or --models)")  # fmt: skip
    k.add_argument(
        "--cmsis-nn", metavar="DIR", help="CMSIS-NN source tree (default: $TINYODL_CMSIS_NN, .tools/cmsis-nn)"
    )
    k.add_argument("--whole", action="store_true", help="--models: the whole networks (default: feature extractors)")
    k.add_argument("--layers", action="store_true", help="--models: print the per-layer tables too")
    k.add_argument("--optimise", choices=("speed", "size", "balanced"), default="balanced",
                   help="--models: flash policy of the int8 kernels' weights (default balanced)")  # fmt: skip
    k.set_defaults(func=_cmd_bench)

    ln = sub.add_parser("learn", help="learn on the device: TinyRCE on a model's features, over a real labelled "
                        "stream, beside its host reference and baselines")  # fmt: skip
    ln.add_argument("model", nargs="?", help="a .tflite or Keras model (its head, if any, is the fallback)")
    ln.add_argument("--board", required=True, help="board name, comma-separated names, or 'all'")
    ln.add_argument("--data", default="watch", help="watch (default), basicmotions, or FILE.npz (docs/learn.md)")
    ln.add_argument("--protocol", default="interleaved",
                    help="interleaved (default), shuffled, new-recording, or several, comma-separated")  # fmt: skip
    ln.add_argument("--learner", choices=("tinyrce", "replay"), default="tinyrce",
                    help="tinyrce (default) or replay: latent replay, a head trained by SGD on the device")  # fmt: skip
    ln.add_argument("--ram-budget", type=int, help="learner RAM in bytes (default 16384; replay: 49152)")
    ln.add_argument("--distance", choices=("l1", "l2"), default="l1", help="l1 (default) or l2 (float32 only)")
    ln.add_argument("--r-max", type=float, help="radius of a new neuron (default: from the data)")
    ln.add_argument("--r-min", type=float, default=0.0, help="no radius shrinks below this (default 0)")
    ln.add_argument("--no-aging", action="store_true", help="plain RCE: no aging")
    ln.add_argument("--no-pruning", action="store_true", help="plain RCE: a full pool drops new neurons")
    ln.add_argument("--age-limit", type=int, default=0, help="prune neurons older than this (1/256 steps; 0: never)")
    ln.add_argument("--features-at", "--replay-at", dest="features_at",
                    help="tensor or op name to cut at, for replay the replay layer (default: head input)")  # fmt: skip
    ln.add_argument("--calibration", help="Keras models: .npz of calibration inputs for an int8 conversion")
    ln.add_argument(
        "--normalize",
        choices=("std", "none"),
        help="per-channel scaling of the windows (default: std for the built-in sets, none for a file)",
    )
    ln.add_argument("--limit", type=int, help="at most this many windows per user (quick runs)")
    ln.add_argument("--sim", default="qemu", help="simulator: qemu (default) or renode")
    ln.add_argument("--machine", help="force one of the board's QEMU machines")
    ln.add_argument("--timeout", type=float, default=3600.0, help="wall-clock limit of the run in seconds")
    ln.add_argument("--kernels", choices=("optimised", "reference"), default="optimised")
    ln.add_argument("--json", action="store_true", help="print the result as JSON")
    ln.add_argument("--plot", help="write the accuracy-over-time curves to this PNG")
    ln.add_argument("--cycles", action="store_true",
                    help="TinyRCE: a learning step's cycles by the per-core model (QEMU; docs/cycles.md)")  # fmt: skip
    ln.add_argument("--first-classes", type=int, default=2, help="replay: classes of the first experience (default 2)")
    ln.add_argument("--epochs", type=int, default=4, help="replay: epochs per experience (default 4)")
    ln.add_argument("--lr", type=float, default=1e-3, help="replay: SGD learning rate (default 0.001)")
    ln.add_argument("--momentum", type=float, default=0.9, help="replay: SGD momentum (default 0.9)")
    ln.add_argument("--weight-decay", type=float, default=5e-4, help="replay: weight decay (default 0.0005)")
    ln.add_argument("--batch", type=int, default=16, help="replay: minibatch size (default 16)")
    ln.add_argument("--current", type=int, default=256, help="replay: latents of an experience trained on (256)")
    ln.add_argument("--tinyprop", action="store_true", help="replay: TinyProp sparse updates")
    ln.add_argument("--hidden", type=int, default=0, help="replay: units of a hidden dense layer with ReLU (0: none)")
    ln.add_argument("--head-init", choices=("seed", "trained"),
                    help="replay: the head's start, seeded random or the model's own (default: seed for "
                    "class-incremental, trained for new-recording)")  # fmt: skip
    _add_elm_options(ln)
    ln.set_defaults(func=_cmd_learn)

    se = sub.add_parser("session", help="a learning session with the learner firmware on a simulator or a board: "
                        "live predictions, labels asked when UNKNOWN, a log, a state saved and resumed")  # fmt: skip
    se.add_argument("model", nargs="?", help="a .tflite or Keras model (the same the firmware was generated from)")
    se.add_argument("--model", dest="model_option", metavar="MODEL", help="the model, as an option")
    se.add_argument("--board", required=True, help="board name")
    se.add_argument("--port", help="serial port (or pyserial URL) of a board flashed with the learner firmware")
    se.add_argument("--baud", type=int, help="--port: baud rate (default: the board file's console, 115200)")
    se.add_argument("--sim", choices=("qemu", "renode"), help="build the learner firmware and run it on a simulator")
    se.add_argument("--machine", help="--sim qemu: force one of the board's QEMU machines")
    se.add_argument("--data", default="watch", help="windows to stream: watch (default), basicmotions, FILE.npz")
    se.add_argument("--interactive", action="store_true", help="ask the user for the labels (else the data set's)")
    se.add_argument("--ask", choices=("unknown", "uncertain", "always"), default="unknown",
                    help="which predictions ask for a label: UNKNOWN (default), UNCERTAIN too, or all")  # fmt: skip
    se.add_argument("--state", help="learner state file: loaded if it exists, saved at the end and on Ctrl-C")
    se.add_argument("--log", help="append the session log (JSON lines) to this file")
    se.add_argument("--user", type=int, help="stream this user's windows only (default: each learned user in turn)")
    se.add_argument("--windows", type=int, help="stream at most this many windows (default: the rest)")
    se.add_argument("--start", type=int, help="start at this window of the stream (default: where --state left off)")
    se.add_argument("--classes", help="class names, comma-separated (default: the data set's)")
    se.add_argument("--ram-budget", type=int, default=16 * 1024, help="learner RAM in bytes (default 16384)")
    se.add_argument("--distance", choices=("l1", "l2"), default="l1", help="l1 (default) or l2 (float32 only)")
    se.add_argument("--r-max", type=float, help="radius of a new neuron (default: from the data)")
    se.add_argument("--r-min", type=float, default=0.0, help="no radius shrinks below this (default 0)")
    se.add_argument("--no-aging", action="store_true", help="plain RCE: no aging")
    se.add_argument("--no-pruning", action="store_true", help="plain RCE: a full pool drops new neurons")
    se.add_argument("--age-limit", type=int, default=0, help="prune neurons older than this (1/256 steps; 0: never)")
    se.add_argument("--features-at", help="tensor or op name to cut at (default: the classifier head's input)")
    se.add_argument("--calibration", help="Keras models: .npz of calibration inputs for an int8 conversion")
    se.add_argument("--normalize", choices=("std", "none"),
                    help="per-channel scaling (default: std for the built-in sets, none for a file)")  # fmt: skip
    se.add_argument("--kernels", choices=("optimised", "reference"), default="optimised")
    se.add_argument("--timeout", type=float, default=86400.0,
                    help="--sim: wall-clock limit, s (default a day); --port: wait for HELLO up to 30 s")  # fmt: skip
    se.add_argument("--json", action="store_true", help="print the session's summary as JSON")
    _add_elm_options(se)
    se.set_defaults(func=_cmd_session)

    nas = sub.add_parser("nas", help="search a small CNN for a board: Occam's-razor search, feasibility from the "
                         "compiled firmware's footprint, candidates as Ray tasks (docs/nas.md)")  # fmt: skip
    nas.add_argument("--data", default="watch",
                     help="watch (default), basicmotions, or FILE.npz of windows or images (docs/nas.md)")  # fmt: skip
    nas.add_argument("--board", required=True, help="board name")
    nas.add_argument("--ram-budget", type=int, help="bytes of RAM the firmware may use (static RAM with the arena "
                     "and the stack; default: what links)")  # fmt: skip
    nas.add_argument("--flash-budget", type=int, help="bytes of flash the firmware may use (default: what links)")
    nas.add_argument("--latency-ms", type=float, help="bound on the estimated latency per inference (ms)")
    nas.add_argument("--workers", type=int, help="candidates evaluated at once on a local Ray (default 1)")
    nas.add_argument("--ray", metavar="ADDRESS", help="join this Ray cluster instead of starting a local one")
    nas.add_argument("-o", "--output", default="nas-out", help="output folder (default nas-out)")
    nas.add_argument("--resume", action="store_true", help="continue the search whose history is in the folder")
    nas.add_argument("--epochs", type=int, default=6, help="training epochs per candidate (default 6)")
    nas.add_argument("--final-epochs", type=int, default=30, help="training epochs of the found model (default 30)")
    nas.add_argument("--seed", type=int, default=0, help="seed of the splits and the training (default 0)")
    nas.add_argument("--max-k", type=int, default=32, help="largest first-layer kernel count tried (default 32)")
    nas.add_argument("--json", action="store_true", help="print the summary as JSON")
    nas.set_defaults(func=_cmd_nas)

    rp = sub.add_parser("report", help="the deployability table beside the seed's, learning quality; HTML, Markdown")
    rp.add_argument("--board", default="nucleo-l476rg,nucleo-h743zi", help="boards (comma-separated or 'all'; "
                    "default: both)")  # fmt: skip
    rp.add_argument("--sim", default="qemu", choices=("qemu", "renode"), help="simulator: qemu (default) or renode")
    rp.add_argument("--int8", default="examples/har/out/har_int8.tflite", help="the trained int8 HAR model")
    rp.add_argument("--f32", default="examples/har/out/har_f32.tflite", help="the trained float32 HAR model")
    rp.add_argument("--html", help="write the report as one self-contained HTML file")
    rp.add_argument("--markdown", help="write the README's tables as Markdown to this file")
    rp.add_argument("--json", action="store_true", help="print every figure as JSON")
    rp.add_argument("--quick", action="store_true", help="a small configuration: few windows per user (CI)")
    rp.add_argument("--no-cache", action="store_true", help="measure everything again")
    rp.add_argument("--cache-dir", help="where measurements are cached (default: beside the build directory)")
    rp.add_argument("--cmsis-nn", help="CMSIS-NN source tree for the per-layer comparison (default: as run finds it)")
    rp.set_defaults(func=_cmd_report)

    rs = sub.add_parser(
        "renode-script",
        help="build a board image (an application or a model) and write the Renode script and Robot variables "
        "that run it (no Renode needed)",
    )
    rs.add_argument("model", nargs="?", help="a model (.tflite, Keras): its image and the variable file of "
                    "renode/tests/model.robot, which sends one input and checks the output")  # fmt: skip
    rs.add_argument("--board", required=True, help="board name")
    rs.add_argument("--app", default="selftest", help="firmware application without MODEL (default: selftest)")
    rs.add_argument("--inputs", help="MODEL: .npz of input windows; the first is sent (default: seeded random)")
    rs.add_argument("--calibration", help="Keras models: .npz of calibration inputs for an int8 conversion")
    rs.add_argument("--features-at", help="MODEL: tensor or op name to cut at (default: the classifier head's input)")
    rs.add_argument("--whole", action="store_true", help="MODEL: the whole network, head included")
    rs.add_argument("--kernels", choices=("optimised", "reference"), default="optimised",
                    help="optimised variants where they apply (default), or the reference kernels only")  # fmt: skip
    _add_elm_options(rs)
    rs.add_argument("--port", type=int, default=4321, help="TCP port of the console UART (default: 4321)")
    rs.add_argument("--out", help="directory for the .resc (default: beside the ELF)")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=_cmd_renode_script)

    from .flashcmd import add_emulator_parser, add_flash_parser

    add_flash_parser(sub)
    add_emulator_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        os.environ["TINYODL_VERBOSE"] = "1"  # read by the Keras frontend (tinyodl.frontends.keras)
    try:
        return int(args.func(args))
    except TinyodlError as exc:
        print(f"tinyodl: error: {exc}", file=sys.stderr)  # plain print: never wrapped
        return exc.exit_code
    except KeyboardInterrupt:
        print("tinyodl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
