"""The `upgrading` command line: one subcommand per step a user or reviewer takes.

Problems a user can fix are printed as one paragraph with a non-zero exit and no traceback (add --debug
to see it); each subcommand is a thin wrapper (`commands`) around a package function that notebooks call too.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from .. import start_up
from ..errors import UpgradingError
from ..study import settings
from . import commands
from .commands import listed

EXIT_USER_ERROR = 2
#: Notebooks `upgrading run` runs at once by default: two kernels keep two cores busy (a notebook's single-threaded
#: steps interleave with another's). Nothing a run writes depends on it: each kernel's environment is fixed and
#: every result is a function of its inputs and seeds alone.
RUN_JOBS = 2


def _number_list(text: str, kind: type = int) -> list:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 30,50,100; got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _scale_list(text: str) -> list[float]:
    return _number_list(text, float)


def _add_run(sub) -> None:
    run = sub.add_parser(
        "run",
        help="execute the numbered notebooks in order, writing every exhibit",
        description="Execute notebooks/NN_*.ipynb with papermill, in place, two at a time by default (the "
        "longest first, then in number order). A failing notebook stops the run (no further notebook starts) "
        "and leaves its committed copy and exhibits untouched.",
    )
    run.add_argument(
        "--only",
        action="append",
        metavar="NN",
        help="run only these notebooks, by number or name (repeat or comma-separate)",
    )
    run.add_argument("--kernel", default=None, help="Jupyter kernel to use (default: python3 of this environment)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--jobs",
        type=int,
        default=RUN_JOBS,
        metavar="N",
        help="notebooks run at once, each in its own kernel, the registry's start_first first, then in number "
        "order (default: %(default)s); "
        "nothing written depends on it; 1 runs them one after another",
    )
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    run.add_argument(
        "--coding", metavar="PATH", help="run every notebook on this coding sheet (CSV or .xlsx), after validating it"
    )
    run.add_argument("--sheet", metavar="NAME", help="worksheet of the --coding workbook (default: the first)")
    run.add_argument(
        "--second-coder",
        metavar="PATH",
        help="an independent second coding of all or some of the cases, for the reliability analysis",
    )
    run.add_argument(
        "--second-coder-sheet", metavar="NAME", help="worksheet of the --second-coder workbook (default: the first)"
    )
    run.set_defaults(handler=commands.run)


def _add_sheets(sub) -> None:
    """`simulate`, `validate` and `template`: the coding sheets."""
    simulate = sub.add_parser(
        "simulate",
        help="write the simulated coding sheets under data/raw/",
        description="Write the simulated first- and second-coder sheets from the seeded "
        "generator (assumptions in src/upgrading/data/simulation.toml). "
        "Reproduces the committed files byte for byte.",
    )
    simulate.add_argument("--out", default=None, metavar="DIR", help="folder to write to (default: data/raw)")
    simulate.add_argument("--seed", type=int, default=None, help="override the documented seed")
    simulate.set_defaults(handler=commands.simulate)

    validate = sub.add_parser(
        "validate",
        help="check coding sheets against the codebook",
        description="Check each sheet against the codebook and report every problem with "
        "file, line, case, column, bad value and what is allowed. Never "
        "modifies its input.",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="coding sheet (.csv or .xlsx)")
    validate.add_argument(
        "--sheet",
        metavar="NAME",
        help="worksheet of the workbooks among PATHs (default: the first); CSVs beside a workbook ignore it",
    )
    validate.set_defaults(handler=commands.validate)

    tpl = sub.add_parser(
        "template",
        help="write an Excel coding workbook for coders to fill in",
        description="Write an .xlsx workbook with one row per case and the codebook's columns: "
        "dropdowns for categories and industries, whole-number 0-3 checks for "
        "scores, each header's definition as a comment, a frozen header row, and "
        "a second worksheet with the codebook and the sectoral groups. The filled "
        "workbook is read by `validate` and `run --coding` as it is.",
    )
    tpl.add_argument("path", metavar="PATH.xlsx", help="workbook to write (an existing file is not overwritten)")
    tpl.add_argument(
        "--cases",
        metavar="CASES.csv",
        help="list of cases (CSV or .xlsx) with a case_id column and optionally sectoral_group, "
        "industry and coding_source, to pre-fill one row per case",
    )
    tpl.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    tpl.set_defaults(handler=commands.template)


def _add_claims(sub) -> None:
    claims = sub.add_parser(
        "claims",
        help="print the verdict on every published claim for a coding sheet",
        description="Validate the sheet, then give every claim of the register "
        "(src/upgrading/data/claims.toml) its verdict: consistent, contradicted "
        "or inconclusive, raw and Holm-adjusted, with the numbers behind it.",
    )
    claims.add_argument("--coding", metavar="PATH", help="coding sheet (default: the simulated sheet)")
    claims.add_argument("--sheet", metavar="NAME", help="worksheet of the --coding workbook (default: the first)")
    claims.add_argument(
        "--resamples",
        type=int,
        default=settings.PERMUTATIONS,
        help=f"Monte Carlo permutations of a cross-check too large to enumerate (default {settings.PERMUTATIONS}; "
        "--robustness runs no cross-check)",
    )
    claims.add_argument(
        "--robustness",
        action="store_true",
        help="instead of the verdict table, show each claim's verdict under every declared analysis choice "
        "(src/upgrading/data/robustness.toml): a display of sensitivity, not a new test",
    )
    claims.add_argument(
        "--second-coder",
        metavar="PATH",
        help="with --robustness and --coding: a second coding of all or some of the cases (without --coding the "
        "simulated second coder's sheet goes with the simulated sheet; with --coding and no --second-coder, the "
        "first-coder specifications only)",
    )
    claims.add_argument(
        "--second-coder-sheet", metavar="NAME", help="worksheet of the --second-coder workbook (default: the first)"
    )
    claims.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="with --robustness: joblib workers over the specifications (default 1; -1 = all cores); the table "
        "does not depend on it",
    )
    claims.add_argument(
        "--out",
        metavar="CSV",
        help="also write the full verdict table (with --robustness: the per-specification table)",
    )
    claims.set_defaults(handler=commands.claims)


def _add_power(sub) -> None:
    pw = sub.add_parser(
        "power",
        help="design analysis: how often the claims check gets a claim right",
        description="Monte Carlo study on the documented generator: for each number of cases "
        "and effect size, the share of right, wrong and inconclusive verdicts of "
        "the claims check, with Monte Carlo standard errors (notebook 07 runs it "
        "at its committed setting).",
    )
    pw.add_argument(
        "--replicates",
        type=int,
        default=settings.POWER_REPLICATES,
        help=f"replicates per design cell (default {settings.POWER_REPLICATES})",
    )
    pw.add_argument(
        "--cases",
        type=_number_list,
        default=list(settings.POWER_CASES),
        metavar="N,N,...",
        help=f"numbers of cases (default {listed(settings.POWER_CASES)})",
    )
    pw.add_argument(
        "--effect-scales",
        type=_scale_list,
        default=list(settings.POWER_EFFECT_SCALES),
        metavar="S,S,...",
        help=f"multiples of the documented effect sizes (default {listed(settings.POWER_EFFECT_SCALES)})",
    )
    pw.add_argument(
        "--seed", type=int, default=settings.POWER_SEED, help=f"root seed of the study (default {settings.POWER_SEED})"
    )
    pw.add_argument("--jobs", type=int, default=1, help="joblib workers (default 1; -1 = all cores)")
    pw.add_argument(
        "--keep-replicates",
        nargs=2,
        metavar=("K", "DIR"),
        help="write the first K replicates of every design cell as coding sheets, DIR/<cell>/replicate_<k>.csv, "
        "each beside the verdicts the study gave it (replicate_<k>_verdicts.csv)",
    )
    _add_pooled_arm(pw)
    pw.add_argument(
        "--coding-error",
        nargs=2,
        metavar=("FIRST", "SECOND"),
        help="also decide every replicate as coded by a coder who errs at the reliability measured on these two "
        "codings of the same cases (Krippendorff's alpha per variable), and compare on the same replicates "
        "(notebook 07's coding-error arm, here on every design cell)",
    )
    pw.add_argument("--sheet", metavar="NAME", help="worksheet of the FIRST --coding-error workbook (default: first)")
    pw.add_argument(
        "--second-coder-sheet", metavar="NAME", help="worksheet of the SECOND --coding-error workbook (default: first)"
    )
    pw.add_argument(
        "--coders-in-error",
        type=int,
        choices=(1, 2),
        help="with --coding-error: read the measured alpha as two coders who each err (2) or one erring coder "
        "against the true codes (1) (default: as declared in simulation.toml, by the codings' provenance)",
    )
    pw.add_argument("--quiet", action="store_true", help="no progress bar")
    pw.add_argument("--out", metavar="CSV", help="also write the summary table to this file")
    pw.set_defaults(handler=commands.power)


def _add_pooled_arm(pw) -> None:
    pw.add_argument(
        "--pooled",
        action="store_true",
        help="also decide the per-group claims from the partially pooled posterior on the same "
        "replicates, and compare (notebook 07's pooled arm)",
    )
    pw.add_argument(
        "--pooled-replicates",
        type=int,
        default=settings.POOLED_REPLICATES,
        help=f"replicates of the pooled arm per design cell (default {settings.POOLED_REPLICATES})",
    )
    pw.add_argument(
        "--pooled-cases",
        type=_number_list,
        default=list(settings.POOLED_CASES),
        metavar="N,N,...",
        help=f"numbers of cases of the pooled arm (default {listed(settings.POOLED_CASES)})",
    )
    pw.add_argument(
        "--pooled-scales",
        type=_scale_list,
        default=list(settings.POOLED_EFFECT_SCALES),
        metavar="S,S,...",
        help=f"effect scales of the pooled arm (default {listed(settings.POOLED_EFFECT_SCALES)})",
    )


def _add_review(sub) -> None:
    """`verify` and `report`: what a reviewer runs."""
    check = sub.add_parser(
        "verify",
        help="check every exhibit against manifest.json (or a fresh rerun)",
        description="Compare every file under figures/ with manifest.json (checksum, notebook, "
        "coding sheet), written by `upgrading run`; name every exhibit that is "
        "missing, extra or changed, every coding sheet changed since, and codings that differ between exhibits "
        "(not one first coding). --rerun reruns the pipeline in a temporary "
        "copy and compares the fresh exhibits with the committed ones.",
    )
    check.add_argument("--rerun", action="store_true", help="rerun every notebook in a temporary copy and compare")
    check.set_defaults(handler=commands.verify)

    rep = sub.add_parser(
        "report",
        help="write a static HTML report for reviewers",
        description="Render every notebook with nbconvert, plus an index page mapping each "
        "exhibit to its notebook and cell, the data provenance and the environment.",
    )
    rep.add_argument("--out", default="report", metavar="DIR", help="output folder (default: report/)")
    rep.set_defaults(handler=commands.report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="upgrading",
        description="Reproducible compendium: SME upgrading, collective efficiency and value-chain "
        "governance in Latin American clusters.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_run, _add_sheets, _add_claims, _add_power, _add_review):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    sys.dont_write_bytecode = False  # cache bytecode in .venv/ (see kernels.kernel_environment)
    start_up.skip_iri_grammar()  # before anything imports nbformat
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UpgradingError as error:
        if args.debug:
            raise
        message = (
            textwrap.fill(
                f"upgrading {args.command}: error: {error}",
                width=100,
                break_long_words=False,
                break_on_hyphens=False,
                replace_whitespace=False,
            )
            if "\n" not in str(error)
            else f"upgrading {args.command}: error: {error}"
        )
        print(message, file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"upgrading {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
