"""One exception family for every mistake a user can make.

Each error carries a list of :class:`Problem` objects, each naming where the problem is
(file, line, field), what is wrong and, when we know, how to fix it. Validators collect every
problem they find before raising, so a user fixes a file in one pass, not one error per run.
The CLI prints ``str(error)`` and exits 2 (75 for :class:`LockTimeout`, which is transient);
nothing here ever needs a traceback to be understood.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "EvidenceError",
    "ForecastError",
    "InferenceError",
    "LockTimeout",
    "Problem",
    "RunStoreError",
    "SpecError",
    "did_you_mean",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input.

    Parameters
    ----------
    where : str
        Location, as specific as we know it: ``"models/x.yaml:12 nodes.war.states"``.
    message : str
        What is wrong, in the user's terms.
    hint : str, optional
        How to fix it.
    """

    where: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ForecastError(Exception):
    """Base class of every error `forecast` raises for a user's mistake.

    Parameters
    ----------
    summary : str
        One line saying what failed.
    problems : sequence of Problem, optional
        Every individual problem found; printed one per line under the summary.
    """

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
