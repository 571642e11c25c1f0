"""The links of a cumulative link model, P(Y <= j | x) = F(threshold_j - x'beta), R `ordinal::clm`'s five.

Everything the engine needs from a link, on the log scale so that nothing underflows where the likelihood is
finite: log F(u), log(1 - F(u)) and log f(u) at every bound, log(F(u_upper) - F(u_lower)) for a category with two
bounds, f'/f (for the observed information and the Jeffreys penalty's gradient), and F^-1 (start values).

| link | F(u) |
|---|---|
| logit | 1 / (1 + e^-u) |
| probit | Phi(u) |
| cloglog | 1 - exp(-e^u) |
| loglog | exp(-e^-u) |
| cauchit | 1/2 + atan(u) / pi |
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..errors import UpgradingError

LOG_PI = math.log(math.pi)
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def log1mexp(d: np.ndarray) -> np.ndarray:
    """log(1 - e^d), NaN for d > 0: log1p(-e^d), or log(-expm1(d)) where d > -log 2 (close thresholds), the
    branch accurate there (Maechler 2012), evaluated only where it is used."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.log1p(-np.exp(d))
        near = d > -np.log(2.0)
        out[near] = np.log(-np.expm1(d[near]))
    return out


class Link:
    """A cumulative link: F, its density and their logarithms. Subclasses give `logs` and `score`."""

    name = ""
    #: The standard deviation of the latent distribution F (None where it has none: the Cauchy). Slopes of two
    #: links are on scales that differ by about the ratio of their latent SDs (Amemiya 1981: a logit slope is
    #: about pi / sqrt(3) = 1.81 times the probit one).
    latent_sd: float | None = None

    def logs(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """log F(u), log(1 - F(u)), log f(u)."""
        raise NotImplementedError

    def score(self, u: np.ndarray) -> np.ndarray:
        """f'(u) / f(u); 0 at u = +-inf, where it only ever multiplies a density ratio of 0."""
        finite = np.isfinite(u)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(finite, self._score(np.where(finite, u, 0.0)), 0.0)

    def _score(self, u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def quantile(self, p: np.ndarray) -> np.ndarray:
        """F^-1(p)."""
        raise NotImplementedError

    def log_gap(self, upper: tuple, lower: tuple, u_upper: np.ndarray, u_lower: np.ndarray) -> np.ndarray:
        """log(F(u_upper) - F(u_lower)) from the `logs` at both bounds, without cancellation: as a difference of
        lower-tail probabilities where the category lies below the median, of upper-tail ones above it."""
        (log_F1, log_S1, _), (log_F0, log_S0, _) = upper, lower
        with np.errstate(invalid="ignore"):
            below = log_F1 + log1mexp(log_F0 - log_F1)
            above = log_S0 + log1mexp(log_S1 - log_S0)
            return np.where(u_lower + u_upper < 0, below, above)

    def log_probability(self, u_upper: np.ndarray, u_lower: np.ndarray) -> np.ndarray:
        """log(F(u_upper) - F(u_lower)): `log_gap` of the `logs` at both bounds (a link may compute only the parts
        that `log_gap` reads, with the same operations)."""
        return self.log_gap(self.logs(u_upper), self.logs(u_lower), u_upper, u_lower)

    def __repr__(self) -> str:
        return f"<link {self.name}>"


class Logit(Link):
    name = "logit"
    latent_sd = math.pi / math.sqrt(3)

    def logs(self, u):
        a = -np.abs(u)  # one exp and one log1p per bound: l = log(1 + e^-|u|)
        l = np.log1p(np.exp(a))
        return np.minimum(u, 0.0) - l, np.minimum(-u, 0.0) - l, a - 2 * l

    def log_gap(self, upper, lower, u_upper, u_lower):
        # F(u1) - F(u0) = F(u1) (1 - F(u0)) (1 - e^(u0 - u1)), which cancels in neither tail
        with np.errstate(invalid="ignore"):
            return upper[0] + lower[1] + log1mexp(u_lower - u_upper)

    def log_probability(self, u_upper, u_lower):
        # log F(u1) and log(1 - F(u0)) = log F(-u0) only, each as `logs` computes it
        with np.errstate(invalid="ignore"):
            return self.log_cdf(u_upper) + self.log_cdf(-u_lower) + log1mexp(u_lower - u_upper)

    @staticmethod
    def log_cdf(u):
        """log F(u) = -log(1 + e^-u), with one exp and one log1p."""
        return np.minimum(u, 0.0) - np.log1p(np.exp(-np.abs(u)))

    def score(self, u):
        return -np.tanh(u / 2)  # 1 - 2F; -1 and 1 at +-inf

    def quantile(self, p):
        return special.logit(p)


class Probit(Link):
    name = "probit"
    latent_sd = 1.0

    def logs(self, u):
        return special.log_ndtr(u), special.log_ndtr(-u), -0.5 * u * u - HALF_LOG_2PI

    def _score(self, u):
        return -u

    def quantile(self, p):
        return special.ndtri(p)


class Cloglog(Link):
    """F(u) = 1 - exp(-e^u): the complementary log-log (a Gumbel for the minimum)."""

    name = "cloglog"
    latent_sd = math.pi / math.sqrt(6)

    def logs(self, u):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(u)
            return log1mexp(-e), -e, np.where(np.isfinite(u), u - e, -np.inf)

    def _score(self, u):
        return 1 - np.exp(u)

    def quantile(self, p):
        return np.log(-np.log1p(-p))


class Loglog(Link):
    """F(u) = exp(-e^-u): the log-log (a Gumbel for the maximum)."""

    name = "loglog"
    latent_sd = math.pi / math.sqrt(6)

    def logs(self, u):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(-u)
            return -e, log1mexp(-e), np.where(np.isfinite(u), -u - e, -np.inf)

    def _score(self, u):
        return np.exp(-u) - 1

    def quantile(self, p):
        return -np.log(-np.log(p))


class Cauchit(Link):
    """F(u) = 1/2 + atan(u) / pi, as atan2(1, -u) / pi, accurate in the lower tail too."""

    name = "cauchit"

    def logs(self, u):
        with np.errstate(divide="ignore"):
            return np.log(np.arctan2(1.0, -u)) - LOG_PI, np.log(np.arctan2(1.0, u)) - LOG_PI, -LOG_PI - np.log1p(u * u)

    def _score(self, u):
        return -2 * u / (1 + u * u)

    def quantile(self, p):
        return np.tan(np.pi * (p - 0.5))


LINKS = {link.name: link for link in (Logit(), Probit(), Cloglog(), Loglog(), Cauchit())}
LOGIT = LINKS["logit"]


def get_link(name: str | Link) -> Link:
    """The link named `name` (logit, probit, cloglog, loglog, cauchit), or `name` itself if it is one."""
    if isinstance(name, Link):
        return name
    try:
        return LINKS[name]
    except (KeyError, TypeError):
        raise UpgradingError(f"unknown link {name!r}; the links are {', '.join(LINKS)} (R's clm)") from None
