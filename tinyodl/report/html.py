"""`tinyodl report --html FILE`: one self-contained HTML page (no external files, no scripts): the tables,
and matplotlib plots embedded as base64 PNG: latency ours vs the seed, per-layer instructions (ours vs
CMSIS-NN, or vs our reference kernels), RAM per configuration, the memory map of the firmware images, the
learning curves."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from ..errors import TinyodlError
from . import render, seed

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf"]  # fmt: skip


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TinyodlError("--html needs matplotlib: pip install 'tinyodl[plot]'") from None
    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    _pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _boards(result: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(r["board"] for r in result["deployability"]))


def latency_plot(result: dict[str, Any]) -> str:
    plt = _pyplot()
    boards = _boards(result)
    fig, axes = plt.subplots(1, len(boards), figsize=(6 * len(boards), 4.2), squeeze=False)
    for ax, board in zip(axes[0], boards, strict=True):
        rows = [r for r in result["deployability"] if r["board"] == board]
        ys = range(len(rows))
        ours = [r["latency_ms_estimated"] for r in rows]
        theirs = [r["seed"]["per_sample"]["latency_ms"].get(board) or 0 for r in rows]
        ax.barh([y + 0.2 for y in ys], ours, height=0.4, label="ours (estimated)", color=COLORS[0])
        ax.barh([y - 0.2 for y in ys], theirs, height=0.4, label="seed (per sample)", color=COLORS[1])
        ax.set_yticks(list(ys), [r["label"].replace(" + ", "\n+ ", 1)[:60] for r in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("ms (log scale)")
        mhz = rows[0]["clock_hz"] // 1_000_000
        ax.set_title(f"{board} @ {mhz} MHz: latency", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def layers_plot(result: dict[str, Any]) -> str:
    plt = _pyplot()
    entries = result["layers"]
    fig, axes = plt.subplots(1, len(entries), figsize=(6 * len(entries), 4), squeeze=False)
    for ax, e in zip(axes[0], entries, strict=True):
        names = [x["name"] for x in e["layers"]]
        xs = range(len(names))
        peer = "CMSIS-NN" if e["peer"] == "cmsis-nn" else "our reference kernels"
        ax.bar([x - 0.2 for x in xs], [x["ours_instructions"] or 0 for x in e["layers"]], width=0.4,
               label=f"ours ({e['ours_instructions']:,})", color=COLORS[0])  # fmt: skip
        ax.bar([x + 0.2 for x in xs], [x["peer_instructions"] or 0 for x in e["layers"]], width=0.4,
               label=f"{peer} ({e['peer_instructions']:,})", color=COLORS[3])  # fmt: skip
        ax.set_xticks(list(xs), [n.replace("+", "+\n") for n in names], fontsize=7, rotation=30, ha="right")
        ax.set_ylabel("instructions (exact)")
        ax.set_title(f"int8 CNN per layer on {e['board']}", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def layer_ram_plot(result: dict[str, Any]) -> str:
    """The arena during each layer: live activations and the kernel's working memory, int8 and float32."""
    plt = _pyplot()
    entries = [(e["board"], dtype, rows) for e in result["layers"] for dtype, rows in e.get("ram", {}).items() if rows]
    fig, axes = plt.subplots(1, max(len(entries), 1), figsize=(3.6 * max(len(entries), 1), 3.8), squeeze=False)
    for ax, (board, dtype, rows) in zip(axes[0], entries, strict=False):
        xs = list(range(len(rows)))
        act = [r["activation_bytes"] / 1024 for r in rows]
        ax.bar(xs, act, color=COLORS[0], label="live activations")
        ax.bar(xs, [r["scratch_bytes"] / 1024 for r in rows], bottom=act, color=COLORS[1], label="kernel scratch")
        ax.axhline(rows[0]["arena_bytes"] / 1024, color="black", linestyle="--", linewidth=1, label="arena")
        ax.set_xticks(xs, [r["name"].replace("+", "+\n") for r in rows], fontsize=6, rotation=30, ha="right")
        ax.set_ylabel("KiB")
        ax.set_title(f"{dtype} CNN arena per layer, {board}", fontsize=9)
        ax.legend(fontsize=6)
    return _png(fig)


