"""Prior distributions of CPT parameters: Beta, signed LogNormal, Dirichlet and fixed values.

:mod:`forecast.model.priors` builds these from words; :mod:`forecast.model.cpts` attaches one to
each named parameter. Each has ``mean``, ``ppf(u)`` (quantile function, used for quasi-Monte Carlo),
``sample(rng, n)`` (numpy), ``describe()`` (a short text) and ``shape`` (``()`` or ``(k,)``).
numpy and scipy are imported by the methods that compute, not by this module: reading and
validating a model builds these objects and must stay light (``forecast validate``'s cold start).

Hook for PyMC
-------------
Every prior exposes ``family`` and ``params()``; the Bayesian engine (a later module) maps them
to PyMC variables without this module importing PyMC:

==================  ===========================================  ==============================
family              params()                                     PyMC
==================  ===========================================  ==============================
beta                alpha, beta                                  ``pm.Beta(name, **params)``
signed_lognormal    mu, sigma, sign                              ``sign * pm.LogNormal(mu, sigma)``
dirichlet           a                                            ``pm.Dirichlet(name, a=a)``
fixed               value                                        a constant
==================  ===========================================  ==============================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DirichletPrior", "EffectPrior", "FixedValue", "Prior", "ProbabilityPrior"]


@dataclass(frozen=True)
class ProbabilityPrior:
    """A ``Beta(a, b)`` prior on a probability.

    Parameters
    ----------
    a, b : float
        Beta shape parameters.
    label : str
        What the analyst wrote, e.g. ``"unlikely (20–45%)"``.
    """

    a: float
    b: float
    label: str = ""
    family: ClassVar[str] = "beta"
    shape: ClassVar[tuple[int, ...]] = ()

    @property
    def mean(self) -> float:
        """Prior mean ``a / (a + b)``."""
        return self.a / (self.a + self.b)

    def params(self) -> dict[str, float]:
        """Parameters as PyMC names them: ``alpha``, ``beta``."""
        return {"alpha": self.a, "beta": self.b}

    def ppf(self, u: Any) -> np.ndarray:
        """Quantile function, applied elementwise to uniforms `u`."""
        import numpy as np  # when sampling, not when a model is read
        from scipy import stats

        return np.asarray(stats.beta.ppf(u, self.a, self.b), dtype=float)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw `n` values, shape ``(n,)``."""
        return rng.beta(self.a, self.b, size=n)

    def describe(self) -> str:
        """Short text, e.g. ``"Beta(5.1, 17.3): unlikely (20–45%)"``."""
        text = f"Beta({self.a:.3g}, {self.b:.3g})"
        return f"{text}: {self.label}" if self.label else text


