"""Result tables of the benchmark scripts: aligned text for the terminal, Markdown for files."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    """A table printed as aligned text or written as Markdown."""

    title: str
    headers: Sequence[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
                  for i, h in enumerate(self.headers)]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:],
                                                                   strict=True))])

        out = [self.title, line(self.headers), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows]
        out += [f"  {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        def row(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        out = [f"### {self.title}", "", row(self.headers),
               "|" + "|".join(["---", *["---:"] * (len(self.headers) - 1)]) + "|"]
        out += [row(r) for r in self.rows]
        if self.notes:
            out += ["", *[f"- {n}" for n in self.notes]]
        return "\n".join(out)


def finish(title: str, script: str, env: Sequence[str], tables: Sequence[Table],
           flags: list[str], markdown: Path | None) -> int:
    """Print the closing notes (with the load average) and write the Markdown report if asked."""
    flags.append("load average (1, 5, 15 min) at the end: "
                 + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    for flag in flags:
        print("NOTE: " + flag)
    if markdown:
        cmd = f"python benchmarks/{script} " + " ".join(sys.argv[1:])
        text = [f"## {title}", "", f"`{cmd.strip()}`", "", *[f"- {line}" for line in env], ""]
        for table in tables:
            text += [table.markdown(), ""]
        text += [*(f"- NOTE: {flag}" for flag in flags), ""]
        markdown.write_text("\n".join(text))
        print(f"wrote {markdown}")
    return 0
