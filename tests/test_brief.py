"""The brief: built from two published runs of the flagship, checked as data, as HTML, and as
pages rendered by a real headless Chromium (screenshots) and by pdftoppm (the PDF's pages).

Chromium and pdftoppm come from the Debian packages ``chromium`` and ``poppler-utils``, which
``.ci/run`` installs; with ``FORECAST_REQUIRE_CHROMIUM=1`` (set there) their absence fails the
rendering tests instead of skipping them.
"""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from markupsafe import escape
from PIL import Image

from forecast.cli import main
from forecast.errors import ForecastError, RunStoreError
from forecast.model.words import CONFIDENCE_WIDTHS, LIKELIHOOD_WORDS
from forecast.ops.brief import build_brief
from forecast.ops.update import update
from forecast.report.brief import find_chromium, render_html, save_brief, write_brief
from forecast.report.brief.printing import chromium_command, run_chromium
from tests.guards import hang_guard

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
DATES = ("2015-08-24", "2017-08-24")


def _tool(name: str) -> str:
    found = find_chromium() if name == "chromium" else shutil.which(name)
    if found is None:
        if os.environ.get("FORECAST_REQUIRE_CHROMIUM"):
            pytest.fail(f"{name} is required here (FORECAST_REQUIRE_CHROMIUM is set)")
        pytest.skip(f"{name} is not installed (apt-get install chromium poppler-utils)")
    return found


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("brief") / "runs"
    for day in DATES:
        update(MODEL, LEDGER, as_of=day, runs_dir=runs, seed=0, semantics="snapshot")
    return runs


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    """A store with one run: nothing to compare with, so the brief is quick to build."""
    runs = tmp_path_factory.mktemp("brief-first") / "runs"
    update(MODEL, LEDGER, as_of=DATES[1], runs_dir=runs, seed=0, semantics="snapshot")
    return runs


@pytest.fixture(scope="module")
def data(store):
    return build_brief(MODEL, store)


@pytest.fixture(scope="module")
def page(data) -> str:
    return render_html(data)


@pytest.fixture(scope="module")
def written(data, tmp_path_factory) -> dict[str, Path]:
    _tool("chromium")
    out = tmp_path_factory.mktemp("brief-out")
    return save_brief(data, out, formats=("html", "pdf", "png"))


def _blank_share(image: Image.Image) -> float:
    """Share of pixels that are (near) the page's white."""
    pixels = np.asarray(image.convert("L"), dtype=float)
    return float((pixels > 250).mean())


def _colours(image: Image.Image) -> int:
    pixels = np.asarray(image.convert("RGB").resize((300, 300))).reshape(-1, 3)
    return len(np.unique(pixels, axis=0))


# --- the data --------------------------------------------------------------------------------


def test_brief_data_says_what_changed_and_why(data):
    assert data.as_of == DATES[1] and data.previous_as_of == DATES[0]
    assert {j.node for j in data.judgments} <= set(data.inputs.spec.scenarios)
    assert data.judgments and data.publishable and not data.failed
    moved = [c for c in data.changes if c.status == "moved"]
    assert moved, "two years of evidence move at least one scenario"
    for change in moved:
        assert change.drivers, f"{change.node}: a moved judgment names the rows that moved it"
        assert change.delta == pytest.approx(change.after - change.before)
        ids = {r.id for r in data.rows_added} | {r.id for r in data.rows_dropped}
        assert {d.row_id for d in change.drivers} <= ids | {r.id for r in data.evidence}
    assert "as-of date 2015-08-24 → 2017-08-24" in data.input_changes
    assert data.rows_added and data.rows_dropped  # new rows in, superseded rows out


def test_shapley_shares_add_up_to_the_change_in_log_odds(data):
    for (node, state), attribution in data.inputs.attributions.items():
        table = attribution.table
        total = np.log(attribution.after / (1 - attribution.after)) - np.log(
            attribution.before / (1 - attribution.before))
        slack = 4 * float(np.sqrt((table["se"] ** 2).sum())) + 1e-9
        assert abs(table["contribution"].sum() - total) <= slack, (node, state)


