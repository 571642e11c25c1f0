"""Design analysis: how often would the claims check (notebook 05) get a claim right with n cases?

A Monte Carlo study on the documented generator (`simulate`, parameters in `data/simulation.toml`). Each design
cell fixes the number of cases and a multiple of the documented effect sizes; each replicate simulates a sheet and
runs the claims check on it: the very functions notebook 05 runs (`claims.decide`: the same models and designs,
fit choice, profile penalised-likelihood statistics for Jeffreys fits, verdict rule and Holm family). A verdict is
*right* when it matches the simulated truth (`consistent` if the true effect satisfies the claim, `contradicted`
if it does not), *wrong* when it is the other one, and otherwise `inconclusive`.

Two scopes of claims:
- per group: the 24 cells of the source's table, each a slope of the by-group model, with the documented effects
  (the source's signs times `effect_size`) times the scale; every other claim of the register is decided too
  (the Holm family is the register's), but only the cells have a simulated truth to be scored against;
- pooled: a claim about collective efficiency in every group at once, the collective-efficiency slope of
  notebook 04's pooled model, on the same cases with one common effect of collective efficiency (positive on
  product, none on process, negative on functional upgrading; documented size times the scale) and no governance
  effects, so that the pooled slope has a true value. Decided by the same functions (a family of its own).

Each replicate's random stream is fixed by the root seed, its design cell's identity (cases, scale) and its
index: results do not depend on chunking, workers, or which other cells are run. Work is spread with joblib (any
backend: local processes by default, or Dask/Ray, see the README).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import interim, paths
from ..errors import UpgradingError
from . import claims, simulate
from .codebook import load_codebook
from .coding_error import CodingError
from .models import formula
from .register import Claim, Register, load_register
from .settings import POWER_CASES as CASES
from .settings import POWER_EFFECT_SCALES as EFFECT_SCALES
from .settings import POWER_REPLICATES as REPLICATES
from .settings import POWER_SEED as SEED
from .simulate import effect_table, group_sizes, load_parameters
from .verdicts import Verdict

KINDS = {"positive": "positive", "null": "neutral", "negative": "negative", "non_positive": "negative"}
POOLED_EFFECTS = {"product_upgrading": 1.0, "process_upgrading": 0.0, "functional_upgrading": -1.0}
OUTCOMES = ("right", "wrong", "inconclusive")
#: The fewest cases a design cell can have: two per sectoral group.
MIN_CASES = 8
#: `coding_source` of a kept replicate sheet (a coding sheet of the design analysis, simulated by design).
REPLICATE_SOURCE = "simulated (design analysis replicate)"


@dataclass(frozen=True)
class StudiedClaim:
    """A claim the design analysis scores: the claims check's claim, its scope and its true effect at scale 1."""

    claim: Claim
    scope: str  # "pooled" or a sectoral group code
    effect: float

    @property
    def id(self) -> str:
        return self.claim.id

    @property
    def kind(self) -> str:
        return KINDS[self.claim.expected]


def pooled_claims(register: Register) -> tuple[Claim, ...]:
    """The three pooled claims: the collective-efficiency slope of the pooled model, per form of the scenario."""
    expected = {1.0: "positive", 0.0: "null", -1.0: "negative"}
    return tuple(
        Claim(
            id=f"POOLED-CE-{form.split('_')[0].upper()}",
            kind="design analysis",
            source="the design analysis's pooled scenario (not a claim of the source)",
            wording="",
            outcome=form,
            predictor="collective_efficiency",
            sectoral_group="all",
            formula=formula("pooled", form),
            subset="all",
            term="collective_efficiency",
            expected=expected[sign],
            margin=float(register.margins["collective_efficiency"]),
        )
        for form, sign in POOLED_EFFECTS.items()
    )


def claims_studied(register: Register | None = None) -> list[StudiedClaim]:
    """The 24 table cells of the register (per group) and the three pooled claims, with their true effects."""
    register = register or load_register()
    params = load_parameters()
    effects = effect_table(params)
    out = [
        StudiedClaim(c, c.sectoral_group, effects[(c.predictor, c.outcome, c.sectoral_group)])
        for c in register.claims
        if c.kind == "table cell"
    ]
    size = params["outcome"]["effect_size"]["collective_efficiency"]
    return out + [StudiedClaim(c, "pooled", POOLED_EFFECTS[c.outcome] * size) for c in pooled_claims(register)]


