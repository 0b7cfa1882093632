"""The benchmark's terminal report: one table per board and type (layers, reference beside optimised), a
summary table, and the SPEC targets, each marked met or not."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _ipm(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


SIM_NAMES = {"qemu": "QEMU", "renode": "Renode"}


def _short(kernel: str) -> str:
    return kernel.removeprefix("tl_")


def _layers_table(r: dict[str, Any]) -> Table:
    mhz = r["clock_hz"] // 1_000_000
    sim = SIM_NAMES.get(r["simulator"], r["simulator"])
    table = Table(title=f"{r['dtype']} on {r['board']} ({r['core']} @ {mhz} MHz, {sim} {r['machine']})")
    for col in ("layer", "MACC", "ref. instr", "i/MAC", "optimised kernel", "opt. instr", "i/MAC ",
                "speed-up"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("layer", "optimised kernel") else "right")
    for layer in r["layers"]:
        a, b = layer["reference"], layer["optimised"]
        table.add_row(layer["name"], f"{layer['macc']:,}", f"{a['instructions']:,}", _ipm(a["instructions_per_mac"]),
                      _short(b["kernel"]), f"{b['instructions']:,}", _ipm(b["instructions_per_mac"]),
                      f"{layer['speedup']:.2f}x")  # fmt: skip
    a, b = r["reference"], r["optimised"]
    table.add_row("total", f"{r['macc']:,}", f"{a['instructions']:,}", _ipm(a["instructions_per_mac"]), "",
                  f"{b['instructions']:,}", _ipm(b["instructions_per_mac"]), f"{r['speedup']:.2f}x",
                  style="bold")  # fmt: skip
    return table


def _summary_table(result: dict[str, Any]) -> Table:
    runs = result["results"]
    table = Table(title="summary: reference -> optimised kernels")
    table.add_column("")
    for r in runs:
        table.add_column(f"{r['board']} {r['dtype']}", justify="right")

    def row(label: str, fn: Any) -> None:
        table.add_row(label, *[fn(r, r["reference"], r["optimised"]) for r in runs])

    row("instr/MAC", lambda r, a, b: f"{_ipm(a['instructions_per_mac'])} -> {_ipm(b['instructions_per_mac'])}")
    row("latency (est.) ms", lambda r, a, b: f"{a['latency_ms_estimated']:.2f} -> {b['latency_ms_estimated']:.2f}")
    row("  at clock", lambda r, a, b: f"{r['clock_hz'] // 1_000_000} MHz")
    row("flash B", lambda r, a, b: f"{a['flash_bytes']:,} -> {b['flash_bytes']:,}")
    row("static RAM B", lambda r, a, b: f"{a['static_ram_bytes']:,} -> {b['static_ram_bytes']:,}")
    row("arena B", lambda r, a, b: f"{a['arena_bytes']:,} -> {b['arena_bytes']:,}")
    row("  of it kernel scratch", lambda r, a, b: f"{b['arena_bytes'] - b['activation_bytes']:,}")
    row("stack peak B", lambda r, a, b: f"{a['stack_peak_bytes']:,} -> {b['stack_peak_bytes']:,}")
    row("generate + build s", lambda r, a, b: f"{b['generate_seconds'] + b['build_seconds']:.1f}")
    row("outputs", lambda r, a, b: "match" if a["outputs_match"] and b["outputs_match"] else "MISMATCH")
    return table


def _targets_table(result: dict[str, Any]) -> Table:
    table = Table(title="targets (SPEC section 11)")
    for col in ("target", "where", "measured", "limit", "met"):
        table.add_column(col, justify="right" if col in ("measured", "limit") else "left")
    for t in result["targets"]:
        unit = t["unit"]
        table.add_row(t["target"], t["where"], f"{t['measured']:,.2f} {unit}".replace(".00 B", " B"),
                      f"{t['limit']:,} {unit}",
                      "[green]yes[/]" if t["met"] else "[red]no[/]")  # fmt: skip
    return table


def print_bench(result: dict[str, Any], console: Console) -> None:
    for r in result["results"]:
        console.print(_layers_table(r))
    console.print(_summary_table(result))
    tflm = result["tflite_micro"]
    if tflm is not None:
        console.print(
            f"tflite-micro arena for the same int8 model: {tflm['total_bytes']:,} B ({tflm['head_bytes']:,} B "
            f"activations and scratch, {tflm['tail_bytes']:,} B of its own bookkeeping)"
        )
    console.print(_targets_table(result))
    weights = ", ".join(f"{d}: {w}" for d, w in result["model"]["weights"].items())
    console.print(
        f"model {result['model']['architecture']} on {tuple(result['model']['input'])} windows (weights {weights}); "
        f"instructions exact ({SIM_NAMES.get(result['simulator'], result['simulator'])}); {result['estimate_model']}"
    )


# ---- bench --models: tinyodl's optimised kernels beside CMSIS-NN ---------------------------------------------


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "[red]NO[/]")


def _checks(run: dict[str, Any]) -> str:
    """ "ok" when the outputs equal the numpy reference and tflite-micro (when it was checked)."""
    ok = run["outputs_match"] and run["matches_tflite_micro"] is not False
    return "ok" if ok else "[red]DIFFER[/]"


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def models_table(result: dict[str, Any], board: str) -> Table:
    runs = [r for r in result["results"] if r["board"] == board]
    mhz = runs[0]["clock_hz"] // 1_000_000 if runs else 0
    core = runs[0]["core"] if runs else ""
    table = Table(title=f"ours (optimised) / CMSIS-NN {result['cmsis_nn']['version'] or ''} on {board} "
                  f"({core} @ {mhz} MHz, {SIM_NAMES.get(result['simulator'], result['simulator'])})")  # fmt: skip
    cols = ("model", "MACC", "instructions", "ratio", "instr/MAC", "flash B", "ratio ", "arena B", "TFLM arena B",
            "ratio  ", "outputs")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in runs:
        a, b = r["optimised"], r["cmsis_nn"]
        tflm = r.get("tflite_micro_arena")
        tflm_bytes = f"{tflm['total_bytes']:,}" if isinstance(tflm, dict) else "-"
        table.add_row(r["name"], f"{r['macc']:,}", f"{a['instructions']:,} / {b['instructions']:,}",
                      _x(r["instructions_ratio"]),
                      f"{_ipm(a['instructions_per_mac'])} / {_ipm(b['instructions_per_mac'])}",
                      f"{a['flash_bytes']:,} / {b['flash_bytes']:,}", _x(r["flash_ratio"]),
                      f"{a['arena_bytes']:,} / {b['arena_bytes']:,}", tflm_bytes,
                      _x(r.get("arena_vs_tflite_micro")), f"{_checks(a)} / {_checks(b)}")  # fmt: skip
    return table


def cycles_table(result: dict[str, Any], board: str) -> Table:
    """Estimated cycles (the per-core model, docs/cycles.md) of ours and CMSIS-NN, whole network."""
    runs = [r for r in result["results"] if r["board"] == board]
    mhz = runs[0]["clock_hz"] // 1_000_000 if runs else 0
    table = Table(title=f"est. cycles, ours / CMSIS-NN on {board} ({runs[0]['core'] if runs else ''} model, "
                  f"docs/cycles.md)")  # fmt: skip
    for col in ("model", "est. cycles", "ratio", f"est. ms @ {mhz} MHz", "est. CPI"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in runs:
        c, ms = r["estimated_cycles"], r["estimated_latency_ms"]
        if c["optimised"] is None or c["cmsis_nn"] is None:
            continue
        cpi = [c[k] / r[k]["instructions"] if r[k]["instructions"] else 0.0 for k in ("optimised", "cmsis_nn")]
        table.add_row(r["name"], f"{c['optimised']:,} / {c['cmsis_nn']:,}", _x(r["estimated_cycles_ratio"]),
                      f"{ms['optimised']:.2f} / {ms['cmsis_nn']:.2f}", f"{cpi[0]:.2f} / {cpi[1]:.2f}")  # fmt: skip
    return table


def model_layers_table(r: dict[str, Any]) -> Table:
    table = Table(title=f"{r['name']} on {r['board']}: per layer, ours / CMSIS-NN")
    for col in ("layer", "MACC", "ours", "instr", "CMSIS-NN (or ours, why)", "instr ", "ratio"):
        table.add_column(col, justify="left" if col in ("layer", "ours", "CMSIS-NN (or ours, why)") else "right")
    for layer in r["layers"]:
        a, b = layer["optimised"], layer["cmsis_nn"]
        peer = "-" if b["instructions"] is None else f"{b['instructions']:,}"
        if b["kernel"].startswith("tl_cmsisnn_"):
            what = b["kernel_note"].removeprefix("CMSIS-NN ")
        else:
            what = f"{_short(b['kernel'])} ({b['kernel_note'].split(';')[0].removeprefix('not CMSIS-NN: ')})"
        table.add_row(layer["name"], f"{layer['macc']:,}", _short(a["kernel"]), f"{a['instructions']:,}", what, peer,
                      _x(layer["ratio"]))  # fmt: skip
    return table


def print_models_bench(result: dict[str, Any], console: Console, layers: bool = False) -> None:
    boards = list(dict.fromkeys(r["board"] for r in result["results"]))
    if layers:
        for r in result["results"]:
            console.print(model_layers_table(r))
    for board in boards:
        console.print(models_table(result, board))
        if any(r.get("estimated_cycles_ratio") is not None for r in result["results"] if r["board"] == board):
            console.print(cycles_table(result, board))
    c = result["cmsis_nn"]
    console.print(
        f"{result['part']}; ratio = {result['ratio']}; outputs ok: equal to the numpy reference and tflite-micro; "
        f"instructions {result['instructions_scope']}; CMSIS-NN {c['version']} from {c['found_by']}; flash policy "
        f"{result.get('flash_policy', 'balanced')} (--optimise); TFLM arena: "
        f"{result.get('tflite_micro_arena_scope', 'tflite-micro')}, ratio ours / it"
    )
