"""Does a verdict survive the choices behind it? Every claim decided under every declared specification.

The claims check gives each claim one verdict, and that verdict rests on choices: who coded the cases, whether
the groups' slopes are estimated alone or partially pooled, and the prior of the pooled model. The choices are
declared in `data/robustness.toml`, each with its reason (`load_choices`), and crossed into specifications
(`specifications`): every coding x every model. Each claim is decided under each one by the functions the study
already uses, never copied from an exhibit (`robustness_table`):

- no pooling: `claims.evaluate`, the claims check of notebook 05 (the primary specification, on the first coding,
  is exactly its `verdict` column);
- partial pooling: `pooling.pooled_fits` at the declared priors (`pooling.load_priors`), or with the between-group
  SD prior scale multiplied by the declared factor, and `claims.pooled_verdict`, as notebook 05 decides its
  pooled twins; only claims about one group's slope have one, the others are "not applicable".

The link (logit), proportional odds (assumed) and missing codes (complete cases) are, in this version, the values
the analysis uses in every specification; they are columns of the table so that each row says what it rests on.

`robustness_summary` counts the verdicts per claim and labels it "robust" or "depends on ...". It is a display of
sensitivity, not a new test: no verdict, p-value or error rate is computed from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import pandas as pd

from .. import package_data
from ..errors import UpgradingError
from . import claims, pooling
from .codebook import load_codebook
from .coding import to_cases
from .register import Register, load_register
from .reliability import double_coding, reliability_variables
from .verdicts import VERDICTS

#: The choices file, as a contributor finds it in the repository (for messages).
CHOICES_FILE = "src/upgrading/data/robustness.toml"
#: The codings the code can compute: the sheet given, and the second coder's codes merged into it.
CODINGS = ("first", "second")
#: How a model choice fits the claims: "none" is `claims.evaluate`, "partial" the partially pooled posterior.
POOLINGS = ("none", "partial")
NOT_APPLICABLE = claims.POOLED_NOT_APPLICABLE
#: Every verdict a cell can have, in the order the summary counts them.
CELL_VERDICTS = (*VERDICTS, NOT_APPLICABLE)
#: The choices a specification is made of (columns of the table), in the order a label names them.
CHOICE_COLUMNS = ("coding", "model")
#: What every specification of this version uses (see the module docstring): the analysis's own values.
FIXED = {"link": "logit", "proportional_odds": "assumed", "missing": "complete cases"}
COLUMNS = (
    "id",
    "specification",
    *CHOICE_COLUMNS,
    *FIXED,
    "primary",
    "verdict",
    "estimate",
    "ci_low",
    "ci_high",
    "note",
)
#: Why a claim has no partially pooled verdict (`claims.group_slope_claim`).
NOT_A_GROUP_SLOPE = "partial pooling decides only claims about one sectoral group's slope of the by-group model"
#: What the summary is and is not, said wherever it is shown.
SENSITIVITY = (
    "The robustness summary is a display of sensitivity, not a new test: it shows whether a claim's verdict "
    "changes across the declared analysis choices (src/upgrading/data/robustness.toml); the claims check's "
    "verdict is the primary specification's, and no verdict, p-value or error rate comes from this summary."
)


# ---------------------------------------------------------------------------------------------------------
# The declared choices
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One value of the coding choice, with its reason."""

    name: str
    reason: str


@dataclass(frozen=True)
class ModelChoice:
    """One value of the model choice: how claims are fitted (`pooling`, one of POOLINGS), for partial pooling the
    factor the declared between-group SD prior scale is multiplied by, and the reason."""

    name: str
    reason: str
    pooling: str
    tau_scale_factor: float | None = None


@dataclass(frozen=True)
class Choices:
    """The declared choices (`data/robustness.toml`) and the primary specification's value of each."""

    version: str
    coding: tuple[Choice, ...]
    model: tuple[ModelChoice, ...]
    primary_coding: str
    primary_model: str

    def model_choice(self, name: str) -> ModelChoice:
        return next(m for m in self.model if m.name == name)


