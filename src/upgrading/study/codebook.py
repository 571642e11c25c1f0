"""The study's codebook, loaded from `data/codebook.toml` (the single source of truth).

Validation, simulation, models and claims read variable names, scales and categories from here, so a change
of codebook is one edit in one reviewable file. Loading checks the file's own consistency.

"Not reported" (`[missing]` in the file, `Codebook.not_reported` here): how a sheet records that a case study
does not report a variable. An empty cell, or one of `Codebook.missing_spellings` in any case with surrounding
spaces ignored, is read as not reported, and only in a variable whose `may_be_missing` is true.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache

import pandas as pd

from .. import package_data
from ..errors import UpgradingError
from .spelling import letters_key

KINDS = ("identifier", "nominal", "ordinal", "text")


@dataclass(frozen=True)
class Scale:
    name: str
    levels: tuple[int, ...]
    labels: tuple[str, ...]
    source: str
    note: str = ""


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    definition: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str
    block: str
    label: str
    definition: str
    source: str
    scale: Scale | None = None
    categories: tuple[Category, ...] = ()
    may_be_missing: bool = False  # may a cell be "not reported" (see NotReported)?

    @property
    def allowed(self) -> tuple:
        """The values a sheet may hold in this column (empty for free text and identifiers)."""
        if self.scale is not None:
            return self.scale.levels
        return tuple(c.code for c in self.categories)


@dataclass(frozen=True)
class NotReported:
    """How a sheet writes "not reported" (`[missing]`): an empty cell, or one of `spellings` in any case with
    surrounding spaces ignored. `near_misses` are refused with a suggestion of a declared spelling."""

    spellings: tuple[str, ...] = ()
    label: str = "not reported"
    rule: str = ""
    why: str = ""
    near_misses: tuple[str, ...] = ()

    def matches(self, value) -> bool:
        """True for a written spelling of "not reported" (an empty cell is not a spelling: see `is_empty_cell`)."""
        return isinstance(value, str) and value.strip().casefold() in {s.casefold() for s in self.spellings}

    def suggestion(self, value) -> str | None:
        """A "did you mean" for a near miss of a declared spelling (`N/R`, `n.a.`, `-`), else None."""
        if not self.spellings or self.matches(value) or not isinstance(value, str) or not value.strip():
            return None
        key = letters_key(value)
        declared = {letters_key(s): s for s in self.spellings}
        if key in declared or key in {letters_key(s) for s in self.near_misses} or not key:
            meant = declared.get(key, self.spellings[0])
            return f"did you mean {meant!r}" + ("?" if meant.casefold() == self.label else f" ({self.label})?")
        return None

    @property
    def written(self) -> str:
        """The accepted spellings, as a coder is told them: "empty, NR or 'not reported'"."""
        spelled = [s if s.isalnum() else repr(s) for s in self.spellings]
        if not spelled:
            return "an empty cell"
        return ", ".join(["an empty cell", *spelled[:-1]]) + f" or {spelled[-1]}"


@dataclass(frozen=True)
class SectoralGroup:
    code: str
    number: int
    label: str
    short_label: str
    industries: tuple[str, ...]
    case_industries: tuple[str, ...]
    learning_pattern: str
    pavitt_pattern: str
    description: tuple[str, ...]
    source: str

    @property
    def all_industries(self) -> tuple[str, ...]:
        return self.industries + self.case_industries


@dataclass(frozen=True)
class Codebook:
    version: str
    variables: tuple[Variable, ...]
    derived: dict[str, dict]
    scales: dict[str, Scale]
    sectoral_groups: tuple[SectoralGroup, ...]
    not_reported: NotReported = NotReported()

    @property
    def missing_spellings(self) -> tuple[str, ...]:
        """The written spellings of "not reported" (an empty cell counts too)."""
        return self.not_reported.spellings

    @property
    def may_be_missing(self) -> tuple[str, ...]:
        """The columns whose cells may be "not reported"."""
        return tuple(v.name for v in self.variables if v.may_be_missing)

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names of a coding sheet, in order."""
        return tuple(v.name for v in self.variables)

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"{name!r} is not a codebook variable; variables: {', '.join(self.columns)}")

    def block(self, block: str) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables if v.block == block)

    @property
    def upgrading_forms(self) -> tuple[str, ...]:
        return self.block("upgrading")

    @property
    def governance_levels(self) -> tuple[str, ...]:
        return self.variable("governance").allowed

    @property
    def leader_levels(self) -> tuple[str, ...]:
        """Governance forms counted as leader-driven (see [derived.leader_driven])."""
        return tuple(self.derived["leader_driven"]["levels"])

    @property
    def group_codes(self) -> tuple[str, ...]:
        return tuple(g.code for g in self.sectoral_groups)

    def group(self, code: str) -> SectoralGroup:
        for g in self.sectoral_groups:
            if g.code == code:
                return g
        raise KeyError(f"{code!r} is not a sectoral group; groups: {', '.join(self.group_codes)}")


