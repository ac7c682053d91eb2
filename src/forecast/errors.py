"""One exception family for every mistake a user can make.

Each error carries a list of :class:`Problem` objects, each naming where the problem is
(file, line, field), what is wrong and, when we know, how to fix it. Validators collect every
problem they find before raising, so a user fixes a file in one pass, not one error per run.
The CLI prints ``str(error)`` and exits 2 (75 for :class:`LockTimeout`, which is transient);
nothing here ever needs a traceback to be understood.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass

__all__ = [
    "EvidenceError",
    "ForecastError",
    "InferenceError",
    "LockTimeout",
    "Problem",
    "RunStoreError",
    "SpecError",
    "did_you_mean",
    "sorted_by_line",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, and where it is.

    The location is structured, never a string to take apart: `file` and `line` say where in
    an input the problem is, `field` what part of it (a key path, a column, an option, a
    parameter). Code that sorts, groups or renames problems reads these fields;
    :attr:`where` renders them for people.

    Parameters
    ----------
    message : str
        What is wrong, in the user's terms.
    hint : str, optional
        How to fix it.
    file : str, optional
        The input the problem is in: a file's path as given (``"models/x.yaml"``,
        ``"<string>"`` for text given directly), a run folder, or the name of an input that has
        no file (a model or network, ``"ledger"`` for a ledger frame).
    line : int, optional
        The 1-based line of `file` (the first line of a CSV record or YAML node).
    field : str, optional
        The part of the input: a key path (``"nodes.war.states"``), a column (``"grade"``),
        a command-line option (``"--as-of"``), a parameter (``"cpts['x']"``), or a place in an
        object given in Python (``"case 3 report 2 (Dawn)"``).

    Examples
    --------
    >>> p = Problem("unknown node 'wr'", hint="did you mean 'war'?", file="ledger.csv",
    ...             line=3, field="node")
    >>> p.line
    3
    >>> print(p)
    ledger.csv:3 node: unknown node 'wr' (did you mean 'war'?)
    >>> print(Problem("must be at least 1", field="steps"))
    steps: must be at least 1
    """

    message: str
    _: KW_ONLY
    hint: str | None = None
    file: str | None = None
    line: int | None = None
    field: str | None = None

    def __post_init__(self) -> None:
        if self.line is not None:  # a numpy integer from a frame's "line" column is fine
            object.__setattr__(self, "line", operator.index(self.line))

    @property
    def where(self) -> str:
        """The location for display: ``file:line field``, ``file: field``, ``file`` or ``field``.

        For people only: read :attr:`file`, :attr:`line` and :attr:`field` in code.
        """
        place = self.file or ""
        if self.line is not None:
            place = f"{place}:{self.line}" if place else f"line {self.line}"
        if not self.field:
            return place
        if not place:
            return self.field
        return f"{place} {self.field}" if self.line is not None else f"{place}: {self.field}"

    def __str__(self) -> str:
        where = self.where
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} ({self.hint})" if self.hint else text


def sorted_by_line(problems: Iterable[Problem]) -> list[Problem]:
    """`problems` in the order of their lines; those without a line first, in the order given.

    Parameters
    ----------
    problems : iterable of Problem
        Problems of one file, as a validator collected them (e.g. header, then each record's
        cells, then checks across records).

    Returns
    -------
    list of Problem
        Sorted by :attr:`Problem.line` (stable).
    """
    return sorted(problems, key=lambda p: 0 if p.line is None else p.line)


EXIT_UNEXPECTED = 1
"""Exit code of an unexpected failure, a write that failed included (a scheduler may retry)."""
EXIT_BAD_INPUT = 2
"""Exit code of bad input: retrying cannot help until the input is fixed."""
EXIT_DIAGNOSTICS = 3
"""Exit code of a forecast that must not be trusted: failed diagnostics, an unpublishable latest
run, a sampler over its time budget, evidence older than allowed under ``--strict-freshness``."""
EXIT_LOCKED = 75
"""Exit code when another update held the lock (``EX_TEMPFAIL`` of sysexits.h): retry later."""


class ForecastError(Exception):
    """Base class of every error `forecast` raises for a user's mistake.

    The CLI prints it as one message and exits with its :attr:`exit_code`.

    Parameters
    ----------
    summary : str
        One line saying what failed.
    problems : sequence of Problem, optional
        Every individual problem found; printed one per line under the summary.
    """

    exit_code = EXIT_BAD_INPUT
    """What the CLI exits with on this error."""

    def __init__(self, summary: str, problems: Sequence[Problem] = ()) -> None:
        self.summary = summary
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        if not self.problems:
            return self.summary
        lines = [self.summary, *(f"  - {p}" for p in self.problems)]
        return "\n".join(lines)


class SpecError(ForecastError):
    """A model file or network definition is invalid."""


class EvidenceError(ForecastError):
    """Evidence (findings, likelihoods or a ledger) does not fit the model."""


class InferenceError(ForecastError):
    """Inference cannot be carried out, e.g. the evidence is impossible under the model."""


class RunStoreError(ForecastError):
    """A stored run is missing, corrupt or does not match its provenance."""


class LockTimeout(RunStoreError):
    """Another update held the run store's lock too long: transient, retry later.

    The CLI exits 75 (``EX_TEMPFAIL``) on it, so a scheduler retries instead of alerting.
    """

    exit_code = EXIT_LOCKED


class WriteFailure(RunStoreError):
    """Publishing failed for want of space or an I/O error; the previous run is intact.

    Not the user's input (exit 1, not 2): the same update succeeds once the disk has room.
    """

    exit_code = EXIT_UNEXPECTED


class Untrusted(ForecastError):
    """The job ran but its answer must not be taken as a forecast (exit 3).

    Raised when a sampler runs past its wall-time budget and when ``--strict-freshness`` finds
    the ledger's newest row too old; nothing is published.
    """

    exit_code = EXIT_DIAGNOSTICS


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Return ``"did you mean 'x'?"`` for the closest of `choices`, or None if none is close.

    Parameters
    ----------
    word : str
        What the user wrote.
    choices : iterable of str
        What would have been valid.

    Returns
    -------
    str or None
        A hint for the error message.
    """
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