def test_indicators_are_unobserved_nodes_ranked_by_information(data):
    case = data.inputs.forecast.attrs["evidence"][0]["evidence"]
    info = [i.mutual_info for i in data.indicators]
    assert info == sorted(info, reverse=True) and all(x >= 0 for x in info)
    assert not {i.node for i in data.indicators} & set(case)
    assert all(i.record for i in data.indicators), "each indicator says what resolves it"


def test_every_claim_is_quoted_and_every_evidence_row_is_sourced(data):
    spec = data.inputs.spec
    assert [c.claim_id for c in data.claims] == list(spec.claims)
    assert all(c.quotes and all(c.paragraphs) for c in data.claims)
    assert all(r.source and r.grade for r in data.evidence)
    assert data.assumptions, "the model's stated assumptions are listed"


# --- the HTML ---------------------------------------------------------------------------------


class _Resources(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("img", "script", "iframe", "source") and "src" in attrs:
            self.sources.append(attrs["src"])
        if tag == "link":
            self.sources.append(attrs.get("href", ""))
        if tag == "a":
            self.links.append(attrs.get("href", ""))
        if "id" in attrs:
            self.ids.append(attrs["id"])


def test_html_is_one_self_contained_file(page):
    parsed = _Resources()
    parsed.feed(page)
    assert parsed.sources and all(s.startswith("data:image/png;base64,") for s in parsed.sources)
    assert all(link.startswith(("https://", "http://")) for link in parsed.links)
    assert {"judgments", "changes", "indicators", "evidence", "appendix"} <= set(parsed.ids)
    assert "<script" not in page and "url(http" not in page


def test_html_escapes_what_comes_from_files(data):
    from dataclasses import replace

    evil = replace(data.evidence[0], note="<script>alert(1)</script>", source="A & B")
    page = render_html(replace(data, evidence=[evil, *data.evidence[1:]]), figures=[])
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A &amp; B" in page


def test_likelihood_and_confidence_never_share_a_sentence(page, data):
    text = re.sub(r"<[^>]+>", " ", page)
    sentences = re.split(r"(?<=[.!?])\s+", text)
    confidence = [f"{level} confidence" for level in (*CONFIDENCE_WIDTHS, "low")]
    for sentence in sentences:
        has_word = any(re.search(rf"\b{re.escape(w)}\b", sentence) for w in LIKELIHOOD_WORDS)
        has_conf = any(c in sentence.lower() for c in confidence) or re.search(
            r"confidence in this judgment is (high|moderate|low)", sentence.lower())
        assert not (has_word and has_conf), sentence
    for j in data.judgments:  # each judgment's two sentences, escaped as the template does
        assert str(escape(j.likelihood_sentence())) in page
        assert str(escape(j.confidence_sentence())) in page


# --- rendered pages -------------------------------------------------------------------------


def test_chromium_renders_the_page_and_it_is_not_blank(written):
    png = Image.open(written["png"])
    assert png.size == (1240, 1754)
    assert _blank_share(png) < 0.9 and _colours(png) > 50, "the screenshot shows content"
    top = png.crop((0, 0, png.width, 200))
    assert _blank_share(top) < 0.97, "the masthead is drawn"


def test_chromium_screenshot_of_the_whole_page_shows_every_figure(written, tmp_path):
    chromium = _tool("chromium")
    shot = tmp_path / "tall.png"
    run_chromium(chromium, ["--window-size=1240,12000", f"--screenshot={shot}"],
                 written["html"].resolve().as_uri(), shot)
    image = np.asarray(Image.open(shot).convert("L"), dtype=float)
    # rows of the page with ink: the figures are tall blocks of non-white rows
    inked = (image < 240).mean(axis=1) > 0.02
    assert inked.mean() > 0.3, "most of the page's height carries content"


def test_pdf_pages_render_to_images_that_are_not_blank(written, tmp_path):
    pdftoppm = _tool("pdftoppm")
    subprocess.run([pdftoppm, "-r", "50", "-png", str(written["pdf"]), str(tmp_path / "page")],
                   check=True, timeout=hang_guard(2))
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    for path in pages:
        image = Image.open(path)
        assert 0.65 < image.width / image.height < 0.75, "A4 portrait"
        assert _blank_share(image) < 0.995, f"{path.name} is blank"
    first = Image.open(pages[0])
    assert _blank_share(first) < 0.95 and _colours(first) > 20


def test_weasyprint_prints_the_brief_without_a_browser(first_run, tmp_path, monkeypatch):
    pdftoppm = _tool("pdftoppm")
    monkeypatch.setenv("FORECAST_CHROMIUM", "no-such-browser")
    out = write_brief(MODEL, tmp_path / "out", runs_dir=first_run, formats=("pdf",))
    assert out["pdf"].read_bytes().startswith(b"%PDF-")
    subprocess.run([pdftoppm, "-r", "30", "-png", "-f", "1", "-l", "2", str(out["pdf"]),
                    str(tmp_path / "p")], check=True, timeout=hang_guard(2))
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) == 2 and all(_blank_share(Image.open(p)) < 0.99 for p in pages)


