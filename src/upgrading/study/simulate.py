"""The simulated coding sheet: a documented, seeded generator (assumptions in `data/simulation.toml`).

The original case-level sheet was never published, so the compendium ships a simulated one of the same shape
(first coder) and an independent second coding with simulated disagreements. Signs of the relations come from
the source's table of sectoral patterns (`data/source_patterns.toml`); every other number is a documented
assumption. Output is byte-for-byte reproducible from the seed. Case ids are synthetic and every row says
"simulated" in `coding_source`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from .. import package_data, paths
from ..errors import UpgradingError
from .codebook import collective_efficiency, load_codebook, source_patterns
from .settings import KEY_PREDICTORS

FIRST_CODER_FILE = "coding_sheet_simulated.csv"
SECOND_CODER_FILE = "coding_sheet_simulated_second_coder.csv"
CE_CENTRE = 1.5  # centre of the 0-3 scale, so baselines are levels at average collective efficiency
LEADER_CENTRE = 0.5


def check_parameters(params: dict) -> None:
    """Refuse a parameter set that does not fit the codebook or the source table, naming every problem."""
    cb = load_codebook()
    groups, problems = cb.group_codes, []
    sizes = params["group_sizes"]
    if sorted(sizes) != sorted(groups):
        problems.append(f"group_sizes must name exactly the groups {groups}")
    for table, width in (
        ("governance_mix", len(cb.governance_levels)),
        ("external_economies", 4),
        ("joint_actions", 4),
    ):
        for g in groups:
            probs = params[table].get(g)
            if probs is None or len(probs) != width or abs(sum(probs) - 1) > 1e-9 or min(probs) < 0:
                problems.append(f"{table}.{g} must be {width} non-negative shares summing to 1; got {probs}")
    for g in groups:
        missing = set(cb.upgrading_forms) - set(params["outcome"]["baseline"].get(g, {}))
        if missing:
            problems.append(f"outcome.baseline.{g} lacks {sorted(missing)}")
    if params["second_coder"].get("sectoral_group", 0) != 0:
        problems.append(
            "second_coder.sectoral_group must be 0: the group follows from the industry, so a "
            "second coder who changed it would also need another industry"
        )
    wordings = {w for rows in source_patterns()["cells"].values() for cells in rows.values() for w in cells.values()}
    unmapped = wordings - set(params["wording_to_sign"])
    if unmapped:
        problems.append(f"wording_to_sign has no mapping for the source's wordings {sorted(unmapped)}")
    if problems:
        raise UpgradingError("the simulation parameters are inconsistent:\n  " + "\n  ".join(problems))


@cache
def load_parameters() -> dict:
    """The simulation's parameters (checked against the codebook and the source table)."""
    params = package_data.load("simulation.toml")
    check_parameters(params)
    return params


def effect(params: dict, predictor: str, form: str, group: str) -> float:
    """Simulated log-odds effect of `predictor` on `form` in `group`: effect size x the source cell's sign."""
    cell = source_patterns()["cells"].get(predictor, {}).get(form, {}).get(group)
    if cell is None:  # e.g. intersectoral upgrading: not in the source's table, simulated with no relation
        return 0.0
    sign, multiplier = params["wording_to_sign"][cell]
    return params["outcome"]["effect_size"][predictor] * sign * multiplier


def allocate(total: int, shares: list[float]) -> list[int]:
    """Split `total` into integer counts proportional to `shares` (largest remainder; ties to the first)."""
    raw = np.asarray(shares, dtype=float) * total
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts.tolist()


def ordinal_scores(latent: np.ndarray, thresholds) -> np.ndarray:
    """Cut a latent variable into 0..K-1 at the thresholds."""
    return np.searchsorted(np.asarray(thresholds, dtype=float), latent).astype(int)


def streams(params: dict, seed: int | None = None) -> list[np.random.SeedSequence]:
    """Three independent random streams: case structure, outcomes, second coder's disagreements."""
    return np.random.SeedSequence(params["seed"] if seed is None else seed).spawn(3)


def group_sizes(params: dict, n_cases: int | None = None) -> dict[str, int]:
    """Cases per sectoral group: as documented, or `n_cases` split in the documented proportions."""
    sizes = params["group_sizes"]
    if n_cases is None:
        return dict(sizes)
    codes = list(sizes)
    total = sum(sizes.values())
    return dict(zip(codes, allocate(n_cases, [sizes[c] / total for c in codes])))


def effect_table(params: dict, scale: float = 1.0) -> dict[tuple[str, str, str], float]:
    """{(predictor, form, group): log-odds effect} of the documented generator, every effect times `scale`."""
    cb = load_codebook()
    return {
        (predictor, form, group): scale * effect(params, predictor, form, group)
        for predictor in KEY_PREDICTORS
        for form in cb.upgrading_forms
        for group in cb.group_codes
    }


