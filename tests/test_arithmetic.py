"""The same verdicts and interval ends whatever code paths numpy and OpenBLAS pick on the processor.

numpy chooses its exp and log loops, and OpenBLAS its kernels, by the processor it finds (AVX-512, AVX2, or
older); they round differently in the last bit. A last bit is far below any printed digit, but it once decided
three things in the exhibits, each checked here under three arithmetics in fresh processes (this machine's own,
numpy's baseline loops with OpenBLAS's Prescott kernels, and numpy's AVX2 loops with OpenBLAS's Sandybridge
kernels):
- a Jeffreys-penalised fit whose BFGS wandered just above its 1e-11 gradient target (design cell n = 30, effect
  scale 1, replicate 101, process upgrading): "did not converge" on some arithmetics (`engine.newton(floor_tol=)`);
- a likelihood-ratio statistic whose constrained fit stalled from the fit's start (replicate 126,
  CE-FUNCTIONAL-COPS): "contradicted" on some, "inconclusive" on others (`profile._refit_from_warm_starts`);
- a cloglog profile interval end (functional upgrading, complex-product systems, collective efficiency on the
  simulated sheet) that one constrained fit's failed start turned into "not found" (`profile._Ends.unsolved`).
"""

import json
import os
import platform
import subprocess
import sys

import pytest
from helpers import SIMULATED_SHEET

from upgrading.paths import ROOT

pytestmark = pytest.mark.slow  # the slower tier (`pytest -m slow`; CI runs it after README line 2)

PROBE = r"""
import json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from upgrading.ordinal import CumulativeLink, build_designs, complete_rows
from upgrading.study import claims, power
from upgrading.study.coding import load_cases
from upgrading.study.register import load_register

out = {}
cell = power.DesignCell(30, 1.0)
for replicate in (101, 126):
    rows, _ = power.run_chunk(cell, cell.seeds(power.SEED, replicate, 1), replicate)
    out[str(replicate)] = {c: [f, v] for c, f, v in zip(rows["claim"], rows["fit"], rows["verdict"])}
register = load_register()
data = claims.prepare(load_cases(sys.argv[1]))
formula = next(f for f, subset in (c.fit_key(register.cell_model) for c in register.claims)
               if f.startswith("functional_upgrading") and subset == "all")
rows = complete_rows(formula, data)
design = build_designs(formula, data[rows], np.zeros(int(rows.sum()), int), labels=range(1))[0]
name = "C(sectoral_group)[complex_product_systems]:collective_efficiency"
ends = CumulativeLink(design, "cloglog").fit("jeffreys", warn=False).profile_conf_int(cols=[name])
out["cloglog_end"] = [None if np.isnan(v) else round(float(v), 6) for v in ends.iloc[0]]
print(json.dumps(out, sort_keys=True))
"""

ARITHMETICS = {
    "this machine's": {},
    "baseline numpy, Prescott kernels": {
        "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_CORETYPE": "Prescott",
    },
    "AVX2 numpy, Sandybridge kernels": {
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_CORETYPE": "Sandybridge",
    },
}


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86-64 code paths")
def test_verdicts_and_interval_ends_that_a_last_bit_once_decided_agree_on_three_arithmetics():
    base = {k: v for k, v in os.environ.items() if k not in ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")}
    runs = {
        label: subprocess.Popen(
            [sys.executable, "-c", PROBE, str(SIMULATED_SHEET)], cwd=ROOT, env=base | extra, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for label, extra in ARITHMETICS.items()
    }  # fmt: skip
    results = {}
    for label, run in runs.items():
        stdout, stderr = run.communicate()
        assert run.returncode == 0, stderr
        results[label] = json.loads(stdout)
    first = results["this machine's"]
    for label, result in results.items():
        assert result == first, label
    assert first["101"]["CE-PROCESS-TRAD"][0] == "jeffreys"  # estimable: the penalised fit converged
    assert first["126"]["CE-FUNCTIONAL-COPS"] == ["jeffreys", "contradicted"]
    # the ends at the fit's higher maximum (`ordinal.penalised`), as R finds them (test_penalised_maxima.py)
    assert first["cloglog_end"] == [pytest.approx(-4.501985, abs=2e-6), pytest.approx(0.000703, abs=2e-6)]