@dataclass(frozen=True)
class EffectPrior:
    """A sign-constrained prior on a log-odds shift: ``sign × LogNormal(mu, sigma)``.

    Parameters
    ----------
    mu, sigma : float
        Location and scale of the log of the effect's magnitude.
    sign : {1, -1}
        +1 for ``raises``, -1 for ``lowers``.
    label : str
        What the analyst wrote, e.g. ``"raises, moderate (odds ratio 2–4)"``.
    """

    mu: float
    sigma: float
    sign: int
    label: str = ""
    family: ClassVar[str] = "signed_lognormal"
    shape: ClassVar[tuple[int, ...]] = ()

    @property
    def mean(self) -> float:
        """Prior mean ``sign · exp(mu + sigma² / 2)``."""
        return self.sign * math.exp(self.mu + self.sigma**2 / 2)

    def params(self) -> dict[str, float]:
        """Parameters: ``mu``, ``sigma``, ``sign``."""
        return {"mu": self.mu, "sigma": self.sigma, "sign": float(self.sign)}

    def ppf(self, u: Any) -> np.ndarray:
        """Quantile function of the signed effect (increasing in `u`)."""
        import numpy as np  # when sampling, not when a model is read
        from scipy import special

        u = np.asarray(u, dtype=float)
        magnitude = np.exp(self.mu + self.sigma * special.ndtri(u if self.sign > 0 else 1 - u))
        return self.sign * magnitude

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw `n` values, shape ``(n,)``."""
        return self.sign * rng.lognormal(self.mu, self.sigma, size=n)

    def describe(self) -> str:
        """Short text, e.g. ``"+LogNormal(0.03, 0.21): raises, moderate (odds ratio 2–4)"``."""
        text = f"{'+' if self.sign > 0 else '−'}LogNormal({self.mu:.3g}, {self.sigma:.3g})"
        return f"{text}: {self.label}" if self.label else text


@dataclass(frozen=True)
class DirichletPrior:
    """A ``Dirichlet(alpha)`` prior on a whole distribution (one CPT row).

    Parameters
    ----------
    alpha : tuple of float
        Pseudo-counts, one per state, all > 0.
    label : str
        What the analyst wrote.
    """

    alpha: tuple[float, ...]
    label: str = ""
    family: ClassVar[str] = "dirichlet"

    @property
    def shape(self) -> tuple[int, ...]:
        """``(k,)``: one value per state."""
        return (len(self.alpha),)

    @property
    def mean(self) -> np.ndarray:
        """Prior mean ``alpha / sum(alpha)``."""
        import numpy as np  # when used: reading a model needs no numpy

        alpha = np.asarray(self.alpha, dtype=float)
        return alpha / alpha.sum()

    def params(self) -> dict[str, tuple[float, ...]]:
        """Parameters: ``a`` (the pseudo-counts)."""
        return {"a": self.alpha}

    def ppf(self, u: Any) -> np.ndarray:
        """Map uniforms of shape ``(..., k)`` to draws: normalised Gamma quantiles."""
        import numpy as np  # when sampling, not when a model is read
        from scipy import stats

        g = stats.gamma.ppf(np.asarray(u, dtype=float), np.asarray(self.alpha, dtype=float))
        return g / g.sum(axis=-1, keepdims=True)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw `n` rows, shape ``(n, k)``."""
        return rng.dirichlet(self.alpha, size=n)

    def describe(self) -> str:
        """Short text, e.g. ``"Dirichlet(7, 3)"``."""
        text = f"Dirichlet({', '.join(f'{a:.3g}' for a in self.alpha)})"
        return f"{text}: {self.label}" if self.label else text


@dataclass(frozen=True)
class FixedValue:
    """A quantity fixed by the analyst: a probability, a log-odds shift or a whole row.

    Parameters
    ----------
    value : float or tuple of float
        The value.
    label : str
        What the analyst wrote.
    """

    value: float | tuple[float, ...]
    label: str = ""
    family: ClassVar[str] = "fixed"

    @property
    def shape(self) -> tuple[int, ...]:
        """``()`` for a number, ``(k,)`` for a row."""
        import numpy as np  # when used: reading a model needs no numpy

        return np.shape(self.value)

    @property
    def mean(self) -> float | np.ndarray:
        """The value itself."""
        import numpy as np  # when used: reading a model needs no numpy

        return float(self.value) if not self.shape else np.asarray(self.value, dtype=float)

    def params(self) -> dict[str, float | tuple[float, ...]]:
        """Parameters: ``value``."""
        return {"value": self.value}

    def ppf(self, u: Any) -> np.ndarray:
        """The value, broadcast to the shape of `u` (uniforms are ignored)."""
        import numpy as np  # when used: reading a model needs no numpy

        return np.broadcast_to(np.asarray(self.value, dtype=float), np.shape(u)).copy()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The value repeated `n` times, shape ``(n, *shape)``."""
        import numpy as np  # when used: reading a model needs no numpy

        return np.broadcast_to(np.asarray(self.value, dtype=float), (n, *self.shape)).copy()

    def describe(self) -> str:
        """Short text, e.g. ``"fixed 0.3"``."""
        if self.shape:
            text = "fixed (" + ", ".join(f"{v:.3g}" for v in self.value) + ")"  # type: ignore[union-attr]
        else:
            text = f"fixed {self.value:.3g}"
        return f"{text}: {self.label}" if self.label else text


Prior = ProbabilityPrior | EffectPrior | DirichletPrior | FixedValue
"""Any prior a parameter can carry."""
