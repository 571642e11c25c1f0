"""Does a verdict survive the choices behind it? Every claim decided under every declared specification.

The claims check gives each claim one verdict, and that verdict rests on choices: who coded the cases, whether
the groups' slopes are estimated alone or partially pooled, the prior of the pooled model, the link, and what a
code not reported stands for. The choices are declared in `data/robustness.toml`, each with its reason, and
crossed into specifications (`robustness_choices`). Each claim is decided under each one by the functions the
study already uses, never copied from an exhibit (`robustness_table`):

- no pooling: `claims.evaluate`, the claims check of notebook 05 (the primary specification, on the first coding
  under the logit, is exactly its `verdict` column); under the probit or cloglog link every model is fitted under
  that link and decided by the same rule, the margins carried to its latent scale (`claims.register_on_link`);
- partial pooling: `pooling.pooled_fits` at the declared priors (`pooling.load_priors`), or with the between-group
  SD prior scale multiplied by the declared factor, and `claims.pooled_verdict`, as notebook 05 decides its
  pooled twins; only claims about one group's slope have one, the others are "not applicable". The pooled model
  is a logit model (`data/pooling.toml`), so it has no link choice.

- proportional odds: assumed (the claims check's), or relaxed for a claim's term where its nominal test rejects
  it, the claim then decided on every threshold's slope of the partial-proportional-odds fit (`partial_odds`);
- missing codes: complete cases (the claims check's own), or, where a coding has outcome codes not reported, each
  of them set to the lowest and to the highest level of its scale (`bounded_outcomes`), decided by the claims
  check: bounds on what the complete-case verdict leaves out.


`robustness_summary` counts the verdicts per claim and labels it "robust" or "depends on ...". It is a display of
sensitivity, not a new test: no verdict, p-value or error rate is computed from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from .. import interim
from ..errors import UpgradingError
from ..ordinal import formula_columns
from . import claims, pooling
from .codebook import load_codebook
from .coding import to_cases
from .partial_odds import relaxed_rows
from .reasons import coded_variable
from .register import Register, load_register
from .reliability import double_coding
from .robustness_choices import (
    CHOICE_COLUMNS,
    LOGIT,
    Choices,
    MissingChoice,
    Specification,
    load_choices,
    specifications,
)
from .settings import KEY_PREDICTORS
from .verdicts import VERDICTS

NOT_APPLICABLE = claims.POOLED_NOT_APPLICABLE
#: Every verdict a cell can have, in the order the summary counts them.
CELL_VERDICTS = (*VERDICTS, NOT_APPLICABLE)
COLUMNS = (
    "id",
    "specification",
    *CHOICE_COLUMNS,
    "primary",
    "verdict",
    "estimate",
    "ci_low",
    "ci_high",
    "note",
    "decided",
)
#: Cells whose specification could not decide the claim (no fit, a fit that did not converge, an unreliable
#: posterior): their verdict is "inconclusive", as the claims check reports it, and `decided` is false.
NOT_DECIDED = "not decided"
#: Why a claim has no partially pooled verdict (`claims.group_slope_claim`).
NOT_A_GROUP_SLOPE = "partial pooling decides only claims about one sectoral group's slope of the by-group model"
#: What the summary is and is not, said wherever it is shown.
SENSITIVITY = (
    "The robustness summary is a display of sensitivity, not a new test: it shows whether a claim's verdict "
    "changes across the declared analysis choices (src/upgrading/data/robustness.toml); the claims check's "
    "verdict is the primary specification's, and no verdict, p-value or error rate comes from this summary."
)


# ---------------------------------------------------------------------------------------------------------
# The second coding
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SecondCoding:
    """The first coding with every case the second coder coded taken from the second coder, whole (their
    "not reported" included); `from_second`: how many of the `total` cases that is."""

    cases: pd.DataFrame
    from_second: int
    total: int

    def sentence(self) -> str:
        """What the second coding is made of, for a note or a printed line (the first coder's cases named only
        where the second coder did not code them all)."""
        theirs = f"the second coder's coding of {self.from_second} of {self.total} cases"
        if self.from_second == self.total:
            return theirs
        return f"{theirs}, the first coder's for the cases the second coder did not code"


def second_coding(first: pd.DataFrame, second: pd.DataFrame, second_name: str = "second coder") -> SecondCoding:
    """Each case the second coder coded as the second coder coded it (every codebook column of their row, a code
    they did not report included, as reliability counts it), every other case as the first coder coded it. Whole
    rows, so that each case stays valid under the codebook (a group with its industries, collective efficiency
    with its parts). A second coding holding a case the first does not is refused (`reliability.double_coding`)."""
    repeated = sorted({str(c) for c in second["case_id"][second["case_id"].astype(str).duplicated()]})
    if repeated:
        raise UpgradingError(f"the {second_name} coded these cases more than once: {', '.join(repeated)}")
    both = set(double_coding(first, second, second_name).double_coded)
    columns = list(load_codebook().columns)
    theirs = second.assign(case_id=second["case_id"].astype(str)).set_index("case_id")[columns[1:]]
    merged = first[columns].astype(object).copy()
    ids = merged["case_id"].astype(str)
    taken = ids.isin(both).to_numpy()
    merged.loc[taken, columns[1:]] = theirs.loc[ids[taken], columns[1:]].astype(object).to_numpy()
    cases = to_cases(merged)
    cases.attrs = dict(first.attrs)
    return SecondCoding(cases, int(taken.sum()), len(first))


# ---------------------------------------------------------------------------------------------------------
# The table: every claim under every specification
# ---------------------------------------------------------------------------------------------------------


def robustness_table(
    cases: pd.DataFrame,
    second: pd.DataFrame | None = None,
    choices: Choices | None = None,
    register: Register | None = None,
    n_jobs: int = 1,
    cache: bool = False,
) -> pd.DataFrame:
    """One row per claim x specification (COLUMNS), claims in register order, specifications in `specifications`
    order: the verdict, the estimate and 95% interval it was decided on (log odds ratio: ML or Jeffreys interval
    for no pooling, the equal-tailed credible interval for partial pooling) and a note.

    Absent, not stubbed: the second coding's specifications without a second coder's sheet (`second`), and a
    coding's missing-code bounds where none of its outcome codes is missing (they would repeat its complete-case
    verdicts); `attrs["missing"]` says which. With a second coder, every second-coding row's note and
    `attrs["second_coding"]` say how many cases hold the second coder's codes. Under the probit or cloglog link
    the estimate and interval are on that link's latent scale (the note says so); with proportional odds relaxed,
    a claim has one slope per threshold, given in the note, not in `estimate`. The claims check runs without its
    permutation cross-check, which decides nothing and is not shown here. `n_jobs`: joblib workers over the
    specifications (each is computed on its own, so the table does not depend on it). With `cache`, a table already
    made from the same sheets, choices, register and package is read from data/interim/ (`upgrading.interim`), as
    the test suite's rerun of notebook 06 does; a table made anew then reads notebook 04's kept partially pooled
    fits of the first coding at the declared prior (the same fits)."""
    if cache:
        key = {"sheets": [interim.frame_digest(cases), interim.frame_digest(second)]}
        key |= {"choices": repr(choices), "register": repr(register)}  # None: the package's, in its digest
        return interim.cached("robustness", key, lambda: _table(cases, second, choices, register, n_jobs, True))
    return _table(cases, second, choices, register, n_jobs, False)


def _table(cases, second, choices, register, n_jobs: int, kept_fits: bool) -> pd.DataFrame:
    """`robustness_table` computed; with `kept_fits`, the partially pooled fits of the first coding at the declared
    prior are notebook 04's, read from (or kept in) data/interim/ (`pooling.pooled_fits(cache=True)`)."""
    from joblib import Parallel, delayed

    choices, register = choices or load_choices(), register or load_register()
    sheets = {"first": (cases, "")}
    attrs = {}
    if second is not None:
        source = second.attrs.get("source_file")
        merged = second_coding(cases, second, f"second coder ({source})" if source else "second coder")
        sheets["second"] = (merged.cases, merged.sentence())
        attrs = {"second_coding": merged.sentence(), "second_coder_cases": merged.from_second}
    specs = specifications(choices, codings=list(sheets))
    tasks, missing = [], []
    for coding, (sheet, note) in sheets.items():
        chosen = [s for s in specs if s.coding == coding]
        count = missing_outcome_codes(sheet)
        if not count:
            chosen = [s for s in chosen if s.missing == choices.primary["missing"]]
        reported = (
            "every outcome code reported, so no bounds" if not count
            else f"{count} outcome code{'s' if count > 1 else ''} not reported"
        )  # fmt: skip
        missing.append(f"{coding} coding: {reported}" + missing_predictor_cases(sheet))
        tasks += [(sheet, spec, note) for spec in chosen]
    decided = Parallel(n_jobs=n_jobs)(
        delayed(_specification_rows)(sheet, spec, note, choices, register, kept_fits and spec.coding == "first")
        for sheet, spec, note in tasks
    )
    order = {c.id: k for k, c in enumerate(register.claims)}
    table = pd.DataFrame([row for rows in decided for row in rows]).reindex(columns=list(COLUMNS))
    table = table.sort_values("id", key=lambda ids: ids.map(order), kind="stable").reset_index(drop=True)
    table.attrs = attrs | {"missing": "; ".join(missing)}
    return table


