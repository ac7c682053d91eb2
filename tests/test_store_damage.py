"""A damaged run store is reported and skipped, never a traceback; a read-only one still reads.

Every case damages a copy of one store whose two runs have the same inputs: ``old`` and, after
it, ``new`` (the latest, ``LATEST`` names it). Damage to ``new`` or to ``LATEST`` must leave
``history``, the brief's reading of the latest run and a no-op ``update`` each with a problem
line, falling back to the other run with the same inputs, and nothing written. No test samples:
runs are made by the stub forecaster (``tests.stubs.stub_forecast``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import forecast.cli
import forecast.ops.store
from forecast.cli import main
from forecast.errors import ForecastError, RunStoreError
from forecast.ops.brief import build_brief
from forecast.ops.store import RunStore
from forecast.ops.update import history, update
from forecast.provenance import file_sha256
from tests.guards import hang_guard
from tests.stubs import stub_forecast

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "isis_pakistan_2015.yaml"
LEDGER = ROOT / "data" / "isis_pakistan_ledger.csv"
AS_OF = "2025-11-20"
NAME = "isis_pakistan_2015"
SECRET = "SECRET-7f3a9c-never-printed"
"""What a file outside the store holds: no message may ever show it."""
UPDATE = ("update", "--snapshot", str(MODEL), "--ledger", str(LEDGER), "--as-of", AS_OF)


@dataclass(frozen=True)
class Store:
    """A damaged copy: the runs folder, the model's folder, the two run ids, a folder outside."""

    runs: Path
    dir: Path
    old: str
    new: str
    outside: Path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, str, str]:
    """Two runs with the same inputs (made once per module), the second one the latest."""
    runs = tmp_path_factory.mktemp("pristine") / "runs"
    first = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, forecaster=stub_forecast).run
    assert first is not None
    manifest = {k: v for k, v in first.manifest.items() if k not in ("run_id", "created", "files")}
    manifest["previous_run_id"] = first.run_id
    store = RunStore(runs, NAME)
    with store.lock():
        second = store.publish(first.forecast(), manifest, first.evidence)
    assert first.run_id < second.run_id and store.latest().run_id == second.run_id
    return runs, first.run_id, second.run_id


@pytest.fixture
def store(pristine, tmp_path) -> Store:
    runs, old, new = pristine
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    return Store(copy, copy / NAME, old, new, outside)


def _listing(folder: Path) -> list[tuple[str, int]]:
    """Every entry under `folder` (links not followed) with the size of each regular file."""
    out = []
    for here, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = Path(here) / name
            info = path.lstat()
            out.append((str(path.relative_to(folder)), info.st_size if path.is_file() else -1))
    return sorted(out)


# ------------------------------------------------------------------------------ the damage


def _manifest_edit(change: Callable[[dict, Store], None]) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        path = s.dir / s.new / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        change(manifest, s)
        path.write_text(json.dumps(manifest), encoding="utf-8")
    return damage


def _manifest_bytes(data: bytes) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        (s.dir / s.new / "manifest.json").write_bytes(data)
    return damage


def _latest_bytes(data: bytes) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        (s.dir / "LATEST").write_bytes(data)
    return damage


def _replace_with_folder(relative: str) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        path = s.dir / relative.format(new=s.new)
        path.unlink()
        path.mkdir()
        (path / "inside").write_text(SECRET)
    return damage


def _replace_with_fifo(relative: str) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        path = s.dir / relative.format(new=s.new)
        path.unlink()
        os.mkfifo(path)  # reading it would wait forever: it must never be opened for reading
    return damage


def _link_outside(relative: str, content: str = SECRET) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        path = s.dir / relative.format(new=s.new)
        target = s.outside / "target"
        target.write_text(content.format(new=s.new))
        path.unlink()
        path.symlink_to(target)
    return damage


def _delete(relative: str) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        (s.dir / relative.format(new=s.new)).unlink()
    return damage


def _files_list(m: dict, s: Store) -> None:
    m["files"] = list(m["files"].values())


def _files_strings(m: dict, s: Store) -> None:
    m["files"] = {name: meta["sha256"] for name, meta in m["files"].items()}