@dataclass(frozen=True)
class Specification:
    """One coding x one model, named `coding / model`; `primary` for the claims check's own."""

    name: str
    coding: str
    model: str
    primary: bool


def check_choices(data: dict[str, Any]) -> None:
    """Refuse a choices file the code cannot compute exactly as declared: unknown codings or poolings, a missing
    reason, repeated names, a partial-pooling factor that is not positive, or a primary specification other than
    the claims check itself (the first coding, no pooling)."""
    problems = []
    for kind in CHOICE_COLUMNS:
        names = [c.get("name") for c in data.get(kind, ())]
        if not names or len(set(names)) != len(names):
            problems.append(f"[[{kind}]] must name at least one choice, each once")
        problems += [f"{kind} {c.get('name')!r} has no reason" for c in data.get(kind, ()) if not c.get("reason")]
    problems += [
        f"coding {c['name']!r} is not one of {CODINGS}" for c in data.get("coding", ()) if c["name"] not in CODINGS
    ]
    for m in data.get("model", ()):
        factor = m.get("tau_scale_factor")
        if m.get("pooling") not in POOLINGS:
            problems.append(f"model {m['name']!r}: pooling {m.get('pooling')!r} is not one of {POOLINGS}")
        elif (m["pooling"] == "partial") != (factor is not None) or (factor is not None and not factor > 0):
            problems.append(f"model {m['name']!r}: a positive tau_scale_factor for partial pooling, and only there")
    primary = data.get("primary", {})
    models = {m["name"]: m.get("pooling") for m in data.get("model", ())}
    if primary.get("coding") != "first" or models.get(primary.get("model")) != "none":
        problems.append("primary must be the claims check itself: coding 'first' and a model with pooling 'none'")
    if problems:
        raise UpgradingError(f"{CHOICES_FILE} is inconsistent:\n  " + "\n  ".join(problems))


def choices_from_data(data: dict[str, Any]) -> Choices:
    """Checked, typed choices from the parsed TOML (or a variant of it)."""
    check_choices(data)
    return Choices(
        version=data["version"],
        coding=tuple(Choice(c["name"], c["reason"]) for c in data["coding"]),
        model=tuple(
            ModelChoice(m["name"], m["reason"], m["pooling"], m.get("tau_scale_factor")) for m in data["model"]
        ),
        primary_coding=data["primary"]["coding"],
        primary_model=data["primary"]["model"],
    )


@cache
def load_choices() -> Choices:
    """The declared analysis choices of the package (`data/robustness.toml`), checked."""
    return choices_from_data(package_data.load("robustness.toml"))


def specifications(choices: Choices | None = None, codings=None) -> tuple[Specification, ...]:
    """The full crossing coding x model, codings outer, each in declared order; `codings` keeps only those (the
    second coding exists only where a second coder's sheet is given)."""
    choices = choices or load_choices()
    return tuple(
        Specification(
            f"{c.name} / {m.name}",
            c.name,
            m.name,
            (c.name, m.name) == (choices.primary_coding, choices.primary_model),
        )
        for c in choices.coding
        if codings is None or c.name in codings
        for m in choices.model
    )


# ---------------------------------------------------------------------------------------------------------
# The second coding
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SecondCoding:
    """The first coding with the second coder's codes wherever the second coder coded a case and a variable;
    `from_second`: how many of the `total` cases hold at least one of the second coder's codes."""

    cases: pd.DataFrame
    from_second: int
    total: int

    def sentence(self) -> str:
        """What the second coding is made of, for a note or a printed line."""
        return (
            f"the second coder's codes in {self.from_second} of {self.total} cases, the first coder's wherever "
            "the second coder gave none"
        )


