"""The fuzz corpus: malformed inputs through the real command line, bounded in time and memory.

Every case runs ``python -m forecast ...`` in a subprocess, in a scratch folder of its own,
under an address-space limit (:data:`MEMORY`, ``RLIMIT_AS``; no core files) and a hang guard
(:data:`HANG_GUARD`), and asserts

* the exit code: 2 for bad input, or another documented code where that is the answer (0 when
  damage to a run store is reported and skipped, or for an input that turns out valid; 3 when
  the latest run failed its diagnostics; 75 when another update holds the lock);
* no Python traceback on stdout or stderr, and a message on stderr naming the file and line
  (or the run, or the option) and saying what is wrong;
* nothing written: the input files are unchanged, the scratch folder holds nothing new (no
  run store, no stray file), a damaged store is left as it was;
* and, implicitly, the bounds: a case that needs more memory fails its command (a
  ``MemoryError`` is a failure), one that hangs is killed at the guard and fails.

The timeout is a hang guard, not a performance check (:func:`tests.guards.hang_guard`): a
case takes well under a second (``validate``) or a few seconds (commands that import PyMC),
and the guard is minutes, so that a loaded CI machine never fails a case for being slow;
``FORECAST_TEST_TIMEOUT_SCALE`` stretches it further. Only the two cases expected to fail get
a short guard, so that a known hang costs seconds, not minutes. The in-process checks of the
same loaders are in ``tests/test_hardening_model.py``, ``tests/test_evidence.py``,
``tests/test_scoring.py`` and ``tests/test_store_damage.py``; this module checks what a user
of the command line sees.

The corpus, 123 cases:

* 71 model files (``forecast validate``): 61 files in ``tests/data/malformed/models/`` (YAML
  bombs, NaN and infinite priors, windows of 10^12 months and 10^15 days, unsafe names,
  unordered ``!!set`` parents, ...) and 10 generated here (a 5,000-node chain, a node of 25
  three-state parents, 20 and 30 binary parents, a 5 MB file, a FIFO, ``/dev/zero``, ...);
* 19 evidence ledgers (``forecast update``): 16 files in ``tests/data/malformed/ledgers/``
  and 3 generated (a 5 MB line; ``/dev/zero``, read no further than 50 MB, and a FIFO,
  never waited on);
* 10 questions files (``forecast score``), in ``tests/data/malformed/questions/``;
* 15 damaged run stores (``history``, ``update``, ``brief``), copies of one real store built
  once per session;
* 8 bad command-line options.

Commands that import PyMC cost seconds each, so the ledger, questions and store cases are the
faults the hardening issue found and a few of their neighbours; the many more kinds of bad
rows are checked in process (``tests/data/ledgers/broken.csv``).

Each folder's ``cases.yaml`` lists its files with the command, the exit code and the message
fragments expected; ``_base.*`` there is the valid input the cases were made from.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.guards import hang_guard

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "malformed"
MODEL = ROOT / "models" / "afghan_caliphate.yaml"
"""The model of the ledger, questions and store cases (small: a real update takes seconds)."""
NAME = "afghan_caliphate"
LEDGER = CORPUS / "ledgers" / "_base.csv"
"""A valid ledger of :data:`MODEL`: what the ledger cases break, and the questions cases cite."""
AS_OF = "2016-01-01"

HANG_GUARD = hang_guard(5)
"""Seconds before a command is taken to hang (a case takes 0.3 s to about 5 s)."""
MEMORY = 3 * 1024**3
"""Address space of each command (``RLIMIT_AS``): room for PyMC, numba and LLVM, not for a bomb."""

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")


# --------------------------------------------------------------------------------------------
# running a command
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """What a command did."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return (f"forecast {shlex.join(self.args)}\nexit {self.code}\n--- stdout\n"
                f"{self.out[-4000:]}\n--- stderr\n{self.err[-4000:]}")