def _no_files_no_summary(m: dict, s: Store) -> None:
    m["files"] = {}
    (s.dir / s.new / "summary.csv").unlink()


def _summary_unlisted(m: dict, s: Store) -> None:
    del m["files"]["summary.csv"]


def _files_name_a_path(m: dict, s: Store) -> None:
    secret = s.outside / "secret.txt"
    secret.write_text(SECRET)
    m["files"][f"../../../outside/{secret.name}"] = {"sha256": file_sha256(secret),
                                                     "size": secret.stat().st_size}


def _size_a_string(m: dict, s: Store) -> None:
    m["files"]["posterior.nc"]["size"] = str(m["files"]["posterior.nc"]["size"])


def _set(key: str, value: object) -> Callable[[dict, Store], None]:
    def change(m: dict, s: Store) -> None:
        m[key] = value
    return change


def _drop(key: str) -> Callable[[dict, Store], None]:
    def change(m: dict, s: Store) -> None:
        del m[key]
    return change


def _run_id_of_old(m: dict, s: Store) -> None:
    m["run_id"] = s.old


def _previous_a_path(m: dict, s: Store) -> None:
    m["previous_run_id"] = f"../{NAME}/{s.old}"


def _truncate_posterior(s: Store) -> None:
    path = s.dir / s.new / "posterior.nc"
    path.write_bytes(path.read_bytes()[:100])


def _flip_summary_byte(s: Store) -> None:
    path = s.dir / s.new / "summary.csv"
    data = bytearray(path.read_bytes())
    data[-3] = ord("0") if data[-3] != ord("0") else ord("1")
    path.write_bytes(bytes(data))


def _summary_consistent_but_not_a_summary(s: Store) -> None:
    """summary.csv replaced, and the manifest's sha256 and size with it: still not a summary."""
    path = s.dir / s.new / "summary.csv"
    path.write_text("a,b\n1,2\n")
    manifest_path = s.dir / s.new / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["summary.csv"] = {"sha256": file_sha256(path), "size": path.stat().st_size}
    manifest_path.write_text(json.dumps(manifest))


def _run_folder_a_link(s: Store) -> None:
    moved = s.outside / s.new
    shutil.move(str(s.dir / s.new), moved)
    (s.dir / s.new).symlink_to(moved, target_is_directory=True)


def _run_folder_a_file(s: Store) -> None:
    shutil.rmtree(s.dir / s.new)
    (s.dir / s.new).write_text(SECRET)


def _latest_folder(s: Store) -> None:
    (s.dir / "LATEST").unlink()
    (s.dir / "LATEST").mkdir()
    (s.dir / "LATEST" / s.new).write_text(SECRET)


def _latest_text(text: str) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        (s.dir / "LATEST").write_text(text.format(new=s.new, name=NAME, outside=s.outside))
    return damage


def _latest_names_a_folder_that_is_not_a_run(s: Store) -> None:
    stray = "29991231T235959000000Z-0123abcd"
    (s.dir / stray).mkdir()
    (s.dir / stray / "notes.txt").write_text(SECRET)
    (s.dir / "LATEST").write_text(stray + "\n")


@dataclass(frozen=True)
class Case:
    name: str
    damage: Callable[[Store], None]
    latest: bool = False
    """Whether the damage is to LATEST (the fallback is `new`), not to the run `new` (`old`)."""


