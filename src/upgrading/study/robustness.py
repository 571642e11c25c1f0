"""Does a verdict survive the choices behind it? Every claim decided under every declared specification.

The claims check gives each claim one verdict, and that verdict rests on choices: who coded the cases, whether
the groups' slopes are estimated alone or partially pooled, and the prior of the pooled model. The choices are
declared in `data/robustness.toml`, each with its reason (`load_choices`), and crossed into specifications
(`specifications`): every coding x every model, and for the no-pooling model every link. Each claim is decided
under each one by the functions the study already uses, never copied from an exhibit (`robustness_table`):

- no pooling: `claims.evaluate`, the claims check of notebook 05 (the primary specification, on the first coding
  under the logit, is exactly its `verdict` column); under the probit or cloglog link every model is fitted under
  that link and decided by the same rule, the margins carried to its latent scale (`claims.register_on_link`);
- partial pooling: `pooling.pooled_fits` at the declared priors (`pooling.load_priors`), or with the between-group
  SD prior scale multiplied by the declared factor, and `claims.pooled_verdict`, as notebook 05 decides its
  pooled twins; only claims about one group's slope have one, the others are "not applicable". The pooled model
  is a logit model (`data/pooling.toml`), so it has no link choice.

Proportional odds (assumed) and missing codes (complete cases) are, in this version, the values the analysis uses
in every specification; they are columns of the table so that each row says what it rests on.

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
from ..ordinal import LINKS
from . import claims, pooling
from .codebook import load_codebook
from .coding import to_cases
from .register import Register, load_register
from .reliability import double_coding
from .verdicts import VERDICTS

#: The choices file, as a contributor finds it in the repository (for messages).
CHOICES_FILE = "src/upgrading/data/robustness.toml"
#: The codings the code can compute: the sheet given, and the second coder's cases taken into it whole.
CODINGS = ("first", "second")
#: How a model choice fits the claims: "none" is `claims.evaluate`, "partial" the partially pooled posterior.
POOLINGS = ("none", "partial")
NOT_APPLICABLE = claims.POOLED_NOT_APPLICABLE
#: Every verdict a cell can have, in the order the summary counts them.
CELL_VERDICTS = (*VERDICTS, NOT_APPLICABLE)
#: The choices a specification is made of (columns of the table), in the order a label names them.
CHOICE_COLUMNS = ("coding", "model", "link")
#: The link of the claims check and of the pooled model: the one every specification but the link choice's uses.
LOGIT = "logit"
#: What every specification of this version uses (see the module docstring): the analysis's own values.
FIXED = {"proportional_odds": "assumed", "missing": "complete cases"}
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
# The declared choices
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One value of the coding or link choice, with its reason."""

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
    link: tuple[Choice, ...]
    primary_coding: str
    primary_model: str
    primary_link: str

    def model_choice(self, name: str) -> ModelChoice:
        return next(m for m in self.model if m.name == name)


@dataclass(frozen=True)
class Specification:
    """One coding x one model x one link, named `coding / model`, then `/ link` where the link is not the logit;
    `primary` for the claims check's own."""

    name: str
    coding: str
    model: str
    link: str
    primary: bool