def missing_outcome_codes(cases: pd.DataFrame) -> int:
    """How many outcome codes (the four forms of upgrading) the sheet leaves not reported."""
    return int(cases[list(load_codebook().upgrading_forms)].isna().to_numpy().sum())


def missing_predictor_cases(cases: pd.DataFrame) -> str:
    """'; k cases with <column> not reported and j with <column> not reported, left out of ...' ("1 case" for one)
    for each key predictor a sheet leaves not reported in some cases, named by the sheet's column (governance for
    leader_driven), or '': the bounds fill outcome codes only, and every model holds both predictors, so those cases
    stay out of every model under every specification."""
    counts = {coded_variable(p): int(cases[p].isna().sum()) for p in KEY_PREDICTORS if p in cases}
    counted = [(column, k) for column, k in counts.items() if k]
    if not counted:
        return ""
    parts = [f"{k} {('case ' if k == 1 else 'cases ') if not i else ''}with {column} not reported"
             for i, (column, k) in enumerate(counted)]  # fmt: skip
    return (
        f"; {' and '.join(parts)}, left out of every model under every specification (the bounds fill outcome "
        "codes only)"
    )


def bounded_outcomes(cases: pd.DataFrame, missing: MissingChoice) -> pd.DataFrame:
    """The cases with every outcome code not reported set to the lowest or the highest level of its scale
    (`missing.fill`); the cases themselves for complete cases."""
    if missing.fill == "none":
        return cases
    codebook = load_codebook()
    bounded = cases.copy()
    bounded.attrs = dict(cases.attrs)
    for form in codebook.upgrading_forms:
        levels = codebook.variable(form).scale.levels
        bounded[form] = cases[form].fillna(levels[0] if missing.fill == "lowest" else levels[-1])
    return bounded


