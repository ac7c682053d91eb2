"""The dashboard of a runs folder (``forecast site``): gathered as data, written as pages,
escaped, reused, and rendered by a real headless Chromium.

One runs folder is built per module: model ``isis_pakistan_2015`` (a copy of the flagship's
file) has stub runs (``tests.stubs.stub_forecast``: no sampling) as of 2016, 2018 and 2020, a
backfill as of 2017, a damaged run as of 2019 and, published last as the latest, a run as of
2021 that failed its diagnostics and whose stored evidence holds a hostile row; its model file
is edited after the runs, so its brief is skipped with a note. Model ``site_copy`` (the same
file under another ``model.name``) has one real snapshot run, whose brief is built.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

import forecast.report.site
from forecast.cli import main
from forecast.errors import ForecastError
from forecast.evidence.ledger import load_ledger, rows_as_of
from forecast.model.load import load_spec
from forecast.ops.site import gather_site
from forecast.ops.store import RunStore
from forecast.ops.update import update
from forecast.report.brief.printing import run_chromium
from forecast.report.site import write_site
from tests.stubs import stub_forecast
from tests.test_brief import _blank_share, _colours, _tool

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
NAME = "isis_pakistan_2015"
COPY = "site_copy"
STUB_DATES = ("2016-01-01", "2018-01-01", "2019-01-01", "2020-01-01")
BACKFILL = "2017-01-01"
DAMAGED = "2019-01-01"
HOSTILE_AS_OF = "2021-01-01"
SCRIPT = "<script>alert(1)</script>"


@dataclass(frozen=True)
class Store:
    root: Path
    runs: Path
    model_a: Path
    model_b: Path
    run_ids: dict[str, str]  # as-of (or "hostile", "copy") -> run id


def _hostile_run(runs: Path) -> str:
    """Publish a run as of 2021 (the latest) that failed its diagnostics, whose stored evidence
    has a row a ledger would refuse: a script in its source and a javascript: URL."""
    store = RunStore(runs, NAME)
    latest = store.latest()
    evidence = latest.evidence
    row = evidence.iloc[[0]].copy()
    row["id"] = "X666"
    row["date"] = pd.Timestamp("2020-12-01")
    row["source"] = f"{SCRIPT} & Co"
    row["url"] = "javascript:alert(1)"
    row["note"] = "<b onmouseover=alert(2)>bold</b>"
    manifest = {k: v for k, v in latest.manifest.items() if k not in ("run_id", "created",
                                                                       "files")}
    manifest.update(as_of=HOSTILE_AS_OF, previous_run_id=latest.run_id, publishable=False,
                    newest_evidence="2020-12-01",
                    diagnostics={**manifest["diagnostics"], "failed": ["k-hat 0.93 > 0.7 (test)"]})
    with store.lock():
        run = store.publish(latest.forecast(), manifest,
                            pd.concat([evidence, row], ignore_index=True))
    return run.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    root = tmp_path_factory.mktemp("site")
    runs = root / "runs"
    model_a, model_b = root / "a.yaml", root / "b.yaml"
    shutil.copyfile(MODEL, model_a)
    text = MODEL.read_text(encoding="utf-8")
    model_b.write_text(text.replace(f"name: {NAME}\n", f"name: {COPY}\n", 1), encoding="utf-8")
    ids = {}
    for seed, day in enumerate(STUB_DATES):
        ids[day] = update(model_a, LEDGER, as_of=day, runs_dir=runs, seed=seed,
                          forecaster=stub_forecast).run.run_id
    backfill = update(model_a, LEDGER, as_of=BACKFILL, runs_dir=runs, seed=9,
                      forecaster=stub_forecast)
    ids[BACKFILL] = backfill.run.run_id
    summary = runs / NAME / ids[DAMAGED] / "summary.csv"
    summary.write_bytes(summary.read_bytes()[:200])  # truncated: the run is damaged
    ids["hostile"] = _hostile_run(runs)
    # the model file changes after its runs: their briefs can no longer be built from it
    model_a.write_text(text.replace('title: "', 'title: "Edited: ', 1), encoding="utf-8")
    # one real snapshot run of the copy, long after the ledger's newest row: stale
    ids["copy"] = update(model_b, LEDGER, as_of="2026-06-30", runs_dir=runs,
                         semantics="snapshot").run.run_id
    (runs / "notes").mkdir()  # not a store: left alone
    (runs / "notes" / "readme.txt").write_text("not a run")
    (runs / "linked").symlink_to(runs / COPY)  # a link: reported, not followed
    return Store(root, runs, model_a, model_b, ids)


@pytest.fixture(scope="module")
def site(store) -> tuple[Path, object, float]:
    out = store.root / "site"
    start = time.perf_counter()
    written = write_site(store.runs, out)
    return out, written, time.perf_counter() - start


def _page(out: Path, *parts: str) -> str:
    return out.joinpath(*parts).read_text(encoding="utf-8")


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.sources: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.links.append(attrs.get("href", ""))
        if tag in ("img", "link", "iframe") and ("src" in attrs or "href" in attrs):
            self.sources.append(attrs.get("src") or attrs.get("href", ""))
        self.scripts += tag == "script"
        for name in attrs:
            assert not name.startswith("on"), f"an event handler attribute: {name}"


def _parsed(page: str) -> _Links:
    parsed = _Links()
    parsed.feed(page)
    return parsed


# --- the data ---------------------------------------------------------------------------------


def test_gathered_runs_are_in_as_of_order_with_the_backfill_and_the_latest(store):
    data = gather_site(store.runs, briefs="none")
    assert [m.name for m in data.models] == [NAME, COPY]
    model = data.models[0]
    days = [r.as_of for r in model.runs]
    assert days == ["2016-01-01", BACKFILL, "2018-01-01", "2020-01-01", HOSTILE_AS_OF]
    assert [r.run_id for r in model.runs if r.backfill] == [store.run_ids[BACKFILL]]
    assert model.latest.run_id == store.run_ids["hostile"] and not model.latest.publishable
    assert model.latest.failed == ("k-hat 0.93 > 0.7 (test)",)
    assert any(store.run_ids[DAMAGED] in p for p in model.problems)
    assert any("linked" in p and "symbolic link" in p for p in data.problems)
    spec = load_spec(MODEL)
    assert [h.node for h in model.headlines] == list(spec.scenarios)
    for h in model.headlines:  # the latest value is the latest run's summary's
        row = store_summary(store.runs, store.run_ids["hostile"], h.node, h.state)
        assert (h.mean, h.low, h.high) == pytest.approx(row)
        assert [v.as_of for v in h.trajectory] == days
    assert (model.newest_evidence, model.stale) == ("2020-12-01", False)
    copy = data.models[1]
    assert copy.stale and copy.newest_evidence is not None and copy.latest.publishable


def store_summary(runs: Path, run_id: str, node: str, state: str) -> tuple[float, ...]:
    summary = pd.read_csv(runs / NAME / run_id / "summary.csv")
    row = summary[(summary["node"] == node) & (summary["state"] == state)].iloc[0]
    return float(row["mean"]), float(row["hdi_5%"]), float(row["hdi_95%"])


def test_the_rows_each_run_added_are_those_no_earlier_run_used(store):
    model = gather_site(store.runs, briefs="none").models[0]
    spec = load_spec(MODEL)
    ledger = load_ledger(LEDGER, spec)
    seen: set[str] = set()
    expected = []
    for day in ("2016-01-01", BACKFILL, "2018-01-01", "2020-01-01"):  # the valid stub runs
        ids = set(rows_as_of(ledger, spec, day)["id"])
        expected.append(ids - seen)
        seen |= ids
    expected.append({"X666"})  # the hostile run used the 2020 rows and one more
    assert [{e.id for e in step.rows} for step in model.evidence] == expected
    assert [s.as_of for s in model.evidence] == [r.as_of for r in model.runs]
    assert all(expected[:2]), "the first runs add rows"
    hostile = model.evidence[-1].rows[0]
    assert hostile.url is None and hostile.source.startswith(SCRIPT)


# --- the pages ------------------------------------------------------------------------------


def test_the_index_lists_both_models_with_values_and_marks(site, store):
    out, written, _ = site
    page = _page(out, "index.html")
    parsed = _parsed(page)
    assert parsed.scripts == 0 and not parsed.sources, "no script, nothing fetched"
    assert f'href="{NAME}/index.html"' in page and f'href="{COPY}/index.html"' in page
    for name in (NAME, COPY):
        assert (out / name / "index.html").is_file()
    model_a = page.split(f'id="model-{NAME}"')[1].split("</tbody>")[0]
    model_b = page.split(f'id="model-{COPY}"')[1].split("</tbody>")[0]
    assert "not publishable" in model_a and "not publishable" not in model_b
    assert "stale evidence" in model_b and "stale evidence" not in model_a
    assert "1 store problem<" in model_a
    assert model_a.count("<svg class=\"spark\"") == 4 == model_b.count("<svg class=\"spark\"")
    for node in load_spec(MODEL).scenarios:
        assert node in model_a and node in model_b
    mean = store_summary(store.runs, store.run_ids["hostile"], "caliphate_declared", "yes")[0]
    assert f"{100 * mean:.0f}%" in model_a
    assert any(w in model_b for w in ("likely", "chance", "unlikely", "certain"))
    assert "symbolic link" in page and "notes" not in model_a + model_b
    assert any(store.run_ids[DAMAGED] in p for p in written.problems)


def test_the_model_page_lists_runs_briefs_and_escapes_what_comes_from_files(site, store):
    out, written, _ = site
    page = _page(out, NAME, "index.html")
    parsed = _parsed(page)
    assert parsed.scripts == 0
    assert all(s.startswith("data:image/png;base64,") for s in parsed.sources)
    assert len(parsed.sources) == 4, "a trajectory figure per headline"
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page
    assert "<b onmouseover" not in page and "&lt;b onmouseover=alert(2)&gt;" in page
    assert not [link for link in parsed.links if link.strip().lower().startswith(
        ("javascript:", "data:", "vbscript:"))]
    assert all(link.startswith(("http://", "https://", "../index.html"))
               for link in parsed.links), parsed.links
    assert "Not publishable." in page and "k-hat 0.93 &gt; 0.7 (test)" in page
    for run_id in (store.run_ids[d] for d in ("2016-01-01", BACKFILL, "hostile")):
        assert run_id in page
    assert store.run_ids[DAMAGED] in page, "the damaged run is listed as skipped"
    assert "backfill" in page
    # the model file changed since the runs: no brief, and the page says why
    assert "No brief of run" in page and "has changed since the run" in page
    assert not (out / NAME / store.run_ids["hostile"]).exists()
    assert any("has changed since the run" in n for n in written.notes)


def test_the_latest_brief_is_written_linked_and_reused(site, store, monkeypatch):
    out, written, first = site
    brief = out / COPY / store.run_ids["copy"] / "brief.html"
    assert written.briefs_written == [brief] and brief.is_file()
    assert "Forecast brief" in brief.read_text(encoding="utf-8")
    assert f'href="{COPY}/{store.run_ids["copy"]}/brief.html"' in _page(out, "index.html")
    model_page = _page(out, COPY, "index.html")
    assert f'href="{store.run_ids["copy"]}/brief.html"' in model_page
    before = brief.stat().st_mtime_ns
    built = []

    def counted(run, runs_dir):
        built.append(run.run_id)
        raise ForecastError("not built in this test")

    monkeypatch.setattr(forecast.report.site, "site_brief", counted)
    old = os.umask(0o027)
    try:
        start = time.perf_counter()
        again = write_site(store.runs, out)
        second = time.perf_counter() - start
    finally:
        os.umask(old)
    assert again.briefs_reused == [brief] and not again.briefs_written
    assert brief.stat().st_mtime_ns == before and built == [store.run_ids["hostile"]]
    assert second < first, (first, second)
    # the pages written again take the process umask; no temporary file is left
    for page in (out / "index.html", out / NAME / "index.html", out / COPY / "index.html"):
        assert page.stat().st_mode & 0o777 == 0o640
    assert not [p for p in out.rglob("*") if p.name.startswith((".tmp-", ".brief-"))]


def test_briefs_none_writes_no_brief_and_a_missing_model_file_is_a_note(store, tmp_path):
    runs = tmp_path / "runs"
    model = tmp_path / "c.yaml"
    shutil.copyfile(MODEL, model)
    update(model, LEDGER, as_of="2016-01-01", runs_dir=runs, forecaster=stub_forecast)
    none = write_site(runs, runs / "site", briefs="none")  # a site inside the runs folder
    assert not none.briefs_written and not none.notes
    assert [m.name for m in gather_site(runs).models] == [NAME], "the site is not a store"
    model.unlink()
    runner = CliRunner()
    done = runner.invoke(main, ["site", str(runs), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert "Traceback" not in done.output
    assert "warning: isis_pakistan_2015: No brief of run" in done.output
    assert "is missing" in done.output
    assert done.output.strip().endswith("(1 model page; briefs: 0 written, 0 reused)")
    assert "is missing" in _page(tmp_path / "out", NAME, "index.html")


def test_a_brief_that_fails_is_a_note_never_the_sites_failure(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    for day in ("2016-01-01", "2017-01-01"):
        update(MODEL, LEDGER, as_of=day, runs_dir=runs, forecaster=stub_forecast)

    def boom(run, runs_dir):
        raise RuntimeError("the printer caught fire")

    monkeypatch.setattr(forecast.report.site, "site_brief", boom)
    written = write_site(runs, tmp_path / "out", briefs="all")  # every run's brief is tried
    ids = [r.run_id for r in RunStore(runs, NAME).runs()]
    assert written.notes == [f"{NAME}: No brief of run {i}: it could not be built "
                             "(RuntimeError: the printer caught fire)." for i in ids]
    assert "the printer caught fire" in _page(tmp_path / "out", NAME, "index.html")
    assert not written.briefs_written and not (tmp_path / "out" / NAME / ids[0]).exists()


def test_bad_input_is_exit_2_with_nothing_written(store, tmp_path):
    runner = CliRunner()
    (tmp_path / "file").write_text("not a folder")
    cases = [
        ([str(tmp_path / "nowhere"), "--out", str(tmp_path / "a")], "no such runs folder"),
        ([str(tmp_path / "file"), "--out", str(tmp_path / "b")], "not a runs folder"),
        ([str(store.runs), "--out", str(tmp_path / "file")], "is a file, not a folder"),
        ([str(store.runs), "--out", str(tmp_path / "file" / "c")], "is a file, not a folder"),
        ([str(store.runs), "--out", str(store.runs)], "inside a model's run store"),
        ([str(store.runs), "--out", str(store.runs / NAME / "site")], "inside a model's run"),
    ]
    for args, said in cases:
        done = runner.invoke(main, ["site", *args])
        assert done.exit_code == 2, (args, done.output)
        assert said in done.output and "Traceback" not in done.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert not (store.runs / NAME / "site").exists() and not (store.runs / "index.html").exists()
    with pytest.raises(ForecastError, match="unknown briefs choice"):
        write_site(store.runs, tmp_path / "d", briefs="every")


def test_an_empty_runs_folder_and_a_store_of_damaged_runs_say_so(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    written = write_site(runs, tmp_path / "out")
    assert not written.pages and "No model's run store was found" in _page(tmp_path / "out",
                                                                            "index.html")
    run = update(MODEL, LEDGER, as_of="2016-01-01", runs_dir=runs, forecaster=stub_forecast).run
    (run.path / "manifest.json").write_text("{not json", encoding="utf-8")
    written = write_site(runs, tmp_path / "out")
    index, page = _page(tmp_path / "out", "index.html"), _page(tmp_path / "out", NAME,
                                                               "index.html")
    assert "no valid run" in index and "2 store problems" in index  # the run, and LATEST
    assert run.run_id in page and "No valid run" in page
    assert any("is not JSON" in p for p in written.problems)


# --- rendered pages -------------------------------------------------------------------------


def test_chromium_renders_the_index_and_a_model_page(site, tmp_path):
    chromium = _tool("chromium")
    out, _, _ = site
    for page, least in ((out / "index.html", 30), (out / NAME / "index.html", 50)):
        shot = tmp_path / f"{page.parent.name}.png"
        run_chromium(chromium, ["--window-size=1240,1400", f"--screenshot={shot}"],
                     page.resolve().as_uri(), shot)
        image = Image.open(shot)
        assert image.size == (1240, 1400)
        assert _blank_share(image) < 0.95, f"{page} renders content"
        assert _colours(image) > least, f"{page} shows colours: badges, bands, figures"
        top = np.asarray(image.convert("L").crop((0, 0, 1240, 160)), dtype=float)
        assert (top < 100).mean() > 0.002, "the masthead's dark text is drawn"


def test_the_manifest_edit_helper_left_the_store_valid(store):
    """The hostile run is a valid run (its files match its manifest): only the 2019 run is
    damaged, so every check above is about the site, not about a broken fixture."""
    scan = RunStore(store.runs, NAME).scan()
    manifest = json.loads((store.runs / NAME / store.run_ids["hostile"] / "manifest.json")
                          .read_text(encoding="utf-8"))
    assert manifest["publishable"] is False
    assert len(scan.runs) == 5 and all(store.run_ids[DAMAGED] in str(p) for p in scan.problems)