def ram_plot(result: dict[str, Any]) -> str:
    plt = _pyplot()
    boards = _boards(result)
    fig, axes = plt.subplots(1, len(boards), figsize=(6 * len(boards), 4.2), squeeze=False)
    parts = ("arena", "learner", "stack_peak")
    for ax, board in zip(axes[0], boards, strict=True):
        rows = [r for r in result["deployability"] if r["board"] == board and not r["row"].endswith("_learning")]
        ys = list(range(len(rows)))
        left = [0.0] * len(rows)
        for i, part in enumerate(parts):
            vals = [r["ram_parts"].get(part, 0) / 1024 for r in rows]
            ax.barh(ys, vals, left=left, label=part.replace("_", " "), color=COLORS[i])
            left = [a + b for a, b in zip(left, vals, strict=True)]
        rest = [r["ram_bytes"] / 1024 - done for r, done in zip(rows, left, strict=True)]
        ax.barh(ys, rest, left=left, label="other static (runtime, link buffers)", color=COLORS[7])
        limit = max(r["ram_bytes"] / 1024 for r in rows) * 1.6
        for y, r in zip(ys, rows, strict=True):
            theirs = r["seed"]["ram_kib"]
            if theirs and theirs <= limit:
                ax.plot([theirs] * 2, [y - 0.4, y + 0.4], color="black", linewidth=2)
            elif theirs:
                ax.text(limit * 0.98, y, f"seed {theirs:,} KiB \u2192", ha="right", va="center", fontsize=7)
        ax.set_xlim(0, limit)
        ax.plot([], [], color="black", linewidth=2, label="seed")
        ax.set_yticks(ys, [r["label"][:48] for r in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("KiB (measured)")
        ax.set_title(f"RAM on {board}", fontsize=10)
        ax.legend(fontsize=7)
    return _png(fig)


def memory_plot(result: dict[str, Any]) -> str:
    plt = _pyplot()
    entries = result["memory"]
    bars = [(e, reg) for e in entries for reg in e["regions"] if reg["used_bytes"]]
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(bars) + 1.2))
    names = sorted({p["section"].split(" ")[0] for _, reg in bars for p in reg["parts"]})
    color = {n: COLORS[i % len(COLORS)] for i, n in enumerate(names)}
    for y, (_, reg) in enumerate(bars):
        ax.barh(y, 100.0, color="#eeeeee", edgecolor="#999999")
        for p in reg["parts"]:
            start = (p["address"] - reg["origin"]) / reg["length"] * 100
            ax.barh(y, p["bytes"] / reg["length"] * 100, left=start, color=color[p["section"].split(" ")[0]])
        ax.text(101, y, f"{reg['used_bytes'] / 1024:.1f} of {reg['length'] / 1024:.0f} KiB", va="center", fontsize=7)
    for n in names:
        ax.barh(0, 0, color=color[n], label=n)
    ax.set_yticks(range(len(bars)), [f"{e['board']}: {e['firmware']}: {reg['name']}" for e, reg in bars], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 118)
    ax.set_xlabel("% of the region, by address (from the ELF's sections)")
    ax.set_title("memory map", fontsize=10)
    ax.legend(fontsize=7, ncol=min(len(names), 6), loc="lower right")
    return _png(fig)


def curves_plot(result: dict[str, Any]) -> str:
    plt = _pyplot()
    boards = _boards(result)
    fig, axes = plt.subplots(1, len(boards), figsize=(6 * len(boards), 4), squeeze=False)
    for ax, board in zip(axes[0], boards, strict=True):
        for i, r in enumerate(x for x in result["learning"] if x["board"] == board):
            curve = r["accuracy_curve"] or [[0, 0.0]]
            xs, ys = zip(*curve, strict=True)
            c = COLORS[i % len(COLORS)]
            ax.plot(xs, ys, color=c, label=f"TinyRCE, {r['extractor']}, {r['protocol']} ({r['accuracy']:.1%})")
            for name, style in (("trivial", ":"), ("backprop", "--")):
                b = r["baselines"].get(name)
                if b is not None:
                    ax.axhline(b["accuracy"], linestyle=style, linewidth=1, color=c,
                               label=f"  {name} ({b['accuracy']:.1%})")  # fmt: skip
        ax.set_xlabel("windows tested")
        ax.set_ylabel("accuracy so far")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
        ax.set_title(f"TinyRCE on {board}", fontsize=10)
    return _png(fig)


def replay_plot(result: dict[str, Any]) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, r in enumerate(result["replay"]):
        c = COLORS[i]
        xs = [e["experience"] for e in r["experiences"]]
        ax.plot(xs, [e["accuracy"] for e in r["experiences"]], marker="o", color=c, label=f"replay, {r['board']}")
        ax.plot(xs, [e["no_replay_accuracy"] for e in r["experiences"]], marker="x", linestyle="--", color=c,
                label=f"  no replay, {r['board']}")  # fmt: skip
        ax.axhline(r["joint_accuracy"], linestyle=":", color=c, label=f"  joint ({r['joint_accuracy']:.1%})")
    ax.set_xlabel("experience (classes seen so far)")
    ax.set_ylabel("accuracy on the classes seen")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("latent replay: forgetting with and without replay", fontsize=10)
    return _png(fig)


