"""The notebooks' papermill defaults are literals (the run and the manifest read them); they must equal the
study's settings, which the command line and the package functions use, so that a notebook and
`upgrading power` / `upgrading claims` run the same study."""

import ast

import papermill
import pytest

from upgrading.paths import NOTEBOOKS
from upgrading.study import settings


def _defaults(notebook: str) -> dict:
    spec = papermill.inspect_notebook(str(NOTEBOOKS / notebook))
    return {name: ast.literal_eval(entry["default"]) for name, entry in spec.items()}


@pytest.mark.parametrize("notebook", ["04_models.ipynb", "05_claims.ipynb"])
def test_permutations_default_is_the_setting(notebook):
    assert _defaults(notebook)["n_resamples"] == settings.PERMUTATIONS


def test_power_defaults_are_the_settings():
    defaults = _defaults("06_power.ipynb")
    assert defaults["replicates"] == settings.POWER_REPLICATES
    assert tuple(defaults["cases"]) == tuple(settings.POWER_CASES)
    assert tuple(defaults["effect_scales"]) == tuple(settings.POWER_EFFECT_SCALES)
    assert defaults["seed"] == settings.POWER_SEED


def test_pooled_arm_defaults_are_the_settings():
    defaults = _defaults("06_power.ipynb")
    assert defaults["pooled_replicates"] == settings.POOLED_REPLICATES
    assert tuple(defaults["pooled_cases"]) == tuple(settings.POOLED_CASES)
    assert tuple(defaults["pooled_scales"]) == tuple(settings.POOLED_EFFECT_SCALES)
