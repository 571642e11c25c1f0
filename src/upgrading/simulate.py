"""The simulated coding sheet: a documented, seeded generator (assumptions in `data/simulation.toml`).

The original case-level sheet was never published, so the compendium ships a simulated one of the same shape
(first coder) and an independent second coding with simulated disagreements. Signs of the relations come from
the source's table of sectoral patterns (`data/source_patterns.toml`); every other number is a documented
assumption. Output is byte-for-byte reproducible from the seed. Case ids are synthetic and every row says
"simulated" in `coding_source`.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from . import paths
from .codebook import collective_efficiency, load_codebook
from .errors import UpgradingError

FIRST_CODER_FILE = "coding_sheet_simulated.csv"
SECOND_CODER_FILE = "coding_sheet_simulated_second_coder.csv"
CE_CENTRE = 1.5  # centre of the 0-3 scale, so baselines are levels at average collective efficiency
LEADER_CENTRE = 0.5


def _read_toml(name: str) -> dict:
    return tomllib.loads(resources.files("upgrading").joinpath(f"data/{name}").read_text(encoding="utf-8"))


@cache
def source_patterns() -> dict:
    """The source's table of sectoral patterns, cell by cell, as printed (see `data/source_patterns.toml`)."""
    return _read_toml("source_patterns.toml")


def check_parameters(params: dict) -> None:
    """Refuse a parameter set that does not fit the codebook or the source table, naming every problem."""
    cb = load_codebook()
    groups, problems = cb.group_codes, []
    sizes = params["group_sizes"]
    if sorted(sizes) != sorted(groups):
        problems.append(f"group_sizes must name exactly the groups {groups}")
    for table, width in (("governance_mix", len(cb.governance_levels)), ("external_economies", 4),
                         ("joint_actions", 4)):
        for g in groups:
            probs = params[table].get(g)
            if probs is None or len(probs) != width or abs(sum(probs) - 1) > 1e-9 or min(probs) < 0:
                problems.append(f"{table}.{g} must be {width} non-negative shares summing to 1; got {probs}")
    for g in groups:
        missing = set(cb.upgrading_forms) - set(params["outcome"]["baseline"].get(g, {}))
        if missing:
            problems.append(f"outcome.baseline.{g} lacks {sorted(missing)}")
    if params["second_coder"].get("sectoral_group", 0) != 0:
        problems.append("second_coder.sectoral_group must be 0: the group follows from the industry, so a "
                        "second coder who changed it would also need another industry")
    wordings = {w for rows in source_patterns()["cells"].values() for cells in rows.values() for w in cells.values()}
    unmapped = wordings - set(params["wording_to_sign"])
    if unmapped:
        problems.append(f"wording_to_sign has no mapping for the source's wordings {sorted(unmapped)}")
    if problems:
        raise UpgradingError("the simulation parameters are inconsistent:\n  " + "\n  ".join(problems))


@cache
def load_parameters() -> dict:
    """The simulation's parameters (checked against the codebook and the source table)."""
    params = _read_toml("simulation.toml")
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


def simulate_first_coder(params: dict | None = None, seed: int | None = None) -> pd.DataFrame:
    """The simulated sheet of record (first coder): one row per synthetic case, columns in codebook order."""
    params = params or load_parameters()
    cb = load_codebook()
    structure, outcomes = (np.random.default_rng(s) for s in streams(params, seed)[:2])
    governance_levels = np.array(cb.governance_levels)
    blocks = []
    for group in cb.sectoral_groups:
        n = params["group_sizes"][group.code]
        counts = allocate(n, params["governance_mix"][group.code])
        governance = structure.permutation(np.repeat(governance_levels, counts))
        ee = structure.choice(4, size=n, p=params["external_economies"][group.code])
        ja = structure.choice(4, size=n, p=params["joint_actions"][group.code])
        industry = structure.choice(np.array(group.all_industries), size=n)
        block = pd.DataFrame({
            "sectoral_group": group.code, "industry": industry, "external_economies": ee, "joint_actions": ja,
            "collective_efficiency": collective_efficiency(ee, ja), "governance": governance,
        })
        leader = np.isin(governance, cb.leader_levels).astype(float)
        for form in cb.upgrading_forms:
            latent = (params["outcome"]["baseline"][group.code][form]
                      + effect(params, "collective_efficiency", form, group.code)
                      * (block["collective_efficiency"].to_numpy() - CE_CENTRE)
                      + effect(params, "leader_driven", form, group.code) * (leader - LEADER_CENTRE)
                      + params["outcome"]["noise_scale"] * outcomes.logistic(size=n))
            block[form] = ordinal_scores(latent, params["outcome"]["thresholds"])
        blocks.append(block)
    sheet = pd.concat(blocks, ignore_index=True)
    width = len(str(len(sheet)))
    sheet.insert(0, "case_id", [f"{params['case_id_prefix']}-{i + 1:0{max(width, 2)}d}" for i in range(len(sheet))])
    sheet["coding_source"] = params["coding_source"]
    return sheet[list(cb.columns)]


def simulate_second_coder(first: pd.DataFrame, params: dict | None = None, seed: int | None = None) -> pd.DataFrame:
    """An independent re-coding of `first`, with the documented disagreement process (`[second_coder]`)."""
    params = params or load_parameters()
    cb = load_codebook()
    spec = params["second_coder"]
    rng = np.random.default_rng(streams(params, seed)[2])
    second = first.copy()
    n = len(second)
    for column in ("external_economies", "joint_actions", *cb.upgrading_forms):
        differs = rng.random(n) < spec["ordinal"]
        step = np.where(rng.random(n) < 0.5, -1, 1)
        values = second[column].to_numpy()
        moved = values + step
        moved = np.where((moved < 0) | (moved > 3), values - step, moved)  # reflect at the ends of the scale
        second[column] = np.where(differs, moved, values)
    second["collective_efficiency"] = collective_efficiency(second["external_economies"], second["joint_actions"])
    levels = list(cb.governance_levels)
    position = second["governance"].map(levels.index).to_numpy()
    differs = rng.random(n) < spec["governance"]
    step = np.where(rng.random(n) < 0.5, -1, 1)
    moved = position + step
    moved = np.where((moved < 0) | (moved >= len(levels)), position - step, moved)
    second["governance"] = np.array(levels)[np.where(differs, moved, position)]
    second["coding_source"] = spec["coding_source"]
    return second[list(cb.columns)]


def write_simulated(directory: str | Path | None = None, seed: int | None = None) -> list[Path]:
    """Write both simulated sheets as CSV (the format of record); returns the paths written."""
    folder = paths.resolve(directory) if directory is not None else paths.DATA_RAW
    folder.mkdir(parents=True, exist_ok=True)
    first = simulate_first_coder(seed=seed)
    second = simulate_second_coder(first, seed=seed)
    written = []
    for name, sheet in ((FIRST_CODER_FILE, first), (SECOND_CODER_FILE, second)):
        path = folder / name
        data = sheet.to_csv(index=False, lineterminator="\n").encode("utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    return written