CASES = [
    # the manifest of the latest run
    Case("files is a list", _manifest_edit(_files_list)),
    Case("files entries are strings", _manifest_edit(_files_strings)),
    Case("no files listed and summary.csv deleted", _manifest_edit(_no_files_no_summary)),
    Case("summary.csv not listed", _manifest_edit(_summary_unlisted)),
    Case("files names a path out of the run", _manifest_edit(_files_name_a_path)),
    Case("a file's size is a string", _manifest_edit(_size_a_string)),
    Case("inputs_hash missing", _manifest_edit(_drop("inputs_hash"))),
    Case("publishable is a string", _manifest_edit(_set("publishable", "yes"))),
    Case("seed is a string", _manifest_edit(_set("seed", "0"))),
    Case("diagnostics failed is a string", _manifest_edit(_set("diagnostics", {"failed": "ess"}))),
    Case("diagnostics is a list", _manifest_edit(_set("diagnostics", []))),
    Case("as_of is not a day", _manifest_edit(_set("as_of", "20/11/2025"))),
    Case("versions is a string", _manifest_edit(_set("versions", "1.0"))),
    Case("run_id names the other run", _manifest_edit(_run_id_of_old)),
    Case("model_name is another model's", _manifest_edit(_set("model_name", "other"))),
    Case("previous_run_id is a path", _manifest_edit(_previous_a_path)),
    Case("manifest is a JSON list", _manifest_bytes(b"[1, 2]")),
    Case("manifest is a JSON string", _manifest_bytes(b'"manifest"')),
    Case("manifest is not JSON", _manifest_bytes(b"{not json")),
    Case("manifest is not UTF-8", _manifest_bytes(b"\xff\xfe{\x00}")),
    Case("manifest is empty", _manifest_bytes(b"")),
    Case("manifest is nested too deeply", _manifest_bytes(b"[" * 100_000)),
    Case("manifest is missing", _delete("{new}/manifest.json")),
    Case("manifest is a folder", _replace_with_folder("{new}/manifest.json")),
    Case("manifest is a FIFO", _replace_with_fifo("{new}/manifest.json")),
    Case("manifest is a link out of the store", _link_outside("{new}/manifest.json")),
    # the files of the latest run
    Case("posterior.nc truncated", _truncate_posterior),
    Case("summary.csv changed", _flip_summary_byte),
    Case("summary.csv deleted", _delete("{new}/summary.csv")),
    Case("summary.csv is a folder", _replace_with_folder("{new}/summary.csv")),
    Case("summary.csv is a FIFO", _replace_with_fifo("{new}/summary.csv")),
    Case("summary.csv is a link out of the store", _link_outside("{new}/summary.csv")),
    Case("summary.csv is not a summary", _summary_consistent_but_not_a_summary),
    # the run folder
    Case("run folder is a link out of the store", _run_folder_a_link),
    Case("run folder is a file", _run_folder_a_file),
    # LATEST
    Case("LATEST holds bytes that are not UTF-8", _latest_bytes(b"\xff\xfe\x80\n"), True),
    Case("LATEST is a folder", _latest_folder, True),
    Case("LATEST is a link out of the store", _link_outside("LATEST"), True),
    Case("LATEST is a link to a file naming the run", _link_outside("LATEST", "{new}\n"), True),
    Case("LATEST is a FIFO", _replace_with_fifo("LATEST"), True),
    Case("LATEST holds a relative path", _latest_text("../{name}/{new}\n"), True),
    Case("LATEST holds '..'", _latest_text("..\n"), True),
    Case("LATEST holds an absolute path", _latest_text("{outside}\n"), True),
    Case("LATEST names .checkpoints", _latest_text(".checkpoints\n"), True),
    Case("LATEST names a folder that is not a run", _latest_names_a_folder_that_is_not_a_run,
         True),
    Case("LATEST names a run that does not exist",
         _latest_text("20000101T000000000000Z-00000000\n"), True),
    Case("LATEST is empty", _latest_bytes(b""), True),
    Case("LATEST is a megabyte", _latest_bytes(b"2" * 2**20), True),
    Case("LATEST names a run and more", _latest_text("{new}\n{new}\n"), True),
]


