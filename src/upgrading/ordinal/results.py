"""The cumulative link model and its results, shaped like statsmodels: `CumulativeLink.from_formula(...).fit()`,
and `OrderedLogit`, its logit case.

A fit is a batch of one on the engine (`engine.newton`); separation is decided from the data
(`separation.directions`), profile intervals by `profile.profile_bounds`. Where this differs from statsmodels'
`OrderedModel`: R `clm`'s five links and nominal (threshold-specific) effects; R's threshold parameterisation
(the thresholds themselves, not log-increments); analytic derivatives and frequency weights; separated
maximum-likelihood estimates reported as +-inf with no standard error; an optional Jeffreys-prior penalty;
`conf_int()` is Wald and `profile_conf_int()` gives profile-likelihood intervals. Tables and the summary are in
`presentation`, predictions and marginal effects in `interpretation`.
"""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import UpgradingError
from . import bias_reduction, interpretation, presentation
from .batch import Batch, Prior
from .design import Design, ModelWarning, build_design, predictor_columns
from .engine import GRADIENT_TOL, MAX_ITER, PENALTIES, BatchFit, newton
from .likelihood import case_thresholds, loglik, probabilities
from .links import get_link
from .penalised import PENALISED_FLOOR_TOL, PENALISED_TOL, jeffreys_fit
from .presentation import METHOD_LABELS
from .profile import likelihood_ratios, profile_bounds
from .separation import Separation, directions, separation

FIT_METHODS = (*PENALTIES, "br")


class SeparationWarning(UserWarning):
    """Maximum likelihood does not exist for these data: some estimates are infinite."""


class CumulativeLink:
    """Cumulative link model, P(Y <= j | x) = F(threshold_j - x'beta), F the link's distribution (R's `clm`);
    with nominal effects, threshold_j(z) = threshold_j + z'gamma_j for the nominal terms' columns z."""

    def __init__(self, design: Design, link: str = "logit"):
        self.design = design
        self.link = get_link(link)
        self.problem = Batch.of(design, link=self.link)
        # what `from_formula` was given: marginal effects and the nominal test rebuild designs from it
        self.data: pd.DataFrame | None = None
        self.freq_weights = None
        self.aliased_rule = "raise"
        self.nominal: str | None = None

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: pd.DataFrame,
        freq_weights=None,
        aliased: str = "raise",
        link: str = "logit",
        nominal: str | None = None,
    ) -> CumulativeLink:
        """`outcome ~ predictors` in patsy syntax (treatment contrasts, no intercept: the thresholds are it).

        `aliased="drop"` leaves out predictors that cannot be estimated instead of refusing them (the results'
        `aliased` names each with its reason); `link`: logit, probit, cloglog, loglog or cauchit; `nominal`:
        `"~ term + ..."`, terms of the formula that get one coefficient per threshold (partial proportional odds).
        """
        model = cls(build_design(formula, data, freq_weights, aliased, nominal), link)
        model.data, model.freq_weights, model.aliased_rule, model.nominal = data, freq_weights, aliased, nominal
        return model

    @property
    def formula(self) -> str:
        return self.design.formula

    @property
    def predictors(self) -> list[str]:
        """The data columns the formula's predictors are made from."""
        return predictor_columns(self.design.formula, self.data)

    @property
    def exog_names(self) -> list[str]:
        return list(self.design.names)

    @property
    def engine_names(self) -> list[str]:
        """Every parameter in the engine's order: thresholds, nominal effects, slopes."""
        return self.design.threshold_names + self.design.nominal_parameter_names + self.design.names

    @property
    def param_names(self) -> list[str]:
        """Every parameter in the order of `params`: slopes, then thresholds (as statsmodels' OrderedModel), then
        nominal effects ('lower|upper.column')."""
        return self.design.names + self.design.threshold_names + self.design.nominal_parameter_names

    @cached_property
    def separation(self) -> Separation:
        """Which maximum-likelihood estimates are infinite (from the data: a linear program)."""
        return self._separation(None)

    def _separation(self, theta: np.ndarray | None) -> Separation:
        T = self.problem.n_thresholds
        names = [f"threshold {t}" for t in self.engine_names[:T]] + self.design.names
        return separation(directions(self.problem, None if theta is None else theta[None, :])[0], names)

    def _fit_bias_reduced(self, warn: bool) -> CumulativeLinkResults:
        jeffreys = jeffreys_fit(self.problem)
        theta, info, converged, iterations = bias_reduction.solve(self.problem, jeffreys.theta)
        ll = loglik(theta, self.problem, hessian=False)[0]
        fit = BatchFit(theta, ll, ll, np.zeros_like(theta), -info, converged, iterations)
        results = CumulativeLinkResults(self, fit, "br")
        if warn:
            results._warn()
        return results

    def fit(
        self,
        penalty: str | None = None,
        start: np.ndarray | None = None,
        warn: bool = True,
        prior: Prior | None = None,
        max_iter: int = MAX_ITER,
        restart: bool = True,
    ) -> CumulativeLinkResults:
        """Maximise the log-likelihood (`penalty=None`) or the Jeffreys-penalised log-likelihood
        (`penalty="jeffreys"`: a Firth-type penalty; Firth 1993, Kosmidis & Firth 2021), optionally with a
        Gaussian `prior` on theta = (thresholds, slopes); or solve the mean bias-reducing adjusted score
        equations (`penalty="br"`, Kosmidis 2014), which for this non-canonical link differ from the Jeffreys fit.

        `start` (thresholds then slopes) warm-starts the solver; a warm start that does not converge is retried
        from the default start (unless `restart=False`).
        """
        if penalty not in FIT_METHODS:
            raise UpgradingError(f"penalty must be None, 'jeffreys' or 'br', not {penalty!r}")
        if penalty is not None and self.design.Z is not None:
            raise UpgradingError(f"penalty={penalty!r} is not available with nominal effects: fit them by ML")
        if penalty == "br":
            if prior is not None:
                raise UpgradingError("mean bias reduction takes no prior")
            return self._fit_bias_reduced(warn)
        first = None if start is None else np.asarray(start, dtype=float)[None, :]
        tol, floor = (GRADIENT_TOL, None) if penalty is None else (PENALISED_TOL, PENALISED_FLOOR_TOL)
        if penalty == "jeffreys":  # under another link than the logit, the highest of several starts' maxima
            fit = jeffreys_fit(self.problem, prior, max_iter, tol, start=first)
        else:
            fit = newton(self.problem, penalty, start=first, prior=prior, max_iter=max_iter, tol=tol, floor_tol=floor)
        if start is not None and restart and not fit.converged[0]:
            fit = newton(self.problem, penalty, prior=prior, max_iter=max_iter, tol=tol, floor_tol=floor)
        results = CumulativeLinkResults(self, fit, penalty, prior)
        if penalty is None and prior is None:
            if "separation" not in self.__dict__:  # the fit's certificate spares the linear program
                self.__dict__["separation"] = self._separation(results.theta)
            results.separation = self.separation
        if warn:
            results._warn()
        return results