def _check(raw: dict) -> None:
    problems = []
    names = [v.get("name") for v in raw.get("variables", [])]
    if len(set(names)) != len(names):
        problems.append(f"duplicate variable names: {names}")
    for v in raw.get("variables", []):
        if v.get("kind") not in KINDS:
            problems.append(f"variable {v.get('name')!r}: kind {v.get('kind')!r} not in {KINDS}")
        if "scale" in v and v["scale"] not in raw.get("scales", {}):
            problems.append(f"variable {v['name']!r}: unknown scale {v['scale']!r}")
        if "categories" in v and v["categories"] not in raw.get("categories", {}):
            problems.append(f"variable {v['name']!r}: unknown categories {v['categories']!r}")
        if v.get("kind") in ("nominal", "ordinal") and not ("scale" in v or "categories" in v):
            problems.append(f"variable {v['name']!r}: a {v['kind']} variable needs a scale or categories")
    problems += _missing_problems(raw)
    for name, spec in raw.get("derived", {}).items():
        missing = [f for f in spec.get("from", []) if f not in names]
        if missing:
            problems.append(f"derived {name!r} uses unknown variables {missing}")
    leader = raw.get("derived", {}).get("leader_driven", {}).get("levels", [])
    governance = [c["code"] for c in raw.get("categories", {}).get("governance", [])]
    if not set(leader) <= set(governance):
        problems.append(f"derived 'leader_driven' names governance forms {leader} outside {governance}")
    for name, scale in raw.get("scales", {}).items():
        if len(scale["levels"]) != len(scale["labels"]):
            problems.append(f"scale {name!r}: {len(scale['levels'])} levels but {len(scale['labels'])} labels")
    if problems:
        raise UpgradingError("the codebook is inconsistent:\n  " + "\n  ".join(problems))


def _missing_problems(raw: dict) -> list[str]:
    """[missing] and `may_be_missing`: booleans, spellings declared when used, none of them a valid code."""
    problems = []
    spellings = list(raw.get("missing", {}).get("spellings", []))
    if any(not isinstance(s, str) or not s.strip() or s != s.strip() for s in spellings):
        problems.append(f"[missing] spellings must be non-empty text without surrounding spaces: {spellings}")
    folded = {str(s).casefold() for s in spellings}
    for v in raw.get("variables", []):
        flag = v.get("may_be_missing", False)
        if not isinstance(flag, bool):
            problems.append(f"variable {v.get('name')!r}: may_be_missing must be true or false, not {flag!r}")
        elif flag and v.get("kind") == "identifier":
            problems.append(f"variable {v.get('name')!r}: an identifier may not be missing")
        elif flag and not spellings:
            problems.append(f"variable {v.get('name')!r} may be missing but [missing] declares no spellings")
        codes = raw.get("scales", {}).get(v.get("scale"), {}).get("levels", []) or [
            c.get("code") for c in raw.get("categories", {}).get(v.get("categories"), [])
        ]
        clash = sorted({str(c) for c in codes if str(c).casefold() in folded})
        if flag and clash:
            problems.append(f"variable {v.get('name')!r}: {clash} is both a code and a spelling of not reported")
    return problems


def parse(text: str) -> Codebook:
    """Build a Codebook from TOML text (checked for internal consistency)."""
    return from_data(tomllib.loads(text))


