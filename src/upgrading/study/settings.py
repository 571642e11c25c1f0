"""Settings of the study, each stated once and imported where used: the predictors the study is about, the
design analysis's seed and design, Monte Carlo draws and seeds, and the thresholds drawn on figures and read
in the narrative. The command line and the notebooks' parameters take their defaults from here (this module is
cheap to import; `power` is not).

The claims' margins, interval levels and verdict rules live in the claims register (`data/claims.toml`, the
rule implemented once in `verdicts`); the study's model formulas in `models.MODELS`.
"""

from __future__ import annotations

import os

#: The predictors the source's claims are about: collective efficiency (0-3) and leader-driven governance (0/1,
#: the codebook's derived indicator), each with a slope per sectoral group in the by-group model.
KEY_PREDICTORS = ("collective_efficiency", "leader_driven")

#: Root of the design analysis's random streams (one SeedSequence per design cell, then per replicate).
POWER_SEED = 20070101
#: Replicates per design cell. Each replicate runs the whole claims check (every claim of the register, profile
#: penalised-likelihood statistics for Jeffreys fits), about 4-12 ms of one core: 200 keep notebook 07 within its
#: time budget, with Monte Carlo standard errors of a share at most 0.5 / sqrt(200) = 0.035 (a share near 0 or 1,
#: or averaged over several claims, has less; the power table prints each one).
POWER_REPLICATES = 200
#: Numbers of cases studied: the source's about fifty, fewer, and what a larger study would have.
POWER_CASES = (30, 50, 100, 200)
#: Multiples of the documented effect sizes (`data/simulation.toml`).
POWER_EFFECT_SCALES = (0.5, 1.0)
#: Monte Carlo draws of a permutation test, used only where a group is too large for its exact null to be
#: enumerated (`ordinal.diagnostics.EXACT_MAX_CELLS`; every group of the study is enumerated exactly). The p-value
#: is then labelled "Monte Carlo (B draws, MC SE ...)".
PERMUTATIONS = 9999
#: Root seed of those Monte Carlo draws (one stream per group, form and predictor) and of the reliability
#: bootstrap's resamples (2005: the year of the source article).
PERMUTATION_SEED = 2005
BOOTSTRAP_SEED = 2005
#: Bootstrap resamples of the reliability intervals (notebook 02).
BOOTSTRAP_RESAMPLES = 2000
#: The design analysis's partial-pooling arm (notebook 07, `upgrading power --pooled`): the same simulated sheets as
#: the no-pooling arm (its first POOLED_REPLICATES replicates of each design cell chosen below), fitted by the
#: partially pooled ordered logit in its fast setting. Fewer replicates than the no-pooling arm, because each
#: replicate costs three posterior computations (about 0.05 s each): Monte Carlo standard errors of a share at most
#: 0.5 / sqrt(40) = 0.079, less for shares averaged over several claims (the notebook prints them); the two arms
#: are compared on the same replicates, so their difference is estimated more precisely than either share.
POOLED_REPLICATES = 40
POOLED_CASES = (50,)
POOLED_EFFECT_SCALES = (1.0,)
#: The design analysis's coding-error arm (notebook 07): every replicate of the design cells chosen below (the
#: study's own size and the documented effects, the cell whose rates notebook 06 shows beside each claim) decided a
#: second time as a coder who errs at the measured reliability would have coded it (`study.coding_error`). The
#: same replicates as the no-pooling arm, so the cost of coding error is a paired difference on identical sheets.
CODING_ERROR_CASES = (50,)
CODING_ERROR_EFFECT_SCALES = (1.0,)
#: Conventional target for the share of right verdicts (power), drawn as the grey line of the power curves.
POWER_TARGET = 0.8
#: Krippendorff's (2004) benchmarks for alpha: tentative conclusions from 0.667, reliable data from 0.8.
ALPHA_TENTATIVE = 0.667
ALPHA_RELIABLE = 0.8
#: "Medium or high" upgrading, the level from which notebook 04's marginal effects are read as P(upgrading >= it)
#: (as notebook 03's share medium or high).
HIGH_UPGRADING = 2
#: Links beside the logit in notebook 04's robustness exhibit (R clm's names).
ROBUSTNESS_LINKS = ("probit", "cloglog")
#: A slope this close to 0 has no sign (log odds; the engine solves to about 1e-10, the tables show two decimals):
#: a leave-one-out range of +-1e-15 around an estimate of 0 is rounding, not a sign change, and such an estimate's
#: sign in the links' table is "0".
NO_SIGN = 1e-8

#: joblib workers of a notebook's parallel steps (notebook 06's specifications, notebook 07's design cells): the two
#: cores of the design card when a notebook runs alone (JupyterLab, nbval, `upgrading run --jobs 1`). Results never
#: depend on the number (tested); workers beyond the cores a notebook has to itself only add processes to start.
NOTEBOOK_WORKERS = 2
#: Where `upgrading run` tells each kernel how many workers it leaves it when it runs notebooks side by side (it sets
#: the variable for every kernel it starts; elsewhere, as in JupyterLab or nbval, a value set by the user is used).
NOTEBOOK_WORKERS_VARIABLE = "UPGRADING_NOTEBOOK_WORKERS"


def notebook_workers() -> int:
    """The joblib workers of this notebook: the positive whole number in NOTEBOOK_WORKERS_VARIABLE (what
    `upgrading run` sets: NOTEBOOK_WORKERS shared among the notebooks it runs at once), else NOTEBOOK_WORKERS."""
    value = os.environ.get(NOTEBOOK_WORKERS_VARIABLE, "")
    return int(value) if value.isdecimal() and value.isascii() and int(value) > 0 else NOTEBOOK_WORKERS


def workers_beside(notebooks_at_once: int) -> int:
    """The workers each of `notebooks_at_once` notebooks run side by side gets: NOTEBOOK_WORKERS shared, at least 1."""
    return max(1, NOTEBOOK_WORKERS // notebooks_at_once)
