"""`tinyodl report`: the seed's deployability table for our firmware on the simulated boards, beside the
seed's published figures, the learning quality of TinyRCE and latent replay, as a terminal table, JSON,
the README's Markdown and one self-contained HTML file with plots (docs/report.md).

collect.py measures (each unit cached by model, firmware and simulator: cache.py), render.py writes tables,
html.py the HTML page with its plots, memmap.py reads the memory map from an ELF, seed.py holds the seed's
figures and their source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .collect import ReportOptions, run_report

__all__ = ["ReportOptions", "run_report", "write_outputs"]


def write_outputs(result: dict[str, Any], html: Path | None, markdown: Path | None) -> list[Path]:
    written = []
    if markdown is not None:
        from .render import markdown as to_markdown

        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(to_markdown(result))
        written.append(markdown)
    if html is not None:
        from .html import write_html

        write_html(result, html)
        written.append(html)
    return written