def truth_satisfies(expected: str, effect: float, margin: float) -> bool:
    """Does a true effect satisfy the claim? (The verdict that is right: 'consistent' if so.)"""
    return {
        "positive": effect > 0,
        "negative": effect < 0,
        "null": abs(effect) < margin,
        "non_positive": effect < margin,
    }[expected]


# ---------------------------------------------------------------------------------------------------------
# Design cells, their random streams and their replicates
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignCell:
    """A number of cases and an effect scale; `groups`, the cases of each sectoral group in codebook order where a
    sheet's own shape is studied (None: `n_cases` split in the generator's shares)."""

    n_cases: int
    effect_scale: float
    groups: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        """The cell as a folder name: `n50_scale1`, `n30_scale0.5`, `n30_scale1_groups14_9_5_2`."""
        shape = "" if self.groups is None else "_groups" + "_".join(map(str, self.groups))
        return f"n{self.n_cases}_scale{self.effect_scale:g}{shape}"

    def sizes(self) -> dict[str, int]:
        """Cases per sectoral group (code: count)."""
        if self.groups is None:
            return group_sizes(load_parameters(), self.n_cases)
        return dict(zip(load_codebook().group_codes, self.groups))

    def seeds(self, root: int, first: int, count: int) -> list[np.random.SeedSequence]:
        """The random streams of replicates first .. first + count - 1: keyed by the root seed, the cell's identity
        (cases, scale in millionths, and a sheet's group sizes where given) and the replicate's index, so no other
        cell or setting moves them."""
        key = (self.n_cases, int(round(self.effect_scale * 1_000_000))) + (self.groups or ())
        return [np.random.SeedSequence(root, spawn_key=key + (k,)) for k in range(first, first + count)]


def design_cells(cases=CASES, effect_scales=EFFECT_SCALES) -> list[DesignCell]:
    return [DesignCell(int(n), float(s)) for n in cases for s in effect_scales]


def _pooled_effects(params: dict, scale: float) -> dict:
    size = params["outcome"]["effect_size"]["collective_efficiency"]
    table = {key: 0.0 for key in effect_table(params)}
    for form, sign in POOLED_EFFECTS.items():
        for group in load_codebook().group_codes:
            table[("collective_efficiency", form, group)] = scale * sign * size
    return table


def _children(seed: np.random.SeedSequence, count: int) -> list[np.random.SeedSequence]:
    """The first `count` children `seed.spawn` would give, without spawning (spawn is stateful: a second call
    would give new children, so a replicate simulated twice would differ)."""
    return [
        np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key + (k,), pool_size=seed.pool_size)
        for k in range(count)
    ]


def simulate_chunk(
    seeds: list[np.random.SeedSequence],
    n_cases: int,
    effect_scale: float,
    coding_error: CodingError | None = None,
    sizes: dict[str, int] | None = None,
) -> dict:
    """Replicates of one design cell, stacked: (R, N) arrays of the cases and of both scenarios' outcomes.

    Each replicate's SeedSequence spawns three streams: the cases' structure (groups, collective efficiency,
    governance, industry), the per-group scenario's outcomes and the pooled scenario's outcomes. Both scenarios
    share the cases, so they differ only in how upgrading depends on them. With `coding_error`, a fourth stream
    recodes the drawn sheets as the erring coder would (`CodingError.recode`): the same sheets, coded with error.
    `sizes` (code: cases) replaces the generator's split of `n_cases` into sectoral groups.
    """
    params = load_parameters()
    sizes = group_sizes(params, n_cases) if sizes is None else sizes
    per_group = simulate.plan(params, sizes, effect_table(params, effect_scale))
    pooled = simulate.plan(params, sizes, _pooled_effects(params, effect_scale))
    cases, out_group, out_pooled = [], [], []
    for seed in seeds:
        structure, group_stream, pooled_stream = (np.random.default_rng(s) for s in _children(seed, 3))
        case = simulate.draw_cases(per_group, structure)
        outcomes = [
            simulate.draw_outcomes(per_group, case, group_stream),
            simulate.draw_outcomes(pooled, case, pooled_stream),
        ]
        if coding_error is not None:
            recoding = np.random.default_rng(_children(seed, 4)[3])
            case, outcomes = coding_error.recode(case, outcomes, per_group.leader_lookup, recoding)
        cases.append(case)
        out_group.append(outcomes[0])
        out_pooled.append(outcomes[1])

    def stack(rows: list[dict]) -> dict:
        return {key: np.stack([row[key] for row in rows]) for key in rows[0]}

    return {"cases": stack(cases), "per_group": stack(out_group), "pooled": stack(out_pooled)}