def _text(problems) -> str:
    return "\n".join(str(p) for p in problems)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_damage_is_reported_and_skipped_by_history_brief_and_update(case, store):
    case.damage(store)
    fallback = store.new if case.latest else store.old
    before = _listing(store.runs)

    found = history(NAME, store.runs)
    assert found.problems, "history must report the damage"
    valid = {store.old, store.new} if case.latest else {store.old}
    assert set(found.frame["run_id"]) == valid

    reader = RunStore(store.runs, NAME)
    chosen = reader.pick("latest")  # what build_brief reads
    assert chosen.run_id == fallback and reader.problems

    result = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=store.runs, forecaster=stub_forecast)
    assert result.status == "unchanged" and result.run.run_id == fallback
    assert result.problems and result.to_json()["problems"]
    assert _listing(store.runs) == before, "a no-op update writes nothing"
    for problems in (found.problems, reader.problems, result.problems):
        assert SECRET not in _text(problems)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli_warns_of_damage_and_exits_0(case, store, monkeypatch):
    monkeypatch.setattr(forecast.cli, "FORECASTER", stub_forecast)
    case.damage(store)
    runner = CliRunner()
    shown = runner.invoke(main, ["history", str(MODEL), "--runs", str(store.runs)])
    assert shown.exit_code == 0, shown.output
    assert "warning: skipped a damaged run" in shown.stderr
    updated = runner.invoke(main, [*UPDATE, "--runs", str(store.runs)])
    assert updated.exit_code == 0, updated.output
    assert updated.stdout.startswith("unchanged:") and "warning: skipped" in updated.stderr
    for out in (shown.output, updated.output):
        assert "Traceback" not in out and SECRET not in out


@pytest.fixture
def no_analysis(monkeypatch):
    """The brief's analyses need a sampled posterior's parameters, which the stub's lacks."""
    import forecast.ops.brief

    monkeypatch.setattr(forecast.ops.brief, "_conflicts", lambda *args: [])
    monkeypatch.setattr(forecast.ops.brief, "_indicators", lambda *args: [])
    monkeypatch.setattr(forecast.ops.brief, "_sensitivity", lambda *args: None)


def test_a_brief_of_a_damaged_store_lists_what_was_skipped(store, no_analysis):
    _latest_folder(store)
    (store.dir / store.old / "summary.csv").write_text("broken")
    data = build_brief(MODEL, store.runs)
    assert data.run_id == store.new and data.previous_run_id is None  # the old run is damaged
    notes = "\n".join(data.notes)
    assert "LATEST" in notes and store.old in notes and SECRET not in notes


def test_cli_brief_of_a_damaged_run_exits_2_in_one_message(store, tmp_path):
    _latest_text("../{name}/{new}\n")(store)
    _truncate_posterior(store)
    runner = CliRunner()
    for run in (store.new, "latest"):  # latest: LATEST is damaged, so is the newest run
        if run == "latest":
            shutil.rmtree(store.dir / store.old)
        bad = runner.invoke(main, ["brief", str(MODEL), "--runs", str(store.runs), "--out",
                                   str(tmp_path / "bad"), "--run", run, "--format", "html"])
        assert bad.exit_code == 2 and "Traceback" not in bad.output, bad.output
        assert bad.output.startswith("error: ") and "truncated" in bad.output
    assert "LATEST: holds a path" in bad.output and SECRET not in bad.output
    assert not (tmp_path / "bad").exists()


def test_damage_to_an_older_run_is_history_s_to_report(store):
    (store.dir / store.old / "manifest.json").write_text('{"files": []}')
    found = history(NAME, store.runs)
    assert set(found.frame["run_id"]) == {store.new}
    assert store.old in _text(found.problems)
    reader = RunStore(store.runs, NAME)
    assert reader.latest().run_id == store.new and not reader.problems  # LATEST reads cleanly


def test_with_every_run_damaged_an_update_publishes_again(store):
    for run_id in (store.old, store.new):
        (store.dir / run_id / "summary.csv").unlink()
    result = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=store.runs, forecaster=stub_forecast)
    assert result.status == "published" and result.previous is None
    assert store.old in _text(result.problems) and store.new in _text(result.problems)
    assert RunStore(store.runs, NAME).latest().run_id == result.run.run_id


def test_a_run_id_that_is_not_one_is_never_looked_up(store):
    reader = RunStore(store.runs, NAME)
    for bad in ("..", f"../{NAME}/{store.new}", str(store.dir / store.new), ".checkpoints",
                "LATEST", ""):
        with pytest.raises(RunStoreError, match="not a run id"):
            reader.read_run(bad)
    with pytest.raises(RunStoreError, match="no run") as err:
        reader.pick(f"../{NAME}/{store.new}")
    assert "no such run" in str(err.value)


