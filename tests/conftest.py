"""Shared test set-up: notebook kernels started by nbval get the same fixed environment as `upgrading run`; the
longest modules are handed out first. (The two workers, `--dist loadscope --no-loadscope-reorder`, take whole
modules in collection order.)"""

import os

import matplotlib.font_manager  # noqa: F401  builds the font cache here, as `upgrading run` does, not in a kernel
import pytest

from upgrading.compendium.kernels import kernel_environment

os.environ.update(kernel_environment())

#: The modules that keep a worker busy longest, longest first (seconds of one worker, summed per module from
#: `pytest --durations=0`, December 2026: 40, 32, 31, 27, 22, 21, 12, 12, 11, 9, 7, 6). They are handed out first,
#: so that the short modules fill the end and the two workers finish together (the longest-processing-time-first
#: rule); handed out in xdist's order by number of tests, one worker finished 18 s after the other. A module not
#: named here keeps its place after them; a module's tests keep their order.
LONGEST_FIRST = (
    "tests/test_run_on_real_shapes.py",
    "tests/test_sheet_shapes.py",
    "tests/test_coding_error.py",
    "tests/test_robustness.py",
    "tests/test_pipeline.py",
    "tests/test_power.py",
    "notebooks/04_models.ipynb",
    "tests/test_verify_report.py",
    "tests/test_study_pooling.py",
    "tests/test_run_on_user_sheet.py",
    "notebooks/06_robustness.ipynb",
    "notebooks/07_power.ipynb",
)


def pytest_collection_modifyitems(items):
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