def check_choices(data: dict[str, Any]) -> None:
    """Refuse a choices file the code cannot compute exactly as declared, naming every problem at once: a choice
    without a name or reason, repeated names, unknown codings or poolings, a partial-pooling factor that is not a
    positive number, no first coding, a link the claims check cannot carry its margins to (one without a latent
    SD), no logit, or a primary specification other than the claims check itself (the first coding, no pooling,
    the logit)."""
    problems = []
    for kind in CHOICE_COLUMNS:
        entries = [c for c in data.get(kind, ()) if isinstance(c, dict)]
        names = [c.get("name") for c in entries]
        if not names or len(set(names)) != len(names) or len(entries) != len(data.get(kind, ())):
            problems.append(f"[[{kind}]] must name at least one choice, each once")
        problems += [f"a {kind} choice has no name" for c in entries if not isinstance(c.get("name"), str)]
        problems += [f"{kind} {c.get('name')!r} has no reason" for c in entries if not c.get("reason")]
    codings = [c.get("name") for c in data.get("coding", ()) if isinstance(c, dict)]
    problems += [f"coding {name!r} is not one of {CODINGS}" for name in codings if name not in CODINGS]
    if "first" not in codings:
        problems.append("the first coding (the sheet given) must be a choice: the primary specification uses it")
    links = [c.get("name") for c in data.get("link", ()) if isinstance(c, dict)]
    usable = [name for name, link in LINKS.items() if link.latent_sd is not None]
    problems += [f"link {name!r} is not one of {tuple(usable)}" for name in links if name not in usable]
    if LOGIT not in links:
        problems.append("the logit must be a link: the primary specification and the pooled model use it")
    for m in (m for m in data.get("model", ()) if isinstance(m, dict)):
        factor = m.get("tau_scale_factor")
        positive = isinstance(factor, int | float) and not isinstance(factor, bool) and factor > 0
        if m.get("pooling") not in POOLINGS:
            problems.append(f"model {m.get('name')!r}: pooling {m.get('pooling')!r} is not one of {POOLINGS}")
        elif (m["pooling"] == "partial") != (factor is not None) or (factor is not None and not positive):
            problems.append(f"model {m.get('name')!r}: a positive tau_scale_factor for partial pooling, and only there")
    primary = data.get("primary", {})
    models = {m.get("name"): m.get("pooling") for m in data.get("model", ()) if isinstance(m, dict)}
    if primary.get("coding") != "first" or models.get(primary.get("model")) != "none" or primary.get("link") != LOGIT:
        problems.append(
            "primary must be the claims check itself: coding 'first', a model with pooling 'none' and link 'logit'"
        )
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
        link=tuple(Choice(c["name"], c["reason"]) for c in data["link"]),
        primary_coding=data["primary"]["coding"],
        primary_model=data["primary"]["model"],
        primary_link=data["primary"]["link"],
    )


@cache
def load_choices() -> Choices:
    """The declared analysis choices of the package (`data/robustness.toml`), checked."""
    return choices_from_data(package_data.load("robustness.toml"))