# ------------------------------------------------------------------ the store's folder


def test_a_store_folder_that_is_a_file_is_one_clear_error(store, tmp_path, monkeypatch):
    monkeypatch.setattr(forecast.cli, "FORECASTER", stub_forecast)
    shutil.rmtree(store.dir)
    store.dir.write_text(SECRET)
    with pytest.raises(RunStoreError, match="not a run store folder"):
        history(NAME, store.runs)
    with pytest.raises(RunStoreError, match="no published run"):
        RunStore(store.runs, NAME).pick("latest")
    with pytest.raises(RunStoreError, match="not a run store folder"):
        update(MODEL, LEDGER, as_of=AS_OF, runs_dir=store.runs, forecaster=stub_forecast)
    runner = CliRunner()
    for args in (["history", str(MODEL)], list(UPDATE),
                 ["brief", str(MODEL), "--out", str(tmp_path / "out"), "--format", "html"]):
        result = runner.invoke(main, [*args, "--runs", str(store.runs)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and "Traceback" not in result.output
        assert "is a file, not a folder of runs" in result.output
        assert SECRET not in result.output
    assert store.dir.read_text() == SECRET and not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["under a file", "is a file"])
def test_runs_under_a_regular_file_exit_2(tmp_path, monkeypatch, where):
    monkeypatch.setattr(forecast.cli, "FORECASTER", stub_forecast)
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    runs = afile / "runs" if where == "under a file" else afile
    runner = CliRunner()
    for args in (["history", str(MODEL)], list(UPDATE),
                 ["brief", str(MODEL), "--out", str(tmp_path / "out"), "--format", "html"]):
        result = runner.invoke(main, [*args, "--runs", str(runs)])
        assert result.exit_code == 2, result.output
        assert "is a file" in result.output or "is under a file" in result.output
        for word in ("Traceback", "NotADirectoryError", "FileNotFoundError", "FileExistsError"):
            assert word not in result.output
    assert afile.read_text() == "not a folder"


def test_runs_in_a_place_that_cannot_be_written_exit_2(tmp_path, monkeypatch):
    monkeypatch.setattr(forecast.cli, "FORECASTER", stub_forecast)
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if tmp_path in self.parents or self == tmp_path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)  # as root, chmod would not stop it
    result = CliRunner().invoke(main, [*UPDATE, "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "the run store cannot be written" in result.output
    assert "Permission denied" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 2  # the summary and its one problem


@pytest.mark.parametrize("kind", ["a folder", "a link out of the store"])
def test_a_lock_file_that_is_not_one_is_never_opened(store, kind):
    lock = store.dir / ".lock"
    lock.unlink()
    target = store.outside / "precious"
    target.write_text(SECRET)
    if kind == "a folder":
        lock.mkdir()
    else:
        lock.symlink_to(target)
    same = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=store.runs, forecaster=stub_forecast)
    assert same.status == "unchanged" and same.run.run_id == store.new
    with pytest.raises(RunStoreError, match="lock cannot be taken") as err:
        update(MODEL, LEDGER, as_of="2020-01-01", runs_dir=store.runs, forecaster=stub_forecast)
    assert "remove it" in str(err.value) and SECRET not in str(err.value)
    assert target.read_text() == SECRET


# ------------------------------------------------------------------ a read-only store


def _read_only(folder: Path) -> None:
    for here, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(here) / name
            if path.is_file() and not path.is_symlink():
                path.chmod(0o444)
        Path(here).chmod(0o555)


def _writable(folder: Path) -> None:
    for here, _dirs, files in os.walk(folder):
        Path(here).chmod(0o755)
        for name in files:
            path = Path(here) / name
            if path.is_file() and not path.is_symlink():
                path.chmod(0o644)


@pytest.mark.parametrize("lock_file", ["read-only", "writable", "missing"])
def test_a_read_only_store_serves_reads_and_no_op_updates(store, tmp_path, monkeypatch,
                                                           lock_file):
    monkeypatch.setattr(forecast.cli, "FORECASTER", stub_forecast)
    if lock_file == "missing":
        (store.dir / ".lock").unlink()
    _read_only(store.dir)
    if lock_file == "writable":
        (store.dir / ".lock").chmod(0o666)
    try:
        if os.access(store.dir, os.W_OK):
            pytest.skip("chmod does not stop this user (root): see the simulated test below")
        before = _listing(store.runs)
        found = history(NAME, store.runs)
        assert set(found.frame["run_id"]) == {store.old, store.new} and not found.problems
        assert RunStore(store.runs, NAME).pick("latest").run_id == store.new
        runner = CliRunner()
        same = runner.invoke(main, [*UPDATE, "--runs", str(store.runs)])
        assert same.exit_code == 0 and same.stdout.startswith("unchanged:"), same.output
        changed = runner.invoke(main, ["update", "--snapshot", str(MODEL), "--ledger",
                                       str(LEDGER), "--as-of", "2020-01-01", "--runs",
                                       str(store.runs)])
        assert changed.exit_code == 2, changed.output
        assert changed.output.startswith("error: ") and "cannot be written" in changed.output
        assert "Traceback" not in changed.output
        assert _listing(store.runs) == before
    finally:
        _writable(store.dir)


def test_a_store_folder_that_cannot_be_read_is_one_clear_error(store, tmp_path):
    store.dir.chmod(0)
    try:
        if os.access(store.dir, os.R_OK):
            pytest.skip("chmod does not stop this user (root)")
        with pytest.raises(RunStoreError, match="cannot be read"):
            history(NAME, store.runs)
        result = CliRunner().invoke(main, ["history", str(MODEL), "--runs", str(store.runs)])
        assert result.exit_code == 2 and result.output.startswith("error: "), result.output
        assert "Traceback" not in result.output
    finally:
        store.dir.chmod(0o755)


def test_a_store_whose_lock_cannot_be_made_answers_no_op_updates(store, monkeypatch):
    """The read-only store as root sees it: the lock file cannot be made, nor a run written."""
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(store.dir / ".lock"))

    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return stub_forecast(*args, **kwargs)

    monkeypatch.setattr(forecast.ops.store.FileLock, "acquire", refuse)
    same = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=store.runs, forecaster=counting)
    assert same.status == "unchanged" and same.run.run_id == store.new
    with pytest.raises(RunStoreError, match="cannot be written") as err:
        update(MODEL, LEDGER, as_of="2020-01-01", runs_dir=store.runs, forecaster=counting)
    assert "cannot take the update lock: Permission denied" in str(err.value)
    assert not calls, "nothing is computed for a store that cannot take it"


