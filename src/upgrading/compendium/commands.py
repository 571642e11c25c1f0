"""What each `upgrading` subcommand does: thin wrappers around the package functions the notebooks call too.

The parser is in `cli`; each function here takes its parsed arguments and returns the exit code.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import UpgradingError


def _sheet_parameter(path: str) -> str:
    """A sheet path (from the current folder) as a notebook parameter: from the repository root (`paths.from_root`),
    so that the notebooks written hold no absolute path of this machine."""
    from .. import paths

    return paths.from_root(_from_cwd(path))


def _from_cwd(path: str):
    """A path typed on the command line, taken from the current folder (notebook parameters are taken from the
    repository root instead, so the command line resolves before passing them on)."""
    from pathlib import Path

    return Path(path).resolve()


#: The compendium's own files, which a command's `--out` never replaces: what the notebooks write, the raw data,
#: the notebooks, the code and its tests.
_OWN = (
    ("figures", "holds the exhibits, which only the notebooks write"),
    ("data", "holds the raw data and what the notebooks derive from them"),
    ("notebooks", "holds the notebooks"),
    ("src", "holds the package"),
    ("tests", "holds the tests"),
    ("manifest.json", "is written by `upgrading run` only"),
)


def _own_file(path, out: str, what: str = "write the table elsewhere", option: str = "--out") -> None:
    """Refuse a path (resolved) inside the compendium's own files (`_OWN`)."""
    from .. import paths

    root = paths.ROOT.resolve()
    for name, why in _OWN:
        if path.is_relative_to((root / name).resolve()):
            raise UpgradingError(f"{option} {out}: {name}{'/' if '.' not in name else ''} {why}; {what}")


def _written_by_a_command(path) -> bool:
    """Whether a file is a table an upgrading command wrote (`_write_table`: a CSV whose header starts with
    `data`), which `--out` may replace; any other file (a coder's workbook, a sheet, notes) it never replaces."""
    try:
        with open(path, "rb") as existing:
            return existing.read(5) == b"data,"
    except OSError:  # unreadable: not known to be a command's table, so not replaced
        return False


def _output(out: str | None, inputs=()):
    """Where `--out` writes a table (taken from the current folder), checked before anything is computed: a file
    (not a folder, not one of the input sheets) in an existing folder this user can write to, never among the
    compendium's own files (`_OWN`)."""
    if out is None:
        return None
    import os

    path = _from_cwd(out)
    if path.is_dir():
        raise UpgradingError(f"--out {out}: is a folder; give the table's file name, e.g. {out.rstrip('/')}/table.csv")
    if not path.parent.is_dir():
        raise UpgradingError(f"--out {out}: the folder {path.parent} does not exist; create it first")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UpgradingError(f"--out {out}: cannot be written here (no permission); choose another place")
    _own_file(path, out)
    if any(path == _from_cwd(sheet) for sheet in inputs if sheet):
        raise UpgradingError(f"--out {out}: is one of the input sheets, which are never modified")
    if path.exists() and not _written_by_a_command(path):
        raise UpgradingError(
            f"--out {out}: exists and is not a table an upgrading command wrote (a CSV whose header starts with "
            "`data`), so it is not replaced; choose another file name, or move that file away first"
        )
    return path


def _write_table(table, path, out: str, data: str) -> None:
    """Write a command's table as CSV with a first column `data` ('simulated' or 'coded'), as every exhibit has."""
    table = table.drop(columns="data", errors="ignore")  # (one `data` column, first)
    table.insert(0, "data", data)
    table.to_csv(path, index=False, lineterminator="\n")
    print(f"wrote {out}")


def run(args: argparse.Namespace) -> int:
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
            second, second_report = coding.load_sheet(
                _from_cwd(args.second_coder), sheet=args.second_coder_sheet, display=args.second_coder
            )
            from ..study import reliability

            reliability.pair_up(cases, second, second_name=f"second coder ({args.second_coder})")
            parameters["second_coder_path"] = _sheet_parameter(args.second_coder)
            if args.second_coder_sheet:
                parameters["second_coder_sheet"] = args.second_coder_sheet
        _require_declared(parameters, only)
        print(f"coding sheet {report}")  # its worksheet, cases and what reading it did; the second coding's too
        print(f"second coding {second_report}\nboth are valid" if args.second_coder else "it is valid", end="")
        print(f"; running the notebooks on {'them' if args.second_coder else 'it'}")
    start = time.perf_counter()
    results = pipeline.run(
        only=only,
        parameters=parameters,
        kernel=args.kernel,
        debug=args.debug,
        progress=not args.quiet,
        jobs=args.jobs,
    )
    exhibits = sum(len(r.exhibits) for r in results)
    noun = "notebook" if len(results) == 1 else "notebooks"
    print(f"ran {len(results)} {noun} in {time.perf_counter() - start:.1f} s; {exhibits} exhibits written")
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


