"""Prior distributions of CPT parameters: Beta, signed LogNormal, Dirichlet and fixed values.

:mod:`forecast.model.priors` builds these from words; :mod:`forecast.model.parameters` attaches
one to each named parameter. Each has ``mean``, ``ppf(u)`` (quantile function, used for
quasi-Monte Carlo), ``sample(seed, n)`` (numpy; `seed` an int or a ``numpy.random.Generator``),
``describe()`` (a short text) and ``shape`` (``()`` or ``(k,)``). numpy, scipy and PyMC are
imported by the methods that compute, not by this module: reading and validating a model builds
these objects and must stay light (``forecast validate``'s cold start).

PyMC
----
Every prior creates its own PyMC variable, ``prior.to_pymc(name)`` inside a ``pm.Model``
(PyMC is imported then, so importing this module stays light), and exposes ``family`` and
``params()``:

==================  ================  ==========================================================
family              params()          ``to_pymc(name)``
==================  ================  ==========================================================
beta                alpha, beta       ``pm.Beta(name, alpha, beta)``
signed_lognormal    mu, sigma, sign   ``sign × LogNormal(mu, sigma)`` (a ``pm.CustomDist`` whose
                                      transform keeps the sign: ``lowers`` stays negative)
dirichlet           a                 ``pm.Dirichlet(name, a, dims=dims)``
fixed               value             the value, a constant
==================  ================  ==========================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DirichletPrior", "EffectPrior", "FixedValue", "Prior", "ProbabilityPrior"]

Dims = str | tuple[str, ...] | None
"""PyMC dimension names of a variable (its model's coordinates)."""


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

    def sample(self, seed: int | np.random.Generator, n: int) -> np.ndarray:
        """Draw `n` values, shape ``(n,)`` (`seed`: an int, or a generator to advance)."""
        import numpy as np  # when sampling, not when a model is read

        return np.random.default_rng(seed).beta(self.a, self.b, size=n)

    def to_pymc(self, name: str, *, dims: Dims = None) -> Any:
        """``pm.Beta(name, alpha=a, beta=b)`` in the current PyMC model."""
        import pymc as pm

        return pm.Beta(name, alpha=self.a, beta=self.b, dims=dims)

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

    def sample(self, seed: int | np.random.Generator, n: int) -> np.ndarray:
        """Draw `n` values, shape ``(n,)`` (`seed`: an int, or a generator to advance)."""
        import numpy as np  # when sampling, not when a model is read

        return self.sign * np.random.default_rng(seed).lognormal(self.mu, self.sigma, size=n)

    def to_pymc(self, name: str, *, dims: Dims = None) -> Any:
        """``sign × LogNormal(mu, sigma)`` in the current PyMC model, sign-constrained.

        A ``pm.CustomDist`` whose transform keeps its sign while sampling: ``log`` for a
        positive prior, the interval ``(-inf, 0)`` for a negative one.
        """
        import pymc as pm
        from pymc.distributions.transforms import Interval, log

        sign = float(self.sign)

        def signed(mu: Any, sigma: Any, size: Any) -> Any:
            return sign * pm.LogNormal.dist(mu, sigma, size=size)

        transform = log if sign > 0 else Interval(None, 0.0)
        return pm.CustomDist(name, self.mu, self.sigma, dist=signed, transform=transform,
                             dims=dims)

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

    def sample(self, seed: int | np.random.Generator, n: int) -> np.ndarray:
        """Draw `n` rows, shape ``(n, k)`` (`seed`: an int, or a generator to advance)."""
        import numpy as np  # when sampling, not when a model is read

        return np.random.default_rng(seed).dirichlet(self.alpha, size=n)

    def to_pymc(self, name: str, *, dims: Dims = None) -> Any:
        """``pm.Dirichlet(name, a=alpha)`` in the current PyMC model (`dims`: the states)."""
        import numpy as np
        import pymc as pm

        return pm.Dirichlet(name, a=np.asarray(self.alpha, dtype=float), dims=dims)

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

        value = np.asarray(self.value, dtype=float)
        return value if value.ndim else float(value)

    def params(self) -> dict[str, float | tuple[float, ...]]:
        """Parameters: ``value``."""
        return {"value": self.value}

    def ppf(self, u: Any) -> np.ndarray:
        """The value, broadcast to the shape of `u` (uniforms are ignored)."""
        import numpy as np  # when used: reading a model needs no numpy

        return np.broadcast_to(np.asarray(self.value, dtype=float), np.shape(u)).copy()

    def sample(self, seed: int | np.random.Generator, n: int) -> np.ndarray:
        """The value repeated `n` times, shape ``(n, *shape)``."""
        import numpy as np  # when used: reading a model needs no numpy

        return np.broadcast_to(np.asarray(self.value, dtype=float), (n, *self.shape)).copy()

    def to_pymc(self, name: str, *, dims: Dims = None) -> np.ndarray:
        """The value as a constant array: a fixed quantity is no random variable."""
        import numpy as np

        return np.asarray(self.value, dtype=float)

    def describe(self) -> str:
        """Short text, e.g. ``"fixed 0.3"``."""
        if self.shape:
            text = "fixed (" + ", ".join(f"{v:.3g}" for v in self.value) + ")"  # type: ignore[union-attr]
        else:
            text = f"fixed {self.value:.3g}"
        return f"{text}: {self.label}" if self.label else text


Prior = ProbabilityPrior | EffectPrior | DirichletPrior | FixedValue
"""Any prior a parameter can carry."""