@dataclass(frozen=True)
class Plan:
    """Everything about a simulated sheet that does not depend on the random draws (computed once per design)."""

    group: np.ndarray  # (N,) sectoral-group position of each case
    sizes: tuple[int, ...]
    governance: tuple[np.ndarray, ...]  # per group, the exact governance mix to be permuted
    ee_cdf: tuple[np.ndarray, ...]
    ja_cdf: tuple[np.ndarray, ...]
    n_industries: tuple[int, ...]
    leader_lookup: np.ndarray  # governance position -> leader-driven 0/1
    forms: tuple[str, ...]
    baseline: np.ndarray  # (groups, forms)
    ce_effect: np.ndarray  # (groups, forms)
    leader_effect: np.ndarray
    noise_order: np.ndarray  # (forms, N) positions of each case's noise draw in the outcome stream
    thresholds: np.ndarray
    noise_scale: float


def _cdf(probabilities) -> np.ndarray:
    # as numpy's Generator.choice(k, p=...) builds it, so that searchsorted(cdf, random()) draws the same codes
    cdf = np.asarray(probabilities, dtype=float).cumsum()
    return cdf / cdf[-1]


def plan(params: dict, sizes: dict[str, int] | None = None, effects: dict | None = None) -> Plan:
    """The draw-independent part of the generator, for given group sizes and effects (default: documented)."""
    cb = load_codebook()
    sizes = params["group_sizes"] if sizes is None else sizes
    effects = effect_table(params) if effects is None else effects
    groups = cb.sectoral_groups
    n = [int(sizes[g.code]) for g in groups]
    starts = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(int)
    forms = cb.upgrading_forms
    levels = np.arange(len(cb.governance_levels))
    noise_order = np.empty((len(forms), sum(n)), dtype=int)
    for _g, (start, size) in enumerate(zip(starts, n)):
        for f in range(len(forms)):
            noise_order[f, start : start + size] = len(forms) * start + f * size + np.arange(size)

    def table(predictor):
        return np.array([[effects[(predictor, form, g.code)] for form in forms] for g in groups])

    return Plan(
        group=np.repeat(np.arange(len(groups)), n),
        sizes=tuple(n),
        governance=tuple(
            np.repeat(levels, allocate(size, params["governance_mix"][g.code])) for g, size in zip(groups, n)
        ),
        ee_cdf=tuple(_cdf(params["external_economies"][g.code]) for g in groups),
        ja_cdf=tuple(_cdf(params["joint_actions"][g.code]) for g in groups),
        n_industries=tuple(len(g.all_industries) for g in groups),
        leader_lookup=np.isin(cb.governance_levels, cb.leader_levels).astype(int),
        forms=forms,
        baseline=np.array([[params["outcome"]["baseline"][g.code][form] for form in forms] for g in groups]),
        ce_effect=table("collective_efficiency"),
        leader_effect=table("leader_driven"),
        noise_order=noise_order,
        thresholds=np.asarray(params["outcome"]["thresholds"], dtype=float),
        noise_scale=float(params["outcome"]["noise_scale"]),
    )


def draw_cases(design: Plan, structure: np.random.Generator) -> dict[str, np.ndarray]:
    """The cases' structure: governance (an exact mix, randomly ordered), the two components of collective
    efficiency, and the industry, group by group from the `structure` stream."""
    governance, ee, ja, industry = [], [], [], []
    for g, size in enumerate(design.sizes):
        governance.append(structure.permutation(design.governance[g]))
        ee.append(np.searchsorted(design.ee_cdf[g], structure.random(size), side="right"))
        ja.append(np.searchsorted(design.ja_cdf[g], structure.random(size), side="right"))
        industry.append(structure.integers(0, design.n_industries[g], size=size))
    ee, ja, governance = np.concatenate(ee), np.concatenate(ja), np.concatenate(governance)
    return {
        "group": design.group,
        "industry": np.concatenate(industry),
        "external_economies": ee,
        "joint_actions": ja,
        "collective_efficiency": collective_efficiency(ee, ja),
        "governance": governance,
        "leader_driven": design.leader_lookup[governance],
    }


def draw_outcomes(design: Plan, cases: dict, outcomes: np.random.Generator) -> dict[str, np.ndarray]:
    """Each form of upgrading: an ordered logit on the latent scale, logistic noise from the `outcomes` stream."""
    noise = outcomes.logistic(size=design.noise_order.size)[design.noise_order]  # (forms, N)
    g = design.group
    latent = (
        design.baseline[g].T
        + design.ce_effect[g].T * (cases["collective_efficiency"] - CE_CENTRE)
        + design.leader_effect[g].T * (cases["leader_driven"] - LEADER_CENTRE)
        + design.noise_scale * noise
    )
    scores = np.searchsorted(design.thresholds, latent).astype(int)
    return dict(zip(design.forms, scores))


def simulate_arrays(
    params: dict,
    structure: np.random.Generator,
    outcomes: np.random.Generator,
    sizes: dict[str, int] | None = None,
    effects: dict | None = None,
) -> dict[str, np.ndarray]:
    """The generator itself, on NumPy arrays: the sheet of record and the power study (07) both use it.

    Returns integer codes per case: `group` and `governance` (positions in the codebook's lists), `industry`
    (position in the group's industries), the 0-3 scores, `leader_driven` and one array per form of upgrading.
    `sizes` and `effects` default to the documented ones (`group_sizes`, `effect_table`).
    """
    design = plan(params, sizes, effects)
    cases = draw_cases(design, structure)
    return cases | draw_outcomes(design, cases, outcomes)