class OrderedLogit(CumulativeLink):
    """Proportional-odds (cumulative logit) model, logit P(Y <= j | x) = threshold_j - x'beta: the logit case."""

    def __init__(self, design: Design, link: str = "logit"):
        if get_link(link).name != "logit":
            raise UpgradingError(f"OrderedLogit is the logit case; for the {link} link use CumulativeLink")
        super().__init__(design, link)


class CumulativeLinkResults:
    """Estimates of a cumulative link model: params (slopes, thresholds, nominal effects), bse, cov_params(),
    conf_int(), profile_conf_int(), predict(), get_prediction(), get_margeff(), nominal_test(), tidy(), summary()."""

    def __init__(self, model: CumulativeLink, fit: BatchFit, penalty: str | None, prior: Prior | None = None):
        self.model = model
        self.design = model.design
        self.penalty = penalty
        self.prior = prior
        self.theta = fit.theta[0].copy()  # engine order: thresholds, then slopes
        self.llf = float(fit.loglik[0])
        self.objective = float(fit.objective[0])
        self.converged = bool(fit.converged[0])
        self.n_iter = int(fit.iterations[0])
        self._hessian = fit.hessian[0]
        self._profile_cache: dict = {}
        self._root_cache: dict = {}

    # -- the data's side ---------------------------------------------------------------------------------
    @cached_property
    def separation(self) -> Separation:
        """Whether maximum likelihood is separated on these data (a property of the data, not of this fit)."""
        return self.model.separation

    @property
    def aliased(self) -> dict[str, str]:
        """Predictors left out as not estimable (`aliased="drop"`), with the reason for each."""
        return dict(self.design.aliased)

    @property
    def method(self) -> str:
        return "ml" if self.penalty is None else self.penalty

    @property
    def link(self):
        return self.model.link

    @property
    def _n_thresholds(self) -> int:
        """Threshold parameters in the engine's order: thresholds and nominal effects."""
        return self.model.problem.n_thresholds

    @cached_property
    def diverging(self) -> np.ndarray:
        """Engine-ordered mask of the terms whose ML estimate is infinite (only for unpenalised fits)."""
        if self.penalty is not None or self.prior is not None or not self.separation.separated:
            return np.zeros(len(self.theta), bool)
        return np.array([v != 0 for v in self.separation.direction.values()])

    def _reorder(self, values: np.ndarray) -> np.ndarray:
        """Engine order (thresholds, slopes) to statsmodels order (slopes, thresholds)."""
        T = self._n_thresholds
        return np.concatenate([values[T:], values[:T]])

    # -- estimates ---------------------------------------------------------------------------------------
    @cached_property
    def invalid(self) -> str:
        """Why the fit means nothing ('' when it does): with nominal effects, thresholds that are not increasing at
        the reference (z = 0) or for some observed row, so that some probabilities would be negative (R: "not all
        thresholds are increasing: fit is invalid"). An invalid fit reports NaN, never numbers."""
        if self.design.Z is None:
            return ""
        rows = np.vstack([np.zeros((1, self.design.Z.shape[1])), self.design.Z[self.design.weights > 0]])
        thresholds = case_thresholds(self.theta[None], self.design.n_levels, rows[None])[0]
        if np.any(np.diff(thresholds, axis=1) <= 0):
            return "not all thresholds are increasing (cumulative probabilities cross): the fit is invalid"
        return ""

    @cached_property
    def params(self) -> pd.Series:
        """Every parameter: slopes, then thresholds; +-inf for a diverging ML estimate; NaN for an invalid fit."""
        theta = self.theta.copy()
        if self.invalid:
            theta[:] = np.nan
        if self.diverging.any():
            signs = np.array(list(self.separation.direction.values()))
            theta[self.diverging] = np.inf * signs[self.diverging]
        return pd.Series(self._reorder(theta), index=self.model.param_names, name="params")

    @property
    def slopes(self) -> pd.Series:
        return self.params.iloc[: len(self.design.names)]

    @property
    def thresholds(self) -> pd.Series:
        """The thresholds (and, with nominal effects, their threshold-specific coefficients)."""
        return self.params.iloc[len(self.design.names) :]

    @cached_property
    def _cov(self) -> np.ndarray:
        """Engine-ordered covariance: inverse observed information (ML; plus the prior's precision with a
        prior) or inverse expected information (Jeffreys penalty); NaN rows for diverging terms."""
        info = -self._hessian
        try:
            cov = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            cov = np.full_like(info, np.nan)
        cov[self.diverging, :] = np.nan
        cov[:, self.diverging] = np.nan
        if self.invalid:
            cov[:] = np.nan
        return cov

    @property
    def engine_cov(self) -> np.ndarray:
        """The covariance in the engine's order (thresholds, nominal effects, slopes), as `theta`."""
        return self._cov

    def cov_params(self) -> pd.DataFrame:
        order = np.r_[self._n_thresholds : len(self.theta), : self._n_thresholds]
        names = self.model.param_names
        return pd.DataFrame(self._cov[np.ix_(order, order)], index=names, columns=names)

    @cached_property
    def bse(self) -> pd.Series:
        return pd.Series(self._reorder(np.sqrt(np.diag(self._cov))), index=self.model.param_names, name="bse")

    @cached_property
    def tvalues(self) -> pd.Series:
        """Wald z statistics (statsmodels calls them tvalues for every model)."""
        return (self.params / self.bse).rename("tvalues")

    @cached_property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.tvalues)), index=self.params.index, name="pvalues")

    @cached_property
    def hessian_condition(self) -> float:
        """Condition number of the information matrix at the estimate (R's clm `condHess`)."""
        if self.diverging.any():  # separated: the information vanishes along the recession direction
            return np.inf
        eig = np.linalg.eigvalsh(-self._hessian)
        return float(eig.max() / eig.min()) if eig.min() > 0 else np.inf

    @property
    def penalised_llf(self) -> float | None:
        """The maximised penalised objective (log-likelihood + 0.5 log det I), for Jeffreys-penalised fits."""
        return self.objective if self.penalty == "jeffreys" else None

    @property
    def nobs(self) -> float:
        return float(self.design.weights.sum())

    @property
    def k_params(self) -> int:
        return len(self.theta)

    @property
    def df_model(self) -> int:
        """Number of slopes (as statsmodels: the thresholds play the constant's part)."""
        return len(self.design.names)

    @property
    def df_resid(self) -> float:
        return self.nobs - self.k_params

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * self.k_params

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * self.k_params

    # -- intervals ---------------------------------------------------------------------------------------
    def conf_int(self, alpha: float = 0.05, cols=None) -> pd.DataFrame:
        """Wald intervals of every parameter (columns 0 and 1, as statsmodels); `cols` selects parameters."""
        z = stats.norm.ppf(1 - alpha / 2)
        est, se = self.params, self.bse
        table = pd.DataFrame({0: est - z * se, 1: est + z * se})
        return table if cols is None else table.loc[list(cols)]

    def profile_conf_int(self, alpha: float = 0.05, cols=None) -> pd.DataFrame:
        """Profile (penalised) likelihood intervals (columns 0 and 1) of the slopes, or of `cols`; +-inf where
        the profile never drops far enough, NaN for a diverging ML estimate."""
        if self.penalty == "br":
            raise UpgradingError(
                "mean bias reduction has no objective function to profile; use conf_int() "
                "(Wald) or the Jeffreys-penalised fit's profile intervals"
            )
        cols = list(self.design.names) if cols is None else list(cols)
        self._profile(cols, alpha)
        return pd.DataFrame([self._profile_cache[(c, alpha)] for c in cols], index=cols, columns=[0, 1])

    def _profile(self, cols: list[str], alpha: float) -> None:
        engine_names = self.model.engine_names
        todo = [c for c in cols if (c, alpha) not in self._profile_cache]
        for c in [c for c in todo if self.diverging[engine_names.index(c)]]:
            self._profile_cache[(c, alpha)] = (np.nan, np.nan)
        todo = [c for c in todo if not self.diverging[engine_names.index(c)]]
        if not todo:
            return
        se = [self.bse[c] if np.isfinite(self.bse[c]) and self.bse[c] > 0 else 1.0 for c in todo]
        bounds = profile_bounds(
            self.model.problem,
            self.theta,
            self.objective,
            self.penalty,
            [engine_names.index(c) for c in todo],
            se,
            alpha,
            prior=self.prior,
        )
        for c, (low, high) in zip(todo, bounds):
            self._profile_cache[(c, alpha)] = (float(low), float(high))

    def interval_note(self, col: str, alpha: float = 0.05) -> str:
        """Why the profile interval of `col` has no number at an end ('' when it has both, or was not asked)."""
        low, high = self._profile_cache.get((col, alpha), (0.0, 0.0))
        if np.isnan(low) or np.isnan(high):
            if self.diverging[(self.model.engine_names).index(col)]:
                return "ML estimate infinite: no profile interval"
            return "profile interval end not found: no converged constrained fit crosses the cutoff"
        return ""

    def signed_root(self, col: str, values) -> np.ndarray:
        """Signed root of the (penalised) likelihood-ratio statistic for `col` = each of `values`:
        sign(estimate - v) sqrt(2 (objective at the fit - objective maximised with `col` fixed at v)).

        The statistic behind the profile interval: v lies inside the 1 - alpha interval exactly when |r(v)| is
        at most the normal quantile z(1 - alpha/2). NaN where the constrained fit does not converge or the ML
        estimate diverges. Computed by `profile.likelihood_ratios`, as for a batch of fits, once per column and
        values (a table that shows the same fit again, as `tidy` does, reads it back).
        """
        if self.penalty == "br":
            raise UpgradingError("mean bias reduction has no objective function: no likelihood-ratio statistic")
        values = np.atleast_1d(np.asarray(values, dtype=float))
        key = (col, values.tobytes())
        if key not in self._root_cache:
            self._root_cache[key] = self._signed_root(col, values)
        return self._root_cache[key].copy()

    def _signed_root(self, col: str, values: np.ndarray) -> np.ndarray:
        k = (self.model.engine_names).index(col)
        if self.diverging[k]:
            return np.full(len(values), np.nan)
        m = len(values)
        statistic, converged = likelihood_ratios(
            self.model.problem.take(np.zeros(m, int)),
            np.tile(self.theta, (m, 1)),
            np.full(m, self.objective),
            np.tile(-self._hessian, (m, 1, 1)),
            np.full(m, k),
            values,
            self.penalty,
            prior=self.prior.take(np.zeros(m, int)) if self.prior is not None else None,
        )
        return np.where(converged, np.sign(self.theta[k] - values) * np.sqrt(statistic), np.nan)

    def profile_pvalues(self, cols=None) -> pd.Series:
        """Two-sided (penalised) likelihood-ratio p-values for each slope (or `cols`) = 0: the test that goes
        with the profile interval (0 is outside the 1 - alpha interval exactly when p < alpha)."""
        cols = list(self.design.names) if cols is None else list(cols)
        roots = np.array([self.signed_root(c, 0.0)[0] for c in cols])
        return pd.Series(2 * stats.norm.sf(np.abs(roots)), index=cols, name="profile_pvalues")

    # -- prediction and presentation ----------------------------------------------------------------------
    def predict(self, exog: pd.DataFrame | None = None) -> pd.DataFrame:
        """Category probabilities for each row of `exog` (default: the estimation data)."""
        if self.invalid:
            raise UpgradingError(f"no predictions from an invalid fit: {self.invalid}")
        X, Z = (self.design.X, self.design.Z) if exog is None else self.design.exog(exog)
        probs = probabilities(self.theta[None, :], X[None], self.design.n_levels, self.link, _batch(Z))[0]
        return pd.DataFrame(probs, columns=self.design.levels)

    def get_prediction(self, exog: pd.DataFrame | None = None, which: str = "prob"):
        """Predictions with delta-method standard errors (`interpretation.Prediction`): `which` is "prob" (one
        column per outcome level), "cumprob" (P(Y <= level)) or "linpred" (x'beta)."""
        return interpretation.prediction(self, exog, which)

    def get_margeff(self, exog: pd.DataFrame | None = None):
        """Average marginal effects on the probability of each outcome level, over the estimation data or the rows
        of `exog` (`interpretation.marginal_effects`)."""
        return interpretation.marginal_effects(self, exog)

    def nominal_test(self, terms: list[str] | None = None) -> pd.DataFrame:
        """Likelihood-ratio test of each term's (or each of `terms`') proportional-odds assumption
        (`interpretation.nominal_test`)."""
        return interpretation.nominal_test(self, terms)

    def tidy(self, alpha: float = 0.05, conf_int: str | None = None) -> pd.DataFrame:
        """One row per slope (R broom's `tidy`): see `presentation.tidy`."""
        return presentation.tidy(self, alpha, conf_int)

    def summary(self, alpha: float = 0.05):
        """A statsmodels `Summary` (`as_text()`, `as_html()`, `as_latex()`): see `presentation.summary`."""
        return presentation.summary(self, alpha)

    def _warn(self) -> None:
        formula = self.design.formula
        if self.invalid:
            warnings.warn(f"{formula}: {self.invalid}", ModelWarning, stacklevel=3)
        if self.separation.separated:
            advice = (
                f"estimates by {METHOD_LABELS[self.penalty]}"
                if self.penalty
                else "use penalty='jeffreys' for finite estimates"
            )
            warnings.warn(
                f"{formula}: data are separated ({self.separation}); maximum likelihood does not exist; {advice}",
                SeparationWarning,
                stacklevel=3,
            )
        diverging_ml = self.penalty is None and self.prior is None and self.separation.separated
        if not self.converged and not diverging_ml:  # a separated ML fit never converges: said above
            warnings.warn(
                f"{formula}: the solver did not converge in {self.n_iter} iterations", ModelWarning, stacklevel=3
            )

    def __repr__(self) -> str:
        return f"<CumulativeLinkResults {self.design.formula!r}, {self.link.name}, {self.method}, n={self.nobs:g}>"


def _batch(Z):
    return None if Z is None else Z[None]


def ordered_logit(
    formula: str, data: pd.DataFrame, freq_weights=None, penalty: str | None = None, **fit_options
) -> CumulativeLinkResults:
    """The formula shortcut: `OrderedLogit.from_formula(formula, data, freq_weights).fit(penalty, ...)`."""
    return OrderedLogit.from_formula(formula, data, freq_weights).fit(penalty, **fit_options)
