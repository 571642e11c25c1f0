"""Shared test set-up: notebook kernels started by nbval get the same fixed environment as `upgrading run`. (The two
workers, `--dist loadscope`, take whole modules, the modules with most tests first: pytest-xdist's default order,
`--loadscope-reorder`, which overrides any order given at collection.)"""

import os

import matplotlib.font_manager  # noqa: F401  builds the font cache here, as `upgrading run` does, not in a kernel
import pytest

from upgrading.compendium.kernels import kernel_environment

os.environ.update(kernel_environment())


@pytest.fixture(scope="session")
def _simulated_cases():
    from helpers import SIMULATED_SHEET

    from upgrading.study.coding import load_cases

    return load_cases(SIMULATED_SHEET)


@pytest.fixture
def simulated_cases(_simulated_cases):
    """The simulated sheet of record as typed cases (a fresh copy for each test: change it freely)."""
    cases = _simulated_cases.copy()
    cases.attrs = dict(_simulated_cases.attrs)
    return cases
