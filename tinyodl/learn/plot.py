"""Plots of `tinyodl learn` runs as PNG (matplotlib, the `plot` extra): TinyRCE's accuracy over time,
latent replay's accuracy per experience."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import TinyodlError


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TinyodlError("--plot needs matplotlib: pip install 'tinyodl[plot]'") from None
    return plt


def plot_curves(results: list[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
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


def plot_experiences(results: list[dict[str, Any]], path: Path) -> None:
    """Latent replay: accuracy after each experience with replay and without, and joint training."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for r in results:
        xs = [e["experience"] for e in r["experiences"]]
        (line,) = ax.plot(xs, [e["accuracy"] for e in r["experiences"]], marker="o",
                          label=f"replay, {r['board']} ({r['accuracy']:.1%})")  # fmt: skip
        ax.plot(xs, [e["no_replay_accuracy"] for e in r["experiences"]], marker="x", linestyle="--",
                color=line.get_color(), label=f"  no replay ({r['no_replay_accuracy']:.1%})")  # fmt: skip
        ax.axhline(r["joint_accuracy"], linestyle=":", linewidth=1, color=line.get_color(),
                   label=f"  joint training ({r['joint_accuracy']:.1%})")  # fmt: skip
    ax.set_xlabel("experience (classes seen so far)")
    ax.set_ylabel("accuracy on the classes seen")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"latent replay on the device: {results[0]['data'] if results else ''}, class-incremental")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