def simulate(args: argparse.Namespace) -> int:
    from .. import paths
    from ..study import simulate

    if args.seed is not None and args.out is None:
        raise UpgradingError(
            "--seed needs --out DIR: data/raw/ holds the documented simulation only, and "
            "rewriting it with another seed would change committed raw data"
        )
    folder = _from_cwd(args.out) if args.out is not None else None
    if folder is not None:  # (data/raw/ holds the documented simulation: `upgrading simulate` without --out)
        if folder.exists() and not folder.is_dir():
            raise UpgradingError(f"--out {args.out}: is a file; give a folder for the two sheets")
        _own_file(folder, args.out, "choose another folder")
    for path in simulate.write_simulated(folder, seed=args.seed):
        shown = paths.relative(path) if path.resolve().is_relative_to(paths.ROOT) else path
        print(f"wrote {shown} (SIMULATED coding sheet)")
    return 0


def validate(args: argparse.Namespace) -> int:
    from ..study import coding
    from ..study.sheets import EXCEL_SUFFIXES

    problems = 0
    books = [Path(path).suffix.lower() in EXCEL_SUFFIXES for path in args.paths]
    for path, workbook in zip(args.paths, books):
        # --sheet names a worksheet of the workbooks among the sheets; with no workbook among them, each CSV refuses it
        sheet = args.sheet if workbook or not any(books) else None
        try:
            cases, report = coding.load_sheet(_from_cwd(path), sheet=sheet, display=path)
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
        found = f"{problems} problem{'s' if problems > 1 else ''}"
        print(f"upgrading validate: {found} found; nothing was changed", file=sys.stderr)
        return 1
    return 0


def template(args: argparse.Namespace) -> int:
    from ..study import template

    template.write_template(args.path, cases=args.cases, overwrite=args.force)
    print(
        f"wrote the coding workbook {args.path}: fill in the worksheet {template.CODING_SHEET!r} (one row per "
        f"case), check it with `upgrading validate {args.path}`, then `upgrading run --coding {args.path}`"
    )
    return 0


