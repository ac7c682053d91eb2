"""The base: one atomic writer (modes that respect the umask), one checked-CSV reader, one date
parser; and the writers and loaders that go through them."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from forecast._dates import as_of_date, date_or_problem, parse_date
from forecast._io import TEMP_PREFIX, atomic_write, read_checked_csv, temp_folder
from forecast.analysis.questions import QUESTION_COLUMNS, load_questions
from forecast.errors import EvidenceError, LockTimeout, RunStoreError
from forecast.evidence.ledger import COLUMNS, load_ledger, rows_as_of, write_rows
from forecast.model.load import load_spec
from forecast.network.bif import write_bif
from forecast.network.network import Network
from forecast.ops.replay import save_replay
from forecast.ops.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
QUESTIONS = ROOT / "data" / "isis_pakistan_questions.csv"


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


# --- atomic writes --------------------------------------------------------------------------------


@pytest.mark.parametrize("fsync", [False, True])
def test_atomic_write_gives_the_modes_open_and_mkdir_give(tmp_path, umask, fsync):
    for name, content in (("b.bin", b"\x00\x01"), ("t.txt", "é\n"),
                          ("c.csv", lambda p: pd.DataFrame({"a": [1]}).to_csv(p))):
        path = atomic_write(tmp_path / name, content, fsync=fsync)
        assert _mode(path) == 0o666 & ~umask, name
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "é\n"
    assert _mode(temp_folder(tmp_path, "run")) == 0o777 & ~umask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what an ordinary open gives, for comparison
    assert _mode(plain) == 0o666 & ~umask


def test_atomic_write_replaces_and_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write(path, "old")
    atomic_write(path, "new")
    assert path.read_text() == "new"

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_text() == "new" and _no_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_every_writer_respects_the_umask(tmp_path, umask):
    want = 0o666 & ~umask
    net = Network(states={"a": ["x", "y"]}, parents={}, cpts={"a": [0.25, 0.75]}, name="n")
    write_bif(net, tmp_path / "n.bif")
    write_bif(net, tmp_path / "n.bif.gz")
    frame = pd.DataFrame({"as_of": ["2015-09-30"], "node": ["a"], "state": ["y"], "mean": [0.5]})
    save_replay(frame, tmp_path / "replay.csv")
    spec = load_spec(MODEL)
    rows = rows_as_of(load_ledger(LEDGER, spec), spec, "2016-01-01")
    write_rows(rows, tmp_path / "evidence.csv")
    for name in ("n.bif", "n.bif.gz", "replay.csv", "evidence.csv"):
        assert _mode(tmp_path / name) == want, name
    assert _no_temporaries(tmp_path)


def test_the_run_store_publishes_runs_others_can_read(tmp_path):
    from forecast.ops.update import update

    old = os.umask(0o022)
    try:
        result = update(MODEL, LEDGER, as_of="2016-01-01", runs_dir=tmp_path / "runs",
                        semantics="snapshot")
    finally:
        os.umask(old)
    run = result.run
    assert _mode(run.path) == 0o755
    assert {p.name: _mode(p) for p in run.path.iterdir()} == dict.fromkeys(
        ["manifest.json", "posterior.nc", "summary.csv", "evidence.csv"], 0o644)
    assert _mode(run.path.parent / "LATEST") == 0o644
    assert _no_temporaries(run.path.parent)


def test_a_held_lock_is_a_lock_timeout(tmp_path):
    store = RunStore(tmp_path / "runs", "m", lock_timeout=0.05)
    with store.lock(), pytest.raises(LockTimeout, match="another update holds the lock") as info:
        store.acquire()
    assert isinstance(info.value, RunStoreError)


# --- checked CSV ----------------------------------------------------------------------------------


BLANKS = ["", "   ", ",,,", " , ,"]  # what editors and spreadsheets leave between rows


def _with_blanks(source: Path, target: Path) -> tuple[Path, list[int]]:
    """`source` with a blank line of each kind after the header and between its first rows;
    returns the new file and the line of each record in it."""
    header, *rows = source.read_text(encoding="utf-8").splitlines()
    out, lines = [header], []
    for i, row in enumerate(rows):
        if i < len(BLANKS):
            out.append(BLANKS[i])
        out.append(row)
        lines.append(len(out))
    out += BLANKS
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return target, lines


def test_ledgers_and_question_files_treat_blank_lines_alike(tmp_path):
    spec = load_spec(MODEL)
    ledger_path, ledger_lines = _with_blanks(LEDGER, tmp_path / "ledger.csv")
    ledger = load_ledger(ledger_path, spec)
    assert ledger["line"].tolist() == ledger_lines
    pd.testing.assert_frame_equal(ledger.drop(columns="line"),
                                  load_ledger(LEDGER, spec).drop(columns="line"))
    questions_path, question_lines = _with_blanks(QUESTIONS, tmp_path / "questions.csv")
    questions = load_questions(questions_path, spec, ledger)
    assert questions["line"].tolist() == question_lines
    pd.testing.assert_frame_equal(questions.drop(columns="line"),
                                  load_questions(QUESTIONS, spec, ledger).drop(columns="line"))
    for path, columns in ((ledger_path, COLUMNS), (questions_path, QUESTION_COLUMNS)):
        read = read_checked_csv(path, columns)
        assert not read.problems and read.header == list(columns)


@pytest.mark.parametrize("loader", ["ledger", "questions"])
def test_a_compressed_or_non_utf8_file_is_one_error_naming_it(tmp_path, loader):
    spec = load_spec(MODEL)
    source = LEDGER if loader == "ledger" else QUESTIONS

    def load(path: Path):
        return load_ledger(path, spec) if loader == "ledger" else load_questions(path, spec)

    packed = tmp_path / f"{source.name}.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    latin = tmp_path / source.name
    latin.write_bytes(source.read_bytes() + "é\n".encode("latin-1"))
    for path, words in ((packed, "gzip-compressed"), (latin, "not UTF-8 text")):
        with pytest.raises(EvidenceError) as info:
            load(path)
        assert info.value.summary.startswith(f"{path}: cannot read the ")
        assert words in info.value.summary and "Traceback" not in str(info.value)


def test_reader_reports_width_spans_and_the_header_with_lines(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('\ufeffa,b,cc\n1,2,3\n\n1,2\n1,"x\ny",3\n', encoding="utf-8")
    read = read_checked_csv(path, ["a", "b", "c"], what="test file")
    assert read.records == [(2, {"a": "1", "b": "2", "cc": "3"}),
                            (5, {"a": "1", "b": "x\ny", "cc": "3"})]
    assert [str(p) for p in read.problems] == [
        f"{path}:1: unknown column 'cc' (did you mean 'c'?)",
        f"{path}:1: missing column 'c' (the columns are a, b, c)",
        f"{path}:4: has 2 fields, the header has 3 (quote any cell that contains a comma)",
        f"{path}:5: a cell spans lines 5-6 (keep every row on one line (close the quote; no "
        "line breaks inside a cell))",
    ]
    (tmp_path / "blank.csv").write_text("\n , \n", encoding="utf-8")
    with pytest.raises(EvidenceError, match="the test file is empty"):
        read_checked_csv(tmp_path / "blank.csv", ["a"], what="test file")
    with pytest.raises(EvidenceError, match="no such test file"):
        read_checked_csv(tmp_path / "missing.csv", ["a"], what="test file")


# --- dates ----------------------------------------------------------------------------------------


def test_one_date_parser_for_every_input():
    day = dt.date(2015, 8, 24)
    for value in (day, " 2015-08-24 ", dt.datetime(2015, 8, 24, 23, 59),
                  pd.Timestamp("2015-08-24 13:00")):
        assert parse_date(value) == day and type(parse_date(value)) is dt.date
    for value, words in (("24/08/2015", "not an ISO date"), ("20150824", "not an ISO date"),
                         ("2015-02-30", "not a real calendar date"), (20150824, "not a date"),
                         (None, "not a date"), (pd.NaT, "missing")):
        with pytest.raises(ValueError, match=words):
            parse_date(value)
    with pytest.raises(ValueError, match=r"2015-08-24 is in the future \(after today"):
        parse_date(day, today=dt.date(2015, 8, 23))
    assert parse_date(day, today=day) == day


def test_as_of_dates_refuse_the_future_unless_asked():
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    with pytest.raises(EvidenceError, match="bad as-of date") as info:
        as_of_date(tomorrow, where="--as-of")
    assert info.value.problems[0].where == "--as-of"
    assert as_of_date(tomorrow, future=True) == tomorrow
    problems: list = []
    assert date_or_problem("soon", "start", problems) is None
    assert [(p.where, p.message) for p in problems] == [
        ("start", "'soon' is not a date (not an ISO date, YYYY-MM-DD)")]


# --- exports a spreadsheet opens -----------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx",
                                  "\rx", "'quoted", "''", "'=", "plain", "", "a=b", "0.5"])
def test_a_text_cell_is_written_so_no_spreadsheet_runs_it_and_read_back_exactly(cell):
    from forecast._io import spreadsheet_safe, spreadsheet_text

    safe = spreadsheet_safe(cell)
    assert not str(safe).startswith(("=", "+", "-", "@", "\t", "\r"))
    assert spreadsheet_text(safe) == cell
    assert spreadsheet_safe(1.5) == 1.5 and spreadsheet_text(None) is None


def test_a_runs_csv_files_neutralise_formula_cells_from_the_ledger(tmp_path):
    """A ledger row whose source and note are formulas: the run's evidence.csv holds them as
    text (a leading '), the run reads them back unchanged."""
    from forecast.ops.update import update
    from tests.stubs import stub_forecast

    ledger = tmp_path / "ledger.csv"
    frame = pd.read_csv(LEDGER, dtype=str, keep_default_na=False)
    at = frame.index[frame["date"] <= "2015-12-31"][-1]  # a row the run keeps
    frame.loc[at, "source"] = '=HYPERLINK("http://evil.example","click")'
    frame.loc[at, "note"] = "+cmd|' /C calc'!A0"
    frame.to_csv(ledger, index=False)
    run = update(MODEL, ledger, as_of="2016-01-01", runs_dir=tmp_path / "runs",
                 forecaster=stub_forecast).run
    assert run is not None
    written = pd.read_csv(run.path / "evidence.csv", dtype=str, keep_default_na=False)
    first = written[written["id"] == frame.loc[at, "id"]].iloc[0]
    assert first["source"].startswith("'=HYPERLINK") and first["note"].startswith("'+cmd")
    back = run.evidence
    row = back[back["id"] == frame.loc[at, "id"]].iloc[0]
    assert row["source"] == frame.loc[at, "source"] and row["note"] == frame.loc[at, "note"]
    assert not any(str(v).startswith(("=", "+", "@")) for v in written.to_numpy().ravel())


def test_days_outside_the_range_of_a_model_s_dates_are_refused_everywhere():
    """pandas holds no day before 1677: an early ledger date was an exit 1, now a problem."""
    for text in ("0001-01-01", "1500-06-10", "1899-12-31", "2101-01-01", "9999-12-31"):
        with pytest.raises(ValueError, match=f"the date {text} is outside 1900-01-01 to "
                                             "2100-12-31"):
            parse_date(text)
    assert parse_date("1900-01-01") == dt.date(1900, 1, 1)
    assert parse_date("2100-12-31", today=None) == dt.date(2100, 12, 31)
    with pytest.raises(EvidenceError, match="bad as-of date") as info:
        as_of_date("1500-01-01", where="--as-of", future=True)
    assert "1500-01-01 is outside" in info.value.problems[0].message


def test_a_csv_input_that_is_no_file_is_refused_without_waiting_or_filling_memory(tmp_path,
                                                                               monkeypatch):
    """A FIFO is refused at once (it used to block forever); a device is read no further than
    the cap (it used to fill memory)."""
    import forecast._io as io_module
    from forecast._io import read_checked_csv

    fifo = tmp_path / "ledger.csv"
    os.mkfifo(fifo)
    with pytest.raises(EvidenceError, match="named pipe"):
        read_checked_csv(fifo, ["id"], what="ledger")
    monkeypatch.setattr(io_module, "MAX_INPUT_BYTES", 1000)
    with pytest.raises(EvidenceError, match="larger than 1,000 bytes"):
        read_checked_csv("/dev/zero", ["id"], what="ledger")
