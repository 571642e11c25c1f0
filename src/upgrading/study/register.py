"""The claims register (`data/claims.toml`): every published claim the codebook's variables can test, with its
estimand, expected direction and margin, and the declared decision rule; read once, checked, typed and frozen.

Everything about how a claim is tested was declared before looking at any data: the model and term (estimand),
the documented mapping from the source's wordings to an expected direction, the smallest effect that matters
(`margin`), the interval levels of the verdict rule and the multiplicity family.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache, cached_property
from typing import Any

from scipy import stats

from .. import package_data
from ..errors import UpgradingError
from .codebook import load_codebook, source_patterns
from .models import MODELS, formula

EXPECTATIONS = ("positive", "negative", "null", "non_positive")
#: The claims register's file, as a contributor finds it in the repository (for messages).
REGISTER_FILE = "src/upgrading/data/claims.toml"


@dataclass(frozen=True)
class Claim:
    """One claim: where it comes from, what it says, and the slope (`term` of a model of `outcome` on the cases of
    `subset`) it is decided on, against its `expected` direction and `margin` (log odds ratio)."""

    id: str
    kind: str
    source: str
    wording: str
    outcome: str
    predictor: str
    sectoral_group: str
    formula: str  # "cell": the register's `cell_model` for the outcome; otherwise a formula of its own
    subset: str  # "all" or a sectoral group
    term: str
    expected: str
    margin: float
    note: str = ""

    def model(self, cell_model: str) -> str:
        """The formula the claim's slope comes from."""
        return formula(cell_model, self.outcome) if self.formula == "cell" else self.formula

    def fit_key(self, cell_model: str) -> tuple[str, str]:
        """(formula, subset): claims sharing a key are read off the same fit."""
        return self.model(cell_model), self.subset


@dataclass(frozen=True)
class DecisionLevels:
    """The levels of the declared verdict rule: a claim is decided at `alpha` (its 1 - alpha interval, or a
    two-sided test) and equivalence at `equivalence_alpha` (the 1 - equivalence_alpha interval inside the margin:
    two one-sided tests at equivalence_alpha / 2 each)."""

    alpha: float
    equivalence_alpha: float

    @cached_property
    def z(self) -> float:
        """The normal quantile of the two-sided test, z(1 - alpha/2)."""
        return float(stats.norm.ppf(1 - self.alpha / 2))

    @cached_property
    def z_equivalence(self) -> float:
        """The normal quantile of each one-sided equivalence test, z(1 - equivalence_alpha/2)."""
        return float(stats.norm.ppf(1 - self.equivalence_alpha / 2))

    @property
    def interval_level(self) -> float:
        return 1 - self.alpha

    @property
    def equivalence_level(self) -> float:
        return 1 - self.equivalence_alpha


@dataclass(frozen=True)
class Register:
    """The claims register: claims in order, margins per predictor, the wording map, the verdict rules as words,
    the decision levels, and `cell_model`, the study model whose slopes the table's cells are."""

    version: str
    claims: tuple[Claim, ...]
    margins: package_data.FrozenDict
    wording_to_expected: package_data.FrozenDict
    verdict_rules: package_data.FrozenDict
    cell_model: str
    leader_operationalisation: str
    levels: DecisionLevels

    def with_claims(self, claims) -> Register:
        """The same register with another list of claims (a subset, or claims of a design analysis)."""
        return replace(self, claims=tuple(claims))

    def claim(self, claim_id: str) -> Claim:
        for claim in self.claims:
            if claim.id == claim_id:
                return claim
        raise KeyError(f"no claim {claim_id!r} in the register")


def expected_direction(claim: dict, wording_to_expected) -> str:
    """A claim's expected direction: declared, or mapped from the table wording (documented mapping)."""
    if "expected" in claim:
        return claim["expected"]
    try:
        return wording_to_expected[claim["wording"]]
    except KeyError:
        raise UpgradingError(f"{claim['id']}: wording {claim['wording']!r} has no documented mapping") from None


def check_register(data: dict) -> None:
    """Every table cell present once with the source's wording; every claim testable and fully declared."""
    problems = []
    cells = source_patterns()["cells"]
    expected_cells = {
        (p, f, g): w for p, forms in cells.items() for f, groups in forms.items() for g, w in groups.items()
    }
    seen = {}
    ids = [c["id"] for c in data["claims"]]
    if len(set(ids)) != len(ids):
        problems.append("claim ids are not unique")
    cb = load_codebook()
    for claim in data["claims"]:
        if claim["kind"] == "table cell":
            key = (claim["predictor"], claim["outcome"], claim["sectoral_group"])
            if key not in expected_cells:
                problems.append(f"{claim['id']}: no such cell in the source table")
            elif claim["wording"] != expected_cells[key]:
                problems.append(
                    f"{claim['id']}: wording {claim['wording']!r} differs from the source's {expected_cells[key]!r}"
                )
            seen[key] = claim["id"]
        try:
            expected = expected_direction(claim, data["wording_to_expected"])
        except UpgradingError as error:
            problems.append(str(error))
            continue
        if expected not in EXPECTATIONS:
            problems.append(f"{claim['id']}: expected direction {expected!r} not in {EXPECTATIONS}")
        if claim["predictor"] not in data["margins"]:
            problems.append(f"{claim['id']}: no declared margin for predictor {claim['predictor']!r}")
        if claim["outcome"] not in cb.upgrading_forms:
            problems.append(f"{claim['id']}: outcome {claim['outcome']!r} is not a form of upgrading")
        if claim["subset"] not in ("all", *cb.group_codes):
            problems.append(f"{claim['id']}: subset {claim['subset']!r} is not 'all' or a sectoral group")
    if data.get("cell_model") not in MODELS:
        problems.append(f"cell_model {data.get('cell_model')!r} is not one of the study's models ({', '.join(MODELS)})")
    levels = data.get("decision", {})
    for name in ("alpha", "equivalence_alpha"):
        if not 0 < levels.get(name, -1) < 1:
            problems.append(f"[decision] {name} must be a level between 0 and 1, not {levels.get(name)!r}")
    missing = set(expected_cells) - set(seen)
    if missing:
        problems.append(f"table cells missing from the register: {sorted(missing)}")
    if problems:
        raise UpgradingError(f"{REGISTER_FILE} is inconsistent:\n  " + "\n  ".join(problems))


def from_data(data: dict[str, Any]) -> Register:
    """A checked, typed register from the parsed TOML (or a variant of it)."""
    check_register(data)
    wording = data["wording_to_expected"]
    claims = tuple(
        Claim(
            id=c["id"],
            kind=c["kind"],
            source=c["source"],
            wording=c["wording"],
            outcome=c["outcome"],
            predictor=c["predictor"],
            sectoral_group=c["sectoral_group"],
            formula=c["formula"],
            subset=c["subset"],
            term=c["term"],
            expected=expected_direction(c, wording),
            margin=float(data["margins"][c["predictor"]]),
            note=c.get("note", ""),
        )
        for c in data["claims"]
    )
    return Register(
        version=data["version"],
        claims=claims,
        margins=package_data.freeze(dict(data["margins"])),
        wording_to_expected=package_data.freeze(dict(wording)),
        verdict_rules=package_data.freeze(dict(data["verdict_rules"])),
        cell_model=data["cell_model"],
        leader_operationalisation=data["leader_operationalisation"],
        levels=DecisionLevels(float(data["decision"]["alpha"]), float(data["decision"]["equivalence_alpha"])),
    )


@cache
def load_register() -> Register:
    """The claims register of the package (`data/claims.toml`), checked against the source table and codebook."""
    return from_data(package_data.load("claims.toml"))
