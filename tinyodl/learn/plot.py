"""Accuracy over time of `tinyodl learn` runs, as a PNG (matplotlib, the `plot` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import TinyodlError


def plot_curves(results: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TinyodlError("--plot needs matplotlib: pip install 'tinyodl[plot]'") from None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for r in results:
        curve = r["accuracy_curve"] or [[0, 0.0]]
        xs, ys = zip(*curve, strict=True)
        (line,) = ax.plot(xs, ys, label=f"TinyRCE, {r['board']}, {r['protocol']} ({r['accuracy']:.1%})")
        for name, style in (("trivial", ":"), ("backprop", "--")):
            b = r["baselines"].get(name)
            if b is not None:
                ax.axhline(b["accuracy"], linestyle=style, linewidth=1, color=line.get_color(),
                           label=f"  {name} ({b['accuracy']:.1%})")  # fmt: skip
    ax.set_xlabel("windows tested")
    ax.set_ylabel("accuracy so far")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    title = results[0]["data"] if results else ""
    ax.set_title(f"TinyRCE learning on the device: {title}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