def second_coding(first: pd.DataFrame, second: pd.DataFrame, second_name: str = "second coder") -> SecondCoding:
    """Merge the second coder's codes (the coded variables whose reliability is measured: scores, governance,
    sectoral group) into the first coding, case by case and variable by variable; text columns and every code the
    second coder did not give stay the first coder's, and `leader_driven` follows the merged governance. A second
    coding holding a case the first does not is refused (`reliability.double_coding`)."""
    double_coding(first, second, second_name)
    ids = first["case_id"].astype(str)
    other = second.assign(case_id=second["case_id"].astype(str)).set_index("case_id").reindex(ids)
    merged = first[list(load_codebook().columns)].astype(object)
    taken = pd.DataFrame(False, index=first.index, columns=list(reliability_variables()))
    for variable in taken.columns:
        theirs = pd.Series(other[variable].astype(object).to_numpy(), index=first.index)
        taken[variable] = theirs.notna()
        merged[variable] = merged[variable].mask(taken[variable], theirs)
    cases = to_cases(merged)
    cases.attrs = dict(first.attrs)
    return SecondCoding(cases, int(taken.any(axis=1).sum()), len(first))


# ---------------------------------------------------------------------------------------------------------
# The table: every claim under every specification
# ---------------------------------------------------------------------------------------------------------


def robustness_table(
    cases: pd.DataFrame,
    second: pd.DataFrame | None = None,
    n_resamples: int | None = None,
    choices: Choices | None = None,
    register: Register | None = None,
) -> pd.DataFrame:
    """One row per claim x specification (COLUMNS), claims in register order, specifications in `specifications`
    order: the verdict, the estimate and 95% interval it was decided on (log odds ratio: ML or Jeffreys interval
    for no pooling, the equal-tailed credible interval for partial pooling) and a note.

    Without a second coder's sheet (`second`), the second-coding specifications are absent, not stubbed: the table
    has the first coding's only. With one, every second-coding row's note and `attrs["second_coding"]` say how many
    cases hold the second coder's codes. `link`, `proportional_odds` and `missing` are the analysis's own values
    (logit, assumed, complete cases), the same in every row. `n_resamples`: permutations of `claims.evaluate`'s
    cross-check (it changes no verdict)."""
    choices, register = choices or load_choices(), register or load_register()
    sheets = {"first": (cases, "")}
    attrs = {}
    if second is not None:
        source = second.attrs.get("source_file")
        merged = second_coding(cases, second, f"second coder ({source})" if source else "second coder")
        sheets["second"] = (merged.cases, merged.sentence())
        attrs = {"second_coding": merged.sentence(), "second_coder_cases": merged.from_second}
    specs = specifications(choices, codings=list(sheets))
    rows = []
    for coding, (sheet, note) in sheets.items():
        chosen = [s for s in specs if s.coding == coding]
        rows += _coding_rows(sheet, chosen, note, choices, register, n_resamples)
    order = {c.id: k for k, c in enumerate(register.claims)}
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    table = table.sort_values("id", key=lambda ids: ids.map(order), kind="stable").reset_index(drop=True)
    table.attrs = attrs
    return table


def _coding_rows(sheet, specs, note, choices, register, n_resamples) -> list[dict]:
    """The rows of one coding's specifications, each model fitted once on the sheet."""
    rows = []
    for spec in specs:
        model = choices.model_choice(spec.model)
        if model.pooling == "none":
            decided = _no_pooling(sheet, register, n_resamples)
        else:
            decided = _partial_pooling(sheet, model.tau_scale_factor, register)
        base = {"specification": spec.name, "coding": spec.coding, "model": spec.model, "primary": spec.primary}
        for row in decided:
            row["note"] = "; ".join(n for n in (note, row["note"]) if n)
            rows.append(base | FIXED | row)
    return rows


def _no_pooling(sheet: pd.DataFrame, register: Register, n_resamples: int | None) -> list[dict]:
    """Each claim's verdict, estimate, interval and note from the claims check itself (`claims.evaluate`)."""
    table = claims.evaluate(sheet, register, n_resamples=n_resamples)
    columns = ["id", "verdict", "estimate", "ci_low", "ci_high", "note"]
    decided = table[columns].astype(object).where(table[columns].notna(), None)
    return [{**row, "note": row["note"] or ""} for row in decided.to_dict("records")]