def test_a_run_that_cannot_be_written_is_a_run_store_error(store, monkeypatch):
    def refuse(parent, name=""):
        raise PermissionError(13, "Permission denied", str(parent))

    monkeypatch.setattr(forecast.ops.store, "temp_folder", refuse)
    before = _listing(store.runs)
    with pytest.raises(RunStoreError, match="cannot be written"):
        update(MODEL, LEDGER, as_of="2020-01-01", runs_dir=store.runs, forecaster=stub_forecast)
    assert _listing(store.runs) == before


def test_latest_a_folder_refuses_to_publish_before_computing(store, monkeypatch):
    _latest_folder(store)
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return stub_forecast(*args, **kwargs)

    with pytest.raises(RunStoreError, match="cannot publish") as err:
        update(MODEL, LEDGER, as_of="2020-01-01", runs_dir=store.runs, forecaster=counting)
    assert "LATEST" in str(err.value) and "remove the folder" in str(err.value) and not calls
    monkeypatch.setattr(forecast.cli, "FORECASTER", stub_forecast)
    result = CliRunner().invoke(main, ["update", "--snapshot", str(MODEL), "--ledger",
                                       str(LEDGER), "--as-of", "2020-01-01", "--runs",
                                       str(store.runs)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output


# ------------------------------------------------------------------ the scheduler


def test_same_inputs_as_an_unpublishable_latest_run_exit_3_again(tmp_path, monkeypatch):
    failing = functools.partial(stub_forecast, failed=["k-hat too large (test)"])
    runs = tmp_path / "runs"
    published = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, forecaster=failing,
                       allow_unconverged=True)
    assert published.status == "published" and not published.publishable
    before = _listing(runs)

    again = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, forecaster=failing)
    assert again.status == "unpublishable" and again.run.run_id == published.run.run_id
    assert again.failed == ["k-hat too large (test)"] and not again.publishable
    allowed = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=runs, forecaster=failing,
                     allow_unconverged=True)
    assert allowed.status == "unchanged" and not allowed.publishable
    assert allowed.failed == ["k-hat too large (test)"]

    monkeypatch.setattr(forecast.cli, "FORECASTER", failing)
    runner = CliRunner()
    text = runner.invoke(main, [*UPDATE, "--runs", str(runs)])
    assert text.exit_code == 3, text.output
    assert text.stdout.startswith("unchanged:") and "Traceback" not in text.output
    assert "failed its diagnostics" in text.stderr and "k-hat too large (test)" in text.stderr
    as_json = runner.invoke(main, [*UPDATE, "--runs", str(runs), "--json"])
    assert as_json.exit_code == 3
    record = json.loads(as_json.stdout)
    assert record["status"] == "unpublishable" and record["failed"] == ["k-hat too large (test)"]
    accepted = runner.invoke(main, [*UPDATE, "--runs", str(runs), "--allow-unconverged"])
    assert accepted.exit_code == 0 and "warning: unchanged, and the run failed" in accepted.stderr
    assert _listing(runs) == before


