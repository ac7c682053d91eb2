"""A case: the findings about one period or region, as the inference layer takes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
    """

    evidence: Mapping[str, str] = field(default_factory=dict)
    soft: Mapping[str, Sequence[float]] = field(default_factory=dict)
    reports: Sequence[Report] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

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