def specifications(choices: Choices | None = None, codings=None) -> tuple[Specification, ...]:
    """The full crossing coding x model (x link for a model without pooling; the pooled model is a logit model),
    codings outer, each in declared order; `codings` keeps only those (the second coding exists only where a second
    coder's sheet is given)."""
    choices = choices or load_choices()
    primary = (choices.primary_coding, choices.primary_model, choices.primary_link)
    return tuple(
        Specification(
            f"{c.name} / {m.name}" + (f" / {link}" if link != LOGIT else ""),
            c.name,
            m.name,
            link,
            (c.name, m.name, link) == primary,
        )
        for c in choices.coding
        if codings is None or c.name in codings
        for m in choices.model
        for link in ([x.name for x in choices.link] if m.pooling == "none" else [LOGIT])
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
        """What the second coding is made of, for a note or a printed line."""
        return (
            f"the second coder's coding of {self.from_second} of {self.total} cases, the first coder's for the "
            "cases the second coder did not code"
        )


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
    n_resamples: int | None = None,
    choices: Choices | None = None,
    register: Register | None = None,
) -> pd.DataFrame:
    """One row per claim x specification (COLUMNS), claims in register order, specifications in `specifications`
    order: the verdict, the estimate and 95% interval it was decided on (log odds ratio: ML or Jeffreys interval
    for no pooling, the equal-tailed credible interval for partial pooling) and a note.

    Without a second coder's sheet (`second`), the second-coding specifications are absent, not stubbed: the table
    has the first coding's only. With one, every second-coding row's note and `attrs["second_coding"]` say how many
    cases hold the second coder's codes. Under the probit or cloglog link the estimate and interval are on that
    link's latent scale (the note says so). `proportional_odds` and `missing` are the analysis's own values
    (assumed, complete cases), the same in every row. `n_resamples`: permutations of `claims.evaluate`'s
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
            decided = _no_pooling(sheet, register, n_resamples, spec.link)
        else:
            decided = _partial_pooling(sheet, model.tau_scale_factor, register)
        base = {
            "specification": spec.name,
            "coding": spec.coding,
            "model": spec.model,
            "link": spec.link,
            "primary": spec.primary,
        }
        for row in decided:
            row["note"] = "; ".join(n for n in (note, row["note"]) if n)
            rows.append(base | FIXED | row)
    return rows


def _no_pooling(sheet: pd.DataFrame, register: Register, n_resamples: int | None, link: str) -> list[dict]:
    """Each claim's verdict, estimate, interval and note from the claims check itself (`claims.evaluate`) under
    `link`; off the logit, the note says the scale and the margin the verdict was decided with."""
    table = claims.evaluate(sheet, register, n_resamples=n_resamples, link=link)
    columns = ["id", "verdict", "estimate", "ci_low", "ci_high", "note"]
    rows = table[columns].astype(object).where(table[columns].notna(), None)
    rows["decided"] = (table["fit"] != claims.NOT_ESTIMABLE).to_numpy()
    scale = [f"{link} latent scale, margin {m:.3f}" if link != LOGIT else "" for m in table["margin"]]
    return [
        {**row, "note": "; ".join(n for n in (row["note"], why) if n)}
        for row, why in zip(rows.to_dict("records"), scale)
    ]


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


def robustness_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per claim (in the table's order): the primary verdict, how many specifications give each verdict
    (CELL_VERDICTS) and how many could not decide it (NOT_DECIDED: no fit, or an unreliable posterior; their verdict
    counts as the claims check reports it, "inconclusive"), and a `label`. A display of sensitivity, not a new
    test: nothing here is a verdict or a p-value of its own."""
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
    summary.attrs = dict(table.attrs)
    return summary


def label(cells: pd.DataFrame) -> str:
    """One claim's label from its rows of the table, over the specifications that decide it (`decided`):

    - "not assessed: ..." where the primary specification cannot decide it, or no other specification does;
    - "robust" where every other deciding specification gives the primary verdict;
    - else "depends on" the choices that change it, named as "choice (value, ...)" in table order, e.g. "depends
      on coding (second), model (partial pooling x0.5)": first every value that changes the verdict alone (the
      specification differing from the primary in that value only decides otherwise), then, for a specification
      that decides otherwise though none of its values does alone, all its values. Independent of row order."""
    primary = cells[cells["primary"].astype(bool)].iloc[0]
    if not bool(primary["decided"]):
        return "not assessed: the primary specification cannot decide it"
    others = cells[cells["decided"].astype(bool) & ~cells["primary"].astype(bool)]
    if others.empty:
        return "not assessed: only the primary specification decides it"
    differ = others[others["verdict"] != primary["verdict"]]
    if differ.empty:
        return "robust"
    moved = [{c: row[c] for c in CHOICE_COLUMNS if row[c] != primary[c]} for _, row in differ.iterrows()]
    alone = {c: {m[c] for m in moved if len(m) == 1 and c in m} for c in CHOICE_COLUMNS}
    changed = {c: set(values) for c, values in alone.items()}
    for m in moved:
        if len(m) > 1 and not any(value in alone[c] for c, value in m.items()):  # only together do they change it
            for c, value in m.items():
                changed[c].add(value)
    order = {s.name: k for k, s in enumerate(specifications())}  # values named in the declared order
    ranked = cells.assign(rank=cells["specification"].map(order)).sort_values("rank", kind="stable")
    named = [
        f"{c} ({', '.join(v for v in dict.fromkeys(ranked[c]) if v in changed[c])})"
        for c in CHOICE_COLUMNS
        if changed[c]
    ]
    return "depends on " + ", ".join(named)


__all__ = [
    "CELL_VERDICTS",
    "COLUMNS",
    "NOT_DECIDED",
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
