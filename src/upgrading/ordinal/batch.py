"""The problems the engine fits at once: R data sets of one shape (a `Batch`) and Gaussian priors on them.

A single fit is a batch of one. Every array has a leading problem axis: R data sets with the same number of
cases, predictors and outcome levels (the replicates of a simulation, the leave-one-out refits of one data set
as case weights, the constrained fits of a profile) are fitted together by the same iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .design import Design
from .links import LOGIT, Link


@dataclass
class Batch:
    """R data sets of one shape and model: outcome codes (R, n) in 0..K-1, predictors (R, n, p), weights (R, n),
    and the link (`links.Link`, default logit)."""

    y: np.ndarray
    X: np.ndarray
    weights: np.ndarray
    n_levels: int
    names: list[str]
    link: Link = LOGIT
    Z: np.ndarray | None = None  # nominal effects' columns (R, n, m), one coefficient per threshold each

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=int)
        self.X = np.asarray(self.X, dtype=float)
        self.weights = np.asarray(self.weights, dtype=float)
        R, n, p = self.X.shape
        if self.y.shape != (R, n) or self.weights.shape != (R, n) or len(self.names) != p:
            raise ValueError("y and weights must be (R, n) and names length p for X of shape (R, n, p)")
        if self.y.min() < 0 or self.y.max() >= self.n_levels:
            raise ValueError(f"outcome codes must lie in 0..{self.n_levels - 1}")
        if self.Z is not None:
            self.Z = np.asarray(self.Z, dtype=float)
            if self.Z.shape[:2] != (R, n):
                raise ValueError("Z must be (R, n, m) for X of shape (R, n, p)")
        thresholds = np.arange(self.n_levels - 1)
        self.upper = (self.y[..., None] == thresholds).astype(float)  # (R, n, K-1): the case's upper threshold
        self.lower = (self.y[..., None] - 1 == thresholds).astype(float)

    @property
    def size(self) -> int:
        return len(self.y)

    @property
    def n_nominal(self) -> int:
        """Columns with nominal (threshold-specific) effects, m."""
        return 0 if self.Z is None else self.Z.shape[2]

    @property
    def n_thresholds(self) -> int:
        """Threshold parameters: (K - 1) thresholds and (K - 1) m nominal effects, column by column."""
        return (self.n_levels - 1) * (1 + self.n_nominal)

    @property
    def n_params(self) -> int:
        return self.n_thresholds + self.X.shape[2]

    def take(self, index) -> Batch:
        """The problems `index` (slices of the checked arrays; nothing is recomputed); the batch itself for all of
        them in order (a batch is never changed in place)."""
        if _everything(index, self.size):
            return self
        part = object.__new__(Batch)
        part.n_levels, part.names, part.link = self.n_levels, self.names, self.link
        part.Z = None if self.Z is None else self.Z[index]
        for name in ("y", "X", "weights", "upper", "lower"):
            setattr(part, name, getattr(self, name)[index])
        return part

    def under(self, link: Link) -> Batch:
        """The same problems under another link."""
        part = self.take(slice(None))
        part.link = link
        return part

    def design(self, r: int) -> Design:
        """Problem r as a Design."""
        return Design(
            self.y[r].copy(),
            self.X[r].copy(),
            self.weights[r].copy(),
            list(range(self.n_levels)),
            list(self.names),
            "y",
            "y ~ " + " + ".join(self.names),
        )

    @classmethod
    def of(cls, design: Design, copies: int = 1, weights: np.ndarray | None = None, link: Link = LOGIT) -> Batch:
        """`copies` problems on one design; `weights` (copies, n) gives each its own case weights."""
        w = np.tile(design.weights, (copies, 1)) if weights is None else np.asarray(weights, dtype=float)
        y, X = np.tile(design.y, (copies, 1)), np.tile(design.X, (copies, 1, 1))
        Z = None if design.Z is None else np.tile(design.Z, (copies, 1, 1))
        return cls(y, X, w, design.n_levels, list(design.names), link, Z)

    @classmethod
    def stack(cls, designs: list[Design], link: Link = LOGIT) -> Batch:
        """Designs of one shape (same n, predictors and number of outcome levels) as one batch."""
        first = designs[0]
        return cls(
            np.stack([d.y for d in designs]),
            np.stack([d.X for d in designs]),
            np.stack([d.weights for d in designs]),
            first.n_levels,
            list(first.names),
            link,
            None if first.Z is None else np.stack([d.Z for d in designs]),
        )


@dataclass
class Prior:
    """A Gaussian prior (quadratic penalty) on theta: precision (q, q) or (R, q, q), mean (q,) or (R, q).

    Zero rows and columns leave parameters unpenalised, so a prior on some coefficients only is natural.
    """

    precision: np.ndarray
    mean: np.ndarray | float = 0.0

    def take(self, index) -> Prior:
        P, m = np.asarray(self.precision), np.asarray(self.mean, dtype=float)
        return Prior(P[index] if P.ndim == 3 else P, m[index] if m.ndim == 2 else m)

    def terms(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log density up to a constant (R,), its gradient (R, q) and Hessian (R, q, q) at theta (R, q)."""
        P = np.broadcast_to(np.asarray(self.precision, dtype=float), (len(theta),) + (theta.shape[1],) * 2)
        diff = theta - np.asarray(self.mean, dtype=float)
        Pd = np.einsum("rqs,rs->rq", P, diff)
        return -0.5 * np.einsum("rq,rq->r", diff, Pd), -Pd, -P


def _everything(index, size: int) -> bool:
    """Whether an index array selects every one of `size` problems, in order."""
    return isinstance(index, np.ndarray) and index.shape == (size,) and bool(np.all(index == np.arange(size)))
