"""Shared test set-up: notebook kernels started by nbval get the same fixed environment as `upgrading run`, and the
longest test modules start first."""

import os

import matplotlib.font_manager  # noqa: F401  builds the font cache here, as `upgrading run` does, not in a kernel
import pytest

from upgrading.compendium.kernels import kernel_environment

os.environ.update(kernel_environment())

#: The test modules that take longest (`pytest --durations=0`, summed per module), longest first. The two workers
#: (`--dist loadscope`) take whole modules in collection order, so these start first and neither worker is left
#: alone with a long module at the end. Order only: every test still runs, and none depends on another's order.
LONGEST_FIRST = (
    "notebooks/07_power.ipynb",
    "tests/test_coding_error.py",
    "tests/test_run_on_real_shapes.py",
    "tests/test_robustness.py",
    "tests/test_sheet_shapes.py",
    "tests/test_power.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {module: k for k, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


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
