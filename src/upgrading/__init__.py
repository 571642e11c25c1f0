"""SME upgrading in Latin American clusters: a reproducible compendium.

Three layers over a few base modules, each importing only what sits below it (`tests/test_layout.py` holds the
rule):

- base: `errors` (the user-facing exception), `paths` (where the compendium keeps its files, resolved on first
  use, and the one writer of output files);
- `upgrading.ordinal`: the ordered-logit estimator (knows nothing of the study);
- `upgrading.study`: codebook, coding sheets, simulation, reliability, descriptives, the study's models, the
  claims check and the design analysis;
- `upgrading.compendium`: the notebook pipeline, exhibits and their registry, manifest, report, CLI.

What a notebook needs is importable from here (`from upgrading import claims, plots`); modules load on first
use, so `import upgrading` stays cheap for the command line.
"""

from __future__ import annotations

from importlib import import_module

_MODULES = {
    "ordinal": "upgrading.ordinal",
    "codebook": "upgrading.study.codebook",
    "coding": "upgrading.study.coding",
    "simulate": "upgrading.study.simulate",
    "reliability": "upgrading.study.reliability",
    "missing": "upgrading.study.missing",
    "descriptives": "upgrading.study.descriptives",
    "narrative": "upgrading.study.narrative",
    "narrative_models": "upgrading.study.narrative_models",
    "narrative_pooled": "upgrading.study.narrative_pooled",
    "narrative_design": "upgrading.study.narrative_design",
    "narrative_probabilities": "upgrading.study.narrative_probabilities",
    "plots": "upgrading.study.plots",
    "plots_probabilities": "upgrading.study.plots_probabilities",
    "probabilities": "upgrading.study.probabilities",
    "models": "upgrading.study.models",
    "claims": "upgrading.study.claims",
    "register": "upgrading.study.register",
    "verdicts": "upgrading.study.verdicts",
    "power": "upgrading.study.power",
    "power_pooled": "upgrading.study.power_pooled",
    "power_rates": "upgrading.study.power_rates",
    "coding_error": "upgrading.study.coding_error",
    "power_coding_error": "upgrading.study.power_coding_error",
    "pooling": "upgrading.study.pooling",
    "robustness": "upgrading.study.robustness",
    "robustness_choices": "upgrading.study.robustness_choices",
    "plots_robustness": "upgrading.study.plots_robustness",
    "narrative_robustness": "upgrading.study.narrative_robustness",
    "exhibits": "upgrading.compendium.exhibits",
    "paths": "upgrading.paths",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        module = import_module(_MODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'upgrading' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