def claims(args: argparse.Namespace) -> int:
    from .. import paths
    from ..study import claims, coding, simulate
    from . import exhibits

    if args.second_coder and not args.robustness:
        raise UpgradingError("--second-coder is read by --robustness only: add --robustness")
    out = _output(args.out, (args.coding, args.second_coder))  # a bad --out is refused before anything is decided
    default = paths.DATA_RAW / simulate.FIRST_CODER_FILE
    path = args.coding or str(default)
    display = args.coding or paths.relative(default)
    cases, _ = coding.load_sheet(_from_cwd(path), sheet=args.sheet, display=display)
    print(coding.provenance(cases).replace(cases.attrs["source_file"], display))
    if args.robustness:
        return _robustness(args, cases, out)
    table = claims.evaluate(cases, n_resamples=args.resamples)
    shown = table[
        [
            "id",
            "sectoral_group",
            "outcome",
            "published_wording",
            "expected",
            "fit",
            "n",
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
    notes = table[table["fit"] == claims.NOT_ESTIMABLE] if "note" in table else table.iloc[:0]
    for row in notes.itertuples(index=False):  # why a claim could not be decided (the table cuts long text)
        print(f"  {row.id}: not estimable: {row.note}")
    counts = claims.verdict_counts(table)
    print(
        "verdicts (raw / Holm): "
        + ", ".join(f"{v} {counts.loc[v, 'raw']} / {counts.loc[v, 'holm']}" for v in counts.index)
    )
    if out is not None:
        _write_table(table, out, args.out, exhibits.data_kind(cases))
    return 0


def _robustness(args: argparse.Namespace, cases, out) -> int:
    """`claims --robustness`: each claim's verdict under every declared specification, summarised per claim."""
    import pandas as pd

    from .. import paths
    from ..study import coding, robustness, simulate
    from . import exhibits

    if args.second_coder and not args.coding:
        raise UpgradingError("--second-coder needs --coding: give the first coder's sheet too")
    if args.second_coder_sheet and not args.second_coder:
        raise UpgradingError("--second-coder-sheet needs --second-coder: give the second coder's workbook too")
    if args.second_coder:
        where, display = _from_cwd(args.second_coder), args.second_coder
    elif not args.coding:  # the simulated second coder goes with the simulated sheet only
        where = paths.DATA_RAW / simulate.SECOND_CODER_FILE
        display = paths.relative(where)
    else:
        where = display = None
    second = coding.load_sheet(where, sheet=args.second_coder_sheet, display=display)[0] if where else None
    table = robustness.robustness_table(cases, second, n_jobs=args.jobs)
    specs = table.drop_duplicates("specification")
    primary = specs.loc[specs["primary"], "specification"].iloc[0]
    print(
        f"{len(specs)} specifications (coding x model, x link without pooling, x proportional odds relaxed where "
        "rejected, x missing-code bounds where codes are not reported), the primary one "
        f"{primary!r}: the claims check's raw verdict (not Holm-adjusted)"
    )
    if where:
        simulated = " (SIMULATED)" if coding.is_simulated(second) else ""
        worksheet = f", worksheet {second.attrs['worksheet']!r}" if second.attrs.get("worksheet") else ""
        print(f"second coder {display}{worksheet}{simulated}: {table.attrs['second_coding']}")
    else:
        print("no second coder: first coding only")
    print(f"missing codes: {table.attrs['missing']}")
    summary = robustness.robustness_summary(table)
    with pd.option_context("display.width", 250, "display.max_rows", 200, "display.max_colwidth", 120):
        print(summary.to_string(index=False))
    robust = int(robustness.is_robust(summary["label"]).sum())
    unassessed = int(summary["label"].str.startswith("not assessed").sum())
    print(
        f"robust: {robust} of {len(summary)} claims; not assessed (the primary specification, or every other, "
        "cannot decide them): "
        f"{unassessed}; the others depend on the choices named"
    )
    print(robustness.SENSITIVITY)
    if out is not None:
        _write_table(table, out, args.out, exhibits.data_kind(cases, second))
    return 0


def listed(values: tuple) -> str:
    """Numbers as a command line takes them: `30,50,100`."""
    return ",".join(f"{v:g}" for v in values)


def power(args: argparse.Namespace) -> int:

    from ..study import power

    print("design analysis on SIMULATED data (the documented generator), not on a coding sheet")
    for option, given in (("--coders-in-error", args.coders_in_error), ("--sheet", args.sheet),
                          ("--second-coder-sheet", args.second_coder_sheet)):  # fmt: skip
        if given and not args.coding_error:
            raise UpgradingError(f"{option} needs --coding-error: give the two codings whose alphas it reads")
    out = _output(args.out, tuple(args.coding_error or ()))
    keep, keep_dir = (0, None) if not args.keep_replicates else _kept(args.keep_replicates)
    calibration = _calibration(args) if args.coding_error else None  # bad sheets refused before any replicate
    raw = power.run(args.replicates, keep=keep, keep_dir=keep_dir, **_study(args))
    summary = power.summarise(raw)
    columns = ["scope", "kind", "n_cases", "effect_scale", "p_right", "mcse_right", "p_wrong", "p_inconclusive"]
    _print_table(summary[columns + ["p_right_holm", "p_separated"]])
    if out is not None:
        _write_table(summary, out, args.out, "simulated")  # simulated by design
    if keep:
        kept = min(keep, args.replicates)
        print(f"wrote the first {kept} replicate{'s' * (kept > 1)} of every design cell, with their verdicts, under "
              f"{args.keep_replicates[1]}")  # fmt: skip
    if args.pooled:
        _pooled_arm(args, raw)
    if calibration is not None:
        _coding_error_arm(args, raw, calibration)
    return 0


def _study(args: argparse.Namespace) -> dict:
    """The design study's settings of `upgrading power` that every arm shares (cells, seed, workers, progress)."""
    return {
        "cases": args.cases,
        "effect_scales": args.effect_scales,
        "seed": args.seed,
        "n_jobs": args.jobs,
        "progress": not args.quiet,
    }


def _print_table(table) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))