def _limits(memory: int) -> None:  # pragma: no cover - runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def forecast(args: list[str], cwd: Path, *, timeout: float = HANG_GUARD,
             memory: int = MEMORY) -> Ran:
    """Run ``python -m forecast ARGS`` in `cwd` under the limits; fail the test if it hangs."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with subprocess.Popen([sys.executable, "-m", "forecast", *args], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace",
                          preexec_fn=functools.partial(_limits, memory),
                          start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the command and children
            process.communicate()
            pytest.fail(f"forecast {shlex.join(args)}: still running after {timeout:.0f} s "
                        "(a hang)")
    return Ran(tuple(args), process.returncode, out, err)


def check(ran: Ran, code: int, expect: tuple[str, ...] | list[str]) -> None:
    """The exit code, no traceback, and every fragment of the expected message on stderr."""
    both = ran.out + ran.err
    assert "Traceback (most recent call last)" not in both, str(ran)
    assert "MemoryError" not in both, str(ran)
    assert ran.code == code, str(ran)
    if code == 2:
        assert ran.err.startswith(("error: ", "Usage: ")), str(ran)
    for fragment in expect:
        assert fragment in ran.err, f"{fragment!r} not on stderr\n{ran}"


def listing(folder: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry under `folder` (links not followed): its type, size and content's hash."""
    out = {}
    for here, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(here) / name
            info = path.lstat()
            kind = ("link" if path.is_symlink() else "dir" if path.is_dir() else
                    "file" if path.is_file() else "other")
            digest = (hashlib.sha256(path.read_bytes()).hexdigest() if kind == "file" else
                      os.readlink(path) if kind == "link" else "")
            out[str(path.relative_to(folder))] = (kind, info.st_size, digest)
    return out


MODEL_SHA = hashlib.sha256(MODEL.read_bytes()).hexdigest()


def _model_unchanged() -> None:
    assert hashlib.sha256(MODEL.read_bytes()).hexdigest() == MODEL_SHA


# --------------------------------------------------------------------------------------------
# the corpus files: each folder's cases.yaml
# --------------------------------------------------------------------------------------------


def _index(kind: str) -> dict:
    return yaml.safe_load((CORPUS / kind / "cases.yaml").read_text(encoding="utf-8"))


def _command(kind: str, **values: str) -> list[str]:
    words = shlex.split(_index(kind)["command"])
    assert words[0] == "forecast"
    return [w.format(**values) for w in words[1:]]


@dataclass(frozen=True)
class Case:
    """A malformed input file: how to write it into the scratch folder, and what must happen."""

    name: str
    write: Callable[[Path], None]
    code: int = 2
    expect: tuple[str, ...] = ()
    published: bool = False
    """Whether the input is valid after all and `update` publishes a run."""
    timeout: float = HANG_GUARD
    memory: int = MEMORY

    def param(self, *marks: pytest.MarkDecorator) -> object:
        return pytest.param(self, id=self.name, marks=marks)


def _copy(source: Path) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        shutil.copyfile(source, path)
    return write


def _static(kind: str) -> list[Case]:
    cases = _index(kind)["cases"]
    return [Case(name, _copy(CORPUS / kind / name), int(spec["exit"]), tuple(spec["expect"]),
                 bool(spec.get("published", False)))
            for name, spec in cases.items()]


def test_every_file_of_the_corpus_is_a_case() -> None:
    for kind in ("models", "ledgers", "questions"):
        files = {p.name for p in (CORPUS / kind).iterdir()
                 if p.name != "cases.yaml" and not p.name.startswith("_")}
        assert files == set(_index(kind)["cases"]), kind


def test_the_bases_are_valid() -> None:
    """The cases break valid inputs, so each fails for the fault planted in it."""
    from forecast.analysis.questions import load_questions
    from forecast.evidence.ledger import load_ledger
    from forecast.model.load import load_spec

    assert load_spec(CORPUS / "models" / "_base.yaml").name == "fuzz_base"
    spec = load_spec(MODEL)
    ledger = load_ledger(LEDGER, spec)
    assert len(ledger) == 3
    assert len(load_questions(CORPUS / "questions" / "_base.csv", spec, ledger)) == 2


