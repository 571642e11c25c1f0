"""The analysis choices behind each verdict, as declared in `data/robustness.toml`, and the specifications they
make: read and checked by one function (`load_choices`), crossed by one (`specifications`).

A specification is one value of every choice. The coding is crossed with everything else; the other choices
are crossed where the code can compute them: the model with the link for a model without pooling (the pooled
model is a logit model); relaxed proportional odds and the missing-code bounds each with the primary model and
link (each asks what the claims check would say with that one thing changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from .. import package_data
from ..errors import UpgradingError
from ..ordinal import LINKS

#: The choices file, as a contributor finds it in the repository (for messages).
CHOICES_FILE = "src/upgrading/data/robustness.toml"
#: The codings the code can compute: the sheet given, and the second coder's cases taken into it whole.
CODINGS = ("first", "second")
#: How a model choice fits the claims: "none" is `claims.evaluate`, "partial" the partially pooled posterior.
POOLINGS = ("none", "partial")
#: How a missing-code choice treats an outcome code not reported: left out (complete cases, "none"), or set to
#: the lowest or the highest level of its scale (a bound).
FILLS = ("none", "lowest", "highest")
#: How a proportional-odds choice treats the assumption: kept for every term ("never" relaxed), or relaxed for a
#: claim's term where its nominal test rejects it at the declared `test_level`.
RELAXATIONS = ("never", "where rejected")
#: The link of the claims check and of the pooled model: the one every specification but the link choice's uses.
LOGIT = "logit"
#: The choices a specification is made of (columns of the table), in the order a label names them.
CHOICE_COLUMNS = ("coding", "model", "link", "proportional_odds", "missing")


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
class MissingChoice:
    """One value of the missing-code choice: what an outcome code not reported becomes (`fill`, one of FILLS)."""

    name: str
    reason: str
    fill: str


@dataclass(frozen=True)
class ProportionalOddsChoice:
    """One value of the proportional-odds choice: whether it is relaxed (`relax`, one of RELAXATIONS) and the level
    of the nominal test that decides where."""

    name: str
    reason: str
    relax: str
    test_level: float | None = None


@dataclass(frozen=True)
class Choices:
    """The declared choices (`data/robustness.toml`) and the primary specification's value of each."""

    version: str
    coding: tuple[Choice, ...]
    model: tuple[ModelChoice, ...]
    link: tuple[Choice, ...]
    proportional_odds: tuple[ProportionalOddsChoice, ...]
    missing: tuple[MissingChoice, ...]
    primary: dict

    def model_choice(self, name: str) -> ModelChoice:
        return next(m for m in self.model if m.name == name)

    def missing_choice(self, name: str) -> MissingChoice:
        return next(m for m in self.missing if m.name == name)

    def proportional_odds_choice(self, name: str) -> ProportionalOddsChoice:
        return next(m for m in self.proportional_odds if m.name == name)


@dataclass(frozen=True)
class Specification:
    """One value of each choice, named `coding / model`, then `/ link`, `/ proportional odds` and `/ missing` where
    those are not the primary's; `primary` for the claims check's own."""

    name: str
    coding: str
    model: str
    link: str
    proportional_odds: str
    missing: str
    primary: bool


def _name_problems(data: dict[str, Any]) -> list[str]:
    """Every choice named once, each with a reason."""
    problems = []
    for kind in CHOICE_COLUMNS:
        entries = [c for c in data.get(kind, ()) if isinstance(c, dict)]
        names = [c.get("name") for c in entries]
        if not names or len(set(names)) != len(names) or len(entries) != len(data.get(kind, ())):
            problems.append(f"[[{kind}]] must name at least one choice, each once")
        problems += [f"a {kind} choice has no name" for c in entries if not isinstance(c.get("name"), str)]
        problems += [f"{kind} {c.get('name')!r} has no reason" for c in entries if not c.get("reason")]
    return problems


