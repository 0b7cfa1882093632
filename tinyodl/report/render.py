"""The report as a terminal table (rich) and as the README's Markdown: the deployability table, ours beside
the seed's figures with the ratio, then learning quality."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from . import seed

BOARD_SHORT = {"nucleo-l476rg": "L4", "nucleo-h743zi": "H7"}


def _short(board: str) -> str:
    return BOARD_SHORT.get(board, board)


def _macc(v: float) -> str:
    if v >= 1e9:
        return f"{v / 1e9:.3g} G"
    if v >= 1e6:
        return f"{v / 1e6:.3f} M"
    return f"{v / 1e3:.1f} k"


def _ms(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:,.2f} s"
    return f"{v:.3g} ms" if v < 10 else f"{v:,.1f} ms"


def _x(r: float | None) -> str:
    if r is None:
        return ""
    return f"{r:.2g}x" if r < 0.1 else f"{r:.2f}x"


def _with_seed(ours: str, theirs: str | None, ratio: float | None) -> str:
    if theirs is None:
        return ours
    return f"{ours} (seed {theirs}{', ' + _x(ratio) if ratio is not None else ''})"


def grouped(result: dict[str, Any]) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(row key, board -> row) in the table's order."""
    order: dict[str, dict[str, dict[str, Any]]] = {}
    for r in result["deployability"]:
        order.setdefault(r["row"], {})[r["board"]] = r
    return list(order.items())


def _both(rows: dict[str, dict[str, Any]], fn: Any) -> str:
    values = [fn(r) for r in rows.values()]
    return values[0] if len(set(values)) == 1 else " / ".join(values)


def _seed_ms(r: dict[str, Any]) -> str | None:
    s = r["seed"]
    if s["latency_ms"] is None:
        return None
    ps = s["per_sample"]
    if not ps["derived"]:
        return _ms(s["latency_ms"])
    return f"{_ms(s['latency_ms'])} / {ps['samples_per_training']:,} = {_ms(ps['latency_ms'][r['board']])}"


def _seed_macc(r: dict[str, Any]) -> str:
    ps = r["seed"]["per_sample"]
    if not ps["derived"]:
        return _macc(r["seed"]["macc"])
    return f"{_macc(r['seed']['macc'])} / {ps['samples_per_training']:,} = {_macc(ps['macc'])}"