def _specification_rows(sheet, spec: Specification, note, choices, register, kept_fits: bool = False) -> list[dict]:
    """The rows of one specification on its coding's sheet (or on its bounds): every claim, decided once.
    `kept_fits`: the sheet is the one notebook 04 fits, whose partially pooled fits at the declared prior are kept."""
    model, missing = choices.model_choice(spec.model), choices.missing_choice(spec.missing)
    odds = choices.proportional_odds_choice(spec.proportional_odds)
    bounded = bounded_outcomes(sheet, missing)
    if odds.relax == "where rejected":
        decided = relaxed_rows(bounded, register, odds.test_level)
    elif model.pooling == "none":
        decided = _no_pooling(bounded, register, spec.link)
    else:
        # the missing-code bounds are crossed with no pooling only (`specifications`): a pooled sheet is the coding's
        decided = _partial_pooling(
            bounded, model.tau_scale_factor, register, cache=kept_fits and model.tau_scale_factor == 1
        )
    filled = "" if missing.fill == "none" else f"outcome codes not reported set to the {missing.fill} level"
    if filled:  # a claim whose own cases report every code of its outcome: the bound is its complete-case analysis
        prepared, claims_by_id = claims.prepare(sheet), {c.id: c for c in register.claims}
        decided = [_unbounded(row, claims_by_id[row["id"]], prepared, register) for row in decided]
    base = {c: getattr(spec, c) for c in ("name", *CHOICE_COLUMNS, "primary")}
    base["specification"] = base.pop("name")
    rows = []
    for row in decided:
        said = "" if row["verdict"] == NOT_APPLICABLE else filled  # a bound that fills nothing says so instead
        rows.append(base | row | {"note": "; ".join(n for n in (note, said, row["note"]) if n)})
    return rows


