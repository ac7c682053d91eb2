"""Write a brief: ``brief.html`` atomically, ``brief.pdf`` by Chromium or WeasyPrint, ``brief.png``.

The PDF is printed by headless Chromium when it is installed (``chromium``,
``chromium-browser`` or ``google-chrome`` on the ``PATH``, or the binary named by
``$FORECAST_CHROMIUM``) and by WeasyPrint otherwise, which needs the system's Pango library
(``libpango-1.0-0``). On a slim machine with neither, the default engine (``auto``) writes the
HTML and skips the PDF, saying why in :attr:`Written.skipped`; the CLI prints that as one line
and exits 0. Asking for what cannot be made — the PNG screenshot without Chromium, or
``pdf_engine="chromium"`` / ``"weasyprint"`` without it — is a
:class:`~forecast.errors.ForecastError` raised *before anything is written*.
"""


from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forecast._io import atomic_write
from forecast.errors import ForecastError, Problem, did_you_mean
from forecast.ops.brief import BriefData, build_brief
from forecast.report.brief.html import render_html

FORMATS = ("html", "pdf", "png")
"""What :func:`write_brief` can write: ``brief.html``, ``brief.pdf``, ``brief.png``."""

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Executables searched on the ``PATH`` (after ``$FORECAST_CHROMIUM``)."""

CHROMIUM_TIMEOUT = 120.0
"""Seconds Chromium may take to print or screenshot the brief."""

SCREEN_SIZE = (1240, 1754)
"""Window of the PNG screenshot, in CSS pixels (A4 proportions)."""


# ---------------------------------------------------------------------------------- writing


def find_chromium() -> str | None:
    """The Chromium executable, or None if there is none.

    ``$FORECAST_CHROMIUM`` if set, else the first of :data:`CHROMIUM_NAMES` on the ``PATH``.
    """
    named = os.environ.get("FORECAST_CHROMIUM")
    if named:
        return shutil.which(named)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(binary: str, profile: str | os.PathLike[str]) -> list[str]:
    """Chromium's headless command line, before the output flag and URL.

    The flags keep it off the network (no background downloads, updates or sync: on a closed
    network their refused connections would stall it) and inside a throw-away profile.
    """
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={profile}"]


def run_chromium(binary: str, flags: Sequence[str], url: str, output: Path,
                 timeout: float = CHROMIUM_TIMEOUT) -> Path:
    """Run headless Chromium once (its own process group, killed on timeout).

    Raises
    ------
    RuntimeError
        If it fails, times out or writes nothing to `output`.
    """
    with tempfile.TemporaryDirectory(prefix="forecast-chromium-") as profile:
        command = [*chromium_command(binary, profile), *flags, url]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
        try:
            _out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RuntimeError(f"Chromium took more than {timeout:g} s on {url}") from None
    if process.returncode != 0 or not output.is_file() or output.stat().st_size == 0:
        tail = "\n".join(err.decode(errors="replace").strip().splitlines()[-5:])
        raise RuntimeError(f"Chromium failed (exit {process.returncode}) writing {output}: "
                           f"{tail}")
    return output


PDF_ENGINES = ("auto", "chromium", "weasyprint")
"""What prints the PDF: ``auto`` is Chromium when installed, WeasyPrint otherwise."""


class Written(dict[str, Path]):
    """The files :func:`save_brief` wrote, by format; and what it skipped, and why.

    A plain ``{format: Path}`` mapping with one attribute more, :attr:`skipped`:
    ``{format: reason}`` for a format the default PDF engine could not make on this machine.
    """

    skipped: dict[str, str]

    def __init__(self, files: dict[str, Path], skipped: dict[str, str] | None = None) -> None:
        super().__init__(files)
        self.skipped = dict(skipped or {})


@functools.cache
def weasyprint_missing() -> str | None:
    """Why WeasyPrint cannot print here (its system libraries missing), or None if it can.

    Probed once per process by importing it (it loads Pango through cffi at import); the
    banner it prints on failure is swallowed, the reason kept to one line.
    """
    banner = io.StringIO()
    try:
        with contextlib.redirect_stdout(banner), contextlib.redirect_stderr(banner):
            import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"WeasyPrint cannot run ({first.split(': ')[0]})"
    return None


def _weasyprint_pdf(page: Path, output: Path) -> Path:
    """Print `page` to `output` with WeasyPrint (pure Python over Pango: no browser needed)."""
    import logging

    import weasyprint

    # WeasyPrint logs every CSS property it does not support at WARNING; the brief's screen
    # styles (shadows, transitions) have print fallbacks, so those messages are noise.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    weasyprint.HTML(filename=str(page), base_url=str(page.parent)).write_pdf(str(output))
    return output


@dataclass(frozen=True)
class _Plan:
    """What :func:`save_brief` will write, checked: formats, Chromium, who prints the PDF."""

    wanted: list[str]
    binary: str | None
    chromium_pdf: bool
    skipped: dict[str, str]


def _check_output(formats: Sequence[str], pdf_engine: str,
                  out_dir: str | os.PathLike[str]) -> _Plan:
    """What can be written, or raise before anything is.

    Also checks that `out_dir` is, or can be made, a writable folder (without making it).
    With ``pdf_engine="auto"`` and neither Chromium nor WeasyPrint's libraries, the PDF is
    skipped (with the reason), not refused.
    """
    wanted = list(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    problems = [Problem("unknown format", field=f"format '{f}'",
                        hint=did_you_mean(f, FORMATS) or f"choose from {', '.join(FORMATS)}")
                for f in wanted if f not in FORMATS]
    out = Path(out_dir).absolute()
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        problems.append(Problem(f"{existing} is a file, not a folder", field=f"--out {out_dir}",
                                hint="give a folder for brief.html and brief.pdf"))
    elif not os.access(existing, os.W_OK | os.X_OK):
        problems.append(Problem(f"{existing} is not writable", field=f"--out {out_dir}",
                                hint="give a folder you can write to"))
    if not wanted:
        problems.append(Problem("no format given", hint="e.g. html,pdf", field="format"))
    if pdf_engine not in PDF_ENGINES:
        problems.append(Problem(f"unknown engine '{pdf_engine}'", field="pdf engine",
                                hint=f"choose from {', '.join(PDF_ENGINES)}"))
    if problems:
        raise ForecastError("cannot write the brief", problems)
    binary = find_chromium()
    needs_chromium = [f for f in wanted if f == "png" or (f == "pdf" and pdf_engine == "chromium")]
    if binary is None and needs_chromium:
        raise ForecastError(f"cannot write the brief as {' and '.join(needs_chromium).upper()}: "
                            "Chromium is not installed", [
            Problem("none of " + ", ".join(CHROMIUM_NAMES) + " is on the PATH "
                    "(nor $FORECAST_CHROMIUM)", field="chromium",
                    hint="install it (Debian/Ubuntu: apt-get install chromium), or ask for "
                    "--format html,pdf with --pdf-engine weasyprint")])
    chromium_pdf = pdf_engine == "chromium" or (pdf_engine == "auto" and bool(binary))
    skipped: dict[str, str] = {}
    if "pdf" in wanted and not chromium_pdf:
        missing = weasyprint_missing()
        if missing is not None and pdf_engine == "weasyprint":
            raise ForecastError("cannot write the brief as PDF with WeasyPrint", [Problem(
                missing, field="pdf engine", hint="install Pango (Debian/Ubuntu: apt-get "
                "install libpango-1.0-0 libpangoft2-1.0-0), or install Chromium and use "
                "--pdf-engine chromium")])
        if missing is not None:
            skipped["pdf"] = (f"no PDF printer on this machine: Chromium is not installed and "
                              f"{missing}; install either for brief.pdf")
            wanted = [f for f in wanted if f != "pdf"]
    return _Plan(wanted, binary, chromium_pdf, skipped)


def write_brief(model_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                runs_dir: str | os.PathLike[str] = "runs", run: str = "latest",
                formats: Sequence[str] = ("html", "pdf"),
                pdf_engine: str = "auto", against: str | None = None) -> Written:
    """Build the brief of a run and write it as ``brief.html``, ``brief.pdf``, ``brief.png``.

    :func:`build_brief`, then :func:`save_brief`; the formats are checked first, so a bad
    request fails before the work.

    Parameters
    ----------
    model_path : path-like
        The model YAML.
    out_dir : path-like
        Folder for the files (created if missing).
    runs_dir : path-like
        The run store folder.
    run : str
        ``"latest"`` or a run id.
    formats : sequence of str
        Any of :data:`FORMATS`.
    pdf_engine : {"auto", "chromium", "weasyprint"}
        What prints the PDF (:data:`PDF_ENGINES`).
    against : str, optional
        The run to compare with (see :func:`~forecast.ops.brief.build_brief`).

    Returns
    -------
    Written
        The file written for each format (a dict), and in ``.skipped`` the reason for a PDF
        the default engine could not print on this machine.

    Raises
    ------
    ForecastError
        As :func:`save_brief`, before anything is built or written.
    SpecError, RunStoreError
        As :func:`build_brief`.
    RuntimeError
        If Chromium fails or times out.
    """
    _check_output(formats, pdf_engine, out_dir)
    return save_brief(build_brief(model_path, runs_dir, run, against=against), out_dir,
                      formats=formats, pdf_engine=pdf_engine)


def save_brief(data: BriefData, out_dir: str | os.PathLike[str], *,
               formats: Sequence[str] = ("html", "pdf"),
               pdf_engine: str = "auto") -> Written:
    """Render a built brief and write it as ``brief.html``, ``brief.pdf``, ``brief.png``.

    Every file is written to a temporary name in `out_dir` and renamed into place, so a
    reader never sees half a brief, and nothing is written if the request is bad. The PDF is
    the page printed on A4 from its print style sheet; the PNG is a screenshot of the top of
    the page (:data:`SCREEN_SIZE`) by headless Chromium.

    Parameters
    ----------
    data : BriefData
        From :func:`build_brief`.
    out_dir : path-like
        Folder for the files (created if missing).
    formats : sequence of str
        Any of :data:`FORMATS`.
    pdf_engine : {"auto", "chromium", "weasyprint"}
        What prints the PDF (:data:`PDF_ENGINES`).

    Returns
    -------
    Written
        The file written for each format (a dict), and in ``.skipped`` the reason for a PDF
        the default engine could not print on this machine.

    Raises
    ------
    ForecastError
        An unknown format or engine, an output folder that cannot be written, or Chromium
        needed (PNG, or ``pdf_engine="chromium"``) but not installed: raised before anything
        is written.
    RuntimeError
        If Chromium fails or times out (the HTML is already written then).
    """
    plan = _check_output(formats, pdf_engine, out_dir)
    wanted, binary = plan.wanted, plan.binary
    html = render_html(data)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ForecastError("cannot write the brief", [
            Problem(f"cannot make the folder ({err.strerror})", field=f"--out {out_dir}",
                    hint="give a folder you can write to")]) from None
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix=".brief-", dir=out) as work:
        page = Path(work) / "brief.html"
        page.write_text(html, encoding="utf-8")
        if "html" in wanted:
            written["html"] = atomic_write(out / "brief.html",
                                           lambda p: shutil.copyfile(page, p))
        url = page.resolve().as_uri()
        if "pdf" in wanted:
            target = Path(work) / "brief.pdf"
            if plan.chromium_pdf:
                assert binary is not None  # _check_output: Chromium prints only if found
                run_chromium(binary, ["--no-pdf-header-footer", f"--print-to-pdf={target}"],
                             url, target)
            else:
                _weasyprint_pdf(page, target)
            written["pdf"] = atomic_write(out / "brief.pdf",
                                          lambda p: shutil.copyfile(target, p))
        if "png" in wanted:
            width, height = SCREEN_SIZE
            assert binary is not None  # _check_output raised if PNG was wanted without it
            png = run_chromium(binary, [f"--window-size={width},{height}",
                                        f"--screenshot={Path(work) / 'brief.png'}"],
                               url, Path(work) / "brief.png")
            written["png"] = atomic_write(out / "brief.png", lambda p: shutil.copyfile(png, p))
    return Written({f: written[f] for f in wanted}, plan.skipped)