def _table(head: list[str], rows: list[list[str]], cls: str) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _img(data: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _deploy_table(result: dict[str, Any]) -> str:
    groups = [render.cells(rows) for _, rows in render.grouped(result)]
    head = [h if "MHz" not in h else f"latency {h} (estimated)" for h in groups[0]]
    return _table(head, [list(c.values()) for c in groups], "deployability")


def _learning_tables(result: dict[str, Any]) -> str:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    rows = []
    for r in result["learning"]:
        b = r["baselines"]
        rows.append([r["board"], r["extractor"], r["protocol"], pct(r["accuracy"]), pct(r.get("fallback_accuracy")),
                     pct(b["trivial"]["accuracy"]), pct(b["knn"]["accuracy"]), pct(b["backprop"]["accuracy"]),
                     pct(r.get("pretrained_accuracy")), f"{r['neurons']}",
                     "yes" if r["matches_reference"] else "NO"])  # fmt: skip
    out = _table(["board", "extractor", "protocol", "TinyRCE (device)", "+ pretrained fallback", "trivial", "kNN-1",
                  "back-prop softmax", "pretrained", "neurons", "device = reference"], rows, "learning")  # fmt: skip
    rrows = []
    for r in result["replay"]:
        for e in r["experiences"]:
            rrows.append([r["board"], str(e["experience"]), ",".join(map(str, e["classes"])), pct(e["accuracy"]),
                          pct(e["no_replay_accuracy"]), pct(e["host_accuracy"]),
                          f"{e['instructions_per_step']:,.0f}"])  # fmt: skip
        rrows.append([r["board"], "joint", "all", pct(r["joint_accuracy"]), "", "", ""])
    out += _table(["board", "experience", "new classes", "with replay (device)", "without replay", "host reference",
                   "instructions per SGD step"], rrows, "replay")  # fmt: skip
    return out


def _symbols_table(result: dict[str, Any]) -> str:
    rows = []
    for e in result["memory"]:
        for s in e["largest_symbols"][:6]:
            rows.append([e["board"], e["firmware"], s["name"], s["section"], f"{s['bytes']:,}"])
    return _table(["board", "firmware", "symbol", "section", "bytes"], rows, "symbols")


STYLE = """body{font-family:sans-serif;margin:24px;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:12px 0;font-size:13px}
td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#eef}img{max-width:100%;display:block;margin:12px 0}
.note{font-size:12px;color:#555;max-width:1100px}"""


def build_html(result: dict[str, Any]) -> str:
    peer = "CMSIS-NN" if result["layers"] and result["layers"][0]["peer"] == "cmsis-nn" else "our reference kernels"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>tinyodl report</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>tinyodl report</h1><p class='note'>tinyodl {result['tinyodl_version']}, {result['configuration']} "
        f"configuration; {html.escape(result['simulator'])} {html.escape(result['simulator_version'])}; models: "
        f"{html.escape(', '.join(f'{k}: {v}' for k, v in result['models'].items()))}; data: "
        f"{html.escape(result['data'])}. Instructions are exact; latency is "
        f"{html.escape(render.estimate_note(result))}.</p>",
        "<h2>Deployability: ours beside the seed</h2>",
        _deploy_table(result),
        f"<p class='note'>Seed: {html.escape(seed.SOURCE)}. Its learning columns are a whole training (MACC x F x E); "
        "they are shown divided by F x E (per learned sample) and the ratio is against that. RAM = static data and "
        "bss (arena, learner pool, link buffers) + the measured stack peak.</p>",
        _img(latency_plot(result), "latency ours vs seed"),
        "<h2>RAM</h2>",
        _img(ram_plot(result), "RAM per configuration"),
        _img(layer_ram_plot(result), "arena per layer"),
        f"<h2>Per layer: ours vs {peer}</h2>",
        _img(layers_plot(result), "instructions per layer"),
        "<h2>Memory map</h2>",
        _img(memory_plot(result), "memory map"),
        _symbols_table(result),
        "<h2>Learning quality</h2>",
        _learning_tables(result),
        _img(curves_plot(result), "TinyRCE accuracy over time"),
        _img(replay_plot(result), "latent replay per experience"),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_html(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_html(result))
