"""A case: the findings about one period or region, as the inference layer takes them.

Wherever a case is expected, a plain mapping works too (:meth:`Case.of`): ``{node: state}`` is
a hard finding, ``{node: [λ, ...]}`` a likelihood vector, so
``posterior_forecast(spec, {"reconciliation": "failed"})`` is a forecast given one finding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real

from forecast.errors import EvidenceError, Problem
from forecast.evidence.observations import Report

__all__ = ["Case"]


@dataclass(frozen=True)
class Case:
    """Findings about one case (a period, a region).

    Parameters
    ----------
    evidence : mapping of str to str
        Hard findings ``{node: state}``.
    soft : mapping of str to sequence of float
        Fixed likelihood vectors ``{node: λ}``.
    reports : sequence of Report
        Sources' reports, weighed by each source's learned reliability.
    counts : mapping of str to int
        Counts observed through a :class:`~forecast.evidence.observations.CountModel` of the node.

    Raises
    ------
    EvidenceError
        If a field is not of its type (every problem listed).

    Examples
    --------
    >>> case = Case({"reconciliation": "failed"}, soft={"conflict": [0.2, 0.3, 0.9]})
    >>> Case.of({"reconciliation": "failed", "conflict": [0.2, 0.3, 0.9]}) == case
    True
    """

    evidence: Mapping[str, str] = field(default_factory=dict)
    soft: Mapping[str, Sequence[float]] = field(default_factory=dict)
    reports: Sequence[Report] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = _check_mapping(self.evidence, "evidence", _is_state, "a state name (str)")
        problems += _check_mapping(self.soft, "soft", _is_likelihood,
                                   "a sequence of numbers, one per state")
        problems += _check_mapping(self.counts, "counts", _is_count, "a count (int)")
        if isinstance(self.reports, str | bytes | Mapping) or not isinstance(self.reports,
                                                                               Sequence):
            problems.append(Problem(f"expected a sequence of Report, got "
                                    f"{type(self.reports).__name__}", field="reports"))
        else:
            problems += [Problem(f"expected a Report, got {type(r).__name__}",
                                 hint="Report(node, state, source, grade)", field=f"reports[{i}]")
                         for i, r in enumerate(self.reports) if not isinstance(r, Report)]
        if problems:
            raise EvidenceError("not a valid case", problems)

    @classmethod
    def of(cls, value: Case | Mapping[str, str | Sequence[float]] | None) -> Case:
        """A case from whatever a caller passed where a case is expected.

        Parameters
        ----------
        value : Case, mapping or None
            A :class:`Case` (returned as is); None (no findings); or a plain mapping whose
            values are states (hard findings) or sequences of numbers (likelihood vectors).

        Returns
        -------
        Case

        Raises
        ------
        EvidenceError
            If `value` is of another type, or a value of the mapping is neither a state nor
            a likelihood vector.
        """
        if value is None:
            return cls()
        if isinstance(value, Case):
            return value
        if not isinstance(value, Mapping):
            raise EvidenceError(f"expected a Case or a mapping {{node: state}}, got "
                                f"{type(value).__name__}", [Problem(
                                    f"{value!r:.60}", field="case",
                                    hint='e.g. {"reconciliation": "failed"} or '
                                    'Case({"reconciliation": "failed"}, soft={...})')])
        hard = {k: v for k, v in value.items() if isinstance(v, str)}
        soft = {k: v for k, v in value.items() if not isinstance(v, str)}
        problems = _check_mapping(soft, "case", _is_likelihood,
                                  "a state (str) or a likelihood vector (numbers)")
        if problems:
            raise EvidenceError("not a valid case", problems)
        return cls(hard, soft)

    @property
    def empty(self) -> bool:
        """Whether the case holds no finding at all."""
        return not (self.evidence or self.soft or self.reports or self.counts)

    def to_json(self) -> dict:
        """The case as plain JSON-ready data (for hashing and provenance)."""
        return {"evidence": dict(self.evidence),
                "soft": {k: [float(x) for x in v] for k, v in self.soft.items()},
                "reports": [vars(r) for r in self.reports],
                "counts": {k: int(v) for k, v in self.counts.items()}}


def _check_mapping(value: object, name: str, ok: Callable[[object], bool], expected: str
                   ) -> list[Problem]:
    """Problems of `value` as a mapping of node names to values accepted by `ok`."""
    if not isinstance(value, Mapping):
        return [Problem(f"expected a mapping {{node: value}}, got {type(value).__name__}",
                        field=name)]
    problems = []
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(Problem("a node name must be a str", field=f"{name}[{key!r}]"))
        elif not ok(item):
            problems.append(Problem(f"expected {expected}, got {item!r:.60}",
                                    field=f"{name}[{key!r}]"))
    return problems


def _is_state(value: object) -> bool:
    return isinstance(value, str)


def _is_count(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_likelihood(value: object) -> bool:
    if isinstance(value, str | bytes | Mapping):
        return False
    try:
        items = list(value)  # type: ignore[call-overload]
    except TypeError:
        return False
    return all(isinstance(x, Real) and not isinstance(x, bool) for x in items)
