"""The `upgrading` command line: one subcommand per step a user or reviewer takes.

Problems a user can fix are printed as one paragraph with a non-zero exit and no traceback (add --debug
to see it); each subcommand is a thin wrapper around a package function that notebooks call too.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time

import numpy as np

from ..errors import UpgradingError
from ..study import settings

EXIT_USER_ERROR = 2


def _sheet_parameter(path: str) -> str:
    """A sheet path as a notebook parameter: repository-relative when inside the compendium."""
    from pathlib import Path

    from .. import paths

    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(paths.ROOT).as_posix()
    except ValueError:
        return str(resolved)


def _from_cwd(path: str):
    """A path typed on the command line, taken from the current folder (notebook parameters are taken from the
    repository root instead, so the command line resolves before passing them on)."""
    from pathlib import Path

    return Path(path).resolve()


def _cmd_run(args: argparse.Namespace) -> int:
    from ..study import coding
    from . import pipeline

    only = [k for item in args.only or [] for k in item.split(",") if k.strip()]
    parameters = {}
    if args.second_coder and not args.coding:
        raise UpgradingError("--second-coder needs --coding: give the first coder's sheet too")
    if (args.sheet or args.second_coder_sheet) and not args.coding:
        raise UpgradingError(
            "--sheet and --second-coder-sheet name worksheets of the workbooks given with --coding and --second-coder"
        )
    if args.second_coder_sheet and not args.second_coder:
        raise UpgradingError("--second-coder-sheet needs --second-coder: give the second coder's workbook too")
    if args.coding:
        # refuse a bad sheet before any notebook runs
        cases, report = coding.load_sheet(_from_cwd(args.coding), sheet=args.sheet, display=args.coding)
        parameters["coding_path"] = _sheet_parameter(args.coding)
        parameters["second_coder_path"] = None
        if args.sheet:
            parameters["coding_sheet"] = args.sheet
        if args.second_coder:
            second, _ = coding.load_sheet(
                _from_cwd(args.second_coder), sheet=args.second_coder_sheet, display=args.second_coder
            )
            from ..study import reliability

            reliability.pair_up(cases, second, second_name=f"second coder ({args.second_coder})")
            parameters["second_coder_path"] = _sheet_parameter(args.second_coder)
            if args.second_coder_sheet:
                parameters["second_coder_sheet"] = args.second_coder_sheet
        _require_declared(parameters, only)
        print(f"coding sheet {args.coding} is valid; running the notebooks on it")
        for line in report.lines():
            print(f"  {line}")
    start = time.perf_counter()
    results = pipeline.run(
        only=only, parameters=parameters, kernel=args.kernel, debug=args.debug, progress=not args.quiet
    )
    exhibits = sum(len(r.exhibits) for r in results)
    print(f"ran {len(results)} notebooks in {time.perf_counter() - start:.1f} s; {exhibits} exhibits written")
    return 0


def _require_declared(parameters: dict, only: list[str]) -> None:
    """Refuse a worksheet name that no notebook to run would receive (papermill passes declared names only)."""
    import papermill

    from . import pipeline

    pairs = {"coding_sheet": "coding_path", "second_coder_sheet": "second_coder_path"}
    names = {k for k in pairs if k in parameters}
    if not names:
        return
    missing = []
    for notebook in pipeline.select(pipeline.discover(), only or None):
        declared = set(papermill.inspect_notebook(str(notebook)))
        missing += [
            f"{notebook.name} ({name})" for name in sorted(names) if pairs[name] in declared and name not in declared
        ]
    if missing:
        raise UpgradingError(
            f"notebooks that read a sheet but take no worksheet name: {', '.join(missing)}; a "
            "worksheet other than the first cannot be passed to them; save the coding as the "
            "first worksheet, or as CSV"
        )


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .. import paths
    from ..study import simulate

    if args.seed is not None and args.out is None:
        raise UpgradingError(
            "--seed needs --out DIR: data/raw/ holds the documented simulation only, and "
            "rewriting it with another seed would change committed raw data"
        )
    for path in simulate.write_simulated(args.out, seed=args.seed):
        print(f"wrote {paths.relative(path)} (SIMULATED coding sheet)")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from ..study import coding

    problems = 0
    for path in args.paths:
        try:
            cases, report = coding.load_sheet(_from_cwd(path), sheet=args.sheet, display=path)
        except coding.CodingSheetError as error:
            print(error, file=sys.stderr)
            if error.report is not None:
                for column in error.report.ignored_columns:
                    print(f"  note: {column}", file=sys.stderr)
            problems += len(error.problems)
            continue
        simulated = " (simulated)" if coding.is_simulated(cases) else ""
        worksheet = f", worksheet {report.worksheet!r}" if report.worksheet is not None else ""
        print(f"{path}{worksheet}: valid coding sheet, {len(cases)} cases{simulated}")
        for line in report.lines():
            print(f"  {line}")
    if problems:
        print(f"upgrading validate: {problems} problem(s) found; nothing was changed", file=sys.stderr)
        return 1
    return 0


def _cmd_template(args: argparse.Namespace) -> int:
    from ..study import template

    template.write_template(args.path, cases=args.cases, overwrite=args.force)
    print(
        f"wrote the coding workbook {args.path}: fill in the worksheet {template.CODING_SHEET!r} (one row per "
        f"case), check it with `upgrading validate {args.path}`, then `upgrading run --coding {args.path}`"
    )
    return 0


def _cmd_claims(args: argparse.Namespace) -> int:
    from .. import paths
    from ..study import claims, coding

    path = args.coding or str(paths.DATA_RAW / "coding_sheet_simulated.csv")
    display = args.coding or "data/raw/coding_sheet_simulated.csv"
    cases, _ = coding.load_sheet(_from_cwd(path), sheet=args.sheet, display=display)
    print(coding.provenance(cases).replace(cases.attrs["source_file"], display))
    table = claims.evaluate(cases, n_resamples=args.resamples)
    shown = table[
        [
            "id",
            "sectoral_group",
            "outcome",
            "published_wording",
            "expected",
            "fit",
            "odds_ratio",
            "ci_low",
            "ci_high",
            "p_value",
            "verdict",
            "verdict_holm",
        ]
    ].copy()
    for column in ("ci_low", "ci_high"):
        shown[column] = np.exp(shown[column])
    shown = shown.rename(columns={"ci_low": "or_low", "ci_high": "or_high"})
    import pandas as pd

    with pd.option_context(
        "display.width",
        250,
        "display.max_rows",
        200,
        "display.max_colwidth",
        32,
        "display.float_format",
        "{:.3g}".format,
    ):
        print(shown.to_string(index=False))
    counts = claims.verdict_counts(table)
    print(
        "verdicts (raw / Holm): "
        + ", ".join(f"{v} {counts.loc[v, 'raw']} / {counts.loc[v, 'holm']}" for v in counts.index)
    )
    if args.out:
        table.to_csv(args.out, index=False, lineterminator="\n")
        print(f"wrote {args.out}")
    return 0


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


def _listed(values: tuple) -> str:
    return ",".join(f"{v:g}" for v in values)


def _cmd_power(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..study import power

    print("design analysis on SIMULATED data (the documented generator), not on a coding sheet")
    raw = power.run(
        replicates=args.replicates,
        cases=args.cases,
        effect_scales=args.effect_scales,
        seed=args.seed,
        n_jobs=args.jobs,
        progress=not args.quiet,
        exact=args.exact,
    )
    summary = power.summarise(raw)
    shown = summary[
        [
            "scope",
            "kind",
            "n_cases",
            "effect_scale",
            "p_right",
            "mcse_right",
            "p_wrong",
            "p_inconclusive",
            "p_separated",
        ]
    ]
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.float_format", "{:.3f}".format):
        print(shown.to_string(index=False))
    if args.out:
        summary.to_csv(args.out, index=False, lineterminator="\n")
        print(f"wrote {args.out}")
    if args.pooled:
        print(
            f"partial-pooling arm: the first {args.pooled_replicates} replicates of the cells with "
            f"{_listed(tuple(args.pooled_cases))} cases, effect scale(s) {_listed(tuple(args.pooled_scales))}"
        )
        pooled = power.run_pooled(
            replicates=args.pooled_replicates,
            cases=args.cases,
            effect_scales=args.effect_scales,
            seed=args.seed,
            pooled_cases=args.pooled_cases,
            pooled_scales=args.pooled_scales,
            n_jobs=args.jobs,
            progress=not args.quiet,
        )
        table = power.compare_pooling(raw, pooled)
        shown = table[table["scope"] == "all groups"].drop(columns=["scope", "p_not_estimable"])
        with pd.option_context("display.width", 200, "display.max_rows", 500, "display.float_format", "{:.3f}".format):
            print(shown.to_string(index=False))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from . import verify

    report = verify.verify_rerun() if args.rerun else verify.verify()
    what = "fresh rerun" if args.rerun else verify.MANIFEST
    if report.ok:
        print(f"every exhibit under figures/ matches the {what}")
        return 0
    print(f"exhibits that do not match the {what}:", file=sys.stderr)
    for line in report.lines():
        print(f"  {line}", file=sys.stderr)
    return 1


def _cmd_report(args: argparse.Namespace) -> int:
    from .. import paths
    from . import report

    index = report.build_report(args.out)
    print(f"wrote the HTML report: {paths.relative(index) if index.is_relative_to(paths.ROOT) else index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="upgrading",
        description="Reproducible compendium: SME upgrading, collective efficiency and value-chain "
        "governance in Latin American clusters.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="execute the numbered notebooks in order, writing every exhibit",
        description="Execute notebooks/NN_*.ipynb in number order with papermill, in place. "
        "A failing notebook stops the run and leaves its committed copy and "
        "exhibits untouched.",
    )
    run.add_argument(
        "--only",
        action="append",
        metavar="NN",
        help="run only these notebooks, by number or name (repeat or comma-separate)",
    )
    run.add_argument("--kernel", default=None, help="Jupyter kernel to use (default: python3 of this environment)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
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
    run.set_defaults(handler=_cmd_run)

    simulate = sub.add_parser(
        "simulate",
        help="write the simulated coding sheets under data/raw/",
        description="Write the simulated first- and second-coder sheets from the seeded "
        "generator (assumptions in src/upgrading/data/simulation.toml). "
        "Reproduces the committed files byte for byte.",
    )
    simulate.add_argument("--out", default=None, metavar="DIR", help="folder to write to (default: data/raw)")
    simulate.add_argument("--seed", type=int, default=None, help="override the documented seed")
    simulate.set_defaults(handler=_cmd_simulate)

    validate = sub.add_parser(
        "validate",
        help="check coding sheets against the codebook",
        description="Check each sheet against the codebook and report every problem with "
        "file, line, case, column, bad value and what is allowed. Never "
        "modifies its input.",
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="coding sheet (.csv or .xlsx)")
    validate.add_argument("--sheet", metavar="NAME", help="worksheet of a workbook (default: the first)")
    validate.set_defaults(handler=_cmd_validate)

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
    tpl.set_defaults(handler=_cmd_template)

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
        help=f"permutations per exact cross-check (default {settings.PERMUTATIONS})",
    )
    claims.add_argument("--out", metavar="CSV", help="also write the full verdict table to this file")
    claims.set_defaults(handler=_cmd_claims)

    pw = sub.add_parser(
        "power",
        help="design analysis: how often the claims check gets a claim right",
        description="Monte Carlo study on the documented generator: for each number of cases "
        "and effect size, the share of right, wrong and inconclusive verdicts of "
        "the claims check, with Monte Carlo standard errors (notebook 06 runs it "
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
        help=f"numbers of cases (default {_listed(settings.POWER_CASES)})",
    )
    pw.add_argument(
        "--effect-scales",
        type=_scale_list,
        default=list(settings.POWER_EFFECT_SCALES),
        metavar="S,S,...",
        help=f"multiples of the documented effect sizes (default {_listed(settings.POWER_EFFECT_SCALES)})",
    )
    pw.add_argument(
        "--seed", type=int, default=settings.POWER_SEED, help=f"root seed of the study (default {settings.POWER_SEED})"
    )
    pw.add_argument("--jobs", type=int, default=1, help="joblib workers (default 1; -1 = all cores)")
    pw.add_argument(
        "--exact",
        action="store_true",
        help="decide Jeffreys-penalised fits by profile penalised likelihood, as notebook 05 does (slow)",
    )
    pw.add_argument(
        "--pooled",
        action="store_true",
        help="also decide the per-group claims from the partially pooled posterior on the same "
        "replicates, and compare (notebook 06's pooled arm)",
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
        help=f"numbers of cases of the pooled arm (default {_listed(settings.POOLED_CASES)})",
    )
    pw.add_argument(
        "--pooled-scales",
        type=_scale_list,
        default=list(settings.POOLED_EFFECT_SCALES),
        metavar="S,S,...",
        help=f"effect scales of the pooled arm (default {_listed(settings.POOLED_EFFECT_SCALES)})",
    )
    pw.add_argument("--quiet", action="store_true", help="no progress bar")
    pw.add_argument("--out", metavar="CSV", help="also write the summary table to this file")
    pw.set_defaults(handler=_cmd_power)

    check = sub.add_parser(
        "verify",
        help="check every exhibit against manifest.json (or a fresh rerun)",
        description="Compare every file under figures/ with manifest.json (checksum, notebook, "
        "coding sheet), written by `upgrading run`; name every exhibit that is "
        "missing, extra or changed. --rerun reruns the pipeline in a temporary "
        "copy and compares the fresh exhibits with the committed ones.",
    )
    check.add_argument("--rerun", action="store_true", help="rerun every notebook in a temporary copy and compare")
    check.set_defaults(handler=_cmd_verify)

    rep = sub.add_parser(
        "report",
        help="write a static HTML report for reviewers",
        description="Render every notebook with nbconvert, plus an index page mapping each "
        "exhibit to its notebook and cell, the data provenance and the environment.",
    )
    rep.add_argument("--out", default="report", metavar="DIR", help="output folder (default: report/)")
    rep.set_defaults(handler=_cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    sys.dont_write_bytecode = False  # cache bytecode in .venv/ (see pipeline.kernel_environment)
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