def replicate_sheet(data: dict, r: int) -> pd.DataFrame:
    """Replicate r of a chunk (the per-group scenario) as a coding sheet that `upgrading validate` accepts."""
    arrays = {k: v[r] for k, v in data["cases"].items()} | {k: v[r] for k, v in data["per_group"].items()}
    return simulate.sheet_from_arrays(arrays, simulate.case_ids("REP", len(arrays["group"])), REPLICATE_SOURCE)


# ---------------------------------------------------------------------------------------------------------
# One chunk: the claims check on every replicate
# ---------------------------------------------------------------------------------------------------------


def _decide(register: Register, cases: dict, outcomes: dict) -> pd.DataFrame:
    """`claims.decide` on R stacked replicates (rows sheet x claim), the statistics solved as far as verdicts need."""
    R, N = cases["group"].shape
    frame = simulate.cases_frame(cases | outcomes)
    sheet = np.repeat(np.arange(R), N)
    return claims.decide(register, claims.prepare(frame), sheet, R, exact=False)


def run_chunk(cell: DesignCell, seeds: list[np.random.SeedSequence], first: int, keep: int = 0, coding_error=None):
    """Verdicts of every studied claim in replicates `first`, `first + 1`, ... of one design cell (coded with
    `coding_error`, if given), and the kept replicates (those with an index below `keep`):
    (rows, [(index, sheet, verdicts)])."""
    register = load_register()
    data = simulate_chunk(seeds, cell.n_cases, cell.effect_scale, coding_error, cell.sizes())
    per_group = _decide(register, data["cases"], data["per_group"])
    pooled = _decide(register.with_claims(pooled_claims(register)), data["cases"], data["pooled"])
    studied = {c.id for c in claims_studied(register)}
    rows = pd.concat([per_group, pooled], ignore_index=True)
    rows = rows[rows["id"].isin(studied)]
    rows = pd.DataFrame(
        {
            "n_cases": cell.n_cases,
            "effect_scale": cell.effect_scale,
            "replicate": first + rows["sheet"].to_numpy(),
            "claim": rows["id"].to_numpy(),
            "fit": rows["fit"].to_numpy(),
            "verdict": rows["verdict"].to_numpy(),
            "verdict_holm": np.where(rows["id"].str.startswith("POOLED-"), "", rows["verdict_holm"]),
        }
    )
    kept = [
        (first + r, replicate_sheet(data, r), per_group.loc[per_group["sheet"] == r, ["id", "verdict", "verdict_holm"]])
        for r in range(max(0, min(len(seeds), keep - first)))
    ]
    return rows, kept


# ---------------------------------------------------------------------------------------------------------
# Running the study
# ---------------------------------------------------------------------------------------------------------


