"""The schema of the model language: pydantic models of a ``models/*.yaml`` file.

Use :func:`forecast.model.load.load_spec` to read a file; these classes check the *shape* of each
element (unknown keys, types, vocabulary), and :mod:`forecast.model.checks` the rules that need
the whole model (parents, states, rows, claims). Every model forbids unknown keys.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapSerializer,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

if TYPE_CHECKING:  # imported where used: reading a model needs neither
    import networkx as nx
    import pandas as pd

from forecast._dates import DATE_RANGE as _DATE_RANGE
from forecast.errors import did_you_mean
from forecast.model import persistence, priors
from forecast.network.limits import MAX_CPT_ENTRIES
from forecast.provenance import stable_hash

__all__ = [
    "DATE_RANGE",
    "MAX_CLAIMS",
    "MAX_CPT_ENTRIES",
    "MAX_MODEL_CPT_ENTRIES",
    "MAX_NODES",
    "MAX_PSEUDO_COUNT",
    "MAX_STATES",
    "MAX_WINDOW_DAYS",
    "MAX_WINDOW_MONTHS",
    "Broken",
    "Claim",
    "Cpt",
    "Definition",
    "Effect",
    "Link",
    "Logit",
    "ModelInfo",
    "ModelSpec",
    "Node",
    "NoisyOr",
    "ProbabilityField",
    "Row",
    "Source",
    "Table",
    "Window",
    "cpt_entries",
    "format_path",
]

# --------------------------------------------------------------------------------------------
# limits: what a model file may hold, checked before anything is built from it
# --------------------------------------------------------------------------------------------

MAX_NODES = 1_000
"""Most nodes a model may have (the flagship has 22)."""

MAX_STATES = 100
"""Most states a node may have (the flagship's have at most 3)."""

MAX_CLAIMS = 1_000
"""Most claims a model may quote (the flagship quotes 18)."""


MAX_MODEL_CPT_ENTRIES = 5_000_000
"""Most entries all CPTs of a model may have together. Each parameter value fills at least one
entry, so this also bounds the model's total parameter count."""

MAX_WINDOW_MONTHS = 1_200
"""Longest event window in months (100 years)."""

MAX_WINDOW_DAYS = 36_525
"""Longest event window in days (100 years)."""

MAX_PSEUDO_COUNT = 1e6
"""Largest pseudo-count of a table row's ``counts``."""

DATE_RANGE = _DATE_RANGE
"""The dates a model file may name (a source's date, an event's ``complete_from``): the range
of every date the package reads (:data:`forecast._dates.DATE_RANGE`)."""


def cpt_entries(card: int, parent_cards: Iterable[int], limit: int | None = None) -> int:
    """Entries of a CPT: `card` times the product of `parent_cards`.

    Parameters
    ----------
    card : int
        The node's number of states.
    parent_cards : iterable of int
        Its parents' numbers of states.
    limit : int, optional
        Stop multiplying once the product exceeds this (the result is then only known to be
        larger), so that a node with thousands of parents costs nothing.

    Returns
    -------
    int
    """
    total = card
    for c in parent_cards:
        total *= c
        if limit is not None and total > limit:
            break
    return total


def format_path(path: tuple[Any, ...]) -> str:
    """Write a key path as ``nodes.x.cpt.logit.effects[0].strength``.

    A key with a character that does not print (a newline, a tab) is shown as its repr, so a
    problem stays on one line.
    """
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            text = str(part)
            text = text if text.isprintable() else repr(text)
            out += f".{text}" if out else text
    return out


class Invalid(ValueError):
    """A value that fails a check of the schema, with a hint on how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# matched with fullmatch: "$" would also match before a trailing newline
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MODEL_NAME = re.compile(r"[a-z0-9_]+")
_CLAIM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_BOOL_HINT = 'YAML reads unquoted yes/no/on/off/true/false as booleans; quote it, e.g. "yes"'


def _shown(value: str) -> str:
    """`value` quoted for a message (repr: a trailing newline shows), shortened."""
    return repr(value) if len(value) <= 60 else repr(value[:57]) + "..."


def _date_form(value: Any) -> Any:
    """A date is written as one (YAML reads ``2015-08-24`` as a date), not a number or a time."""
    if isinstance(value, dt.datetime):
        raise Invalid(f"expected a date, got the date and time {value.isoformat(' ')}",
                      "write the date only, as YYYY-MM-DD")
    if isinstance(value, bool | int | float):
        raise Invalid(f"expected a date, got {value!r}", "write dates as YYYY-MM-DD")
    return value


def _in_date_range(value: dt.date) -> dt.date:
    lo, hi = DATE_RANGE
    if not lo <= value <= hi:
        raise Invalid(f"the date {value.isoformat()} is outside {lo.isoformat()} to "
                      f"{hi.isoformat()}", "check the year; write dates as YYYY-MM-DD")
    return value


ModelDate = Annotated[dt.date, BeforeValidator(_date_form), AfterValidator(_in_date_range)]
"""A date of a model file: within :data:`DATE_RANGE`."""


def _pseudo_count(value: float) -> float:
    if not math.isfinite(value) or not 0 < value <= MAX_PSEUDO_COUNT:
        raise Invalid(f"a pseudo-count must be a finite number > 0 and at most "
                      f"{MAX_PSEUDO_COUNT:,.0f}, got {value!r}",
                      "e.g. counts: {low: 3, high: 1}; for a fixed distribution use "
                      "probabilities: {...}")
    return value


PseudoCount = Annotated[float, AfterValidator(_pseudo_count)]
"""A table row's pseudo-count: finite, > 0, at most :data:`MAX_PSEUDO_COUNT`."""


def _text_check(kind: str, pattern: re.Pattern[str], rule: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise Invalid(f"{kind} {value} was read as a boolean, not text", _BOOL_HINT)
        if not isinstance(value, str):
            raise Invalid(f"{kind} must be text, got {value!r}", rule)
        if not pattern.fullmatch(value):
            raise Invalid(f"{kind} {_shown(value)} is not valid", rule)
        return value

    return check


_IDENT_RULE = "use letters, digits and underscores, starting with a letter"
StateName = Annotated[str, BeforeValidator(_text_check("state name", _IDENT, _IDENT_RULE))]
NodeName = Annotated[str, BeforeValidator(_text_check("node name", _IDENT, _IDENT_RULE))]
ClaimId = Annotated[
    str,
    BeforeValidator(
        _text_check("claim id", _CLAIM_ID, "use letters, digits, '_', '.', '-', e.g. C12 or P13a")
    ),
]


def _as_list(value: Any) -> Any:
    """Accept a single item where a list is expected."""
    return [value] if isinstance(value, str | int | float) else value


class Broken:
    """Stands in for an element that failed the schema, so later checks can skip it.

    Only found in the partial nodes built to keep checking a file that has schema problems
    (those problems are already listed); never in a valid :class:`ModelSpec`.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @property
    def parent(self) -> str | None:
        """The raw ``parent`` of a broken effect or link, if it is text."""
        parent = self.raw.get("parent") if isinstance(self.raw, Mapping) else None
        return parent if isinstance(parent, str) else None


def _paragraphs(value: Any) -> Any:
    items = _as_list(value)
    if isinstance(items, list) and any(isinstance(v, bool) for v in items):
        raise Invalid("a paragraph number must be a whole number >= 1, not true/false")
    return items


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hint_for_key: ClassVar[Mapping[str, str]] = {}
    """Hints for particular unknown keys (beyond "did you mean")."""


class _Justified(_Model):
    """An element that may cite claims and state an assumption."""

    claims: Annotated[list[ClaimId], BeforeValidator(_as_list)] = []
    assumption: str | None = None

    @property
    def justified(self) -> bool:
        """Whether it cites a claim or states an assumption."""
        return bool(self.claims) or bool(self.assumption and self.assumption.strip())


# --------------------------------------------------------------------------------------------
# model, source, claims, definitions
# --------------------------------------------------------------------------------------------


class Source(_Model):
    """The document the claims come from.

    ``file`` is a plain-text copy of it (relative to the model file's folder, else to the
    working folder), against which ``forecast validate`` checks every claim's quote;
    ``first_paragraph`` is how the paragraph counted as 1 begins (to skip a headline and
    by-line).
    """

    title: str
    publisher: str | None = None
    date: ModelDate | None = None
    author: str | None = None
    url: str | None = None
    file: str | None = None
    first_paragraph: str | None = None


def _check_persistence(value: Any) -> Any:
    persistence.persistence_range(value)  # the form; raises PriorError (a ValueError) with a hint
    return value


PersistenceValue = Annotated[Any, BeforeValidator(_check_persistence)]
"""How long a condition's state lasts: a word (``stable``), ``none``, or ``{half_life_months:
[lo, hi]}`` (see :mod:`forecast.model.persistence`)."""


class Persistence(_Justified):
    """A condition's persistence prior, optionally with claims and an assumption (long form)."""

    prior: PersistenceValue
    hint_for_key: ClassVar[Mapping[str, str]] = {
        "half_life_months": "put the form under prior: {prior: {half_life_months: [lo, hi]}}",
    }

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return {"prior": value}
        if value and set(value) <= {"half_life_months"}:
            return {"prior": dict(value)}
        return value

    @property
    def memoryless(self) -> bool:
        """Whether the condition keeps no memory from one step to the next (``none``)."""
        return persistence.is_memoryless(self.prior)


DOUBT_WEIGHT = 0.0
"""The package's default weight of the loose component (none: the words' priors as given)."""


class Doubt(_Justified):
    """``model.time.doubt:`` how far a long record may overrule the words' probabilities.

    Over time every probability prior (a probability word, a table row, a noisy-OR link, a
    persistence, a source's reliability) is the mixture ``(1 − w) × the word's prior + w ×
    the same mean held loosely`` (``Beta(2m, 2(1 − m))``, ``Dirichlet(k × mean)``: a flat
    prior's concentration; :func:`forecast.inference.space.vague`): a *robust* prior
    (Schmidli et al., 2014). Every prior mean stays where the article put it. While the
    record agrees with the word the word rules; where the record contradicts it for long
    enough, the loose part lets the record win, where the word's band alone would hold the
    parameter however long the record. Effects' strengths are not mixed. ``0`` (the default)
    keeps the words' priors as they are.

    Use it where the record is complete in both directions: a record that only ever holds
    occurrences (``nonoccurrence: false``) teaches a loosened rate upward. On the flagship
    (six such events) a weight of 0.2 raised the 2025Q2 headline from 0.39 to 0.42, so the
    flagship keeps the default.
    """

    weight: Annotated[float, Field(ge=0.0, le=0.5)] = DOUBT_WEIGHT
    assumption: str | None = (
        "The package default: the words' priors as the model states them.")


class TimeInfo(_Model):
    """The ``model.time:`` section: the model's time step, default persistence and doubt.

    A condition persists from step to step with the persistence its node gives (``persistence:``)
    or, without one, this default; an event's CPT gives its probability over its window, turned
    into a per-step hazard (:mod:`forecast.model.time`). ``doubt`` makes the priors robust
    (:class:`Doubt`).
    """

    step: Literal["quarter", "month"] = "quarter"
    persistence: Persistence = Persistence(prior="stable", assumption=(
        "The package default when a model names no persistence: a condition's state has a "
        "half-life of two to five years."))
    doubt: Doubt = Doubt()


class ModelInfo(_Model):
    """The ``model:`` header.

    ``scenarios`` names the headline scenario nodes, in the order reports should feature them;
    each must be a node of the model (checked by :class:`ModelSpec`). ``time`` gives the time
    step and the default persistence of conditions.
    """

    name: Annotated[
        str,
        BeforeValidator(
            _text_check("model name", _MODEL_NAME, "use lower-case letters, digits and underscores")
        ),
    ]
    title: str
    description: str | None = None
    source: Source | None = None
    scenarios: Annotated[list[NodeName], BeforeValidator(_as_list)] = []
    time: TimeInfo = TimeInfo()


_QUOTE_RULE = 'e.g. quote: "one passage", or quote: ["first passage", "second passage"]'


def _quote(value: Any) -> Any:
    """A quote is non-empty text, or a non-empty list of non-empty texts (kept as given)."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise Invalid("the list of quotes is empty", _QUOTE_RULE)
    for item in items:
        if not isinstance(item, str):
            raise Invalid(f"a quote must be text, got {item!r}", _QUOTE_RULE)
        if not item.strip():
            raise Invalid("a quote must not be empty", _QUOTE_RULE)
    return value


class Claim(_Model):
    """A claim quoted verbatim from the source, with its paragraph number(s).

    ``quote`` is one passage, or a list of passages when the claim draws on several sentences
    or paragraphs; each passage must appear verbatim in one of the claim's paragraphs.
    """

    quote: Annotated[str | list[str], BeforeValidator(_quote)]
    paragraph: Annotated[list[PositiveInt], BeforeValidator(_paragraphs)] = Field(min_length=1)
    note: str | None = None

    @property
    def quotes(self) -> tuple[str, ...]:
        """The quoted passages, as a tuple (one item for a single quote)."""
        return (self.quote,) if isinstance(self.quote, str) else tuple(self.quote)


class Window(_Model):
    """How long an event has to happen, from the as-of date."""

    months: PositiveInt | None = None
    days: PositiveInt | None = None

    @field_validator("months")
    @classmethod
    def _months_bound(cls, value: int | None) -> int | None:
        if value is not None and value > MAX_WINDOW_MONTHS:
            raise Invalid(f"a window of {value:,} months is longer than 100 years",
                          f"give at most {MAX_WINDOW_MONTHS:,} months, e.g. window: {{months: 24}}")
        return value

    @field_validator("days")
    @classmethod
    def _days_bound(cls, value: int | None) -> int | None:
        if value is not None and value > MAX_WINDOW_DAYS:
            raise Invalid(f"a window of {value:,} days is longer than 100 years",
                          f"give at most {MAX_WINDOW_DAYS:,} days, e.g. window: {{days: 90}}")
        return value

    @model_validator(mode="after")
    def _one_unit(self) -> Window:
        if (self.months is None) == (self.days is None):
            raise Invalid("give exactly one of months or days", "e.g. window: {months: 24}")
        return self


class Definition(_Model):
    """What each state means and which public record resolves it.

    ``complete_from`` is the first day from which the record is complete: for an event, every
    closed step from then on in which the record holds no occurrence is observed as
    non-occurrence (its first state), unless ``nonoccurrence: false`` (a silence says nothing)
    or ``nonoccurrence: {detection: <probability>}`` (the record catches that share of the
    occurrences: a silence is weaker evidence, :class:`Silence`).
    """

    kind: Literal["condition", "event"]
    window: Window | None = None
    record: str | None = None
    complete_from: ModelDate | None = None
    nonoccurrence: bool | Silence = True
    states: dict[StateName, str]


# --------------------------------------------------------------------------------------------
# CPT forms
# --------------------------------------------------------------------------------------------


def _check_probability(value: Any) -> Any:
    priors.check_probability_prior(value)  # raises PriorError (a ValueError) with a hint
    return value


ProbabilityValue = Annotated[Any, BeforeValidator(_check_probability)]
"""A probability prior in its short form: word, number, {beta: ...} or {between: ...}."""


class Silence(_Justified):
    """``nonoccurrence: {detection: ..., assumption: ...}``: a record that misses occurrences.

    ``detection`` is the share of the event's occurrences its record catches, a probability
    prior (an estimative word, ``{between: [lo, hi]}``, ``{beta: [a, b]}`` or a number). A closed
    step without a row then has likelihood 1 on "did not happen" and ``1 − detection`` on each
    other state (:func:`forecast.evidence.steps.timeline`).
    """

    detection: ProbabilityValue


_Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


def _low_high(value: tuple[float, float]) -> tuple[float, float]:
    if not value[0] < value[1]:
        raise Invalid(f"the range [{value[0]:g}, {value[1]:g}] needs low < high",
                      "write [low, high], e.g. [0.5, 4]: the 5% and 95% points")
    return value


class Counts(_Justified):
    """``counts:`` on a node: a series counted every time step whose rate depends on the node.

    A ledger row with a ``count`` (ISIS-claimed attacks in a quarter, say) is then evidence
    about the node's state in the step of its date: Poisson (or negative binomial) with the rate
    of that state. ``rates`` gives, for every state, the 90% range ``[low, high]`` of the
    expected count *per step* of the model (``model.time.step``); each becomes a log-normal
    prior on a rate parameter ``rate.<node>=<state>``, shared by every step, so the record
    teaches the rates as it teaches the CPTs. ``negbin`` adds over-dispersion (variance
    ``μ + μ²/φ``) with ``dispersion`` the 90% range of φ (default 1–50). Like every prior, the
    ranges cite claims or state an assumption.
    """

    family: Literal["poisson", "negbin"] = "poisson"
    rates: dict[StateName, Annotated[tuple[_Positive, _Positive], AfterValidator(_low_high)]]
    dispersion: Annotated[tuple[_Positive, _Positive], AfterValidator(_low_high)] | None = None

    @model_validator(mode="after")
    def _dispersion_for_negbin(self) -> Counts:
        if self.dispersion is not None and self.family != "negbin":
            raise Invalid("dispersion is a parameter of the negative binomial only",
                          "write family: negbin, or remove dispersion:")
        return self


class ProbabilityField(_Justified):
    """A probability prior, optionally with claims and an assumption (long form)."""

    prior: ProbabilityValue
    hint_for_key: ClassVar[Mapping[str, str]] = {
        "beta": "put the form under prior: {prior: {beta: [a, b]}, claims: [...]}",
        "between": "put the form under prior: {prior: {between: [lo, hi]}, claims: [...]}",
    }

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return {"prior": value}
        if value and set(value) <= {"beta", "between"}:
            return {"prior": dict(value)}
        return value

    def distribution(self) -> priors.ProbabilityPrior | priors.FixedValue:
        """The prior distribution."""
        return priors.probability_prior(self.prior)


def _row_prior(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A row's ``prior``: an ordering (text, its form checked here) or words by state."""
    if isinstance(value, str):
        priors.ordering(value)  # raises PriorError (a ValueError) with a hint
        return value
    return handler(value)


def _row_prior_dump(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    return value if isinstance(value, str) else handler(value)


if TYPE_CHECKING:
    RowPrior = dict[str, Any] | str
else:
    RowPrior = Annotated[dict[StateName, ProbabilityValue], WrapValidator(_row_prior),
                         WrapSerializer(_row_prior_dump)]
"""A table row's worded prior: ``{state: P, ...}`` or an ordering ``"most likely a, then b"``.

Validated as a mapping of states to probability priors unless it is text (then an ordering),
so that a mistake inside the mapping is reported at its own key."""


class Row(_Justified):
    """One row of a table: the distribution of the node for one parent configuration.

    ``prior`` is the row in words (:func:`forecast.model.priors.row_prior`): on a binary node
    one state's probability (``{yes: unlikely}``); on a larger node a word for every state, or
    for all but one, which takes the rest (``{collapse: unlikely, stalemate: likely}``), or an
    ordering of every state (``"most likely stalemate, then collapse, then victory"``), each a
    Dirichlet over the states. ``probabilities`` are fixed; ``counts`` are a Dirichlet's
    pseudo-counts.
    """

    when: dict[NodeName, StateName] = {}
    prior: RowPrior | None = None
    probabilities: dict[StateName, float] | None = None
    counts: dict[StateName, PseudoCount] | None = None

    @model_validator(mode="after")
    def _one_value(self) -> Row:
        given = [k for k in ("prior", "probabilities", "counts") if getattr(self, k) is not None]
        if len(given) != 1:
            raise Invalid(
                "a row needs exactly one of prior, probabilities, counts"
                + (f" (found {', '.join(given)})" if given else ""),
                "e.g. prior: {yes: unlikely}, or counts: {low: 3, high: 1}",
            )
        return self

    @property
    def value_kind(self) -> Literal["prior", "probabilities", "counts"]:
        """Which of the three row forms is used."""
        return (
            "prior"
            if self.prior is not None
            else ("probabilities" if self.probabilities is not None else "counts")
        )


class Table(_Justified):
    """A CPT written row by row (any node; the only form for non-binary nodes)."""

    rows: list[Row] = Field(min_length=1)


class Effect(_Justified):
    """A shift of the outcome's log-odds when a parent is in a given state."""

    parent: NodeName
    state: StateName | None = None
    direction: Literal["raises", "lowers"]
    strength: str | None = None
    odds_ratio: tuple[float, float] | None = None
    log_odds: float | None = None

    @field_validator("strength")
    @classmethod
    def _known_strength(cls, value: str | None) -> str | None:
        if value is not None:
            priors.strength_word(value)
        return value

    def distribution(self) -> priors.EffectPrior | priors.FixedValue:
        """The prior on the log-odds shift (raises PriorError if inconsistent)."""
        return priors.effect_prior(self.direction, self.strength, self.odds_ratio, self.log_odds)


class Logit(_Model):
    """A binary node whose log-odds is a baseline plus one shift per parent state."""

    outcome: StateName | None = None
    baseline: ProbabilityField
    effects: list[Effect] = []


class Link(_Justified):
    """A noisy-OR cause: P(outcome | only this parent active)."""

    parent: NodeName
    state: Annotated[list[StateName], BeforeValidator(_as_list)] | None = None
    prior: ProbabilityValue

    def distribution(self) -> priors.ProbabilityPrior | priors.FixedValue:
        """The prior on the link probability."""
        return priors.probability_prior(self.prior)


class NoisyOr(_Model):
    """A binary node that fires if the leak or any active parent's link fires."""

    outcome: StateName | None = None
    leak: ProbabilityField
    links: list[Link] = []


Form = Literal["table", "logit", "noisy_or"]


class Cpt(_Model):
    """The conditional probability table, in exactly one of three forms."""

    table: Table | None = None
    logit: Logit | None = None
    noisy_or: NoisyOr | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Cpt:
        given = [k for k in ("table", "logit", "noisy_or") if getattr(self, k) is not None]
        if len(given) != 1:
            raise Invalid(
                "a cpt needs exactly one form: table, logit or noisy_or"
                + (f" (found {', '.join(given)})" if given else ""),
                "table works for any node; logit and noisy_or for binary nodes",
            )
        return self

    @property
    def form(self) -> Form:
        """The form used."""
        return (
            "table"
            if self.table is not None
            else ("logit" if self.logit is not None else "noisy_or")
        )

    @property
    def body(self) -> Table | Logit | NoisyOr:
        """The form's contents."""
        return getattr(self, self.form)


class Node(_Model):
    """A variable of the network: its states, meaning, parents and CPT."""

    label: str
    description: str | None = None
    states: list[StateName]
    parents: Annotated[list[NodeName], BeforeValidator(_as_list)] = []
    definition: Definition
    persistence: Persistence | None = None
    counts: Counts | None = None
    cpt: Cpt

    def elements(self) -> list[tuple[tuple[str | int, ...], _Justified]]:
        """Every part of the CPT that can cite claims, with its key path below ``cpt``."""
        body = self.cpt.body if self.cpt is not None else None
        out: list[tuple[tuple[str | int, ...], Any]] = []
        if isinstance(body, Table):
            out.append((("table",), body))
            out += [(("table", "rows", i), r) for i, r in enumerate(body.rows)]
        elif isinstance(body, Logit):
            out.append((("logit", "baseline"), body.baseline))
            out += [(("logit", "effects", i), e) for i, e in enumerate(body.effects)]
        elif isinstance(body, NoisyOr):
            out.append((("noisy_or", "leak"), body.leak))
            out += [(("noisy_or", "links", i), x) for i, x in enumerate(body.links)]
        return [(path, el) for path, el in out if isinstance(el, _Justified)]

    def n_params(self) -> int:
        """Number of parameters (uncertain or fixed) the CPT has."""
        body = self.cpt.body
        if isinstance(body, Table):
            return len(body.rows)
        return 1 + len(body.effects if isinstance(body, Logit) else body.links)


# --------------------------------------------------------------------------------------------
# the whole file
# --------------------------------------------------------------------------------------------


def _scenario_problems(data: Any) -> list[InitErrorDetails]:
    """Located errors for ``model.scenarios`` entries that name no node or repeat one."""
    if not isinstance(data, Mapping):
        return []
    model, nodes = data.get("model"), data.get("nodes")
    if not isinstance(model, Mapping) or not isinstance(nodes, Mapping):
        return []
    scenarios = model.get("scenarios")
    scenarios = [scenarios] if isinstance(scenarios, str) else scenarios
    if not isinstance(scenarios, list):
        return []
    names = [n for n in nodes if isinstance(n, str)]
    known = set(names)
    out: list[InitErrorDetails] = []
    seen: set[str] = set()
    for i, name in enumerate(scenarios):
        if not isinstance(name, str) or not _IDENT.fullmatch(name):
            continue  # the field's own check reports it
        if name not in known:
            # a suggestion costs time in proportion to the nodes: the first few only
            suggestion = did_you_mean(name, names) if len(out) < 5 else None
            error = Invalid(
                f"scenario '{name}' is not a node of the model",
                suggestion or "list node names under model.scenarios",
            )
        elif name in seen:
            error = Invalid(f"scenario '{name}' is listed twice", "list each node once")
        else:
            seen.add(name)
            continue
        out.append(
            InitErrorDetails(
                type="value_error", loc=("model", "scenarios", i), input=name, ctx={"error": error}
            )
        )
    return out


class ModelSpec(_Model):
    """A validated model file: header, claims and nodes (in file order).

    Build it with :func:`forecast.model.load.load_spec` or :func:`forecast.model.load.parse_spec`,
    which also run the checks that need the whole model and fill in defaults (``outcome``, effect
    and link ``state``), so every such field of a loaded spec is explicit.
    """

    model: ModelInfo
    claims: dict[ClaimId, Claim] = {}
    nodes: dict[NodeName, Node] = Field(min_length=1)

    @model_validator(mode="wrap")
    @classmethod
    def _scenarios_exist(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> ModelSpec:
        """Every ``model.scenarios`` entry names a node, once.

        Checked on the raw data and reported together with any other schema problem, so a
        file with several mistakes still gets every one listed.
        """
        found = _scenario_problems(data)
        try:
            spec = handler(data)
        except ValidationError as exc:
            if not found:
                raise
            try:
                merged = ValidationError.from_exception_data(
                    exc.title,
                    [*exc.errors(), *found],  # type: ignore[list-item]
                )
            except (KeyError, TypeError, ValueError):  # an error type that cannot be rebuilt
                raise exc from None
            raise merged from None
        if found:
            raise ValidationError.from_exception_data(cls.__name__, found)
        return spec

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the validated model's canonical JSON: the ``model_hash`` of its forecasts.

        Two specs with the same content have the same fingerprint, whatever the file's layout,
        comments or key order; a forecast, a run or an attribution checks it to know it was made
        from this model.
        """
        return stable_hash(self.model_dump(mode="json"))

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The headline scenario nodes named in ``model.scenarios`` (may be empty)."""
        return tuple(self.model.scenarios)

    @property
    def node_names(self) -> tuple[str, ...]:
        """Nodes in file order."""
        return tuple(self.nodes)

    @property
    def states(self) -> dict[str, tuple[str, ...]]:
        """Each node's states, in order."""
        return {n: tuple(node.states) for n, node in self.nodes.items()}

    @property
    def parents(self) -> dict[str, tuple[str, ...]]:
        """Each node's parents, in the order of its CPT's axes."""
        return {n: tuple(node.parents) for n, node in self.nodes.items()}

    def card(self, node: str) -> int:
        """Number of states of `node`."""
        return len(self.nodes[node].states)

    def network_structure(self) -> nx.DiGraph:
        """The DAG (edges parent → child), nodes in file order.

        Node attributes: ``label``, ``states`` (tuple), ``kind``, ``form``.
        """
        import networkx as nx

        g: nx.DiGraph[str] = nx.DiGraph()
        for name, node in self.nodes.items():
            g.add_node(
                name,
                label=node.label,
                states=tuple(node.states),
                kind=node.definition.kind,
                form=node.cpt.form,
            )
        g.add_edges_from((p, n) for n, node in self.nodes.items() for p in node.parents)
        return g

    def claim_usage(self) -> dict[str, list[str]]:
        """Map each claim id to the elements citing it (paths like ``nodes.x.cpt.table``).

        Every claim of the file is a key, in file order; an uncited claim maps to ``[]``.
        """
        usage: dict[str, list[str]] = {cid: [] for cid in self.claims}
        for name, node in self.nodes.items():
            for path, element in node.elements():
                for cid in element.claims:
                    usage.setdefault(cid, []).append(format_path(("nodes", name, "cpt", *path)))
            for cid in node.persistence.claims if node.persistence is not None else ():
                usage.setdefault(cid, []).append(format_path(("nodes", name, "persistence")))
        return usage

    def summary(self) -> pd.DataFrame:
        """One row per node: node, label, states, kind, form, parents, n_params, claims.

        ``states``, ``parents`` and ``claims`` are comma-separated text.
        """
        rows = []
        for name, node in self.nodes.items():
            cited = dict.fromkeys(c for _, el in node.elements() for c in el.claims)
            rows.append(
                {
                    "node": name,
                    "label": node.label,
                    "states": ", ".join(node.states),
                    "kind": node.definition.kind,
                    "form": node.cpt.form,
                    "parents": ", ".join(node.parents),
                    "n_params": node.n_params(),
                    "claims": ", ".join(cited),
                }
            )
        columns = ["node", "label", "states", "kind", "form", "parents", "n_params", "claims"]
        import pandas as pd

        return pd.DataFrame(rows, columns=columns)
