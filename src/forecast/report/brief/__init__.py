"""The brief of one published run: compute, then render, then write.

The content is computed by :mod:`forecast.ops.brief`::

    build_brief(model, runs_dir, run)  ->  BriefData     numbers and text only (no matplotlib)
    render_html(BriefData)             ->  str           figures drawn and embedded as PNG,
                                                         Jinja2 template, autoescaped
    save_brief(BriefData, out_dir)     ->  Written         brief.html written atomically;
                                                         brief.pdf by Chromium or WeasyPrint,
                                                         brief.png by Chromium, from that HTML
                                                         (a PDF neither can print is skipped,
                                                         with the reason in .skipped)
    write_brief(model, out_dir, ...)   ->  Written         all three steps

The HTML is one file with no external resource: figures are ``data:`` PNGs, the style sheet
is inlined, and the only links are the evidence rows' sources. Print CSS lays it out on A4.
"""

from forecast.report.brief.html import make_figures, render_html
from forecast.report.brief.printing import (
           FORMATS,
           PDF_ENGINES,
           Written,
           find_chromium,
           save_brief,
           write_brief,
)

__all__ = ["FORMATS", "PDF_ENGINES", "Written", "find_chromium", "make_figures", "render_html",
           "save_brief", "write_brief"]