def _value_problems(data: dict[str, Any]) -> list[str]:
    """Values the code can compute: known codings, links with a latent SD, poolings, fills and prior factors."""

    def named(kind):
        return [c for c in data.get(kind, ()) if isinstance(c, dict)]

    usable = tuple(name for name, link in LINKS.items() if link.latent_sd is not None)
    problems = [
        f"coding {c.get('name')!r} is not one of {CODINGS}" for c in named("coding") if c.get("name") not in CODINGS
    ]
    problems += [f"link {c.get('name')!r} is not one of {usable}" for c in named("link") if c.get("name") not in usable]
    problems += [
        f"missing {m.get('name')!r}: fill {m.get('fill')!r} is not one of {FILLS}"
        for m in named("missing")
        if m.get("fill") not in FILLS
    ]
    for m in named("proportional_odds"):
        level = m.get("test_level")
        in_unit = isinstance(level, float) and 0 < level < 1
        if m.get("relax") not in RELAXATIONS:
            problems.append(
                f"proportional_odds {m.get('name')!r}: relax {m.get('relax')!r} is not one of {RELAXATIONS}"
            )
        elif (m["relax"] == "where rejected") != (level is not None) or (level is not None and not in_unit):
            problems.append(
                f"proportional_odds {m.get('name')!r}: a test_level in (0, 1) where relaxed, and only there"
            )
    for m in named("model"):
        factor = m.get("tau_scale_factor")
        positive = isinstance(factor, int | float) and not isinstance(factor, bool) and factor > 0
        if m.get("pooling") not in POOLINGS:
            problems.append(f"model {m.get('name')!r}: pooling {m.get('pooling')!r} is not one of {POOLINGS}")
        elif (m["pooling"] == "partial") != (factor is not None) or (factor is not None and not positive):
            problems.append(f"model {m.get('name')!r}: a positive tau_scale_factor for partial pooling, and only there")
    return problems


def _primary_problems(data: dict[str, Any]) -> list[str]:
    """The primary specification is the claims check itself: the first coding, no pooling, the logit, complete
    cases."""

    def value(kind, key):
        return {c.get("name"): c.get(key) for c in data.get(kind, ()) if isinstance(c, dict)}

    primary = data.get("primary", {})
    problems = []
    if "first" not in value("coding", "name"):
        problems.append("the first coding (the sheet given) must be a choice: the primary specification uses it")
    if LOGIT not in value("link", "name"):
        problems.append("the logit must be a link: the primary specification and the pooled model use it")
    if (
        primary.get("coding") != "first"
        or value("model", "pooling").get(primary.get("model")) != "none"
        or primary.get("link") != LOGIT
        or value("proportional_odds", "relax").get(primary.get("proportional_odds")) != "never"
        or value("missing", "fill").get(primary.get("missing")) != "none"
    ):
        problems.append(
            "primary must be the claims check itself: coding 'first', a model with pooling 'none', link 'logit', "
            "proportional odds relaxed 'never' and a missing choice with fill 'none'"
        )
    return problems


def check_choices(data: dict[str, Any]) -> None:
    """Refuse a choices file the code cannot compute exactly as declared, naming every problem at once: a choice
    without a name or reason, repeated names, unknown codings, poolings or fills, a partial-pooling factor that is
    not a positive number, a link the claims check cannot carry its margins to (one without a latent SD), no
    first coding or logit, or a primary specification other than the claims check itself."""
    problems = _name_problems(data) + _value_problems(data) + _primary_problems(data)
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
        proportional_odds=tuple(
            ProportionalOddsChoice(m["name"], m["reason"], m["relax"], m.get("test_level"))
            for m in data["proportional_odds"]
        ),
        missing=tuple(MissingChoice(m["name"], m["reason"], m["fill"]) for m in data["missing"]),
        primary={kind: data["primary"][kind] for kind in CHOICE_COLUMNS},
    )


@cache
def load_choices() -> Choices:
    """The declared analysis choices of the package (`data/robustness.toml`), checked."""
    return choices_from_data(package_data.load("robustness.toml"))


def specifications(choices: Choices | None = None, codings=None) -> tuple[Specification, ...]:
    """Every specification, codings outer, each choice in declared order: for each coding, every model (under
    every link for a model without pooling), then relaxed proportional odds, then every missing-code bound (each
    with the primary model and link). `codings` keeps only those (the second coding exists only where a second
    coder's sheet is given)."""
    choices = choices or load_choices()
    primary = choices.primary
    combinations = [
        primary | {"model": m.name, "link": link}
        for m in choices.model
        for link in ([x.name for x in choices.link] if m.pooling == "none" else [LOGIT])
    ]
    for kind in ("proportional_odds", "missing"):
        combinations += [primary | {kind: c.name} for c in getattr(choices, kind) if c.name != primary[kind]]
    out = []
    for c in choices.coding:
        if codings is not None and c.name not in codings:
            continue
        for combination in combinations:
            values = combination | {"coding": c.name}
            model = values["model"]
            suffix = "".join(f" / {values[k]}" for k in CHOICE_COLUMNS[2:] if values[k] != primary[k])
            out.append(Specification(f"{c.name} / {model}{suffix}", **values, primary=values == primary))
    return tuple(out)
