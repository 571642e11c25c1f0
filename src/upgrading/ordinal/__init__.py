"""Cumulative link (ordered logit, probit, ...) models, shaped like statsmodels, exact enough to match R, honest
at n = 50.

    from upgrading.ordinal import CumulativeLink, OrderedLogit, ordered_logit
    result = OrderedLogit.from_formula("y ~ x + C(g)", data).fit()          # or ordered_logit("y ~ x + C(g)", data)
    result.params, result.bse, result.conf_int(), result.profile_conf_int(), result.summary()
    CumulativeLink.from_formula("y ~ x + C(g)", data, link="probit", nominal="~ x").fit()
    result.get_prediction(new_rows).summary_frame(), result.get_margeff().summary_frame(), result.nominal_test()

Convention (R's `ordinal::clm`): P(Y <= j | x) = F(threshold_j - x'beta), F the link's distribution (`links`).
One engine (`engine`) fits a batch of problems at once (a single fit is a batch of one); separation is decided
from the data (`separation`); `penalty="jeffreys"` maximises the Jeffreys-prior penalised likelihood (a
Firth-type penalty), whose estimates stay finite under separation; a Gaussian prior on some coefficients
(`batch.Prior`) is a quadratic penalty; `partially_pooled` gives the posterior of a multilevel ordered logit
with group-varying slopes, deterministically (grid + Laplace + Pareto-smoothed importance sampling). Knows
nothing of the study.
"""

from .batch import Batch, Prior
from .design import (
    Design,
    ModelWarning,
    aliased_columns,
    build_design,
    build_designs,
    complete_rows,
    formula_columns,
)
from .diagnostics import (
    association_seed,
    brant_test,
    group_association_tests,
    leave_one_out,
    permutation_association,
)
from .engine import BatchFit, newton
from .links import LINKS, Link, get_link
from .multilevel import PoolingWarning, partially_pooled
from .multilevel_inputs import PoolingPriors, PoolingSettings
from .multilevel_results import ACCURACY, AccuracyRule, PartiallyPooledResults
from .profile import likelihood_ratios
from .replicates import DesignFit, ReplicateFits, fit_designs, fit_replicates
from .results import CumulativeLink, CumulativeLinkResults, OrderedLogit, SeparationWarning, ordered_logit
from .separation import Separation

__all__ = [
    "ACCURACY",
    "AccuracyRule",
    "Batch",
    "CumulativeLink",
    "LINKS",
    "Link",
    "BatchFit",
    "Design",
    "DesignFit",
    "ModelWarning",
    "OrderedLogit",
    "CumulativeLinkResults",
    "PartiallyPooledResults",
    "PoolingPriors",
    "PoolingSettings",
    "PoolingWarning",
    "Prior",
    "ReplicateFits",
    "Separation",
    "SeparationWarning",
    "aliased_columns",
    "association_seed",
    "brant_test",
    "build_design",
    "build_designs",
    "complete_rows",
    "formula_columns",
    "fit_designs",
    "get_link",
    "fit_replicates",
    "group_association_tests",
    "leave_one_out",
    "likelihood_ratios",
    "newton",
    "ordered_logit",
    "partially_pooled",
    "permutation_association",
]