def from_data(raw) -> Codebook:
    """Build a Codebook from parsed codebook TOML (checked for internal consistency)."""
    _check(raw)
    scales = {
        name: Scale(name, tuple(s["levels"]), tuple(s["labels"]), s.get("source", ""), s.get("note", ""))
        for name, s in raw["scales"].items()
    }
    base = {"code", "label", "definition", "source"}
    categories = {
        name: tuple(
            Category(
                c["code"],
                c["label"],
                c.get("definition", ""),
                c.get("source", ""),
                {k: v for k, v in c.items() if k not in base},
            )
            for c in cats
        )
        for name, cats in raw["categories"].items()
    }
    variables = tuple(
        Variable(
            name=v["name"],
            kind=v["kind"],
            block=v["block"],
            label=v["label"],
            definition=v["definition"],
            source=v["source"],
            scale=scales.get(v.get("scale")),
            categories=categories.get(v.get("categories"), ()),
            may_be_missing=v.get("may_be_missing", False),
        )
        for v in raw["variables"]
    )
    groups = tuple(
        SectoralGroup(
            code=g["code"],
            number=g["number"],
            label=g["label"],
            short_label=g["short_label"],
            industries=tuple(g["industries"]),
            case_industries=tuple(g["case_industries"]),
            learning_pattern=g["learning_pattern"],
            pavitt_pattern=g["pavitt_pattern"],
            description=tuple(g["description"]),
            source=g["source"],
        )
        for g in raw["categories"]["sectoral_group"]
    )
    missing = raw.get("missing", {})
    not_reported = NotReported(
        spellings=tuple(missing.get("spellings", ())),
        label=missing.get("label", "not reported"),
        rule=missing.get("rule", ""),
        why=missing.get("why", ""),
        near_misses=tuple(missing.get("near_misses", ())),
    )
    return Codebook(raw["version"], variables, raw.get("derived", {}), scales, groups, not_reported)


@cache
def load_codebook() -> Codebook:
    """The compendium's codebook (cached; it never changes during a run)."""
    return from_data(package_data.load("codebook.toml"))


def source_patterns():
    """The source's table of sectoral patterns, cell by cell, as printed (`data/source_patterns.toml`): what the
    claims register's cells must match and what the simulator takes its signs from."""
    return package_data.load("source_patterns.toml")


def collective_efficiency(external_economies, joint_actions):
    """Collective efficiency from its two components: the mean rounded half up (see the codebook's `why`).

    Works on scalars, NumPy arrays and pandas Series alike.
    """
    return (external_economies + joint_actions + 1) // 2


def codebook_table(codebook: Codebook | None = None) -> pd.DataFrame:
    """One row per sheet column: what it measures, its allowed values, how to write a code the case study does not
    report (`if_not_reported`, from `not_reported_table`: "required" where none may be missing), and where the
    definition comes from."""
    cb = codebook or load_codebook()
    rows = []
    for v in cb.variables:
        if v.scale is not None:
            allowed = "; ".join(f"{lvl} {lab}" for lvl, lab in zip(v.scale.levels, v.scale.labels))
        elif v.categories:
            allowed = "; ".join(c.code for c in v.categories)
        else:
            allowed = "free text" if v.kind == "text" else "unique id"
        derivation = cb.derived.get(v.name, {}).get("rule", "")
        rows.append(
            {
                "column": v.name,
                "block": v.block,
                "label": v.label,
                "kind": v.kind,
                "allowed_values": allowed,
                "if_not_reported": _not_reported_entry(cb, v),
                "definition": v.definition,
                "derived_by": derivation,
                "source": v.source,
            }
        )
    return pd.DataFrame(rows)


def not_reported_table(codebook: Codebook | None = None) -> pd.DataFrame:
    """One row per sheet column: whether a cell may be "not reported", and how to write it there."""
    cb = codebook or load_codebook()
    return pd.DataFrame(
        [
            {
                "column": v.name,
                "may_be_not_reported": "yes" if v.may_be_missing else "no",
                "write": _not_reported_entry(cb, v),
            }
            for v in cb.variables
        ]
    )


def _not_reported_entry(cb: Codebook, v) -> str:
    """How a column's code that the case study does not report is written, or "required"."""
    return f"{cb.not_reported.written} (any case)" if v.may_be_missing else "required"


def categories_table(codebook: Codebook | None = None, variable: str = "governance") -> pd.DataFrame:
    """The categories of one nominal variable with their definitions."""
    cb = codebook or load_codebook()
    return pd.DataFrame(
        [
            {"code": c.code, "label": c.label, "definition": c.definition, "source": c.source}
            for c in cb.variable(variable).categories
        ]
    )


def sectoral_groups_table(codebook: Codebook | None = None) -> pd.DataFrame:
    """The Pavitt taxonomy for Latin America as the source gives it: industries and learning patterns."""
    cb = codebook or load_codebook()
    return pd.DataFrame(
        [
            {
                "number": g.number,
                "code": g.code,
                "group": g.label,
                "industries": ", ".join(g.industries),
                "industries_in_case_list": ", ".join(g.case_industries),
                "learning_pattern": g.learning_pattern,
                "pavitt_pattern": g.pavitt_pattern,
                "description": " ".join(g.description),
            }
            for g in cb.sectoral_groups
        ]
    )