def cells(rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The table's cells of one configuration over the boards."""
    first = next(iter(rows.values()))
    out = {
        "configuration": first["label"],
        "per": first["unit"],
        "MACC": _with_seed(_macc(first["macc"]), _seed_macc(first), first["ratio"]["macc"]),
        "flash KiB": _with_seed(_both(rows, lambda r: f"{r['flash_bytes'] / 1024:.2f}"),
                                None if first["seed"]["flash_kib"] is None else f"{first['seed']['flash_kib']}",
                                first["ratio"]["flash"]),
        "RAM KiB": _with_seed(_both(rows, lambda r: f"{r['ram_bytes'] / 1024:.2f}"),
                              None if first["seed"]["ram_kib"] is None else f"{first['seed']['ram_kib']}",
                              first["ratio"]["ram"]),
        "instructions": " / ".join(f"{r['instructions']:,.0f}" for r in rows.values()),
    }  # fmt: skip
    for board, r in rows.items():
        mhz = r["clock_hz"] // 1_000_000
        out[f"{_short(board)} @ {mhz} MHz"] = _with_seed(
            _ms(r["latency_ms_estimated"]), _seed_ms(r), r["ratio"]["latency"]
        )
    out["estimate"] = "cycle model" if "cycle model" in first["estimate"] else "CPI 1.0"
    out["accuracy"] = "-" if first["accuracy"] is None else f"{first['accuracy']:.1%}"
    return out


def estimate_note(result: dict[str, Any]) -> str:
    labels = {r["estimate"] for r in result["deployability"]}
    if len(labels) == 1:
        return labels.pop()
    if all("cycle model" in label for label in labels):
        return ("estimated by the per-core cycle model (docs/cycles.md): the CNN rows from a traced inference, "
                "the learner rows as each measured part's CPI in a traced step times its mean exact "
                "instructions")  # fmt: skip
    return ("estimated: the 'cycle model' rows by the per-core cycle model (docs/cycles.md; the learner rows: each "
            "measured part's CPI in a traced step times its mean exact instructions), the 'CPI 1.0' rows as exact "
            "instructions at CPI 1.0 (no QEMU execution log), so compare instructions across the two")  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    groups = grouped(result)
    table = [cells(rows) for _, rows in groups]
    boards = list(dict.fromkeys(r["board"] for r in result["deployability"]))
    head = list(table[0])
    head = [h if "MHz" not in h else f"latency {h} (estimated)" for h in head]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|"]
    for c in table:
        lines.append("| " + " | ".join(v.replace("|", "/") for v in c.values()) + " |")
    lines += [
        "",
        f"Ours: {result['configuration']} configuration, {result['simulator']} {result['simulator_version']}, "
        f"boards {', '.join(boards)}; instructions exact, listed per board; latency {estimate_note(result)}; "
        "RAM = static data and bss (arena, learner pool and link buffers included) + the measured stack peak; "
        "flash and RAM per board when they differ. The seed's figures in parentheses with the ratio ours / seed; "
        "its learning columns are a whole training (MACC x F x E), shown divided by F x E, i.e. per learned "
        f"sample. Seed: {seed.SOURCE}.",
    ]
    lines += ["", *learning_markdown(result)]
    return "\n".join(lines) + "\n"


def learning_markdown(result: dict[str, Any]) -> list[str]:
    lines = ["| board | extractor | protocol | TinyRCE | + fallback | trivial | kNN-1 | back-prop | pretrained |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in result["learning"]:
        b = r["baselines"]

        def pct(v: float | None) -> str:
            return "-" if v is None else f"{v:.1%}"

        lines.append(f"| {_short(r['board'])} | {r['extractor']} | {r['protocol']} | {pct(r['accuracy'])} | "
                     f"{pct(r.get('fallback_accuracy'))} | {pct(b['trivial']['accuracy'])} | "
                     f"{pct(b['knn']['accuracy'])} | {pct(b['backprop']['accuracy'])} | "
                     f"{pct(r.get('pretrained_accuracy'))} |")  # fmt: skip
    lines.append("")
    lines.append("| board | latent replay, after experience | " + " | ".join(
        str(e["experience"]) for e in result["replay"][0]["experiences"]) + " | joint (upper bound) |")  # fmt: skip
    lines.append("|---|---|" + "---:|" * (len(result["replay"][0]["experiences"]) + 1))
    for r in result["replay"]:
        exps = r["experiences"]
        lines.append(f"| {_short(r['board'])} | with replay | " + " | ".join(f"{e['accuracy']:.1%}" for e in exps)
                     + f" | {r['joint_accuracy']:.1%} |")  # fmt: skip
        lines.append(f"| {_short(r['board'])} | without replay | "
                     + " | ".join(f"{e['no_replay_accuracy']:.1%}" for e in exps) + " | |")  # fmt: skip
    return lines


SHORT = {
    "cnn_f32": "CNN float32, inference",
    "cnn_int8": "CNN int8, inference",
    "cnn_backprop": "CNN + back-prop, SGD step",
    "rce_trained_inference": "CNN-FE + TinyRCE, inference",
    "rce_trained_learning": "CNN-FE + TinyRCE, learning",
    "rce_elm_inference": "ELM-FE + TinyRCE, inference",
    "rce_elm_learning": "ELM-FE + TinyRCE, learning",
}


def _board_table(result: dict[str, Any], board: str) -> Table:
    rows = [r for r in result["deployability"] if r["board"] == board]
    mhz = rows[0]["clock_hz"] // 1_000_000
    table = Table(title=f"deployability on {board} @ {mhz} MHz ({result['configuration']} configuration)")
    for col in ("configuration", "MACC", "flash KiB", "RAM KiB", "instructions", "est. ms", "estimate", "seed ms",
                "ours/seed", "accuracy"):  # fmt: skip
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for r in rows:
        ps = r["seed"]["per_sample"]["latency_ms"].get(board)
        table.add_row(SHORT.get(r["row"], r["label"]), _macc(r["macc"]), f"{r['flash_bytes'] / 1024:.1f}",
                      f"{r['ram_bytes'] / 1024:.1f}", f"{r['instructions']:,.0f}", f"{r['latency_ms_estimated']:.3g}",
                      "cycle model" if "cycle model" in r["estimate"] else "CPI 1.0",
                      "-" if ps is None else f"{ps:.4g}{'*' if r['seed']['per_sample']['derived'] else ''}",
                      _x(r["ratio"]["latency"]) or "-",
                      "-" if r["accuracy"] is None else f"{r['accuracy']:.1%}")  # fmt: skip
    return table


def print_report(result: dict[str, Any], console: Console) -> None:
    for board in dict.fromkeys(r["board"] for r in result["deployability"]):
        console.print(_board_table(result, board))
    console.print("* the seed's learning figure (a whole training) divided by F x E: per learned sample; "
                  "--markdown and --html show every seed figure (MACC, flash, RAM) beside ours")  # fmt: skip
    lt = Table(title="learning quality: accuracy on the held-out users")
    for col in ("board", "extractor", "protocol", "TinyRCE", "+ fallback", "trivial", "kNN-1", "back-prop",
                "pretrained"):  # fmt: skip
        lt.add_column(col, justify="left" if col in ("board", "extractor", "protocol") else "right")
    for r in result["learning"]:
        b = r["baselines"]
        pct = [r["accuracy"], r.get("fallback_accuracy"), b["trivial"]["accuracy"], b["knn"]["accuracy"],
               b["backprop"]["accuracy"], r.get("pretrained_accuracy")]  # fmt: skip
        lt.add_row(_short(r["board"]), r["extractor"], r["protocol"], *["-" if v is None else f"{v:.1%}" for v in pct])
    console.print(lt)
    for r in result["replay"]:
        per = ", ".join(f"{a:.0%}" for a in r["accuracy_per_experience"])
        nr = ", ".join(f"{e['no_replay_accuracy']:.0%}" for e in r["experiences"])
        console.print(f"latent replay on {r['board']}: with replay {per}; without {nr}; joint training "
                      f"{r['joint_accuracy']:.1%}")  # fmt: skip
    hits = sum(result["cached"].values())
    console.print(
        f"instructions exact ({result['simulator']} {result['simulator_version']}); latency {estimate_note(result)}; "
        f"{hits} of {len(result['cached'])} measurements from the cache; seed: {seed.SOURCE}"
    )
