"""The partially pooled fit's status is a property of the sheet, not of a lucky seed: the sheet of two cases per
group (where a single attempt was "ok" or not depending on the seed) gets the same status under five seeds, at the
default setting and at the design analysis's fast one, each fit improving itself until it passes the accuracy rule
or is flagged."""

import dataclasses

import pytest
from test_pooling_accuracy import _fit, _sheet

from upgrading.ordinal import PoolingSettings
from upgrading.ordinal.multilevel_inputs import FAST

pytestmark = pytest.mark.slow  # the slower tier (`pytest -m slow`; CI runs it after README line 2)


@pytest.mark.parametrize("setting", [PoolingSettings(), FAST], ids=["default", "fast"])
def test_the_status_is_a_property_of_the_sheet_not_of_the_seed(setting):
    df = _sheet("sheet_two_per_group")
    results = [_fit(df, settings=dataclasses.replace(setting, seed=seed)) for seed in range(5)]
    assert len({r.ok for r in results}) == 1, [r.status for r in results]