def _unbounded(row: dict, claim, data: pd.DataFrame, register: Register) -> dict:
    """A missing-code bound's cell as decided (`row`), or "not applicable" where the bound fills none of the
    claim's codes: no case of the claim's subset that has the other variables of its model coded leaves its
    outcome not reported, so the bound is the complete-case analysis itself, not one more specification that agrees
    with it. `data`: the coding's prepared cases (`claims.prepare`), before the bound."""
    cases = data if claim.subset == "all" else data[data["sectoral_group"].astype(str) == claim.subset]
    others = [c for c in formula_columns(claim.model(register.cell_model), cases) if c != claim.outcome]
    if (cases[claim.outcome].isna() & cases[others].notna().all(axis=1)).any():
        return row
    why = (
        f"every {claim.outcome} code of the claim's cases (those with its other variables coded) is reported on this "
        "coding: the bound is the complete-case analysis itself, nothing to bound"
    )
    return {"id": row["id"], "verdict": NOT_APPLICABLE, "note": why, "decided": False}


def _no_pooling(sheet: pd.DataFrame, register: Register, link: str) -> list[dict]:
    """Each claim's verdict, estimate, interval and note from the claims check itself (`claims.evaluate`) under
    `link`; off the logit, the note says the scale and the margin the verdict was decided with."""
    table = claims.evaluate(sheet, register, link=link, with_cross_check=False)
    columns = ["id", "verdict", "estimate", "ci_low", "ci_high", "note"]
    rows = table[columns].astype(object).where(table[columns].notna(), None)
    rows["decided"] = (table["fit"] != claims.NOT_ESTIMABLE).to_numpy()
    scale = [f"{link} latent scale, margin {m:.3f}" if link != LOGIT else "" for m in table["margin"]]
    return [
        {**row, "note": "; ".join(n for n in (row["note"], why) if n)}
        for row, why in zip(rows.to_dict("records"), scale)
    ]