def _partial_pooling(sheet: pd.DataFrame, factor: float, register: Register) -> list[dict]:
    """Each claim's verdict from the partially pooled posterior with the between-group SD prior scale times
    `factor` (`claims.pooled_verdict`, as notebook 05 decides its pooled twins: a missing or unreliable posterior
    is "inconclusive" with the reason); a claim that is not a group slope is "not applicable"."""
    priors = pooling.load_priors()
    priors = replace(priors, tau_scale=priors.tau_scale * factor)
    forms = claims.pooled_claim_forms(register)
    fits = pooling.pooled_fits(sheet, forms, priors=priors) if forms else {}
    rows = []
    for claim in register.claims:
        if claims.group_slope_claim(claim, register) is None:
            rows.append({"id": claim.id, "verdict": NOT_APPLICABLE, "note": NOT_A_GROUP_SLOPE})
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
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------------------
# The summary: a display of sensitivity, not a new test
# ---------------------------------------------------------------------------------------------------------


def robustness_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per claim (in the table's order): the primary verdict, how many specifications give each verdict
    (CELL_VERDICTS), and a label: "robust" when every specification that decides the claim (verdict not "not
    applicable") gives the primary verdict, else "depends on " and the choices whose non-primary values change it
    (`label`). A display of sensitivity, not a new test: nothing here is a verdict or a p-value of its own."""
    rows = []
    for claim_id, cells in table.groupby("id", sort=False):
        primary = cells[cells["primary"].astype(bool)]
        if len(primary) != 1:
            raise UpgradingError(f"{claim_id}: {len(primary)} primary specifications in the table; exactly one needed")
        counts = cells["verdict"].value_counts().reindex(CELL_VERDICTS, fill_value=0)
        rows.append(
            {"id": claim_id, "primary_verdict": primary["verdict"].iloc[0]}
            | {v: int(counts[v]) for v in CELL_VERDICTS}
            | {"label": label(cells)}
        )
    summary = pd.DataFrame(rows, columns=["id", "primary_verdict", *CELL_VERDICTS, "label"])
    summary.attrs = dict(table.attrs)
    return summary


def label(cells: pd.DataFrame) -> str:
    """ "robust", or "depends on" the choices that change one claim's verdict (its rows of the table).

    A non-primary value of a choice changes the verdict when the specification that differs from the primary in
    that value alone decides the claim otherwise (e.g. "second / no pooling" for the coding); a specification that
    decides it otherwise only where two choices move together (neither alone does) names both. Named as
    "choice (value, ...)", choices and values in table order: "depends on coding (second), model (partial pooling
    x0.5)". "Not applicable" cells are ignored."""
    primary = cells[cells["primary"].astype(bool)].iloc[0]
    deciding = cells[cells["verdict"] != NOT_APPLICABLE]
    differ = deciding[deciding["verdict"] != primary["verdict"]]
    if differ.empty:
        return "robust"
    moved = [{c: row[c] for c in CHOICE_COLUMNS if row[c] != primary[c]} for _, row in differ.iterrows()]
    changed = {c: {m[c] for m in moved if len(m) == 1 and c in m} for c in CHOICE_COLUMNS}
    for m in moved:
        if not any(value in changed[c] for c, value in m.items()):  # only together do they change it
            for c, value in m.items():
                changed[c].add(value)
    named = [
        f"{c} ({', '.join(v for v in dict.fromkeys(cells[c]) if v in changed[c])})"
        for c in CHOICE_COLUMNS
        if changed[c]
    ]
    return "depends on " + ", ".join(named)


__all__ = [
    "CELL_VERDICTS",
    "COLUMNS",
    "Choice",
    "Choices",
    "ModelChoice",
    "SENSITIVITY",
    "SecondCoding",
    "Specification",
    "choices_from_data",
    "label",
    "load_choices",
    "robustness_summary",
    "robustness_table",
    "second_coding",
    "specifications",
]