def test_an_unpublishable_run_without_reasons_still_says_why(store):
    path = store.dir / store.new / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["publishable"] = False
    path.write_text(json.dumps(manifest))
    result = update(MODEL, LEDGER, as_of=AS_OF, runs_dir=store.runs, forecaster=stub_forecast)
    assert result.status == "unpublishable" and result.failed == [
        "the run's manifest says it is not publishable"]


@pytest.mark.parametrize("seconds", ["nan", "-1", "inf", "-inf", "NaN", "soon"])
def test_a_lock_timeout_that_is_not_a_number_of_seconds_is_refused(tmp_path, seconds):
    result = CliRunner().invoke(main, [*UPDATE, "--runs", str(tmp_path / "runs"),
                                       "--lock-timeout", seconds])
    assert result.exit_code == 2 and "--lock-timeout" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("seconds", [float("nan"), -1.0, float("inf")])
def test_update_refuses_a_lock_timeout_that_is_not_a_number_of_seconds(tmp_path, seconds):
    with pytest.raises(ForecastError, match="lock_timeout"):
        update(MODEL, LEDGER, as_of=AS_OF, runs_dir=tmp_path / "runs", lock_timeout=seconds,
               forecaster=stub_forecast)
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------- a full disk


def _small_files() -> None:
    """In the child: writes past 64 KiB fail with EFBIG, as they would on a full disk.

    SIGXFSZ is ignored so the write returns the error instead of killing the process.
    """
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))


def test_a_disk_that_fills_while_publishing_is_exit_1_in_one_message(store):
    """The posterior (about 1 MB) cannot be written: one error, no crash of the interpreter,
    the previous run and ``LATEST`` intact, no temporary left behind. The netCDF is composed
    in memory, so HDF5 never meets the full disk (it used to crash the interpreter, exit 139)."""
    import subprocess
    import sys

    before = _listing(store.dir)
    done = subprocess.run(
        [sys.executable, "-m", "forecast", *UPDATE[:-1], "2025-12-01", "--runs", str(store.runs)],
        preexec_fn=_small_files, capture_output=True, text=True,
        timeout=hang_guard(5))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: ") and "nothing was published" in done.stderr
    assert "File too large" in done.stderr and "free space" in done.stderr
    assert (store.dir / "LATEST").read_text() == store.new + "\n"
    assert [entry for entry in _listing(store.dir) if entry[0] != ".lock"] == [
        entry for entry in before if entry[0] != ".lock"]