def _partial_pooling(sheet: pd.DataFrame, factor: float, register: Register, cache: bool = False) -> list[dict]:
    """Each claim's verdict from the partially pooled posterior with the between-group SD prior scale times
    `factor` (`claims.pooled_verdict`, as notebook 05 decides its pooled twins: a missing or unreliable posterior
    is "inconclusive" with the reason); a claim that is not a group slope is "not applicable". `cache`: the fits
    kept in data/interim/ (`pooling.pooled_fits`)."""
    priors = pooling.load_priors()
    priors = replace(priors, tau_scale=priors.tau_scale * factor)
    forms = claims.pooled_claim_forms(register)
    fits = pooling.pooled_fits(sheet, forms, priors=priors, cache=cache) if forms else {}
    rows = []
    for claim in register.claims:
        if claims.group_slope_claim(claim, register) is None:
            rows.append({"id": claim.id, "verdict": NOT_APPLICABLE, "note": NOT_A_GROUP_SLOPE, "decided": False})
            continue
        pooled = claims.pooled_verdict(claim, register, fits)
        rows.append(
            {
                "id": claim.id,
                "verdict": pooled["verdict_pooled"],
                "estimate": pooled.get("pooled_estimate"),
                "ci_low": pooled.get("pooled_ci_low"),
                "ci_high": pooled.get("pooled_ci_high"),
                "note": pooled["pooled_note"],
                "decided": "pooled_estimate" in pooled,  # an interval to decide on: a reliable posterior
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------------------
# The summary: a display of sensitivity, not a new test
# ---------------------------------------------------------------------------------------------------------


def robustness_summary(table: pd.DataFrame, rates: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim (in the table's order): the primary verdict, how many specifications give each verdict
    (CELL_VERDICTS) and how many could not decide it (NOT_DECIDED: no fit, or an unreliable posterior; their verdict
    counts as the claims check reports it, "inconclusive"), and a `label`; with `rates` (`power_rates.rates_by_claim`),
    the design's rates of right, wrong and inconclusive verdicts for the claim's kind and group beside, so a reader
    sees what a verdict is worth. A display of sensitivity, not a new test: nothing here is a verdict or a p-value
    of its own."""
    rows = []
    for claim_id, cells in table.groupby("id", sort=False):
        primary = cells[cells["primary"].astype(bool)]
        if len(primary) != 1:
            raise UpgradingError(f"{claim_id}: {len(primary)} primary specifications in the table; exactly one needed")
        counts = cells["verdict"].value_counts().reindex(CELL_VERDICTS, fill_value=0)
        undecided = int(((~cells["decided"].astype(bool)) & (cells["verdict"] != NOT_APPLICABLE)).sum())
        rows.append(
            {"id": claim_id, "primary_verdict": primary["verdict"].iloc[0]}
            | {v: int(counts[v]) for v in CELL_VERDICTS}
            | {NOT_DECIDED: undecided, "label": label(cells)}
        )
    summary = pd.DataFrame(rows, columns=["id", "primary_verdict", *CELL_VERDICTS, NOT_DECIDED, "label"])
    if rates is not None:
        summary = summary.join(rates, on="id")
    summary.attrs = dict(table.attrs)
    return summary


def label(cells: pd.DataFrame) -> str:
    """One claim's label from its rows of the table, over the specifications that decide it (`decided`):

    - "not assessed: ..." where the primary specification cannot decide it, or no other specification does;
    - "robust" where every other deciding specification gives the primary verdict, "robust (decided by k of the
      m other specifications)" where some that apply to the claim could not decide it (`is_robust` reads both);
    - else "depends on" the choices that change it. First every value that changes the verdict alone (the
      specification differing from the primary in that value only decides otherwise), named as "choice (value,
      ...)" in table order, e.g. "depends on coding (second), model (partial pooling x0.5)"; then, after "; ",
      each set of values that changes it only together (a specification that decides otherwise though none of
      its values does alone), e.g. "coding (second) together with model (partial pooling)", so that a reader
      never takes a value for one that changes the verdict alone. Independent of row order."""
    primary = cells[cells["primary"].astype(bool)].iloc[0]
    if not bool(primary["decided"]):
        return "not assessed: the primary specification cannot decide it"
    others = cells[cells["decided"].astype(bool) & ~cells["primary"].astype(bool)]
    if others.empty:
        return "not assessed: only the primary specification decides it"
    differ = others[others["verdict"] != primary["verdict"]]
    if differ.empty:
        applying = int(((cells["verdict"] != NOT_APPLICABLE) & ~cells["primary"].astype(bool)).sum())
        if len(others) == applying:
            return "robust"
        return f"robust (decided by {len(others)} of the {applying} other specifications)"
    moved = [{c: row[c] for c in CHOICE_COLUMNS if row[c] != primary[c]} for _, row in differ.iterrows()]
    alone = {c: {m[c] for m in moved if len(m) == 1 and c in m} for c in CHOICE_COLUMNS}
    together = [m for m in moved if len(m) > 1 and not any(value in alone[c] for c, value in m.items())]
    order = {s.name: k for k, s in enumerate(specifications())}  # values named in the declared order
    ranked = cells.assign(rank=cells["specification"].map(order)).sort_values("rank", kind="stable")
    values = {c: list(dict.fromkeys(ranked[c])) for c in CHOICE_COLUMNS}
    named = [_named(c, alone[c], values[c]) for c in CHOICE_COLUMNS if alone[c]]
    named_alone = ", ".join(named)
    unknown = _undecided_alone(cells, primary)
    return "depends on " + "; ".join(([named_alone] if named else []) + _named_together(together, values, unknown))


def _undecided_alone(cells: pd.DataFrame, primary: pd.Series) -> dict[str, set]:
    """Per choice, the values whose own specification (differing from the primary in that value only) applies to
    the claim but could not decide it: whether such a value changes the verdict alone is not known."""
    unknown: dict[str, set] = {c: set() for c in CHOICE_COLUMNS}
    for _, row in cells[~cells["decided"].astype(bool) & (cells["verdict"] != NOT_APPLICABLE)].iterrows():
        moved = [c for c in CHOICE_COLUMNS if row[c] != primary[c]]
        if len(moved) == 1:
            unknown[moved[0]].add(row[moved[0]])
    return unknown


def is_robust(labels: pd.Series) -> pd.Series:
    """Which labels say "robust" (every deciding specification gives the primary verdict), whether or not some
    specifications could not decide the claim."""
    return labels.str.startswith("robust")


def _named(choice: str, chosen, values: list) -> str:
    """'choice (value, ...)', the values in the table's declared order."""
    return f"{choice} ({', '.join(v for v in values if v in chosen)})"


def _named_together(together: list[dict], values: dict[str, list], unknown: dict[str, set] | None = None) -> list[str]:
    """Each set of choices that changes a verdict only together, as "a (x) together with b (y, z)": the values of
    specifications that differ from the primary in the same choices are merged where they form every
    combination of those values (else each specification is named on its own), in the declared order. A value
    whose own specification could not decide the claim (`unknown`) may change it alone: its specification is named
    on its own, the value marked "alone: not decided", so it is not read as changing the verdict only together."""
    unknown = unknown or {}
    groups: dict[tuple, list[dict]] = {}
    flagged = []
    for m in together:
        if any(v in unknown.get(c, ()) for c, v in m.items()):
            flagged.append(m)
            continue
        groups.setdefault(tuple(c for c in CHOICE_COLUMNS if c in m), []).append(m)
    rank = {c: {v: k for k, v in enumerate(values[c])} for c in CHOICE_COLUMNS}
    named = []  # (position, text): in the declared order of the choices, then of their values

    def position(choices, combo):
        return [CHOICE_COLUMNS.index(c) for c in choices] + [rank[c][v] for c, v in zip(choices, combo)]

    for choices, members in groups.items():
        chosen = {c: {m[c] for m in members} for c in choices}
        combos = sorted({tuple(m[c] for c in choices) for m in members}, key=lambda t: position(choices, t))
        if len(combos) == math.prod(len(v) for v in chosen.values()):
            text = " together with ".join(_named(c, chosen[c], values[c]) for c in choices)
            named.append((position(choices, combos[0]), text))
            continue
        for combo in combos:
            text = " together with ".join(f"{c} ({v})" for c, v in zip(choices, combo))
            named.append((position(choices, combo), text))
    for m in flagged:
        choices = tuple(c for c in CHOICE_COLUMNS if c in m)
        combo = tuple(m[c] for c in choices)
        marked = [
            f"{c} ({v}" + ("; alone: not decided)" if v in unknown.get(c, ()) else ")") for c, v in zip(choices, combo)
        ]
        named.append((position(choices, combo), " together with ".join(marked)))
    return [text for _, text in sorted(named)]


__all__ = [
    "CELL_VERDICTS",
    "COLUMNS",
    "NOT_APPLICABLE",
    "NOT_DECIDED",
    "SENSITIVITY",
    "SecondCoding",
    "bounded_outcomes",
    "is_robust",
    "label",
    "missing_outcome_codes",
    "robustness_summary",
    "robustness_table",
    "second_coding",
]