def run(
    replicates: int = REPLICATES,
    cases=CASES,
    effect_scales=EFFECT_SCALES,
    seed: int = SEED,
    n_jobs: int = 1,
    chunk_size: int = 250,
    progress: bool = True,
    keep: int = 0,
    keep_dir=None,
    cache: bool = False,
    cache_name: str = "power",
    coding_error: CodingError | None = None,
    groups: tuple[int, ...] | None = None,
) -> pd.DataFrame:
    """Every replicate's verdict on every studied claim (one row per design cell, replicate and claim).

    Chunks go to joblib workers in a fixed order and come back in that order; `n_jobs` and `chunk_size` change
    how fast, never what. Use `joblib.parallel_config(backend=...)` to run on a cluster. With `keep` and
    `keep_dir`, the first `keep` replicates of every cell are written as coding sheets with the verdicts the
    study gave them (`write_kept`). With `cache`, each design cell already run with the same replicates, seed and
    package is read from `data/interim/` (see `upgrading.interim`) instead of being run again (`_cached_cells`);
    `cache_name` keeps another arm's cells (with coding error, say) beside the study's. With
    `coding_error`, every replicate is decided as the erring coder would have coded it (`coding_error`).
    `groups` (cases per sectoral group, in codebook order; `cases` then its one total) studies a sheet's own shape.
    """
    if replicates < 1:
        raise UpgradingError(f"replicates must be at least 1, not {replicates}")
    if groups is not None:
        _check_groups(groups, cases)
    elif any(int(n) < MIN_CASES for n in cases):
        raise UpgradingError(
            f"each number of cases must be at least {MIN_CASES} (two per sectoral group); got {list(cases)}"
        )
    if keep and keep_dir is None:
        raise UpgradingError("keeping replicates needs a folder to write them to")
    cells = [replace(c, groups=groups) for c in design_cells(cases, effect_scales)]
    study = dict(replicates=replicates, seed=seed, n_jobs=n_jobs, chunk_size=chunk_size, progress=progress,
                 coding_error=coding_error)  # fmt: skip
    if cache and not keep:
        rows = _cached_cells(cells, cache_name, study)
    else:
        rows = _run_cells(cells, **study, keep=keep, keep_dir=keep_dir)
    raw = label(rows)
    raw.attrs["root_seed"] = seed  # whose replicates these are, for a comparison of two runs' replicates
    return raw


def _check_groups(groups: tuple[int, ...], cases) -> None:
    codes = load_codebook().group_codes
    if len(groups) != len(codes) or min(groups) < 0 or sum(groups) < 1 or list(cases) != [sum(groups)]:
        raise UpgradingError(
            f"a sheet's shape needs a number of cases (at least 0) for each of the {len(codes)} sectoral groups "
            f"({', '.join(codes)}), at least one case in all, and that total as the one number of cases; got "
            f"groups {list(groups)} and cases {list(cases)}"
        )


def _run_cells(cells, replicates, seed, n_jobs, chunk_size, progress, coding_error, keep=0, keep_dir=None):
    """Every replicate's verdicts in these design cells (unlabelled rows, in `collect`'s order)."""
    from joblib import Parallel, delayed

    chunk_size = chunk_length(replicates, chunk_size, len(cells), n_jobs)
    tasks = [
        (cell, cell.seeds(seed, start, min(chunk_size, replicates - start)), start, keep, coding_error)
        for cell in cells
        for start in range(0, replicates, chunk_size)
    ]
    jobs = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(run_chunk)(*task) for task in tasks)
    return collect(jobs, [task[0] for task in tasks], "power study", progress, keep_dir)