def _pooled_arm(args: argparse.Namespace, raw) -> None:
    """`upgrading power --pooled`: the per-group claims of the same replicates under partial pooling."""
    from ..study import power_pooled

    print(
        f"partial-pooling arm: the first {args.pooled_replicates} replicates of the cells with "
        f"{listed(tuple(args.pooled_cases))} cases, effect scale(s) {listed(tuple(args.pooled_scales))}"
    )
    pooled = power_pooled.run_pooled(
        replicates=args.pooled_replicates, pooled_cases=args.pooled_cases, pooled_scales=args.pooled_scales,
        **_study(args),
    )  # fmt: skip
    table = power_pooled.compare_pooling(raw, pooled)
    _print_table(table[table["scope"] == "all groups"].drop(columns=["scope", "p_not_estimable"]))


def _calibration(args: argparse.Namespace):
    """The erring coder calibrated to the alphas of two codings (`--coding-error FIRST SECOND`), why it reads
    them as it does, and the two codings named as read (a workbook's with the worksheet)."""
    from ..study import coding, coding_error, reliability

    first_path, second_path = args.coding_error
    first, _ = coding.load_sheet(_from_cwd(first_path), sheet=args.sheet, display=first_path)
    second, _ = coding.load_sheet(_from_cwd(second_path), sheet=args.second_coder_sheet, display=second_path)
    reliability.pair_up(first, second, second_name=f"second coding ({second_path})")
    coders, reason = coding_error.reading(first, second, chosen=args.coders_in_error)
    named = tuple(
        path + (f", worksheet {sheet.attrs['worksheet']!r}" if sheet.attrs.get("worksheet") else "")
        for path, sheet in ((first_path, first), (second_path, second))
    )
    return coding_error.calibrate(first, second, coders=coders), reason, named


def _coding_error_arm(args: argparse.Namespace, raw, calibrated) -> None:
    """`upgrading power --coding-error FIRST SECOND`: the same replicates coded at the measured reliability."""
    from ..study import coding_error, power_coding_error

    calibration, reason, (first, second) = calibrated
    print(f"coding-error arm: an erring coder calibrated to the alphas of {first} and {second}")
    print(f"coders_in_error = {int(calibration['coders_in_error'].iloc[0])}: {reason}")
    columns = ["variable", "measured_alpha", "paired_cases", "coding_error_rate", "model_alpha"]
    _print_table(calibration[columns])
    for row in calibration[calibration["note"] != ""].itertuples():
        print(f"  {row.variable}: {row.note}")
    erring = power_coding_error.run_coding_error(
        coding_error.coding_error_model(calibration), args.replicates, **_study(args)
    )
    table = power_coding_error.compare_coding_error(raw, erring)
    columns = [
        "p_right",
        "p_right_coding_error",
        "change_right",
        "mcse_change_right",
        "p_wrong",
        "p_wrong_coding_error",
    ]
    _print_table(table[table["scope"].isin(["pooled", "all groups"])][[*power_coding_error.KEYS, *columns]])


def _kept(values: list[str]) -> tuple[int, object]:
    """(K, folder) of `--keep-replicates K DIR`, checked before any replicate is computed: a positive whole
    number, and a folder (new, or existing) outside the compendium's own files."""
    count, folder = values
    if not count.isdigit() or int(count) < 1:
        raise UpgradingError(f"--keep-replicates takes a positive number of replicates and a folder; got {count!r}")
    path = _from_cwd(folder)
    if path.exists() and not path.is_dir():
        raise UpgradingError(f"--keep-replicates {count} {folder}: is a file; give a folder for the replicate sheets")
    _own_file(path, folder, "keep the replicates elsewhere", option=f"--keep-replicates {count}")
    return int(count), path


def verify(args: argparse.Namespace) -> int:
    from . import rerun, verify

    report = rerun.verify_rerun() if args.rerun else verify.verify()
    what = "fresh rerun" if args.rerun else verify.MANIFEST
    for line in report.unchecked_sheets:
        print(f"note: {line}")
    if report.ok:
        print(f"every exhibit under figures/ matches the {what}")
        return 0
    print(f"exhibits that do not match the {what}:", file=sys.stderr)
    for line in report.lines():
        print(f"  {line}", file=sys.stderr)
    return 1


def report(args: argparse.Namespace) -> int:
    from .. import paths
    from . import report

    index = report.build_report(args.out)
    print(f"wrote the HTML report: {paths.relative(index) if index.is_relative_to(paths.ROOT) else index}")
    return 0