def test_written_files_are_readable_by_others_and_no_temporaries_remain(written):
    folder = written["html"].parent
    assert sorted(p.name for p in folder.iterdir()) == ["brief.html", "brief.pdf", "brief.png"]
    assert all(p.stat().st_mode & 0o044 for p in folder.iterdir())


def test_chromium_command_keeps_off_the_network():
    command = chromium_command("chromium", "/tmp/profile")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking"):
        assert flag in command


# --- bad input -------------------------------------------------------------------------------


def test_an_unknown_run_is_named_with_a_hint(store, tmp_path):
    with pytest.raises(RunStoreError, match="no run") as err:
        write_brief(MODEL, tmp_path / "out", runs_dir=store, run="20990101T000000Z-nothing",
                    formats=("html",))
    assert "the runs are" in str(err.value) or "did you mean" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_no_run_store_says_to_run_update_first(tmp_path):
    with pytest.raises(RunStoreError, match="forecast update"):
        build_brief(MODEL, tmp_path / "runs")


def test_bad_formats_and_a_missing_browser_write_nothing(store, tmp_path, monkeypatch):
    with pytest.raises(ForecastError, match="did you mean 'html'"):
        write_brief(MODEL, tmp_path / "a", runs_dir=store, formats=("htm",))
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ForecastError, match="is a file, not a folder"):
        write_brief(MODEL, tmp_path / "file" / "out", runs_dir=store, formats=("html",))
    monkeypatch.setenv("FORECAST_CHROMIUM", "no-such-browser")
    with pytest.raises(ForecastError, match="Chromium is not installed"):
        write_brief(MODEL, tmp_path / "b", runs_dir=store, formats=("html", "png"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_slim_machine_gets_the_html_and_one_line_about_the_pdf(first_run, tmp_path,
                                                                   monkeypatch):
    """No Chromium and no Pango (WeasyPrint cannot load): the default engine writes the HTML,
    skips the PDF with the reason, and the CLI exits 0 with one warning line; asking for
    WeasyPrint or Chromium by name is bad input, with nothing written. (.ci/slim runs the
    Quick start with both really hidden.)"""
    import forecast.report.brief.printing as printing

    monkeypatch.setenv("FORECAST_CHROMIUM", "no-such-browser")
    monkeypatch.setattr(printing, "weasyprint_missing",
                        lambda: "WeasyPrint cannot run (cannot load library 'libpango-1.0-0')")
    out = write_brief(MODEL, tmp_path / "api", runs_dir=first_run)
    assert list(out) == ["html"] and out["html"].is_file()
    reason = out.skipped["pdf"]
    assert "libpango-1.0-0" in reason and "Chromium is not installed" in reason
    assert sorted(p.name for p in (tmp_path / "api").iterdir()) == ["brief.html"]
    runner = CliRunner()
    ok = runner.invoke(main, ["brief", str(MODEL), "--runs", str(first_run), "--out",
                              str(tmp_path / "cli")])
    assert ok.exit_code == 0, ok.output
    lines = ok.output.strip().splitlines()
    assert lines[0] == f"wrote {tmp_path / 'cli' / 'brief.html'}"
    assert len(lines) == 2 and lines[1].startswith("warning: skipped brief.pdf: no PDF printer")
    for engine in ("weasyprint", "chromium"):
        bad = runner.invoke(main, ["brief", str(MODEL), "--runs", str(first_run), "--out",
                                   str(tmp_path / engine), "--pdf-engine", engine])
        assert bad.exit_code == 2 and "Traceback" not in bad.output, bad.output
        assert not (tmp_path / engine).exists()


def test_the_weasyprint_probe_is_one_line_and_silent(capsys):
    from forecast.report.brief.printing import weasyprint_missing

    reason = weasyprint_missing()
    assert reason is None or "\n" not in reason  # None where Pango is installed
    assert capsys.readouterr() == ("", "")


def test_a_first_run_has_nothing_to_compare_with(first_run):
    data = build_brief(MODEL, first_run)
    assert data.previous_run_id is None and not data.changes and not data.input_changes
    page = render_html(data, figures=[])
    assert "No run was published before this one" in page


def test_cli_brief_writes_and_reports_bad_input_in_one_line(first_run, store, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["brief", str(MODEL), "--runs", str(first_run), "--out",
                              str(tmp_path / "out"), "--format", "html"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == f"wrote {tmp_path / 'out' / 'brief.html'}"
    bad = runner.invoke(main, ["brief", str(MODEL), "--runs", str(store), "--out",
                               str(tmp_path / "x"), "--run", "nope"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output and "no run 'nope'" in bad.output
    assert not (tmp_path / "x").exists()


# --- freshness ---------------------------------------------------------------------------------


def test_the_masthead_says_how_old_the_newest_evidence_is(tmp_path):
    """A run as of long after the ledger's newest row (2025-11-16) says so on its first page;
    one within the gap names the date without the warning."""
    runs = tmp_path / "runs"
    update(MODEL, LEDGER, as_of="2026-06-30", runs_dir=runs, semantics="snapshot")
    stale = build_brief(MODEL, runs)
    assert (stale.newest_evidence, stale.evidence_age, stale.stale) == ("2025-11-16", 226, True)
    text = re.sub(r"\s+", " ", render_html(stale))
    assert "newest evidence: 2025-11-16 (226 days before the as-of date)" in text
    assert "Stale evidence." in text
    update(MODEL, LEDGER, as_of="2026-06-30", runs_dir=tmp_path / "wide", stale_after_days=365,
           semantics="snapshot")
    wide = build_brief(MODEL, tmp_path / "wide")
    assert wide.stale is False and "Stale evidence." not in render_html(wide)
    assert "newest evidence: 2025-11-16" in re.sub(r"\s+", " ", render_html(wide))


def test_the_brief_compares_with_the_run_asked_for(store, monkeypatch):
    """--against chooses the comparison; by default it is the run its update compared with.
    (The attribution of the changes, tested above, is stubbed: it is what costs minutes.)"""
    import forecast.ops.brief
    from forecast.ops.store import RunStore

    monkeypatch.setattr(forecast.ops.brief, "_changes", lambda *args, **kwargs: [])

    reader = RunStore(store, "isis_pakistan_2015")
    first, latest = reader.runs()[0], reader.latest()
    assert first.run_id != latest.run_id
    assert build_brief(MODEL, store, run=first.run_id).previous_run_id is None  # a first run
    chosen = build_brief(MODEL, store, run=first.run_id, against=latest.run_id)
    assert chosen.previous_run_id == latest.run_id
    assert chosen.previous_as_of == latest.manifest["as_of"]
    with pytest.raises(RunStoreError, match="no run 'nope'") as caught:
        build_brief(MODEL, store, against="nope")
    assert caught.value.problems[0].field == "--against nope"