def sheet_from_arrays(arrays: dict[str, np.ndarray], case_ids, coding_source: str) -> pd.DataFrame:
    """A coding sheet (columns in codebook order, categories spelled as the codebook's) from the generator's
    integer codes for one set of cases (`simulate_arrays`, or one replicate of a design analysis)."""
    cb = load_codebook()
    groups = cb.sectoral_groups
    sheet = pd.DataFrame(
        {
            "case_id": list(case_ids),
            "sectoral_group": np.array(cb.group_codes)[arrays["group"]],
            "industry": [groups[g].all_industries[i] for g, i in zip(arrays["group"], arrays["industry"])],
            "external_economies": arrays["external_economies"],
            "joint_actions": arrays["joint_actions"],
            "collective_efficiency": arrays["collective_efficiency"],
            "governance": np.array(cb.governance_levels)[arrays["governance"]],
            **{form: arrays[form] for form in cb.upgrading_forms},
        }
    )
    sheet["coding_source"] = coding_source
    return sheet[list(cb.columns)]


def case_ids(prefix: str, n: int) -> list[str]:
    """Synthetic case ids `PREFIX-01` ... (zero-padded to the width of n, at least two digits)."""
    width = max(len(str(n)), 2)
    return [f"{prefix}-{i + 1:0{width}d}" for i in range(n)]


def simulate_first_coder(params: dict | None = None, seed: int | None = None) -> pd.DataFrame:
    """The simulated sheet of record (first coder): one row per synthetic case, columns in codebook order."""
    params = params or load_parameters()
    structure, outcomes = (np.random.default_rng(s) for s in streams(params, seed)[:2])
    arrays = simulate_arrays(params, structure, outcomes)
    n = len(arrays["group"])
    return sheet_from_arrays(arrays, case_ids(params["case_id_prefix"], n), params["coding_source"])


def cases_frame(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """Typed cases, as `coding.to_cases` gives them, of R stacked sets of cases: the generator's (R, N) arrays
    (`replicate_arrays`) as one frame of R x N rows, replicate by replicate (for the design analysis)."""
    cb = load_codebook()
    frame = {
        "sectoral_group": pd.Categorical.from_codes(arrays["group"].ravel(), categories=list(cb.group_codes)),
        "governance": pd.Categorical.from_codes(arrays["governance"].ravel(), categories=list(cb.governance_levels)),
    }
    for name in ("external_economies", "joint_actions", "collective_efficiency", *cb.upgrading_forms):
        frame[name] = arrays[name].ravel().astype(int)
    frame["leader_driven"] = arrays["leader_driven"].ravel().astype(int)
    return pd.DataFrame(frame)


def disagree(codes: np.ndarray, rate: float, n_levels: int, rng: np.random.Generator) -> np.ndarray:
    """The documented disagreement process (`[second_coder]`): each code moves, with probability `rate`, one step
    up or down (equally likely; reflected at 0 and n_levels - 1). Codes are positions on the scale (governance:
    market - network - quasi_hierarchy - hierarchy)."""
    codes = np.asarray(codes)
    differs = rng.random(codes.shape) < rate
    step = np.where(rng.random(codes.shape) < 0.5, -1, 1)
    moved = codes + step
    moved = np.where((moved < 0) | (moved >= n_levels), codes - step, moved)  # reflect at the ends of the scale
    return np.where(differs, moved, codes)


def simulate_second_coder(first: pd.DataFrame, params: dict | None = None, seed: int | None = None) -> pd.DataFrame:
    """An independent re-coding of `first`, with the documented disagreement process (`[second_coder]`)."""
    params = params or load_parameters()
    cb = load_codebook()
    spec = params["second_coder"]
    rng = np.random.default_rng(streams(params, seed)[2])
    second = first.copy()
    for column in ("external_economies", "joint_actions", *cb.upgrading_forms):
        second[column] = disagree(second[column].to_numpy(), spec["ordinal"], 4, rng)
    second["collective_efficiency"] = collective_efficiency(second["external_economies"], second["joint_actions"])
    levels = list(cb.governance_levels)
    position = disagree(second["governance"].map(levels.index).to_numpy(), spec["governance"], len(levels), rng)
    second["governance"] = np.array(levels)[position]
    second["coding_source"] = spec["coding_source"]
    return second[list(cb.columns)]


def write_simulated(directory: str | Path | None = None, seed: int | None = None) -> list[Path]:
    """Write both simulated sheets as CSV (the format of record); returns the paths written."""
    folder = paths.resolve(directory) if directory is not None else paths.DATA_RAW
    first = simulate_first_coder(seed=seed)
    second = simulate_second_coder(first, seed=seed)
    written = []
    for name, sheet in ((FIRST_CODER_FILE, first), (SECOND_CODER_FILE, second)):
        text = sheet.to_csv(index=False, lineterminator="\n")
        written.append(paths.write_output(folder / name, text, raw=True))  # the one writer of data/raw
    return written