# --------------------------------------------------------------------------------------------
# model files: forecast validate
# --------------------------------------------------------------------------------------------

BASE_MODEL = (CORPUS / "models" / "_base.yaml").read_text(encoding="utf-8")


def _text(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")
    return write


def _node(name: str, states: int, parents: list[str]) -> str:
    """A node whose CPT need not fit: the size limits are checked before the tables."""
    names = [f"s{i}" for i in range(states)]
    return (f"  {name}:\n    label: x\n    states: [{', '.join(names)}]\n"
            + (f"    parents: [{', '.join(parents)}]\n" if parents else "")
            + "    definition: {kind: condition, states: {"
            + ", ".join(f"{s}: x" for s in names) + "}}\n"
            + "    cpt: {table: {assumption: x, rows: [{prior: {s1: unlikely}}]}}\n")


def _with_nodes(nodes: str) -> str:
    return BASE_MODEL.replace("nodes:\n", "nodes:\n" + nodes, 1)


def _chain(n: int) -> str:
    """`n` nodes, each the parent of the next (written short: the node count is checked first)."""
    return _with_nodes("".join(f"  c{i}: {{label: x, states: [s0, s1]"
                               + (f", parents: [c{i - 1}]" if i else "") + "}\n"
                               for i in range(n)))


def _wide(parents: int, states: int) -> str:
    causes = [f"p{i}" for i in range(parents)]
    return _with_nodes("".join(_node(c, states, []) for c in causes)
                       + _node("child", 2, causes))


def _fifo(path: Path) -> None:
    os.mkfifo(path)  # a reader that opens it waits for a writer: forever


def _link_to(target: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.symlink_to(target)
    return write


MODEL_CASES = [
    *_static("models"),
    Case("chain_of_5000_nodes.yaml", _text(_chain(5000)),
         expect=("model has 5,003 nodes, more than the limit of 1,000",)),
    Case("25_parents_of_3_states.yaml", _text(_wide(25, 3)),
         expect=("the CPT of 'child' would have 1,694,577,218,886 entries",)),
    Case("20_binary_parents.yaml", _text(_wide(20, 2)),
         expect=("the CPT of 'child' would have 2,097,152 entries",)),
    Case("30_binary_parents.yaml", _text(_wide(30, 2)),
         expect=("the CPT of 'child' would have 2,147,483,648 entries",)),
    Case("1000_unknown_parents.yaml", _text(BASE_MODEL.replace(
        "parents: [cause, level]", "parents: [cause, level, "
        + ", ".join(f"u{i}" for i in range(1000)) + "]", 1)),
        expect=("1,000 parents name no node of the model",)),
    Case("larger_than_5_mb.yaml", _text(BASE_MODEL + ("#" * 99 + "\n") * 50_001),
         expect=("larger_than_5_mb.yaml: ", "the file is larger than 5,000,000 bytes")),
    Case("100001_values.yaml", _text(BASE_MODEL + "extra: [" + "1, " * 100_001 + "1]\n"),
         expect=("100001_values.yaml:", "more than 100,000 values")),
    Case("sexagesimal_bomb.yaml", _text(BASE_MODEL.replace(
        "paragraph: 1", "paragraph: 1" + ":1" * 100_000, 1)),
        expect=("sexagesimal_bomb.yaml:6:", "a number of 200,001 characters")),
    Case("fifo.yaml", _fifo, expect=("fifo.yaml: cannot read the model file",
                                     "is a named pipe (FIFO), not a file")),
    Case("dev_zero.yaml", _link_to("/dev/zero"),
         expect=("dev_zero.yaml: ", "the file is larger than 5,000,000 bytes")),
]


@pytest.mark.parametrize("case", [c.param() for c in MODEL_CASES])
def test_a_malformed_model_is_refused(case: Case, tmp_path: Path) -> None:
    case.write(tmp_path / case.name)
    before = listing(tmp_path)
    ran = forecast(["validate", case.name], tmp_path, timeout=case.timeout)
    check(ran, case.code, case.expect)
    assert listing(tmp_path) == before, "validate writes nothing, and the file is unchanged"


# --------------------------------------------------------------------------------------------
# evidence ledgers: forecast update
# --------------------------------------------------------------------------------------------


def _huge_line(path: Path) -> None:
    rows = LEDGER.read_text(encoding="utf-8").splitlines(keepends=True)
    rows[2] = rows[2].replace("Reports of defections", "x" * 5_000_000, 1)
    path.write_text("".join(rows), encoding="utf-8")


LEDGER_CASES = [
    *_static("ledgers"),
    Case("huge_line.csv", _huge_line,
         expect=("huge_line.csv:3: not valid CSV: field larger than field limit",)),
]
LEDGER_NOT_FILES = [  # what a path can name besides a file: read at most 50 MB, never waited on
    Case("dev_zero.csv", _link_to("/dev/zero"),
         expect=("dev_zero.csv: the ledger is larger than 50,000,000 bytes",),
         memory=3 * MEMORY // 4),
    Case("fifo.csv", _fifo, expect=("fifo.csv: cannot read", "named pipe (FIFO)")),
]


def _run_ledger(case: Case, tmp_path: Path) -> None:
    case.write(tmp_path / case.name)
    before = listing(tmp_path)
    ran = forecast(_command("ledgers", model=str(MODEL), file=case.name, runs="runs"), tmp_path,
                   timeout=case.timeout, memory=case.memory)
    check(ran, case.code, case.expect)
    _model_unchanged()
    after = listing(tmp_path)
    if not case.published:
        assert after == before, "nothing written, the ledger unchanged"
        return
    assert {k: v for k, v in after.items() if not k.startswith("runs")} == before
    runs = [p for p in (tmp_path / "runs" / NAME).iterdir() if not p.name.startswith(".")]
    assert sorted(p.name for p in runs if p.name != "LATEST") == [
        (tmp_path / "runs" / NAME / "LATEST").read_text().strip()]


@pytest.mark.parametrize("case", [c.param() for c in LEDGER_CASES])
def test_a_malformed_ledger_is_refused(case: Case, tmp_path: Path) -> None:
    _run_ledger(case, tmp_path)


@pytest.mark.parametrize("case", [c.param() for c in LEDGER_NOT_FILES])
def test_a_ledger_that_is_no_file_is_refused(case: Case, tmp_path: Path) -> None:
    _run_ledger(case, tmp_path)


# --------------------------------------------------------------------------------------------
# questions files: forecast score
# --------------------------------------------------------------------------------------------

QUESTION_CASES = _static("questions")


@pytest.mark.parametrize("case", [c.param() for c in QUESTION_CASES])
def test_a_malformed_questions_file_is_refused(case: Case, tmp_path: Path) -> None:
    case.write(tmp_path / case.name)
    before = listing(tmp_path)
    ran = forecast(_command("questions", model=str(MODEL), file=case.name, ledger=str(LEDGER)),
                   tmp_path, timeout=case.timeout)
    check(ran, case.code, case.expect)
    _model_unchanged()
    assert listing(tmp_path) == before, "nothing written, the file unchanged"


# --------------------------------------------------------------------------------------------
# run stores: history, update and brief over a damaged copy of a real store
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pristine:
    """A real store of :data:`MODEL`: two runs of the same inputs, ``new`` the latest."""

    runs: Path
    old: str
    new: str


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    """Made once per session, shared by the xdist workers: a real update, published twice."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()  # under xdist, a worker's folder in the session's
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "fuzz-store"
    with FileLock(f"{folder}.lock"):
        made = folder / "made.json"
        if not made.is_file():
            made.parent.mkdir(exist_ok=True)
            made.write_text(json.dumps(_make_store(folder / "runs")), encoding="utf-8")
        ids = json.loads(made.read_text(encoding="utf-8"))
    return Pristine(folder / "runs", ids["old"], ids["new"])


def _make_store(runs: Path) -> dict[str, str]:
    """One real update of :data:`MODEL`, and its run published again: two runs, same inputs."""
    from forecast.ops.store import RunStore

    ran = forecast(["update", str(MODEL), "--ledger", str(LEDGER), "--as-of", AS_OF, "--runs",
                    str(runs)], runs.parent)
    assert ran.code == 0 and ran.out.startswith("published run"), str(ran)
    store = RunStore(runs, NAME)
    first = store.latest()
    assert first is not None
    manifest = {k: v for k, v in first.manifest.items() if k not in ("run_id", "created", "files")}
    manifest["previous_run_id"] = first.run_id
    with store.lock():
        second = store.publish(first.forecast(), manifest, first.evidence)
    latest = store.latest()
    assert latest is not None and latest.run_id == second.run_id != first.run_id
    return {"old": first.run_id, "new": second.run_id}


@dataclass(frozen=True)
class Store:
    """A damaged copy of the pristine store, in a scratch folder."""

    runs: Path
    old: str
    new: str

    @property
    def dir(self) -> Path:
        return self.runs / NAME

    def manifest(self, run: str) -> dict:
        return json.loads((self.dir / run / "manifest.json").read_text(encoding="utf-8"))

    def write_manifest(self, run: str, manifest: object) -> None:
        (self.dir / run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


PASSWD = Path("/etc/passwd")
PASSWD_LINES = ([line for line in PASSWD.read_text(errors="replace").splitlines()
                 if len(line) > 8] if PASSWD.is_file() else [])


def _edit_manifest(change: Callable[[dict, Store], object]) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        manifest = s.manifest(s.new)
        s.write_manifest(s.new, change(manifest, s) or manifest)
    return damage


def _manifest_bytes(data: bytes) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        (s.dir / s.new / "manifest.json").write_bytes(data)
    return damage


def _latest(data: bytes) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        (s.dir / "LATEST").write_bytes(data)
    return damage


def _latest_a_folder(s: Store) -> None:
    (s.dir / "LATEST").unlink()
    (s.dir / "LATEST").mkdir()
    (s.dir / "LATEST" / s.new).write_text("in a folder")


def _latest_to_passwd(s: Store) -> None:
    (s.dir / "LATEST").unlink()
    (s.dir / "LATEST").symlink_to(PASSWD)


def _run_a_file(s: Store) -> None:
    shutil.rmtree(s.dir / s.new)
    (s.dir / s.new).write_text("not a run")


def _run_empty(s: Store) -> None:
    shutil.rmtree(s.dir / s.new)
    (s.dir / s.new).mkdir()


def _drop_files_and_summary(m: dict, s: Store) -> None:
    m["files"] = {}
    (s.dir / s.new / "summary.csv").unlink()


def _delete(relative: str) -> Callable[[Store], None]:
    def damage(s: Store) -> None:
        (s.dir / relative.format(new=s.new)).unlink()
    return damage


def _unpublishable(m: dict, s: Store) -> None:
    m["publishable"] = False
    m["diagnostics"]["failed"] = ["ess 12 < 400 (fuzz)"]


HISTORY = ("history", "{model}", "--runs", "runs")
NO_OP = ("update", "{model}", "--ledger", "{ledger}", "--as-of", AS_OF, "--runs", "runs")
BRIEF = ("brief", "{model}", "--runs", "runs", "--out", "out", "--format", "html")
SKIPPED = "warning: skipped a damaged run: "
SKIPPED_BY_UPDATE = "warning: skipped in the run store: "


@dataclass(frozen=True)
class Damage:
    """Damage to the store, the command run over it, and what it must say."""

    name: str
    damage: Callable[[Store], None]
    args: tuple[str, ...] = HISTORY
    code: int = 0
    expect: tuple[str, ...] = ()
    """Fragments of stderr; ``{dir}``, ``{old}`` and ``{new}`` are the store's."""
    valid: tuple[str, ...] = ("old",)
    """The runs `history` still lists."""
    locked: bool = False
    """Whether another update holds the store's lock while the command runs."""


STORE_CASES = [
    # history: the damaged run is reported and skipped, the other listed (exit 0)
    Damage("manifest files is a list",
           _edit_manifest(lambda m, s: m.update(files=list(m["files"].values()))),
           expect=(SKIPPED + "{dir}/{new}/manifest.json: files:",)),
    Damage("manifest files entries are strings",
           _edit_manifest(lambda m, s: m.update(files={k: v["sha256"]
                                                       for k, v in m["files"].items()})),
           expect=(SKIPPED + "{dir}/{new}/manifest.json: files",)),
    Damage("manifest lists no files and summary.csv deleted",
           _edit_manifest(_drop_files_and_summary), expect=(SKIPPED + "{dir}/{new}",)),
    Damage("manifest truncated", lambda s: _manifest_bytes(
        (s.dir / s.new / "manifest.json").read_bytes()[:200])(s),
        expect=(SKIPPED + "{dir}/{new}/manifest.json: ",)),
    Damage("manifest not an object", _manifest_bytes(b'["run_id", "files"]'),
           expect=(SKIPPED + "{dir}/{new}/manifest.json: ",)),
    Damage("previous_run_id out of the store",
           _edit_manifest(lambda m, s: m.update(previous_run_id="../../x")),
           expect=(SKIPPED + "{dir}/{new}/manifest.json: previous_run_id: ",)),
    Damage("run folder is a file", _run_a_file, expect=(SKIPPED + "{dir}/{new}",)),
    Damage("run folder is empty", _run_empty, expect=(SKIPPED + "{dir}/{new}: no manifest.json",)),
    Damage("LATEST not UTF-8", _latest(b"\xff\xfe\x80\n"), valid=("old", "new"),
           expect=(SKIPPED + "{dir}/LATEST: ",)),
    Damage("LATEST a folder", _latest_a_folder, valid=("old", "new"),
           expect=(SKIPPED + "{dir}/LATEST: ",)),
    # update with the inputs of the latest run: nothing to do, the damage reported (exit 0)
    Damage("LATEST out of the store", _latest(b"../../x\n"), args=NO_OP,
           expect=(SKIPPED_BY_UPDATE + "{dir}/LATEST: ",)),
    Damage("LATEST a link to /etc/passwd", _latest_to_passwd, args=NO_OP,
           expect=(SKIPPED_BY_UPDATE + "{dir}/LATEST: is a symbolic link (not followed)",)),
    # the other exit codes
    Damage("brief of a run whose summary.csv is gone", _delete("{new}/summary.csv"),
           args=(*BRIEF, "--run", "{new}"), code=2,
           expect=("error: {dir}: no run '{new}'", "--run {new}: the run is damaged",
                   "{dir}/{new}/summary.csv: is missing")),
    Damage("latest run failed its diagnostics", _edit_manifest(_unpublishable), args=NO_OP,
           code=3, expect=("error: the inputs equal those of run {new}, which failed its "
                           "diagnostics", "ess 12 < 400 (fuzz)")),
    Damage("another update holds the lock", lambda s: None,
           args=(*NO_OP, "--lock-timeout", "0"), code=75, locked=True,
           expect=("error: {dir}: another update holds the lock", "{dir}/.lock: still held")),
]


@pytest.mark.parametrize("case", STORE_CASES, ids=[c.name for c in STORE_CASES])
def test_a_damaged_run_store_is_reported(case: Damage, pristine: Pristine,
                                         tmp_path: Path) -> None:
    from filelock import FileLock

    store = Store(tmp_path / "runs", pristine.old, pristine.new)
    shutil.copytree(pristine.runs, store.runs, symlinks=True)
    case.damage(store)
    before = listing(store.runs)
    values = {"model": str(MODEL), "ledger": str(LEDGER), "old": store.old, "new": store.new,
              "dir": f"runs/{NAME}"}
    args = [a.format(**values) for a in case.args]
    if case.locked:
        with FileLock(store.dir / ".lock"):  # another update, in this process
            ran = forecast(args, tmp_path)
    else:
        ran = forecast(args, tmp_path)
    check(ran, case.code, [e.format(**values) for e in case.expect])
    assert listing(store.runs) == before, "the store is left as it was"
    assert not (tmp_path / "out").exists(), "no brief of a damaged run"
    for line in PASSWD_LINES:
        assert line not in ran.out + ran.err, "a file out of the store was shown"
    if case.args == HISTORY:
        shown = {r for r in ("old", "new") if getattr(store, r) in ran.out}
        assert shown == set(case.valid), str(ran)
    if case.args == NO_OP and case.code == 0:
        assert ran.out.startswith("unchanged: "), str(ran)


# --------------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    name: str
    args: tuple[str, ...]
    expect: tuple[str, ...]
    code: int = 2
    setup: Callable[[Path], None] = field(default=lambda folder: None)


def _a_file(folder: Path) -> None:
    (folder / "afile").write_text("not a folder")


UPDATE = ("update", "{model}", "--ledger", "{ledger}", "--runs", "runs")
OPTION_CASES = [
    Option("--lock-timeout nan", (*UPDATE, "--as-of", AS_OF, "--lock-timeout", "nan"),
           ("Invalid value for '--lock-timeout'", "'nan' is not a finite number of seconds")),
    Option("--lock-timeout -1", (*UPDATE, "--as-of", AS_OF, "--lock-timeout", "-1"),
           ("Invalid value for '--lock-timeout'", "-1.0 is not in the range x>=0")),
    Option("--seed -1", (*UPDATE, "--as-of", AS_OF, "--seed", "-1"),
           ("Invalid value for '--seed'", "-1 is not in the range x>=0")),
    Option("--particles 10", (*UPDATE, "--as-of", AS_OF, "--particles", "10"),
           ("Invalid value for '--particles'", "10 is not in the range x>=500")),
    Option("score --bins 0", ("score", "{model}", "--questions", "{questions}", "--bins", "0"),
           ("Invalid value for '--bins'", "0 is not in the range x>=1")),
    Option("--runs under a file", (*UPDATE[:-1], "afile/runs", "--as-of", AS_OF),
           ("error: afile/runs/afghan_caliphate: not a run store folder",
            "afile/runs/afghan_caliphate: is under a file, not in a folder"), setup=_a_file),
    Option("--as-of not a date", (*UPDATE, "--as-of", "next tuesday"),
           ("error: bad as-of date", "as_of: 'next tuesday' is not a date")),
    Option("--as-of 1500-01-01", (*UPDATE, "--as-of", "1500-01-01"),
           ("error: bad as-of date",
            "as_of: the date 1500-01-01 is outside 1900-01-01 to 2100-12-31")),
]


@pytest.mark.parametrize("case", OPTION_CASES, ids=[c.name for c in OPTION_CASES])
def test_a_bad_option_is_refused(case: Option, tmp_path: Path) -> None:
    case.setup(tmp_path)
    before = listing(tmp_path)
    values = {"model": str(MODEL), "ledger": str(LEDGER),
              "questions": str(CORPUS / "questions" / "_base.csv")}
    ran = forecast([a.format(**values) for a in case.args], tmp_path)
    check(ran, case.code, case.expect)
    assert listing(tmp_path) == before, "nothing written"


# --------------------------------------------------------------------------------------------
# the count
# --------------------------------------------------------------------------------------------


def test_the_docstring_counts_the_corpus() -> None:
    counts = {"model files": len(MODEL_CASES),
              "evidence ledgers": len(LEDGER_CASES) + len(LEDGER_NOT_FILES),
              "questions files": len(QUESTION_CASES), "damaged run stores": len(STORE_CASES),
              "bad command-line options": len(OPTION_CASES)}
    doc = " ".join((__doc__ or "").split())
    for what, count in counts.items():
        assert f"{count} {what}" in doc, (what, count)
    assert f"The corpus, {sum(counts.values())} cases" in doc
    assert sum(counts.values()) >= 110
