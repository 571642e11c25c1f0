"""Shared test set-up: notebook kernels started by nbval get the same fixed environment as `upgrading run`; the
longest modules of each tier are handed out first (the two workers, `--dist loadscope --no-loadscope-reorder`,
take whole modules in collection order); line 2's run says that it left out the slower tier."""

import os

import matplotlib.font_manager  # noqa: F401  builds the font cache here, as `upgrading run` does, not in a kernel
import pytest

from upgrading.compendium.kernels import kernel_environment

os.environ.update(kernel_environment())

#: The modules that keep a worker busy longest, longest first, per tier (seconds of one worker, summed per module
#: from `pytest --durations=0` and `pytest -m slow --durations=0`, December 2026: README line 2's tier 17, 7, 6, 6,
#: 6, 6, 4, 4, 4; the slower tier 57, 46, 39, 34, 25, 23, 15, 13, 10, 8, 7, 7). They are handed out first, so that the
#: short modules fill the end and the two workers finish together (the longest-processing-time-first rule). A module
#: not named keeps its place after them; a module's tests keep their order. `-m ''` (every test) takes the slower
#: tier's order, then line 2's.
LONGEST_FIRST = {
    "not slow": (
        "notebooks/04_models.ipynb",
        "notebooks/07_power.ipynb",
        "notebooks/05_claims.ipynb",
        "tests/test_verify_report.py",
        "notebooks/06_robustness.ipynb",
        "notebooks/03_descriptives.ipynb",
        "tests/test_pooling_accuracy.py",
        "tests/test_descriptives_plots.py",
        "notebooks/02_coding.ipynb",
    ),
    "slow": (
        "tests/test_sheet_shapes.py",
        "tests/test_run_on_real_shapes.py",
        "tests/test_robustness.py",
        "tests/test_coding_error.py",
        "tests/test_power.py",
        "tests/test_pipeline.py",
        "tests/test_run_on_user_sheet.py",
        "tests/test_claims.py",
        "tests/test_study_pooling.py",
        "tests/test_power_dask.py",
        "tests/test_report_browser.py",
        "tests/test_study_shapes.py",
    ),
}
SLOW_TIER = "`pytest -m slow`"


def pytest_collection_modifyitems(config, items):
    tier = config.option.markexpr
    order = LONGEST_FIRST.get(tier) or LONGEST_FIRST["slow"] + LONGEST_FIRST["not slow"]
    rank = {}
    for module in order:
        rank.setdefault(module, len(rank))
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Line 2 leaves out the slower tier: say so under the result, so that nobody takes it for every test (under
    xdist the result line does not count the deselected tests). Outermost, after the terminal reporter's own
    `pytest_sessionfinish` has printed the result line; `pytest_terminal_summary` would print above it."""
    result = yield
    config = session.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and config.option.markexpr == "not slow" and not hasattr(config, "workerinput"):
        reporter.write_line(
            f"The slower tier of tests (marked slow) was not run: {SLOW_TIER} runs it (CI runs it after README line 2)."
        )
    return result


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