def chunk_length(replicates: int, chunk_size: int, cells: int, n_jobs: int) -> int:
    """At most `chunk_size` replicates per chunk, and a chunk per worker where there are replicates enough: one
    design cell on two workers (a coding-error arm, a sheet's shape) is run as two chunks, not one and an idle one."""
    from joblib import effective_n_jobs

    if chunk_size < 1:
        raise UpgradingError(f"chunk_size must be at least 1, not {chunk_size}")
    return max(1, min(chunk_size, replicates // -(-effective_n_jobs(n_jobs) // max(cells, 1))))


def _cached_cells(cells: list[DesignCell], cache_name: str, study: dict) -> pd.DataFrame:
    """`_run_cells`, each design cell kept in data/interim/ on its own (`<cache_name>_<cell>`): a cell's replicates
    depend only on the root seed, the cell and their index, so a run that shares a cell with an earlier one (the
    design cell at a sheet's size, notebook 06's, and the full study, notebook 07's) reads it instead of running
    it again, and only the missing cells are run (together, so their chunks share the workers)."""
    keys = {
        cell: {"replicates": study["replicates"], "cell": [cell.n_cases, cell.effect_scale], "seed": study["seed"]}
        | ({"groups": list(cell.groups)} if cell.groups is not None else {})
        | ({"coding_error": study["coding_error"]} if study["coding_error"] is not None else {})
        for cell in cells
    }
    found = {cell: interim.lookup(f"{cache_name}_{cell.name}", keys[cell]) for cell in cells}
    missing = [cell for cell in cells if found[cell] is None]
    if missing:
        fresh = _run_cells(missing, **study)
        for cell in missing:
            in_cell = (fresh["n_cases"] == cell.n_cases) & (fresh["effect_scale"] == cell.effect_scale)
            found[cell] = interim.store(f"{cache_name}_{cell.name}", keys[cell], fresh[in_cell].reset_index(drop=True))
    return _ordered(pd.concat([found[cell] for cell in cells], ignore_index=True))


def collect(jobs, cells: list[DesignCell], desc: str, progress: bool, keep_dir=None) -> pd.DataFrame:
    """The chunks' rows in a fixed order (design cell, claim in study order, replicate); kept replicates written."""
    from tqdm import tqdm

    frames = []
    for cell, (rows, kept) in tqdm(zip(cells, jobs), total=len(cells), desc=desc, unit="chunk", disable=not progress):
        frames.append(rows)
        for index, sheet, verdicts in kept:
            write_kept(keep_dir, cell, index, sheet, verdicts)
    return _ordered(pd.concat(frames, ignore_index=True))


def _ordered(raw: pd.DataFrame) -> pd.DataFrame:
    """The study's rows in its fixed order: design cell (cases, then effect scale), claim in study order,
    replicate."""
    order = {c.id: k for k, c in enumerate(claims_studied())}
    return raw.sort_values(
        ["n_cases", "effect_scale", "claim", "replicate"],
        key=lambda col: col.map(order) if col.name == "claim" else col,
        kind="stable",
        ignore_index=True,
    )


def write_kept(directory, cell: DesignCell, index: int, sheet: pd.DataFrame, verdicts: pd.DataFrame) -> None:
    """`DIR/<cell>/replicate_<k>.csv`, a coding sheet, and beside it `replicate_<k>_verdicts.csv` (id, verdict,
    verdict_holm): the verdicts the study gave each claim of the register on that sheet."""
    from pathlib import Path

    folder = Path(directory) / cell.name
    paths.write_output(folder / f"replicate_{index}.csv", sheet.to_csv(index=False, lineterminator="\n"))
    text = verdicts.to_csv(index=False, lineterminator="\n")
    paths.write_output(folder / f"replicate_{index}_verdicts.csv", text)


def label(raw: pd.DataFrame) -> pd.DataFrame:
    """Add each claim's scope, kind and true effect, and classify its verdicts (raw and Holm-adjusted) as right,
    wrong or inconclusive; `estimable` is False where the claim's model decided nothing on the replicate."""
    info = claims_studied_table().set_index("id")
    out = raw.join(info[["scope", "form", "predictor", "kind", "expected", "margin", "effect"]], on="claim")
    out["true_effect"] = out["effect"] * out["effect_scale"]
    satisfied = np.array(
        [truth_satisfies(e, t, m) for e, t, m in zip(out["expected"], out["true_effect"], out["margin"])]
    )
    right = np.where(satisfied, Verdict.CONSISTENT.value, Verdict.CONTRADICTED.value)
    out["estimable"] = out["fit"] != claims.NOT_ESTIMABLE
    for column, outcome in (("verdict", "outcome"), ("verdict_holm", "outcome_holm")):
        verdict = out[column].to_numpy()
        scored = np.where(
            verdict == Verdict.INCONCLUSIVE.value, "inconclusive", np.where(verdict == right, "right", "wrong")
        )
        out[outcome] = np.where(verdict == "", "", scored)
    return out.drop(columns=["effect"])


def claims_studied_table() -> pd.DataFrame:
    """The studied claims, one row each: id, scope, form, predictor, term, expected, margin, true effect, kind."""
    return pd.DataFrame([
        {"id": c.id, "scope": c.scope, "form": c.claim.outcome, "predictor": c.claim.predictor, "term": c.claim.term,
         "expected": c.claim.expected, "margin": c.claim.margin, "effect": c.effect, "kind": c.kind}
        for c in claims_studied()
    ])  # fmt: skip


def claims_by_scope(studied: pd.DataFrame) -> pd.DataFrame:
    """How many studied claims of each kind (columns) each scope (rows: pooled, then the groups) holds."""
    scopes = ["pooled", *load_codebook().group_codes]
    kinds = list(dict.fromkeys(KINDS.values()))
    table = pd.crosstab(pd.Categorical(studied["scope"], scopes), pd.Categorical(studied["kind"], kinds), dropna=False)
    table.index.name, table.columns.name = "scope", "kind"
    return table


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """Share of right, wrong and inconclusive verdicts per scope, kind, number of cases and effect scale, with
    Monte Carlo standard errors (shares are averaged within a replicate first: claims of one replicate share its
    data, replicates are independent); the shares of right and wrong Holm-adjusted verdicts (the register's
    claims; none for the pooled scope, whose claims are not the register's), of verdicts decided from a
    Jeffreys-penalised fit, and of claims whose model decided nothing."""
    keys = ["scope", "kind", "n_cases", "effect_scale"]
    flags = raw[keys + ["replicate"]].copy()
    for outcome in OUTCOMES:
        flags[outcome] = (raw["outcome"] == outcome).astype(float)
    for outcome in ("right", "wrong"):
        flags[f"{outcome}_holm"] = np.where(raw["outcome_holm"] == "", np.nan, raw["outcome_holm"] == outcome)
    flags["not_estimable"] = (~raw["estimable"]).astype(float)
    flags["separated"] = (raw["fit"] == "jeffreys").astype(float)
    per_replicate = flags.groupby(keys + ["replicate"], observed=True).mean()
    grouped = per_replicate.groupby(level=keys, observed=True)
    table = grouped.mean().add_prefix("p_")
    for outcome in OUTCOMES:
        table[f"mcse_{outcome}"] = grouped[outcome].std(ddof=1) / np.sqrt(grouped.size())
    table["replicates"] = grouped.size()
    table["claims"] = raw.groupby(keys, observed=True)["claim"].nunique()
    order = ["claims", "replicates", "p_right", "mcse_right", "p_wrong", "mcse_wrong", "p_inconclusive",
             "mcse_inconclusive", "p_right_holm", "p_wrong_holm", "p_separated", "p_not_estimable"]  # fmt: skip
    table = table[order].reset_index()
    table["scope"] = pd.Categorical(table["scope"], ["pooled", *load_codebook().group_codes], ordered=True)
    table["kind"] = pd.Categorical(table["kind"], ["positive", "neutral", "negative"], ordered=True)
    return table.sort_values(keys, ignore_index=True)


def design_cell(summary: pd.DataFrame, n_cases: int, effect_scale: float = 1.0) -> pd.DataFrame:
    """The rows of the power table for one design cell (a number of cases and an effect scale)."""
    rows = summary[(summary["n_cases"] == n_cases) & np.isclose(summary["effect_scale"], effect_scale)]
    return rows.reset_index(drop=True)


#: The rates compared across versions of the design analysis, with their Monte Carlo standard errors' columns.
RATES = {"right": "mcse_right", "wrong": "mcse_wrong", "inconclusive": "mcse_inconclusive"}
CELL_KEYS = ["scope", "kind", "n_cases", "effect_scale"]


def rate_changes(summary: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Each rate of the power table beside an earlier table's (rows matched by scope, kind, cases and effect
    scale): before, after, the change and its Monte Carlo SE sqrt(mcse_before^2 + mcse_after^2) (the two runs'
    replicates are independent), and z = change / SE; one row per design cell and rate, largest |z| first."""
    merged = summary.merge(previous, on=CELL_KEYS, suffixes=("", "_before"))
    rows = []
    for rate, mcse in RATES.items():
        change = merged[f"p_{rate}"] - merged[f"p_{rate}_before"]
        se = np.sqrt(merged[mcse] ** 2 + merged[f"{mcse}_before"] ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, change / se, np.where(change == 0, 0.0, np.inf * np.sign(change)))
        rows.append(
            merged[CELL_KEYS].assign(
                rate=rate, before=merged[f"p_{rate}_before"], after=merged[f"p_{rate}"], change=change,
                mcse_change=se, z=z, replicates_before=merged["replicates_before"], replicates=merged["replicates"],
            )
        )  # fmt: skip
    table = pd.concat(rows, ignore_index=True)
    return table.iloc[np.argsort(-np.abs(table["z"].to_numpy()), kind="stable")].reset_index(drop=True)
